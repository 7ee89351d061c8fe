import Foundation

/// A stored message as the API and the workers see it (the bytes are read separately).
public struct MessageRecord: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var requestID: String?
    public var apiKeyID: Int64?
    public var idempotencyKey: String?
    public var channel: String
    public var from: String
    public var to: [String]
    public var cc: [String]
    public var bcc: [String]
    public var subject: String?
    public var templateCode: String?
    public var templateVariables: String?
    public var messageIDHeader: String?
    public var fromAccount: String?
    public var status: MessageStatus
    public var priority: Int
    public var sendAt: Date?
    public var expiresAt: Date?
    /// Attempts made so far (the original system's `retry_count`).
    public var attempts: Int
    public var maxAttempts: Int
    public var nextAttemptAt: Date
    /// The worker holding the message while it is `sending`, and until when.
    public var leaseOwner: String?
    public var leaseUntil: Date?
    /// The account of the last attempt.
    public var accountID: Int64?
    /// The last error's stable code (e.g. `smtp.tls_mismatch`), message and SMTP reply.
    public var errorCode: String?
    public var errorMessage: String?
    public var smtpReply: String?
    public var tags: [String]
    public var metadata: [String: String]
    public var createdAt: Date
    public var updatedAt: Date
    public var sentAt: Date?
}

/// A message a worker holds under a lease, with the bytes to send.
public struct ClaimedMessage: Sendable, Hashable {
    public var message: MessageRecord
    public var mime: [UInt8]
    public var lease: Lease
}

/// Proof of holding a claimed message. Every write a worker makes about the message carries it;
/// once the lease expired and another worker claimed the message, the old token changes nothing.
public struct Lease: Sendable, Hashable {
    public var messageID: Int64
    public var token: String

    public init(messageID: Int64, token: String) {
        self.messageID = messageID
        self.token = token
    }
}
