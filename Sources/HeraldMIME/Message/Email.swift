import Foundation

/// What a message says and to whom: the input to `MessageComposer`.
///
/// Every field holds validated values (`Mailbox`, `Header`, `Attachment`); the composer checks
/// the rest (the subject, the presence of a recipient) and writes RFC 5322 bytes.
public struct Email: Sendable {
    /// The author (`From`). Its address is also the envelope sender unless `envelopeSender` is set.
    public var from: Mailbox
    /// Primary recipients (`To`).
    public var to: [Mailbox]
    /// Carbon-copy recipients (`Cc`).
    public var cc: [Mailbox]
    /// Blind recipients: in the envelope only, never in a header.
    public var bcc: [Mailbox]
    /// Where replies go (`Reply-To`).
    public var replyTo: [Mailbox]
    /// The subject, any Unicode; CR, LF and NUL are refused when composing.
    public var subject: String
    /// The plain-text body.
    public var text: String?
    /// The HTML body; with `text`, the two become `multipart/alternative`.
    public var html: String?
    /// Attachments and inline images, in order.
    public var attachments: [Attachment]
    /// Extra header fields, written after Herald's own, in order.
    public var headers: [Header]
    /// The SMTP reverse-path when it must differ from `from` (bounces to a VERP address, say).
    public var envelopeSender: EmailAddress?
    /// A Message-ID to reuse (with or without angle brackets); a new one is made when nil.
    public var messageID: String?
    /// The Date header's time; the time of composing when nil.
    public var date: Date?

    /// Creates a message; the other fields start empty.
    public init(
        from: Mailbox, to: [Mailbox] = [], cc: [Mailbox] = [], bcc: [Mailbox] = [], subject: String = "",
        text: String? = nil, html: String? = nil
    ) {
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.replyTo = []
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = []
        self.headers = []
    }

    /// The SMTP envelope: the envelope sender (or From) to every To, Cc and Bcc address.
    public func envelope() throws(MIMEError) -> Envelope {
        try Envelope(sender: envelopeSender ?? from.address, recipients: (to + cc + bcc).map(\.address))
    }
}

/// A composed message: the envelope and the exact bytes that DATA carries (before dot-stuffing).
public struct ComposedMessage: Sendable {
    /// MAIL FROM and RCPT TO.
    public let envelope: Envelope
    /// The RFC 5322 message, CRLF line endings, ending with CRLF.
    public let bytes: [UInt8]
    /// The Message-ID header's value, with angle brackets; the same on every retry.
    public let messageID: String
    /// True when an address holds non-ASCII characters, so the SMTP server must offer SMTPUTF8.
    public let requiresSMTPUTF8: Bool
}
