/// An SMTP delivery failure: what happened, in which phase, how the retry policy should treat it,
/// and, for configuration mistakes, what to change.
///
/// `message` and `diagnosis` are safe to show a person: they never contain passwords, AUTH
/// payloads, message bodies or recipient lists.
public struct SMTPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The error classes of DESIGN.md section 5; the retry, health and failover policy keys on these.
    public enum Classification: String, Sendable, Hashable, CaseIterable {
        case network, timeout, tls, auth
        case rateLimited = "rate_limited"
        case senderRejected = "sender_rejected"
        case recipientRejected = "recipient_rejected"
        case contentRejected = "content_rejected"
        case tooLarge = "too_large"
        case transient, permanent
        case `protocol`
    }

    /// Where in the session the error happened.
    public enum Phase: String, Sendable, Hashable {
        case connect, tls, greeting, ehlo, startTLS = "starttls", auth, mail, rcpt, data
        /// After the final dot: the server's verdict on the message itself.
        case message
        case rset, noop, quit
    }

    /// A stable machine code, such as `smtp.tls_expected`.
    public let code: String
    public let classification: Classification
    /// Set by the session when an error is raised below it (a decoder does not know the phase).
    public internal(set) var phase: Phase
    /// The server's reply, when there was one.
    public let reply: SMTPReply?
    /// What happened, in a sentence.
    public let message: String
    /// For configuration mistakes: what to change, in plain words.
    public let diagnosis: String?
    /// Each recipient's reply, when the error came after RCPT (all recipients refused).
    public var recipients: [SMTPRecipientResult] = []

    public init(
        code: String, classification: Classification, phase: Phase, reply: SMTPReply? = nil, message: String,
        diagnosis: String? = nil
    ) {
        self.code = code
        self.classification = classification
        self.phase = phase
        self.reply = reply
        self.message = message
        self.diagnosis = diagnosis
    }

    public var description: String {
        var text = "\(code) (\(classification.rawValue), \(phase.rawValue)): \(message)"
        if let reply { text += " [server: \(reply)]" }
        if let diagnosis { text += " \(diagnosis)" }
        return text
    }

    /// True when the same message may succeed if tried again later (DESIGN.md section 5).
    public var isTransient: Bool {
        switch classification {
        case .network, .timeout, .rateLimited, .transient, .protocol: return true
        case .auth: return reply?.code == 454
        case .tls, .senderRejected, .recipientRejected, .contentRejected, .tooLarge, .permanent: return false
        }
    }

    /// True when the error says the account (its configuration or its standing) is at fault.
    public var countsAgainstAccount: Bool {
        switch classification {
        case .network, .timeout, .tls, .auth, .senderRejected, .protocol: return true
        case .rateLimited, .recipientRejected, .contentRejected, .tooLarge, .transient, .permanent: return false
        }
    }
}

extension SMTPError {
    static func malformedReply(_ detail: String) -> SMTPError {
        SMTPError(
            code: "smtp.malformed_reply", classification: .protocol, phase: .greeting,
            message: "the server sent a malformed reply: \(detail)")
    }

    /// Classifies a failure reply by its phase, codes and text (DESIGN.md section 5).
    public static func rejected(_ reply: SMTPReply, in phase: Phase) -> SMTPError {
        let text = reply.text.lowercased()
        let enhanced = reply.enhancedCode
        let rateWords = ["frequency", "rate limit", "too many", "quota", "throttl", "try again later", "limit exceeded"]
        let isRateLimited =
            (reply.isTransientFailure && (rateWords.contains(where: text.contains) || (enhanced?.subject == 7 && reply.code != 454)))
            || (enhanced.map { $0.subject == 7 && $0.detail == 28 } ?? false)
        let classification: Classification
        let code: String
        switch (phase, reply.code) {
        case (_, 421) where isRateLimited, (_, 450...452) where isRateLimited:
            (classification, code) = (.rateLimited, "smtp.rate_limited")
        case (_, 421):
            (classification, code) = (.transient, "smtp.service_closing")
        case (.auth, _), (_, 530), (_, 534), (_, 535), (_, 538):
            (classification, code) = (.auth, "smtp.auth_failed")
        case (_, 552) where phase != .rcpt, (_, _) where enhanced.map({ $0.subject == 3 && $0.detail == 4 }) ?? false:
            (classification, code) = (.tooLarge, "smtp.message_too_large")
        case (.mail, 500...):
            (classification, code) = (.senderRejected, "smtp.sender_rejected")
        case (.rcpt, 500...):
            (classification, code) = (.recipientRejected, "smtp.recipient_rejected")
        case (.data, 500...), (.message, 500...):
            let contentWords = ["spam", "dt:spm", "from", "header", "content", "policy", "blocked", "virus", "rejected"]
            let isContent = enhanced.map { $0.subject == 6 || ($0.subject == 7 && $0.detail == 1) } ?? false
            (classification, code) =
                isContent || contentWords.contains(where: text.contains)
                ? (.contentRejected, "smtp.content_rejected") : (.permanent, "smtp.message_rejected")
        case (.greeting, 500...), (.ehlo, 500...):
            (classification, code) = (.permanent, "smtp.session_rejected")
        case (_, 400..<500):
            (classification, code) = (.transient, "smtp.transient_failure")
        default:
            (classification, code) = (.permanent, "smtp.permanent_failure")
        }
        return SMTPError(
            code: code, classification: classification, phase: phase, reply: reply,
            message: "the server refused \(phase.rawValue.uppercased()) with \(reply.code)",
            diagnosis: diagnosis(for: classification, phase: phase, reply: reply))
    }

    private static func diagnosis(for classification: Classification, phase: Phase, reply: SMTPReply) -> String? {
        switch classification {
        case .auth where reply.code == 535 || reply.code == 534:
            return "The username or password was not accepted. Providers such as QQ Mail and 163 need an "
                + "authorisation code (授权码) generated in the mailbox settings, not the login password."
        case .auth where reply.code == 530:
            return "The server requires authentication: give the account a username and password."
        case .senderRejected:
            return "The server refused the envelope sender. Providers such as QQ Mail, 163 and Exmail require it "
                + "(and the From address) to be the account you log in with."
        default:
            return nil
        }
    }
}
