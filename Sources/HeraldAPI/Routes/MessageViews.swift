import Foundation
import HeraldStore

/// A message as `GET /messages/{id}` shows it: status, recipients with their outcome, every attempt.
struct MessageView: Encodable {
    struct Recipient: Encodable {
        var address: String
        var kind: String
        /// `pending` until an attempt reports on it, then `accepted` or `refused`.
        var outcome: String
        var smtpCode: Int?
        var reply: String?

        enum CodingKeys: String, CodingKey {
            case address, kind, outcome, reply
            case smtpCode = "smtp_code"
        }
    }

    struct Attempt: Encodable {
        var number: Int
        var outcome: String
        var accountID: Int64?
        /// The account's name, while the account exists.
        var accountName: String?
        var errorClass: String?
        var errorCode: String?
        var errorMessage: String?
        var smtpCode: Int?
        var enhancedCode: String?
        var reply: String?
        var startedAt: Date
        var finishedAt: Date

        enum CodingKeys: String, CodingKey {
            case number, outcome, reply
            case accountID = "account_id"
            case accountName = "account_name"
            case errorClass = "error_class"
            case errorCode = "error_code"
            case errorMessage = "error_message"
            case smtpCode = "smtp_code"
            case enhancedCode = "enhanced_code"
            case startedAt = "started_at"
            case finishedAt = "finished_at"
        }
    }

    var id: Int64
    var status: String
    var from: String
    var to: [String]
    var cc: [String]
    var bccCount: Int
    var subject: String?
    var templateCode: String?
    var fromAccount: String?
    /// The account of the latest attempt, by id and, while it exists, by name.
    var accountID: Int64?
    var accountName: String?
    var priority: Int
    var retryCount: Int
    var maxAttempts: Int
    var errorCode: String?
    var errorMessage: String?
    var smtpReply: String?
    var messageIDHeader: String?
    var tags: [String]
    var metadata: [String: String]
    var requestID: String?
    var sendAt: Date?
    var expiresAt: Date?
    var nextAttemptAt: Date?
    var createdAt: Date
    var updatedAt: Date
    var sentAt: Date?
    var recipients: [Recipient]?
    var attempts: [Attempt]?

    enum CodingKeys: String, CodingKey {
        case id, status, from, to, cc, subject, priority, tags, metadata, recipients, attempts
        case bccCount = "bcc_count"
        case templateCode = "template_code"
        case fromAccount = "from_account"
        case accountID = "account_id"
        case accountName = "account_name"
        case retryCount = "retry_count"
        case maxAttempts = "max_attempts"
        case errorCode = "error_code"
        case errorMessage = "error_message"
        case smtpReply = "smtp_reply"
        case messageIDHeader = "message_id_header"
        case requestID = "request_id"
        case sendAt = "send_at"
        case expiresAt = "expires_at"
        case nextAttemptAt = "next_attempt_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case sentAt = "sent_at"
    }

    /// The summary (for lists), or with `attempts` the full view; `accountNames` by account id.
    init(_ message: MessageRecord, attempts: [AttemptRecord]? = nil, accountNames: [Int64: String] = [:]) {
        id = message.id
        status = message.status.rawValue
        from = message.from
        to = message.to
        cc = message.cc
        bccCount = message.bcc.count
        subject = message.subject
        templateCode = message.templateCode
        fromAccount = message.fromAccount
        accountID = message.accountID
        accountName = message.accountID.flatMap { accountNames[$0] }
        priority = message.priority
        retryCount = message.attempts
        maxAttempts = message.maxAttempts
        errorCode = message.errorCode
        errorMessage = message.errorMessage
        smtpReply = message.smtpReply
        messageIDHeader = message.messageIDHeader
        tags = message.tags
        metadata = message.metadata
        requestID = message.requestID
        sendAt = message.sendAt
        expiresAt = message.expiresAt
        nextAttemptAt = message.status.isFinal || message.status == .sending ? nil : message.nextAttemptAt
        createdAt = message.createdAt
        updatedAt = message.updatedAt
        sentAt = message.sentAt
        guard let attempts else { return }
        self.attempts = attempts.map {
            Attempt(
                number: $0.number, outcome: $0.outcome.rawValue, accountID: $0.accountID,
                accountName: $0.accountID.flatMap { accountNames[$0] }, errorClass: $0.errorClass,
                errorCode: $0.errorCode,
                errorMessage: $0.errorMessage, smtpCode: $0.smtpCode, enhancedCode: $0.enhancedCode, reply: $0.reply,
                startedAt: $0.startedAt,
                finishedAt: $0.finishedAt)
        }
        // Each recipient's latest word: the last attempt that reported on it.
        var latest: [String: RecipientOutcome] = [:]
        for attempt in attempts {
            for outcome in attempt.recipients { latest[outcome.address.lowercased()] = outcome }
        }
        let kinds = message.to.map { ($0, "to") } + message.cc.map { ($0, "cc") } + message.bcc.map { ($0, "bcc") }
        recipients = kinds.map { address, kind in
            let outcome = latest[address.lowercased()]
            let word = outcome.map { $0.accepted ? "accepted" : "refused" } ?? (message.status == .success ? "accepted" : "pending")
            return Recipient(address: address, kind: kind, outcome: word, smtpCode: outcome?.code, reply: outcome?.reply)
        }
    }
}

extension MessageView {
    /// Account names by id, for `init(_:attempts:accountNames:)`.
    static func names(of accounts: [AccountRecord]) -> [Int64: String] {
        Dictionary(accounts.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
}

/// `data` of a send: what the original system answered.
struct SendResult: Encodable {
    var messageID: Int64
    var status: String
    var requestID: String
    var duplicate: Bool?

    enum CodingKeys: String, CodingKey {
        case status, duplicate
        case messageID = "message_id"
        case requestID = "request_id"
    }
}

/// `GET /messages/{id}`'s `data` outside HTTP, for `herald status`: one view of a message,
/// whichever way it is asked for.
public enum MessageDetail {
    /// The message's view as JSON, or nil when there is no such message.
    public static func json(of id: Int64, in store: any Store) async throws -> Data? {
        guard let message = try await store.message(id: id) else { return nil }
        let attempts = try await store.attempts(messageID: id)
        let names = MessageView.names(of: try await store.accounts())
        return try JSONResponse.encoder.encode(MessageView(message, attempts: attempts, accountNames: names))
    }
}
