/// When to try a failed message again: exponential backoff with jitter, capped.
///
/// The n-th retry waits `base * 2^(n-1)`, at most `cap`, less up to `jitter` of it at random, so
/// that messages that failed together do not all come back together.
public struct RetryPolicy: Sendable, Hashable {
    /// The wait before the first retry.
    public var base: Duration
    /// The longest wait.
    public var cap: Duration
    /// The fraction (0...1) of each wait that is random.
    public var jitter: Double
    /// How long a provider's rate-limit reply pauses the account (and its message).
    public var rateLimitWindow: Duration

    public init(
        base: Duration = .seconds(30), cap: Duration = .seconds(3600), jitter: Double = 0.2, rateLimitWindow: Duration = .seconds(60)
    ) {
        self.base = base
        self.cap = cap
        self.jitter = min(max(jitter, 0), 1)
        self.rateLimitWindow = rateLimitWindow
    }

    /// The wait after attempt number `attempt` (1 for the first) failed. `random` returns a value
    /// in 0..<1 (injected, so the maths is tested without chance).
    public func delay(afterAttempt attempt: Int, random: () -> Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let baseSeconds = Self.seconds(base)
        let full = min(baseSeconds * Double(1 << UInt64(min(exponent, 62))), Self.seconds(cap))
        let waited = full * (1 - jitter * min(max(random(), 0), 1))
        return .milliseconds(Int64((waited * 1000).rounded()))
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
