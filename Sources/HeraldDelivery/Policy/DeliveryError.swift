import HeraldSMTP
import HeraldStore

/// The error classes of DESIGN.md section 5. One class per failure; the policy keys on it alone.
public enum ErrorClass: String, Sendable, Hashable, CaseIterable, Codable {
    case network, timeout, tls, auth
    case rateLimited = "rate_limited"
    case senderRejected = "sender_rejected"
    case recipientRejected = "recipient_rejected"
    case contentRejected = "content_rejected"
    case tooLarge = "too_large"
    case transient, permanent
    case `protocol`

    init(_ classification: SMTPError.Classification) {
        switch classification {
        case .network: self = .network
        case .timeout: self = .timeout
        case .tls: self = .tls
        case .auth: self = .auth
        case .rateLimited: self = .rateLimited
        case .senderRejected: self = .senderRejected
        case .recipientRejected: self = .recipientRejected
        case .contentRejected: self = .contentRejected
        case .tooLarge: self = .tooLarge
        case .transient: self = .transient
        case .permanent: self = .permanent
        case .protocol: self = .protocol
        }
    }
}

/// Why one try through one account failed: a stable code, its class, words for a person, and
/// the server's reply when there was one.
///
/// `message` and `diagnosis` never contain passwords, AUTH payloads, bodies or recipient lists.
public struct DeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable machine code, such as `smtp.tls_expected` or `delivery.sender_mismatch`.
    public var code: String
    public var errorClass: ErrorClass
    public var message: String
    /// For configuration mistakes: what to change.
    public var diagnosis: String?
    public var smtpCode: Int?
    public var enhancedCode: String?
    /// The server's reply text, if any.
    public var reply: String?
    /// Each recipient's outcome, when the server answered RCPT.
    public var recipients: [RecipientOutcome]
    /// The final dot was sent but no reply was read: the message may have arrived.
    public var ambiguous: Bool

    public init(
        code: String, errorClass: ErrorClass, message: String, diagnosis: String? = nil, smtpCode: Int? = nil,
        enhancedCode: String? = nil, reply: String? = nil, recipients: [RecipientOutcome] = [], ambiguous: Bool = false
    ) {
        self.code = code
        self.errorClass = errorClass
        self.message = message
        self.diagnosis = diagnosis
        self.smtpCode = smtpCode
        self.enhancedCode = enhancedCode
        self.reply = reply
        self.recipients = recipients
        self.ambiguous = ambiguous
    }

    /// A channel that is shutting down refuses to start a send: nothing left this process, so the
    /// message is released, not retried, and counts no attempt.
    public static let stopping = DeliveryError(
        code: "delivery.stopping", errorClass: .transient, message: "the worker is stopping; the message was not sent")

    /// This process could not open an account's password: its master key is not the one the
    /// password was stored under. Nothing was sent, and it is neither the account's fault nor the
    /// message's: the account's health and the message's attempts are left alone.
    public static let secretUnreadableCode = "delivery.secret_unreadable"

    /// The SMTP client's error, classified as it is.
    public init(_ error: SMTPError) {
        self.init(
            code: error.code, errorClass: ErrorClass(error.classification), message: error.message, diagnosis: error.diagnosis,
            smtpCode: error.reply?.code, enhancedCode: error.reply?.enhancedCode?.description, reply: error.reply?.text,
            recipients: error.recipients.map(RecipientOutcome.init),
            // After the final dot, a lost connection or a timeout leaves the outcome unknown.
            ambiguous: error.phase == .message && error.reply == nil)
    }

    /// The message and the diagnosis together, as stored with the attempt and shown to people.
    public var explanation: String {
        guard let diagnosis else { return message }
        return message + ". " + diagnosis
    }

    public var description: String { "\(code) (\(errorClass.rawValue)): \(explanation)" }
}

extension RecipientOutcome {
    init(_ result: SMTPRecipientResult) {
        self.init(
            address: result.recipient, accepted: result.accepted, code: result.reply.code,
            enhancedCode: result.reply.enhancedCode?.description, reply: result.reply.text)
    }
}
