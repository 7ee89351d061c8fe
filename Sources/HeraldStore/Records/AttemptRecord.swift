import Foundation

/// How one delivery attempt ended.
public enum AttemptOutcome: String, Sendable, Hashable, Codable {
    /// The server accepted the message (for at least one recipient).
    case success
    /// It failed with an error worth retrying.
    case retry
    /// It failed for good.
    case failed
    /// The final dot was sent but no reply was read: the message may or may not have arrived.
    case ambiguous
    /// The worker's lease expired before it reported anything (it crashed or hung).
    case leaseExpired = "lease_expired"
    /// This account failed and the message was handed to another account in the same claim.
    case failedOver = "failed_over"
}

/// One recipient's result within an attempt.
public struct RecipientOutcome: Sendable, Hashable, Codable {
    public var address: String
    public var accepted: Bool
    public var code: Int?
    public var enhancedCode: String?
    public var reply: String?

    public init(address: String, accepted: Bool, code: Int? = nil, enhancedCode: String? = nil, reply: String? = nil) {
        self.address = address
        self.accepted = accepted
        self.code = code
        self.enhancedCode = enhancedCode
        self.reply = reply
    }
}

/// What a worker reports about one attempt. The store adds the number and the message.
public struct AttemptReport: Sendable, Hashable {
    public var accountID: Int64?
    public var startedAt: Date
    public var errorClass: String?
    public var errorCode: String?
    /// A message safe to show a person: never a password, an AUTH payload or a body.
    public var errorMessage: String?
    public var smtpCode: Int?
    public var enhancedCode: String?
    public var reply: String?
    public var recipients: [RecipientOutcome]
    /// The final dot was sent but no reply was read: recorded as `ambiguous`, whatever happens next.
    public var ambiguous: Bool

    public init(
        accountID: Int64? = nil, startedAt: Date = Date(), errorClass: String? = nil, errorCode: String? = nil,
        errorMessage: String? = nil, smtpCode: Int? = nil, enhancedCode: String? = nil, reply: String? = nil,
        recipients: [RecipientOutcome] = [], ambiguous: Bool = false
    ) {
        self.ambiguous = ambiguous
        self.accountID = accountID
        self.startedAt = startedAt
        self.errorClass = errorClass
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.smtpCode = smtpCode
        self.enhancedCode = enhancedCode
        self.reply = reply
        self.recipients = recipients
    }
}

/// A recorded attempt.
public struct AttemptRecord: Sendable, Hashable {
    public var messageID: Int64
    public var number: Int
    public var outcome: AttemptOutcome
    public var accountID: Int64?
    public var startedAt: Date
    public var finishedAt: Date
    public var errorClass: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var smtpCode: Int?
    public var enhancedCode: String?
    public var reply: String?
    public var recipients: [RecipientOutcome]
}

/// How a worker settles a message it holds: each settlement records an attempt.
public struct Settlement: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Delivered: the message becomes `success`.
        case delivered
        /// Try again after this long (measured on the database's clock): `retrying`.
        case retry(after: Duration)
        /// Give up: `failed`.
        case failed
    }

    public var lease: Lease
    public var kind: Kind
    public var report: AttemptReport

    public init(lease: Lease, kind: Kind, report: AttemptReport) {
        self.lease = lease
        self.kind = kind
        self.report = report
    }
}
