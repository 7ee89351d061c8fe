import HeraldStore

/// DESIGN.md section 5 as code: for each error class, whether the message is tried again, whether
/// the account is at fault, and whether another account is tried at once.
///
/// This is the only place that decides; the worker asks `rule(for:)` and does what it says.
public struct ErrorPolicy: Sendable, Hashable {
    /// When a failed message is tried again.
    public enum Retry: Sendable, Hashable {
        /// Never: the error will not go away by itself.
        case never
        /// After an exponential backoff with jitter.
        case backoff
        /// After the provider's rate-limit window (and at least the backoff).
        case afterRateLimitWindow
        /// Once more, after a backoff: a second identical failure is final.
        case once
    }

    /// What to do about one failure.
    public struct Rule: Sendable, Hashable {
        public var retry: Retry
        /// The failure says the account (its configuration or standing) is at fault: it counts
        /// towards opening the account's breaker.
        public var countsAgainstAccount: Bool
        /// A configuration mistake: the breaker opens at once rather than after N failures.
        public var opensBreakerAtOnce: Bool
        /// Another account may take the message at once.
        public var failsOver: Bool
        /// Pause the account for the provider's rate-limit window.
        public var throttlesAccount: Bool
    }

    /// Whether a message the server refused for its content is tried through another account
    /// (providers judge content differently). Off by default: it is usually the content.
    public var failOverContentRejections: Bool

    public init(failOverContentRejections: Bool = false) {
        self.failOverContentRejections = failOverContentRejections
    }

    /// A recipient refusal that says the address does not exist: a 5xx reply with enhanced status
    /// 5.1.x (RFC 3463: bad mailbox, bad domain, no such system). Without an enhanced code a 550
    /// says too little (policy, spam and relaying refusals use it too).
    public static func isHardBounce(_ outcome: RecipientOutcome) -> Bool {
        guard !outcome.accepted, let code = outcome.code, (500..<600).contains(code), let enhanced = outcome.enhancedCode else {
            return false
        }
        return enhanced.hasPrefix("5.1.")
    }

    /// The rule for an error. `smtpCode` matters for `auth` only: 454 is a temporary failure.
    public func rule(for errorClass: ErrorClass, smtpCode: Int? = nil) -> Rule {
        switch errorClass {
        case .network, .timeout:
            Rule(retry: .backoff, countsAgainstAccount: true, opensBreakerAtOnce: false, failsOver: true, throttlesAccount: false)
        case .tls:
            Rule(retry: .never, countsAgainstAccount: true, opensBreakerAtOnce: true, failsOver: true, throttlesAccount: false)
        case .auth where smtpCode == 454:
            Rule(retry: .backoff, countsAgainstAccount: true, opensBreakerAtOnce: false, failsOver: true, throttlesAccount: false)
        case .auth, .senderRejected:
            Rule(retry: .never, countsAgainstAccount: true, opensBreakerAtOnce: true, failsOver: true, throttlesAccount: false)
        case .rateLimited:
            Rule(
                retry: .afterRateLimitWindow, countsAgainstAccount: false, opensBreakerAtOnce: false, failsOver: true,
                throttlesAccount: true)
        case .recipientRejected, .tooLarge, .permanent:
            Rule(retry: .never, countsAgainstAccount: false, opensBreakerAtOnce: false, failsOver: false, throttlesAccount: false)
        case .contentRejected:
            Rule(
                retry: .never, countsAgainstAccount: false, opensBreakerAtOnce: false, failsOver: failOverContentRejections,
                throttlesAccount: false)
        case .transient:
            Rule(retry: .backoff, countsAgainstAccount: false, opensBreakerAtOnce: false, failsOver: false, throttlesAccount: false)
        case .protocol:
            Rule(retry: .once, countsAgainstAccount: true, opensBreakerAtOnce: false, failsOver: true, throttlesAccount: false)
        }
    }
}
