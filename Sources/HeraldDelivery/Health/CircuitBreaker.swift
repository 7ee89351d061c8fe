import Foundation
import HeraldStore

/// An account's health as a circuit breaker (DESIGN.md section 5): the pure transitions.
///
/// The state lives in the store (`AccountRecord.health`, `failureCount`, `openedUntil`,
/// `breakerTrips`) and every worker changes it through `Store.changeAccountHealth`, which hands
/// these functions the current row and the database's clock. Nothing here reads a clock.
///
/// - closed: the account is used. Consecutive account-level failures are counted; at
///   `failureThreshold` (or at once for a configuration error) it opens.
/// - open: the account is skipped until `openedUntil`. The cool-down doubles each time the
///   breaker opens again without having closed, up to `maxCoolDown`.
/// - half-open: one worker took the probe; others still skip the account. Success closes the
///   breaker and resets `failureCount`; failure opens it again. A probe that never reports (its
///   worker died) lapses after `probeTimeout` and another worker may probe.
public struct CircuitBreaker: Sendable, Hashable {
    public var failureThreshold: Int
    public var coolDown: Duration
    public var maxCoolDown: Duration
    public var probeTimeout: Duration

    public init(
        failureThreshold: Int = 3, coolDown: Duration = .seconds(30), maxCoolDown: Duration = .seconds(1800),
        probeTimeout: Duration = .seconds(120)
    ) {
        self.failureThreshold = max(1, failureThreshold)
        self.coolDown = coolDown
        self.maxCoolDown = maxCoolDown
        self.probeTimeout = probeTimeout
    }

    /// What a worker may do with an account right now.
    public enum Admission: Sendable, Hashable {
        /// Closed: send.
        case send
        /// Open and cooled down (or a lapsed probe): try to take the probe (`takeProbe`).
        case probe
        /// Open or being probed by another worker: skip it until then.
        case skip(until: Date)
    }

    /// Whether `account` may be used at `now`.
    public func admission(_ account: AccountRecord, now: Date) -> Admission {
        switch account.health {
        case .closed:
            return .send
        case .open, .halfOpen:
            guard let until = account.openedUntil, until > now else { return .probe }
            return .skip(until: until)
        }
    }

    /// The write that hands this worker the probe, or `nil` when another worker has it.
    public func takeProbe(_ account: AccountRecord, now: Date) -> AccountHealthUpdate? {
        guard admission(account, now: now) == .probe else { return nil }
        var update = Self.fields(of: account)
        update.health = .halfOpen
        update.openedUntil = now.addingTimeInterval(RetryPolicy.seconds(probeTimeout))
        return update
    }

    /// The write that hands back a probe this worker took but could not send (the account's quota
    /// was used up): open again and due at once, so that the next worker may probe. `nil` when the
    /// probe is no longer held.
    public func returnProbe(_ account: AccountRecord, now: Date) -> AccountHealthUpdate? {
        guard account.health == .halfOpen else { return nil }
        var update = Self.fields(of: account)
        update.health = .open
        update.openedUntil = now
        return update
    }

    /// The write after the account worked, or `nil` when nothing would change. `delivered` is
    /// false when the server took the session but refused the message for its own reasons (a
    /// recipient, the content): the account is fine, but `lastSuccessAt` stays. It is refreshed at
    /// most once a minute, so a busy healthy account is not written on every send.
    public func recordSuccess(_ account: AccountRecord, now: Date, delivered: Bool = true) -> AccountHealthUpdate? {
        let fresh = !delivered || (account.lastSuccessAt.map { now.timeIntervalSince($0) < 60 } ?? false)
        if account.health == .closed && account.failureCount == 0 && account.breakerTrips == 0 && fresh { return nil }
        var update = Self.fields(of: account)
        update.health = .closed
        update.failureCount = 0
        update.breakerTrips = 0
        update.openedUntil = nil
        if delivered { update.lastSuccessAt = now }
        return update
    }

    /// The write after an account-level failure; `opened` is true when this failure opened a
    /// closed breaker (the moment to alert).
    public func recordFailure(
        _ account: AccountRecord, code: String, message: String, opensAtOnce: Bool, now: Date
    ) -> (update: AccountHealthUpdate, opened: Bool) {
        var update = Self.fields(of: account)
        update.failureCount = account.failureCount + 1
        update.lastErrorCode = code
        update.lastError = message
        let wasClosed = account.health == .closed
        guard !wasClosed || opensAtOnce || update.failureCount >= failureThreshold else { return (update, false) }
        update.health = .open
        update.breakerTrips = account.breakerTrips + 1
        update.openedUntil = now.addingTimeInterval(RetryPolicy.seconds(coolDown(trips: update.breakerTrips)))
        return (update, wasClosed)
    }

    /// The cool-down after the breaker opened for the `trips`-th time in a row.
    public func coolDown(trips: Int) -> Duration {
        let doubled = RetryPolicy.seconds(coolDown) * Double(1 << UInt64(min(max(trips - 1, 0), 30)))
        return .milliseconds(Int64(min(doubled, RetryPolicy.seconds(maxCoolDown)) * 1000))
    }

    /// The write that closes the breaker by hand (the `enable` action), keeping the last error for the record.
    public static func reset(_ account: AccountRecord) -> AccountHealthUpdate {
        var update = fields(of: account)
        update.health = .closed
        update.failureCount = 0
        update.breakerTrips = 0
        update.openedUntil = nil
        return update
    }

    private static func fields(of account: AccountRecord) -> AccountHealthUpdate {
        AccountHealthUpdate(
            health: account.health, failureCount: account.failureCount, openedUntil: account.openedUntil,
            breakerTrips: account.breakerTrips, lastErrorCode: account.lastErrorCode, lastError: account.lastError,
            lastSuccessAt: account.lastSuccessAt)
    }
}
