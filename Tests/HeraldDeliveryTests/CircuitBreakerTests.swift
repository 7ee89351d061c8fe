import Foundation
import HeraldDelivery
import HeraldStore
import Testing

@Suite struct CircuitBreakerTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    let breaker = CircuitBreaker(failureThreshold: 3, coolDown: .seconds(30), maxCoolDown: .seconds(100), probeTimeout: .seconds(60))

    static func account() -> AccountRecord {
        AccountRecord(
            id: 1, settings: AccountSettings(name: "a", email: "a@example.com", smtpHost: "h", smtpPort: 465, security: .tls))
    }

    func apply(_ update: AccountHealthUpdate, to account: inout AccountRecord) {
        account.health = update.health
        account.failureCount = update.failureCount
        account.openedUntil = update.openedUntil
        account.breakerTrips = update.breakerTrips
        account.lastErrorCode = update.lastErrorCode
        account.lastError = update.lastError
        account.lastSuccessAt = update.lastSuccessAt
    }

    @Test func opensAfterNConsecutiveFailures() {
        var account = Self.account()
        for count in 1...2 {
            let (update, opened) = breaker.recordFailure(account, code: "smtp.timeout", message: "t", opensAtOnce: false, now: Self.now)
            #expect(!opened && update.health == .closed && update.failureCount == count)
            apply(update, to: &account)
        }
        let (update, opened) = breaker.recordFailure(account, code: "smtp.timeout", message: "t", opensAtOnce: false, now: Self.now)
        #expect(opened && update.health == .open && update.failureCount == 3 && update.breakerTrips == 1)
        #expect(update.openedUntil == Self.now.addingTimeInterval(30))
        #expect(update.lastErrorCode == "smtp.timeout")
        apply(update, to: &account)
        #expect(breaker.admission(account, now: Self.now.addingTimeInterval(29)) == .skip(until: Self.now.addingTimeInterval(30)))
        #expect(breaker.admission(account, now: Self.now.addingTimeInterval(30)) == .probe)
    }

    @Test func aConfigurationErrorOpensAtOnce() {
        let (update, opened) = breaker.recordFailure(
            Self.account(), code: "smtp.auth_failed", message: "535", opensAtOnce: true, now: Self.now)
        #expect(opened && update.health == .open && update.failureCount == 1)
    }

    @Test func oneProbeAfterTheCoolDownThenSuccessCloses() {
        var account = Self.account()
        apply(
            breaker.recordFailure(account, code: "smtp.tls_expected", message: "m", opensAtOnce: true, now: Self.now).update, to: &account)
        #expect(breaker.takeProbe(account, now: Self.now.addingTimeInterval(10)) == nil, "still cooling down")
        let probe = breaker.takeProbe(account, now: Self.now.addingTimeInterval(31))
        #expect(probe?.health == .halfOpen && probe?.openedUntil == Self.now.addingTimeInterval(91))
        apply(probe!, to: &account)
        #expect(breaker.takeProbe(account, now: Self.now.addingTimeInterval(32)) == nil, "one probe at a time")
        #expect(breaker.admission(account, now: Self.now.addingTimeInterval(32)) == .skip(until: Self.now.addingTimeInterval(91)))
        #expect(breaker.takeProbe(account, now: Self.now.addingTimeInterval(92)) != nil, "a lapsed probe is taken again")

        let closed = breaker.recordSuccess(account, now: Self.now.addingTimeInterval(33))
        #expect(closed?.health == .closed && closed?.failureCount == 0 && closed?.breakerTrips == 0 && closed?.openedUntil == nil)
        #expect(closed?.lastSuccessAt == Self.now.addingTimeInterval(33))
        #expect(closed?.lastErrorCode == "smtp.tls_expected", "the last error stays for the record")
    }

    @Test func aProbeThatCouldNotBeSentIsHandedBack() {
        var account = Self.account()
        apply(breaker.recordFailure(account, code: "x", message: "m", opensAtOnce: true, now: Self.now).update, to: &account)
        apply(breaker.takeProbe(account, now: Self.now.addingTimeInterval(30))!, to: &account)
        let handedBack = breaker.returnProbe(account, now: Self.now.addingTimeInterval(31))
        #expect(handedBack?.health == .open && handedBack?.openedUntil == Self.now.addingTimeInterval(31))
        #expect(handedBack?.failureCount == 1 && handedBack?.breakerTrips == 1 && handedBack?.lastErrorCode == "x")
        apply(handedBack!, to: &account)
        #expect(breaker.admission(account, now: Self.now.addingTimeInterval(31)) == .probe, "the next worker may probe")
        #expect(breaker.returnProbe(account, now: Self.now) == nil, "only a held probe is handed back")
    }

    @Test func aFailedProbeReopensWithALongerCoolDown() {
        var account = Self.account()
        apply(breaker.recordFailure(account, code: "x", message: "m", opensAtOnce: true, now: Self.now).update, to: &account)
        apply(breaker.takeProbe(account, now: Self.now.addingTimeInterval(30))!, to: &account)
        let (second, opened) = breaker.recordFailure(
            account, code: "x", message: "m", opensAtOnce: false, now: Self.now.addingTimeInterval(31))
        #expect(!opened, "already open: no second alert")
        #expect(second.health == .open && second.breakerTrips == 2 && second.openedUntil == Self.now.addingTimeInterval(31 + 60))
        #expect(breaker.coolDown(trips: 3) == .seconds(100), "capped")
        #expect(breaker.coolDown(trips: 60) == .seconds(100))
    }

    @Test func successOnAHealthyAccountWritesAtMostOnceAMinute() {
        var account = Self.account()
        #expect(breaker.recordSuccess(account, now: Self.now) != nil, "first success is recorded")
        account.lastSuccessAt = Self.now
        #expect(breaker.recordSuccess(account, now: Self.now.addingTimeInterval(30)) == nil)
        #expect(breaker.recordSuccess(account, now: Self.now.addingTimeInterval(61)) != nil)
        #expect(
            breaker.recordSuccess(account, now: Self.now.addingTimeInterval(61), delivered: false) == nil, "not delivered: nothing to say")
        account.failureCount = 2
        let reset = breaker.recordSuccess(account, now: Self.now.addingTimeInterval(1), delivered: false)
        #expect(reset?.failureCount == 0 && reset?.lastSuccessAt == Self.now, "count reset, last success kept")
    }

    @Test func enablingByHandCloses() {
        var account = Self.account()
        apply(breaker.recordFailure(account, code: "x", message: "m", opensAtOnce: true, now: Self.now).update, to: &account)
        let reset = CircuitBreaker.reset(account)
        #expect(reset.health == .closed && reset.failureCount == 0 && reset.openedUntil == nil && reset.breakerTrips == 0)
    }
}
