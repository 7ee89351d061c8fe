/// The SMTP envelope: who the message is from (MAIL FROM) and whom it goes to (RCPT TO).
///
/// The envelope is what the SMTP client sends; it may differ from the headers (Bcc recipients
/// are in the envelope only).
public struct Envelope: Hashable, Sendable {
    /// The reverse-path; for QQ, 163 and Exmail this must be the login account.
    public let sender: EmailAddress
    /// The forward-paths, without duplicates, in the order first given.
    public let recipients: [EmailAddress]

    /// Creates an envelope; throws `.missingRecipient` when `recipients` is empty.
    public init(sender: EmailAddress, recipients: [EmailAddress]) throws(MIMEError) {
        var seen = Set<String>()
        let unique = recipients.filter { seen.insert($0.normalizedKey).inserted }
        guard !unique.isEmpty else {
            throw MIMEError(.missingRecipient, "a message needs at least one recipient")
        }
        self.sender = sender
        self.recipients = unique
    }

    /// True when any address needs SMTPUTF8 (RFC 6531).
    public var requiresSMTPUTF8: Bool {
        sender.requiresSMTPUTF8 || recipients.contains(where: \.requiresSMTPUTF8)
    }
}

extension EmailAddress {
    /// A key under which two spellings of one mailbox compare equal: domains are already
    /// lower-cased; local parts are case-sensitive by RFC 5321 but not in practice.
    var normalizedKey: String { localPart.lowercased() + "@" + domain }
}
