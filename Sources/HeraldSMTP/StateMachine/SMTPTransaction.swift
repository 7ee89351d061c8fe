/// One message to send: the envelope as plain address strings (HeraldMIME's types stay out of
/// the SMTP layer) and what the message needs from the server.
public struct SMTPEnvelope: Hashable, Sendable {
    /// Delivery status notifications to ask for (RFC 3461), when the server offers DSN.
    public struct DSN: Hashable, Sendable {
        /// `NOTIFY=` on each RCPT, such as `["FAILURE", "DELAY"]`.
        public var notify: [String]
        /// `RET=FULL` or `RET=HDRS` on MAIL.
        public var returnContent: String?
        /// `ENVID=` on MAIL.
        public var envelopeID: String?

        public init(notify: [String] = ["FAILURE"], returnContent: String? = "HDRS", envelopeID: String? = nil) {
            self.notify = notify
            self.returnContent = returnContent
            self.envelopeID = envelopeID
        }
    }

    public let sender: String
    public let recipients: [String]
    /// The message holds non-ASCII addresses or headers (RFC 6531).
    public var requiresSMTPUTF8: Bool
    /// The message body holds 8-bit data (RFC 6152); Herald's composer never produces it.
    public var requires8BitMIME: Bool
    public var dsn: DSN?

    /// Refuses CR, LF or NUL in any address, and an empty recipient list.
    public init(sender: String, recipients: [String], requiresSMTPUTF8: Bool = false) throws(SMTPError) {
        try SMTPCommand.checkArgument(sender, "the envelope sender")
        for recipient in recipients { try SMTPCommand.checkArgument(recipient, "a recipient") }
        guard !recipients.isEmpty else {
            throw SMTPError(
                code: "smtp.invalid_argument", classification: .permanent, phase: .mail, message: "an envelope needs at least one recipient"
            )
        }
        self.sender = sender
        self.recipients = recipients
        self.requiresSMTPUTF8 = requiresSMTPUTF8 || !(sender + recipients.joined()).utf8.allSatisfy { $0 < 0x80 }
        self.requires8BitMIME = false
    }
}

/// What the server said about one recipient.
public struct SMTPRecipientResult: Hashable, Sendable {
    public let recipient: String
    public let reply: SMTPReply
    public var accepted: Bool { reply.isPositive }
}

/// A message the server accepted: its final reply and each recipient's outcome (some may have
/// been refused while the rest were delivered).
public struct SMTPDeliveryResult: Hashable, Sendable {
    public let reply: SMTPReply
    public let recipients: [SMTPRecipientResult]
    public var refused: [SMTPRecipientResult] { recipients.filter { !$0.accepted } }
}
