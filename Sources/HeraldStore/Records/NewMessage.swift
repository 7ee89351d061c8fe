import Foundation

/// A message to enqueue: composed bytes plus what the API and the workers need to know about it.
public struct NewMessage: Sendable, Hashable {
    /// The request that created it, for tracing (`X-Request-Id`).
    public var requestID: String?
    /// The API key that created it; idempotency keys are scoped to it.
    public var apiKeyID: Int64?
    /// The client's `Idempotency-Key` and a hash of its request (see `Store.enqueue`).
    public var idempotency: Idempotency?
    /// The delivery channel: `email` for now.
    public var channel: String
    /// The From mailbox as it appears in the header, e.g. `系统通知 <a@qq.com>`.
    public var from: String
    /// Recipient addresses by field. Bcc is kept here only: it is never in the bytes' headers.
    public var to: [String]
    public var cc: [String]
    public var bcc: [String]
    /// The decoded subject, for listing and search.
    public var subject: String?
    /// The template it was rendered from, if any, with its variables as JSON text.
    public var templateCode: String?
    public var templateVariables: String?
    /// The composed RFC 5322 bytes; a retry sends exactly these.
    public var mime: [UInt8]
    /// The `Message-ID` header inside `mime`, without angle brackets.
    public var messageIDHeader: String?
    /// The account the client asked for by name, if any.
    public var fromAccount: String?
    /// Lower is claimed first, 0 to 9 (like MX preference and Oban's queues). Default 5.
    public var priority: Int
    /// Not before this time (compared with the database's clock). `nil`: as soon as possible.
    public var sendAt: Date?
    /// Not after this time: a message still unsent then fails as `expired`.
    public var expiresAt: Date?
    /// How many attempts before the message fails.
    public var maxAttempts: Int
    /// Free labels for filtering and routing.
    public var tags: [String]
    /// Free key-value pairs the client attached; returned as given.
    public var metadata: [String: String]

    public init(
        requestID: String? = nil, apiKeyID: Int64? = nil, idempotency: Idempotency? = nil,
        channel: String = "email", from: String, to: [String], cc: [String] = [], bcc: [String] = [],
        subject: String? = nil, templateCode: String? = nil, templateVariables: String? = nil,
        mime: [UInt8], messageIDHeader: String? = nil, fromAccount: String? = nil, priority: Int = 5,
        sendAt: Date? = nil, expiresAt: Date? = nil, maxAttempts: Int = 8, tags: [String] = [],
        metadata: [String: String] = [:]
    ) {
        self.requestID = requestID
        self.apiKeyID = apiKeyID
        self.idempotency = idempotency
        self.channel = channel
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.subject = subject
        self.templateCode = templateCode
        self.templateVariables = templateVariables
        self.mime = mime
        self.messageIDHeader = messageIDHeader
        self.fromAccount = fromAccount
        self.priority = priority
        self.sendAt = sendAt
        self.expiresAt = expiresAt
        self.maxAttempts = maxAttempts
        self.tags = tags
        self.metadata = metadata
    }

    /// Every recipient: To, then Cc, then Bcc.
    public var allRecipients: [String] { to + cc + bcc }
}

/// A client's idempotency key with the hash of the request it came with.
///
/// The key is scoped to the API key (`NewMessage.apiKeyID`). The same key with the same request
/// hash returns the original message; with a different hash it is a conflict.
public struct Idempotency: Sendable, Hashable {
    public var key: String
    public var requestHash: String

    public init(key: String, requestHash: String) {
        self.key = key
        self.requestHash = requestHash
    }
}

/// What `Store.enqueue` did with a message.
public enum EnqueueResult: Sendable, Hashable {
    /// Stored and committed.
    case created(MessageRecord)
    /// The idempotency key was seen before with the same request: this is the original message.
    case duplicate(MessageRecord)

    /// The message, new or original.
    public var message: MessageRecord {
        switch self {
        case .created(let message), .duplicate(let message): message
        }
    }
}
