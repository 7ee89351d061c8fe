import HeraldStore

/// A way of delivering a message through an account: `smtp`, `sandbox`, later webhooks and chat
/// bots. Workers only know this protocol; an account's `channel` names the one it uses.
public protocol DeliveryChannel: Sendable {
    /// The name accounts refer to (`AccountRecord.channel`).
    var name: String { get }
    /// Delivers `message` through `account`. Throws a classified `DeliveryError`; never a password.
    func deliver(_ message: OutgoingMessage, through account: AccountRecord) async throws(DeliveryError) -> DeliveryReceipt
    /// Forgets what it keeps for `account` (open connections, a cached password), e.g. after the
    /// account's settings changed or its login failed.
    func reset(accountID: Int64) async
    /// Closes everything; called when the workers stop. Sends already started finish; one not
    /// started yet, or asked for afterwards, throws `DeliveryError.stopping`.
    func shutdown() async
    /// After `shutdown()`, when the stop can wait no longer: ends the sends still running (an
    /// SMTP reply may take minutes to time out). Each throws `DeliveryError.stopping`.
    func abort() async
}

extension DeliveryChannel {
    /// A channel whose sends end quickly has nothing to end.
    public func abort() async {}
}

/// A message as a channel sends it: an envelope and the exact bytes.
public struct OutgoingMessage: Sendable, Hashable {
    public var messageID: Int64
    /// MAIL FROM: the account's address.
    public var sender: String
    /// RCPT TO, in order: To, Cc, Bcc (suppressed addresses removed).
    public var recipients: [String]
    /// The stored RFC 5322 bytes; a retry sends exactly these, with the same Message-ID.
    public var bytes: [UInt8]

    public init(messageID: Int64, sender: String, recipients: [String], bytes: [UInt8]) {
        self.messageID = messageID
        self.sender = sender
        self.recipients = recipients
        self.bytes = bytes
    }
}

/// What the receiving side said when it took the message.
public struct DeliveryReceipt: Sendable, Hashable {
    public var smtpCode: Int?
    public var enhancedCode: String?
    public var reply: String?
    /// Each recipient's outcome: some may be refused while the others were accepted.
    public var recipients: [RecipientOutcome]

    public init(smtpCode: Int? = nil, enhancedCode: String? = nil, reply: String? = nil, recipients: [RecipientOutcome]) {
        self.smtpCode = smtpCode
        self.enhancedCode = enhancedCode
        self.reply = reply
        self.recipients = recipients
    }
}
