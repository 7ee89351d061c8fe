/// Byte classes from RFC 5322 section 3.2, as lookup tables over ASCII.
enum ASCII {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let crlf: [UInt8] = [cr, lf]

    /// `atext`: what may appear in an atom or dot-atom without quoting.
    static let atext: [Bool] = table { byte in
        isAlphaNumeric(byte) || "!#$%&'*+-/=?^_`{|}~".utf8.contains(byte)
    }

    /// Characters RFC 2047 section 5 (3) lets stand unencoded in a Q-encoded word in a phrase.
    static let qPhraseSafe: [Bool] = table { byte in
        isAlphaNumeric(byte) || "!*+-/".utf8.contains(byte)
    }

    /// `qtext` (RFC 5322 3.2.4): printable ASCII except backslash and double quote.
    static func isQText(_ byte: UInt8) -> Bool {
        byte >= 33 && byte <= 126 && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "\"")
    }

    /// Printable ASCII, space included (`VCHAR` and SP).
    static func isPrintable(_ byte: UInt8) -> Bool { byte >= 32 && byte <= 126 }

    static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    /// `"text"` with backslash and double quote escaped (RFC 5322 `quoted-string`).
    static func quoted(_ text: some Sequence<UInt8>, prefix: [UInt8] = []) -> [UInt8] {
        var quoted = prefix
        quoted.append(UInt8(ascii: "\""))
        for byte in text {
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { quoted.append(UInt8(ascii: "\\")) }
            quoted.append(byte)
        }
        quoted.append(UInt8(ascii: "\""))
        return quoted
    }

    static let upperHex: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func table(_ predicate: (UInt8) -> Bool) -> [Bool] {
        (0..<256).map { $0 < 128 && predicate(UInt8($0)) }
    }
}

extension StringProtocol {
    /// Whether the text can stand in one header line: no CR, LF or NUL, which would let a value
    /// end its header and start another.
    ///
    /// Inlinable, so that each caller's string type is specialised: in generic form it went
    /// through value witnesses for every byte (1.6% of a send request's CPU).
    @inlinable public var isHeaderSafe: Bool {
        !utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") || $0 == 0 }
    }

    /// Refuses CR, LF and NUL (see `isHeaderSafe`).
    func checkHeaderSafe(field: String) throws(MIMEError) {
        if !isHeaderSafe {
            throw MIMEError(
                .headerInjection, "\(field) contains CR, LF or NUL, which are not allowed in a header",
                rule: "it contains CR, LF or NUL, which are not allowed in a header")
        }
    }
}
