/// An error from building or signing a message.
///
/// `code` is stable and machine-readable (`mime.invalid_address`); `message` is safe to show a
/// person: it names the field and the rule that failed, and never contains a body or a key.
public struct MIMEError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable classification of a composition error.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// An address is not a valid RFC 5321/5322 addr-spec.
        case invalidAddress = "mime.invalid_address"
        /// A header value or name contains CR, LF or NUL (an attempt to inject headers).
        case headerInjection = "mime.header_injection"
        /// A header name is malformed or reserved for a field Herald writes itself.
        case invalidHeader = "mime.invalid_header"
        /// A header value cannot be written within RFC 5322's 998-octet line limit.
        case headerTooLong = "mime.header_too_long"
        /// The envelope has no recipient, or the message has no author.
        case missingRecipient = "mime.missing_recipient"
        /// An attachment's name, type or Content-ID is unusable.
        case invalidAttachment = "mime.invalid_attachment"
        /// A Message-ID given by the caller is not `<left@right>`.
        case invalidMessageID = "mime.invalid_message_id"
        /// The DKIM key could not be read, or signing failed.
        case dkim = "mime.dkim"
    }

    /// The stable machine code.
    public let code: Code
    /// A sentence safe to show a person.
    public let message: String
    /// The rule that failed, without the value it failed for ("it has no @"), when `message`
    /// is about one value; for callers that name the value their own way.
    public let rule: String?

    /// Creates an error with its code and human-readable message.
    public init(_ code: Code, _ message: String, rule: String? = nil) {
        self.code = code
        self.message = message
        self.rule = rule
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
