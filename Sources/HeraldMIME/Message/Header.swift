/// A header field the caller adds to a message, such as `List-Unsubscribe` or `X-Campaign`.
///
/// Fields that Herald writes itself (From, To, Date, Message-ID, Content-Type, ...) cannot be
/// set this way: they have typed properties on `Email`.
public struct Header: Hashable, Sendable {
    /// The field name as given (`List-Unsubscribe`).
    public let name: String
    /// The field body, unfolded.
    public let value: String

    /// Fields Herald writes itself; compared in lower case.
    static let reserved: Set<String> = [
        "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition", "content-id", "dkim-signature",
        "return-path", "received",
    ]

    /// Validates the name (RFC 5322 `ftext`, at most 76 characters, not reserved) and the value
    /// (no CR, LF or NUL).
    public init(name: String, value: String) throws(MIMEError) {
        try name.checkHeaderSafe(field: "a header name")
        try value.checkHeaderSafe(field: "the value of header '\(name.prefix(76))'")
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 76,
            bytes.allSatisfy({ $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: ":") })
        else {
            throw MIMEError(
                .invalidHeader, "'\(name.prefix(76))' is not a valid header name (printable ASCII, no colon, at most 76 characters)")
        }
        guard !Self.reserved.contains(name.lowercased()) else {
            throw MIMEError(.invalidHeader, "the header '\(name)' is set by Herald; use the message's own field for it")
        }
        self.name = name
        self.value = value.trimmingWhitespace()
    }

    /// Parses `Name: value`.
    public init(parsing line: String) throws(MIMEError) {
        guard let colon = line.firstIndex(of: ":") else {
            throw MIMEError(.invalidHeader, "a header must be written 'Name: value'")
        }
        try self.init(name: String(line[..<colon]).trimmingWhitespace(), value: String(line[line.index(after: colon)...]))
    }
}
