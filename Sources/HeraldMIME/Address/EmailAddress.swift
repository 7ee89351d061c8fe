import Foundation

/// A valid RFC 5321/5322 address (`local-part@domain`); one that exists has been validated.
///
/// Internationalised domains are stored in their A-label form (`xn--...`), so the address can be
/// written into any header or SMTP command. A local part with non-ASCII characters is kept as
/// UTF-8 and marks the address as needing SMTPUTF8 (RFC 6531).
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    /// The local part exactly as it goes on the wire: a dot-atom, or a quoted string with its quotes.
    public let localPart: String
    /// The domain in ASCII: lower-cased, with A-labels for internationalised labels, or an
    /// address literal such as `[192.0.2.1]`.
    public let domain: String
    /// True when the local part holds non-ASCII characters, so SMTP must offer SMTPUTF8.
    public let requiresSMTPUTF8: Bool

    /// Parses and validates an addr-spec such as `user@example.com` or `"a b"@example.com`.
    ///
    /// Throws `MIMEError.Code.invalidAddress` naming the rule that failed, or
    /// `.headerInjection` for CR, LF or NUL.
    public init(_ string: String) throws(MIMEError) {
        try string.checkHeaderSafe(field: "an address")
        guard let at = string.lastIndex(of: "@") else {
            throw Self.invalid(string, "it has no @")
        }
        let local = string[..<at]
        let domain = string[string.index(after: at)...]
        let localPart = try Self.validateLocalPart(local, whole: string)
        self.localPart = localPart
        self.domain = try Self.validateDomain(domain, whole: string)
        self.requiresSMTPUTF8 = !localPart.utf8.allSatisfy { $0 < 0x80 }
        // RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets.
        if self.localPart.utf8.count + self.domain.utf8.count + 1 > 254 {
            throw Self.invalid(string, "it is longer than 254 octets")
        }
    }

    /// The address as written in headers and SMTP commands.
    public var description: String { "\(localPart)@\(domain)" }

    static func invalid(_ input: some StringProtocol, _ reason: String) -> MIMEError {
        let shown = input.count > 80 ? String(input.prefix(80)) + "..." : String(input)
        return MIMEError(.invalidAddress, "'\(shown)' is not a valid email address: \(reason)", rule: reason)
    }
}

