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
        let enhanced = EnhancedStatusCode(prefixOf: lines[0], replyCode: code)
        if let enhanced {
            lines = lines.map { EnhancedStatusCode.stripping(enhanced, from: $0) }
        }
        self.enhancedCode = enhanced
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

    /// Reads `x.y.z` at the start of `text` when its class agrees with the reply code.
    init?(prefixOf text: String, replyCode: Int) {
        let token = text.prefix(while: { $0 != " " })
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCII) }),
            let statusClass = Int(parts[0]), let subject = Int(parts[1]), let detail = Int(parts[2]),
            [2, 4, 5].contains(statusClass), statusClass == replyCode / 100
        else { return nil }
        self.init(statusClass: statusClass, subject: subject, detail: detail)
    }

    static func stripping(_ code: EnhancedStatusCode, from line: String) -> String {
        let prefix = code.description
        guard line.hasPrefix(prefix) else { return line }
        return String(line.dropFirst(prefix.count).drop(while: { $0 == " " }))
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}
