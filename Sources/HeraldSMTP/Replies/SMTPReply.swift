/// One SMTP reply (RFC 5321 4.2): a three-digit code and one or more lines of text.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    /// The basic reply code, such as 250 or 535.
    public let code: Int
    /// The RFC 3463 enhanced status code, when the first line starts with one.
    public let enhancedCode: EnhancedStatusCode?
    /// The text of each line, without the code, separator or enhanced code.
    public let lines: [String]

    /// Creates a reply; `enhancedCode` is read from the first line when it starts with one.
    public init(code: Int, lines: [String]) {
        self.code = code
        var lines = lines.isEmpty ? [""] : lines
        let enhanced = EnhancedStatusCode.leading(in: lines[0], replyCode: code)
        if let (_, length) = enhanced {
            // Later lines usually repeat the first line's code; each is stripped of it if it does.
            let token = lines[0].utf8.prefix(length)
            lines = lines.map { line in
                let bytes = line.utf8
                let repeats = bytes.starts(with: token) && bytes.dropFirst(length).first.map { $0 == UInt8(ascii: " ") } ?? true
                return repeats ? EnhancedStatusCode.dropping(length, from: line) : line
            }
        }
        self.enhancedCode = enhanced?.code
        self.lines = lines
    }

    /// All lines joined by a space.
    public var text: String { lines.joined(separator: " ") }

    /// 2xx: the command succeeded.
    public var isPositive: Bool { (200..<300).contains(code) }
    /// 3xx: the server waits for more (354 after DATA, 334 during AUTH).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// 4xx: try again later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    /// 5xx: do not repeat as it is.
    public var isPermanentFailure: Bool { code >= 500 }

    /// `550 5.1.1 text`: the code, enhanced code and first line, as a log or an error shows it.
    public var description: String {
        [String(code), enhancedCode?.description, lines.first].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// An RFC 3463 enhanced status code: `class.subject.detail`, such as 5.7.1.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    /// 2, 4 or 5.
    public let statusClass: Int
    public let subject: Int
    public let detail: Int

    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// The code at the start of `line` (one to three digits in each of its three parts, then a
    /// space or the end) when its class agrees with the reply code, and its length in bytes.
    /// Read as bytes: it runs for every reply.
    static func leading(in line: String, replyCode: Int) -> (code: EnhancedStatusCode, length: Int)? {
        var parts = (0, 0, 0)
        var part = 0
        var digits = 0
        var length = 0
        for byte in line.utf8 {
            if byte == UInt8(ascii: " ") { break }
            length += 1
            if byte == UInt8(ascii: ".") {
                guard digits > 0, part < 2 else { return nil }
                part += 1
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3 else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            switch part {
            case 0: parts.0 = parts.0 * 10 + digit
            case 1: parts.1 = parts.1 * 10 + digit
            default: parts.2 = parts.2 * 10 + digit
            }
            digits += 1
        }
        guard part == 2, digits > 0, [2, 4, 5].contains(parts.0), parts.0 == replyCode / 100 else { return nil }
        return (EnhancedStatusCode(statusClass: parts.0, subject: parts.1, detail: parts.2), length)
    }

    /// `line` without its first `length` bytes (an enhanced code, ASCII) and the spaces after them.
    static func dropping(_ length: Int, from line: String) -> String {
        String(decoding: line.utf8.dropFirst(length).drop(while: { $0 == UInt8(ascii: " ") }), as: UTF8.self)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}