extension EmailAddress {
    private static func validateLocalPart(_ local: Substring, whole: String) throws(MIMEError) -> String {
        guard !local.isEmpty else { throw invalid(whole, "the part before @ is empty") }
        guard local.utf8.count <= 64 else { throw invalid(whole, "the part before @ is longer than 64 octets") }
        let bytes = Array(local.utf8)
        if bytes.first == UInt8(ascii: "\"") {
            return try validateQuotedLocalPart(bytes, whole: whole)
        }
        // dot-atom: atoms of atext (or UTF-8, RFC 6531) separated by single dots.
        var previousWasDot = true
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { throw invalid(whole, "dots in the part before @ must separate words") }
                previousWasDot = true
            } else if byte >= 0x80 || ASCII.atext[Int(byte)] {
                previousWasDot = false
            } else {
                let shown = Character(Unicode.Scalar(byte))
                throw invalid(whole, "'\(shown)' is not allowed unquoted before @")
            }
        }
        if previousWasDot { throw invalid(whole, "the part before @ ends with a dot") }
        return String(local)
    }

    /// A quoted local part is kept in its canonical form: unquoted when its content is a dot-atom.
    private static func validateQuotedLocalPart(_ bytes: [UInt8], whole: String) throws(MIMEError) -> String {
        guard bytes.count >= 2, bytes.last == UInt8(ascii: "\"") else {
            throw invalid(whole, "the quoted part before @ is not closed")
        }
        var content: [UInt8] = []
        var index = 1
        while index < bytes.count - 1 {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count - 1 else { throw invalid(whole, "a backslash ends the quoted part") }
                content.append(bytes[index])
            } else if byte == UInt8(ascii: "\"") {
                throw invalid(whole, "a quote inside the quoted part must be escaped")
            } else if ASCII.isPrintable(byte) || byte >= 0x80 || byte == ASCII.tab {
                content.append(byte)
            } else {
                throw invalid(whole, "the quoted part holds a control character")
            }
            index += 1
        }
        if !content.isEmpty, isDotAtom(content) { return String(decoding: content, as: UTF8.self) }
        return String(decoding: ASCII.quoted(content), as: UTF8.self)
    }

    private static func isDotAtom(_ bytes: [UInt8]) -> Bool {
        var previousWasDot = true
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { return false }
                previousWasDot = true
            } else if byte >= 0x80 || ASCII.atext[Int(byte)] {
                previousWasDot = false
            } else {
                return false
            }
        }
        return !previousWasDot
    }

    private static let labelSeparators: Set<Character> = [".", "\u{3002}", "\u{FF0E}", "\u{FF61}"]

    private static func validateDomain(_ domain: Substring, whole: String) throws(MIMEError) -> String {
        guard !domain.isEmpty else { throw invalid(whole, "the domain after @ is empty") }
        if domain.hasPrefix("[") {
            return try validateAddressLiteral(domain, whole: whole)
        }
        // An ASCII domain splits on its dots byte by byte; others on the UTS 46 label separators
        // (full stop, ideographic full stop, fullwidth and halfwidth full stops), by character.
        let labels: [Substring] =
            domain.utf8.allSatisfy({ $0 < 0x80 })
            ? domain.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map { Substring($0) }
            : domain.split(omittingEmptySubsequences: false, whereSeparator: { labelSeparators.contains($0) })
        var asciiLabels: [String] = []
        for (position, label) in labels.enumerated() {
            if label.isEmpty {
                // A single trailing dot names the root; anything else is an empty label.
                if position == labels.count - 1, position > 0 { continue }
                throw invalid(whole, "the domain has an empty label")
            }
            asciiLabels.append(try aLabel(label, whole: whole))
        }
        let result = asciiLabels.joined(separator: ".")
        guard result.utf8.count <= 253 else { throw invalid(whole, "the domain is longer than 253 octets") }
        if let last = asciiLabels.last, asciiLabels.count > 1, last.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            throw invalid(whole, "the top-level domain is numeric (write an IP address as [192.0.2.1])")
        }
        return result
    }

    /// Converts one label to its ASCII form and checks the letter-digit-hyphen rule.
    private static func aLabel(_ label: Substring, whole: String) throws(MIMEError) -> String {
        var ascii: String
        if label.utf8.allSatisfy({ $0 < 0x80 }) {
            ascii = label.lowercased()
        } else {
            let normalized = String(label).precomposedStringWithCanonicalMapping.lowercased()
            guard let encoded = Punycode.encode(Array(normalized.unicodeScalars)) else {
                throw invalid(whole, "the domain label cannot be encoded")
            }
            ascii = "xn--" + encoded
        }
        let bytes = Array(ascii.utf8)
        guard bytes.count <= 63 else { throw invalid(whole, "a domain label is longer than 63 octets") }
        guard bytes.allSatisfy({ ASCII.isAlphaNumeric($0) || $0 == UInt8(ascii: "-") }) else {
            throw invalid(whole, "the domain may hold only letters, digits, hyphens and dots")
        }
        if bytes.first == UInt8(ascii: "-") || bytes.last == UInt8(ascii: "-") {
            throw invalid(whole, "a domain label starts or ends with a hyphen")
        }
        return ascii
    }

    private static func validateAddressLiteral(_ literal: Substring, whole: String) throws(MIMEError) -> String {
        guard literal.hasSuffix("]"), literal.count > 2 else {
            throw invalid(whole, "the address literal is not closed with ]")
        }
        let inner = literal.dropFirst().dropLast()
        if inner.lowercased().hasPrefix("ipv6:") {
            let address = inner.dropFirst(5)
            let valid =
                address.contains(":")
                && address.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
            guard valid else { throw invalid(whole, "the IPv6 address literal is malformed") }
            return "[IPv6:\(address.lowercased())]"
        }
        let octets = inner.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            octets.count == 4
            && octets.allSatisfy { octet in
                !octet.isEmpty && octet.count <= 3 && octet.allSatisfy(\.isASCII) && octet.allSatisfy(\.isNumber)
                    && Int(octet).map { $0 <= 255 } == true
            }
        guard valid else { throw invalid(whole, "the address literal is not an IPv4 address") }
        return "[\(inner)]"
    }
}
