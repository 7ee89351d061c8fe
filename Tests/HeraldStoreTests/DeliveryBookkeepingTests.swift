import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

/// The store operations the delivery engine shares between workers (migration 2).
@Suite("Delivery bookkeeping")
struct DeliveryBookkeepingTests {
    static let limited = AccountSettings(
        name: "limited", email: "a@example.com", smtpHost: "smtp.example.com", smtpPort: 587, security: .starttls,
        perMinuteLimit: 3, perDayLimit: 5)

    @Test(arguments: StoreBackendKind.allCases)
    func aFreshDatabaseHasOneSandboxAccount(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let accounts = try await store.accounts()
            #expect(accounts.map(\.name) == ["sandbox"])
            #expect(accounts.first?.channel == "sandbox" && accounts.first?.isActive == true)
            #expect(accounts.first?.hasPassword == false)
            #expect(try await store.migrate().isEmpty, "migrating again adds no second sandbox")
            #expect(try await store.accounts().count == 1)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func quotasCountPerMinuteAndPerDayAndRefuseBeyondTheLimit(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            try await clearOfTheMinutesEnd()
            let account = try await store.createAccount(Self.limited, password: .keep)
            for _ in 0..<3 {
                #expect(try await store.reserveQuota(accountID: account.id, perMinute: 3, perDay: 5).isGranted)
            }
            guard case .exhausted(let until) = try await store.reserveQuota(accountID: account.id, perMinute: 3, perDay: 5) else {
                Issue.record("the fourth send in a minute must be refused")
                return
            }
            #expect(until > Date().addingTimeInterval(-1) && until <= Date().addingTimeInterval(61), "the minute ends within 60 s")
            #expect(try await store.quotaUsage(accountID: account.id) == QuotaUsage(minute: 3, day: 3), "a refusal counts nothing")
            let dayFull = try await store.reserveQuota(accountID: account.id, perMinute: nil, perDay: 3)
            #expect(!dayFull.isGranted, "the day is full too")
            #expect(try await store.reserveQuota(accountID: account.id, perMinute: nil, perDay: nil).isGranted, "no limits")
            let other = try await store.createAccount(
                AccountSettings(name: "other", email: "b@example.com", smtpHost: "h", smtpPort: 25, security: .none), password: .keep)
            #expect(try await store.reserveQuota(accountID: other.id, perMinute: 1, perDay: nil).isGranted, "per account")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aReturnedReservationFreesItsPlaceOnceAndOnlyInItsOwnWindow(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            try await clearOfTheMinutesEnd()
            let account = try await store.createAccount(Self.limited, password: .keep)
            guard case .granted(let ticket) = try await store.reserveQuota(accountID: account.id, perMinute: 1, perDay: 5) else {
                Issue.record("the first send must be granted")
                return
            }
            #expect(try await store.reserveQuota(accountID: account.id, perMinute: 1, perDay: 5).isGranted == false, "the minute is full")
            try await store.returnQuota(ticket)
            #expect(try await store.quotaUsage(accountID: account.id) == QuotaUsage(minute: 0, day: 0))
            try await store.returnQuota(ticket)
            #expect(try await store.quotaUsage(accountID: account.id) == QuotaUsage(minute: 0, day: 0), "never below zero")
            #expect(try await store.reserveQuota(accountID: account.id, perMinute: 1, perDay: 5).isGranted, "the place is free again")
            // A ticket from windows that have rolled over takes nothing from the current ones.
            try await store.returnQuota(QuotaTicket(accountID: account.id, windowStarts: [.minute: 0, .day: 0]))
            #expect(try await store.quotaUsage(accountID: account.id) == QuotaUsage(minute: 1, day: 1))
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func concurrentReservationsNeverExceedTheLimit(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let account = try await store.createAccount(Self.limited, password: .keep)
            let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await store.reserveQuota(accountID: account.id, perMinute: 50, perDay: 7).isGranted }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(granted == 7)
            #expect(try await store.quotaUsage(accountID: account.id).day == 7)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func throttlingKeepsTheLongerPause(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let account = try await store.createAccount(Self.limited, password: .keep)
            #expect(account.throttledUntil == nil)
            let before = Date()
            try await store.throttleAccount(id: account.id, for: .seconds(600))
            let after = Date()
            let long = try #require(try await store.account(id: account.id)?.throttledUntil)
            // 600 s from the moment of the write, on the database's clock (the same machine's).
            #expect(long >= before.addingTimeInterval(599) && long <= after.addingTimeInterval(601))
            try await store.throttleAccount(id: account.id, for: .seconds(10))
            #expect(try await store.account(id: account.id)?.throttledUntil == long, "a shorter pause does not shorten it")
            await #expect(throws: StoreError.self) { try await store.throttleAccount(id: 999_999, for: .seconds(1)) }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func healthChangesAreReadModifyWriteOnTheDatabaseClock(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let account = try await store.createAccount(Self.limited, password: .keep)
            // 30 workers each count one failure at once: none is lost.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<30 {
                    group.addTask {
                        _ = try await store.changeAccountHealth(id: account.id) { account, _ in
                            AccountHealthUpdate(
                                health: account.health, failureCount: account.failureCount + 1, lastErrorCode: "smtp.timeout")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.account(id: account.id)?.failureCount == 30)
            let (unchanged, changed) = try await store.changeAccountHealth(id: account.id) { _, _ in nil }
            #expect(!changed && unchanged.failureCount == 30)
            let (opened, _) = try await store.changeAccountHealth(id: account.id) { account, now in
                #expect(abs(now.timeIntervalSinceNow) < 5, "the database's clock")
                return AccountHealthUpdate(health: .open, failureCount: account.failureCount, openedUntil: now.addingTimeInterval(30))
            }
            #expect(opened.health == .open && opened.openedUntil != nil)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func failoversAreRecordedUnderTheLeaseAndPostponingSpendsNoAttempt(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            let held = try #require(try await store.claim(limit: 1, owner: "w1", lease: .seconds(60)).first)
            try await store.recordFailover(
                held.lease,
                report: AttemptReport(accountID: 7, errorClass: "tls", errorCode: "smtp.tls_expected", errorMessage: "expects TLS"))
            await #expect(throws: StoreError.self) {
                try await store.recordFailover(Lease(messageID: id, token: "stale"), report: AttemptReport(accountID: 7))
            }
            let postponed = try await store.postpone(
                held.lease, by: .seconds(120), errorCode: "delivery.no_account", errorMessage: "all accounts are paused")
            #expect(postponed.status == .pending && postponed.attempts == 0, "no attempt spent")
            #expect(postponed.errorCode == "delivery.no_account")
            #expect(abs(postponed.nextAttemptAt.timeIntervalSince(postponed.updatedAt) - 120) < 1)
            #expect(try await store.claim(limit: 1, owner: "w2", lease: .seconds(60)).isEmpty, "not due for two minutes")
            await #expect(throws: StoreError.self) {
                try await store.postpone(held.lease, by: .seconds(1), errorCode: "x", errorMessage: "y")
            }
            let attempts = try await store.attempts(messageID: id)
            #expect(attempts.map(\.outcome) == [.failedOver])
            #expect(attempts.first?.number == 1 && attempts.first?.accountID == 7 && attempts.first?.errorCode == "smtp.tls_expected")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func sandboxCapturesKeepTheExactBytes(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let bytes: [UInt8] = Array("Subject: x\r\n\r\n.leading dot\r\n".utf8) + [0xE4, 0xBD, 0xA0, 0x0D, 0x0A]
            let saved = try await store.saveCapture(
                NewCapture(
                    messageID: 42, accountID: 1, sender: "a@example.com", recipients: ["b@example.com", "c@example.com"], data: bytes))
            let read = try await store.captures(messageID: 42)
            #expect(read == [saved])
            #expect(read.first?.data == bytes && read.first?.recipients == ["b@example.com", "c@example.com"])
            #expect(try await store.captures(messageID: 43).isEmpty)
        }
    }
}
