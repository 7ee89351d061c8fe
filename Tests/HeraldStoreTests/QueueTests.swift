import Foundation
import HeraldTestSupport
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Testing

@testable import HeraldStore

@Suite("Claims, leases and settlements")
struct QueueTests {
    /// The claim runs for every batch with a different limit, listings with a different page
    /// size: each must reuse its prepared statement, not be parsed and planned again every time.
    @Test func claimsAndListingsReuseTheirPreparedStatementsWhateverTheLimit() async throws {
        try await withTestStore(.sqlite) { store, _ in
            let backend = try #require((store as? SQLiteStore)?.backend)
            for _ in 0..<12 { _ = try await store.enqueue(sampleMessage()) }
            let before = backend.statementsPreparedAgain
            for limit in [1, 2, 3, 1, 4] {
                let claimed = try await store.claim(limit: limit, owner: "w", lease: .seconds(60))
                #expect(claimed.count == limit)
                _ = try await store.messages(matching: MessageFilter(), limit: limit + 1, cursor: nil)
                _ = try await store.events(after: 0, limit: limit + 1)
            }
            #expect(backend.statementsPreparedAgain == before)
        }
    }

    /// PostgreSQL plans a prepared batch once for every batch size (its generic plan). The
    /// settlement's plan must find each message by its primary key: one that reads the 'sending'
    /// entries of an index on status also reads those left behind by every message sent since the
    /// last vacuum, which the statistics do not count. So the table here looks like a queue that
    /// has been delivering: many messages sent, a few in flight.
    @Test func aSettlementsGenericPlanOnPostgreSQLFindsEachMessageByItsID() async throws {
        try await withTestStore(.postgres) { store, _ in
            let backend = try #require((store as? PostgresStore)?.backend)
            try await backend.write { connection in
                try await connection.query(
                    """
                    INSERT INTO messages (uid, channel, from_address, to_addresses, cc_addresses, bcc_addresses, mime, status,
                        priority, attempts, max_attempts, next_attempt_at, tags, metadata, created_at, updated_at)
                    SELECT 'm' || n, 'email', 'a@example.com', '[]', '[]', '[]', '\\x00'::bytea,
                        CASE WHEN n % 1000 = 0 THEN 'sending' ELSE 'success' END, 5, 1, 8, 0, '[]', '{}', 0, 0
                    FROM generate_series(1, 5000) AS n
                    """, [])
                try await connection.query("ANALYZE messages", [])
            }
            let types = BatchColumns.settleKinds.map { kind in
                switch kind {
                case .integer: "bigint[]"
                case .text: "text[]"
                case .blob: "bytea[]"
                }
            }
            let plan = try await backend.write { connection in
                try await connection.query("SET LOCAL plan_cache_mode = force_generic_plan", [])
                try await connection.query("PREPARE settle_plan (\(types.joined(separator: ", "))) AS \(PreparedSettle.sql)", [])
                let nulls = Array(repeating: "NULL", count: types.count).joined(separator: ", ")
                let rows = try await connection.query("EXPLAIN EXECUTE settle_plan (\(nulls))", [])
                try await connection.query("DEALLOCATE settle_plan", [])
                return try rows.map { try $0.text("QUERY PLAN") }.joined(separator: "\n")
            }
            #expect(plan.contains("Index Scan using messages_pkey on messages"), "\(plan)")
            #expect(!plan.contains("messages_status") && !plan.contains("messages_leases"), "\(plan)")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func claimsByPriorityThenDueTimeSkippingScheduledCancelledAndExpired(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let low = try await store.enqueue(sampleMessage(subject: "low", priority: 9)).message
            let first = try await store.enqueue(sampleMessage(subject: "first", priority: 5)).message
            let second = try await store.enqueue(sampleMessage(subject: "second", priority: 5)).message
            let urgent = try await store.enqueue(sampleMessage(subject: "urgent", priority: 0)).message
            _ = try await store.enqueue(sampleMessage(subject: "later", sendAt: Date().addingTimeInterval(3600)))
            _ = try await store.enqueue(sampleMessage(subject: "expired", expiresAt: Date().addingTimeInterval(-1)))
            let cancelled = try await store.enqueue(sampleMessage(subject: "cancelled", priority: 0)).message
            _ = try await store.cancel(messageID: cancelled.id)

            let claimed = try await store.claim(limit: 3, owner: "w1", lease: .seconds(60))
            #expect(claimed.map(\.message.id) == [urgent.id, first.id, second.id])
            for message in claimed {
                #expect(message.message.status == .sending)
                #expect(message.message.leaseOwner == "w1")
                #expect(message.mime == (try await store.messageBytes(id: message.message.id)))
            }
            let rest = try await store.claim(limit: 10, owner: "w2", lease: .seconds(60))
            #expect(rest.map(\.message.id) == [low.id], "scheduled, expired and cancelled messages are not claimed")
            #expect(try await store.claim(limit: 10, owner: "w3", lease: .seconds(60)).isEmpty)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func deliveredSettlementRecordsTheAttempt(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            let claimed = try #require(try await store.claim(limit: 1, owner: "w", lease: .seconds(60)).first)
            let settled = try await store.settle(Settlement(lease: claimed.lease, kind: .delivered, report: deliveredReport(account: 3)))
            #expect(settled.status == .success)
            #expect(settled.attempts == 1)
            #expect(settled.accountID == 3)
            #expect(settled.sentAt != nil)
            #expect(settled.leaseOwner == nil && settled.leaseUntil == nil)
            #expect(settled.smtpReply == "250 2.0.0 Ok: queued")
            let attempts = try await store.attempts(messageID: id)
            #expect(attempts.count == 1)
            #expect(attempts.first?.outcome == .success)
            #expect(attempts.first?.number == 1)
            #expect(attempts.first?.recipients.first?.enhancedCode == "2.1.5")
            // A second settlement with the same lease changes nothing.
            await #expect(throws: StoreError.self) {
                try await store.settle(Settlement(lease: claimed.lease, kind: .failed, report: AttemptReport()))
            }
            #expect(try await store.message(id: id)?.status == .success)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aLeaseSettlesOnceEvenWhenSettledTwiceAtOnce(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            let claimed = try #require(try await store.claim(limit: 1, owner: "w", lease: .seconds(60)).first)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        (try? await store.settle(Settlement(lease: claimed.lease, kind: .delivered, report: deliveredReport()))) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1, "exactly one settlement wins")
            #expect(try await store.attempts(messageID: id).count == 1)
            #expect(try await store.message(id: id)?.attempts == 1)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func retryWaitsOnTheDatabaseClock(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let soon = try await store.enqueue(sampleMessage(subject: "soon")).message.id
            let later = try await store.enqueue(sampleMessage(subject: "later")).message.id
            let claimed = try await store.claim(limit: 2, owner: "w", lease: .seconds(60))
            let report = AttemptReport(
                accountID: 1, errorClass: "transient", errorCode: "smtp.transient", errorMessage: "try later", smtpCode: 451,
                enhancedCode: "4.3.0", reply: "451 4.3.0 try later")
            for message in claimed {
                let delay: Duration = message.message.id == later ? .seconds(3600) : .milliseconds(300)
                let retrying = try await store.settle(Settlement(lease: message.lease, kind: .retry(after: delay), report: report))
                #expect(retrying.status == .retrying)
                #expect(retrying.errorCode == "smtp.transient")
                // next_attempt_at is the database's now plus the delay, whatever the worker's clock says.
                let wait = retrying.nextAttemptAt.timeIntervalSince(retrying.updatedAt)
                #expect(abs(wait - Double(delay.components.seconds) - Double(delay.components.attoseconds) / 1e18) < 0.05)
            }
            let again = try await eventually { try await store.claim(limit: 2, owner: "w", lease: .seconds(60)).first }
            #expect(again.message.id == soon, "the message due in an hour is not claimed")
            #expect(again.message.attempts == 1, "the earlier attempt is counted")
            #expect(try await store.claim(limit: 2, owner: "w", lease: .seconds(60)).isEmpty)
            let attempts = try await store.attempts(messageID: soon)
            #expect(attempts.map(\.outcome) == [.retry])
            #expect(attempts.first?.smtpCode == 451 && attempts.first?.errorClass == "transient")
            #expect(try await store.message(id: later)?.status == .retrying)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func failureAndAmbiguityAreRecorded(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            var claimed = try #require(try await store.claim(limit: 1, owner: "w", lease: .seconds(60)).first)
            let ambiguous = AttemptReport(errorClass: "timeout", errorCode: "smtp.timeout", ambiguous: true)
            _ = try await store.settle(Settlement(lease: claimed.lease, kind: .retry(after: .zero), report: ambiguous))
            claimed = try await eventually { try await store.claim(limit: 1, owner: "w", lease: .seconds(60)).first }
            let failure = AttemptReport(
                errorClass: "recipient_rejected", errorCode: "smtp.recipient_rejected", errorMessage: "mailbox unavailable", smtpCode: 550)
            let failed = try await store.settle(Settlement(lease: claimed.lease, kind: .failed, report: failure))
            #expect(failed.status == .failed)
            #expect(failed.attempts == 2)
            #expect(failed.errorMessage == "mailbox unavailable")
            #expect(try await store.attempts(messageID: id).map(\.outcome) == [.ambiguous, .failed])
            let events = try await store.events(after: 0, limit: 10)
            #expect(events.contains { $0.kind == "message.failed" && $0.messageID == id })
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aStaleWorkersWritesChangeNothing(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            let stale = try #require(try await store.claim(limit: 1, owner: "slow", lease: .milliseconds(300)).first)
            // The slow worker's lease runs out; the sweep hands the message to another worker.
            let swept = try await eventually { () -> SweepResult? in
                let result = try await store.sweep()
                return result.reclaimed.isEmpty ? nil : result
            }
            #expect(swept.reclaimed == [id])
            let live = try #require(try await store.claim(limit: 1, owner: "fast", lease: .seconds(60)).first)
            #expect(live.lease.token != stale.lease.token)
            let before = try #require(try await store.message(id: id))

            await #expect(throws: StoreError.self) {
                try await store.settle(Settlement(lease: stale.lease, kind: .delivered, report: deliveredReport()))
            }
            #expect(try await store.extendLeases([stale.lease], by: .seconds(600)).isEmpty)
            #expect(try await store.release([stale.lease]).isEmpty)
            let after = try #require(try await store.message(id: id))
            #expect(after == before, "the stale worker's writes changed nothing")
            #expect(after.leaseOwner == "fast")
            #expect(try await store.attempts(messageID: id).map(\.outcome) == [.leaseExpired])

            #expect(try await store.extendLeases([live.lease], by: .seconds(600)) == [id])
            let extended = try #require(try await store.message(id: id)?.leaseUntil)
            #expect(extended > Date().addingTimeInterval(500))
            let done = try await store.settle(Settlement(lease: live.lease, kind: .delivered, report: deliveredReport()))
            #expect(done.status == .success && done.attempts == 2)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func releaseGivesMessagesBackWithoutSpendingAnAttempt(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let fresh = try await store.enqueue(sampleMessage(subject: "fresh")).message.id
            let tried = try await store.enqueue(sampleMessage(subject: "tried")).message.id
            let first = try await store.claim(limit: 2, owner: "w", lease: .seconds(60))
            let triedLease = try #require(first.first { $0.message.id == tried }).lease
            let freshLease = try #require(first.first { $0.message.id == fresh }).lease
            _ = try await store.settle(
                Settlement(lease: triedLease, kind: .retry(after: .zero), report: AttemptReport(errorClass: "network")))
            #expect(try await store.release([freshLease]) == [fresh])
            let held = try await eventually { () -> [ClaimedMessage]? in
                let claimed = try await store.claim(limit: 2, owner: "w2", lease: .seconds(60))
                return claimed.count == 2 ? claimed : nil
            }
            #expect(try await store.release(held.map(\.lease)) == [fresh, tried])
            #expect(try await store.message(id: fresh)?.status == .pending)
            #expect(try await store.message(id: fresh)?.attempts == 0)
            #expect(try await store.message(id: tried)?.status == .retrying)
            #expect(try await store.message(id: tried)?.attempts == 1)
            #expect(Set(try await store.claim(limit: 5, owner: "w3", lease: .seconds(60)).map(\.message.id)) == [fresh, tried])
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func expiredLeasesCountAnAttemptAndFailWhenOutOfAttempts(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage(maxAttempts: 1)).message.id
            _ = try await store.claim(limit: 1, owner: "crashed", lease: .milliseconds(100))
            _ = try await eventually { () -> Bool? in try await store.sweep().reclaimed.isEmpty ? nil : true }
            let message = try #require(try await store.message(id: id))
            #expect(message.status == .failed)
            #expect(message.errorCode == "store.lease_expired")
            #expect(try await store.claim(limit: 1, owner: "w", lease: .seconds(60)).isEmpty)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func sweepFailsExpiredMessages(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let expired = try await store.enqueue(sampleMessage(expiresAt: Date().addingTimeInterval(-5))).message.id
            let live = try await store.enqueue(sampleMessage(expiresAt: Date().addingTimeInterval(3600))).message.id
            let result = try await store.sweep()
            #expect(result.expired == [expired])
            #expect(try await store.message(id: expired)?.status == .failed)
            #expect(try await store.message(id: expired)?.errorCode == "message.expired")
            #expect(try await store.message(id: live)?.status == .pending)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func cancelOnlyWhatHasNotStarted(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let pending = try await store.enqueue(sampleMessage()).message.id
            let scheduled = try await store.enqueue(sampleMessage(sendAt: Date().addingTimeInterval(600))).message.id
            #expect(try await store.cancel(messageID: pending).status == .cancelled)
            #expect(try await store.cancel(messageID: scheduled).status == .cancelled)
            do {
                _ = try await store.cancel(messageID: pending)
                Issue.record("a cancelled message cannot be cancelled again")
            } catch let error as StoreError {
                #expect(error.code == .invalidState)
                #expect(error.message.contains("cancelled"))
            }
            do {
                _ = try await store.cancel(messageID: 999_999)
                Issue.record("an unknown message cannot be cancelled")
            } catch let error as StoreError {
                #expect(error.code == .notFound)
            }
            #expect(try await store.events(after: 0, limit: 10).filter { $0.kind == "message.cancelled" }.count == 2)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func idleWorkersWakeWhenWorkArrives(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let waited = await Self.waitWhileEnqueuing(into: store, waiter: store)
            #expect(waited < .seconds(30), "woken by the enqueue, not by the 60 s timeout")
        }
    }

    /// A worker of another store on the same database (another process) is woken by the commit,
    /// not only by its own polling: by the NOTIFY sent after the enqueue commits on PostgreSQL,
    /// by the store's watch of `data_version` on SQLite.
    @Test(arguments: StoreBackendKind.allCases)
    func anEnqueueWakesWorkersOfAnotherProcess(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            try await withRunningStore(try await database.openStore()) { other in
                let waited = await Self.waitWhileEnqueuing(into: store, waiter: other)
                #expect(waited < .seconds(30), "woken by the other store's commit, not by the 60 s timeout")
            }
        }
    }

    /// SQLite: the other process is woken even while its own writer commits all the time (a busy
    /// `herald serve` settling deliveries). The watch used to skip a change of `data_version` in
    /// any 100 ms in which this process had also written, since it could not tell the two apart,
    /// so a process writing that often never heard of another's enqueues.
    @Test func anEnqueueWakesAnotherProcessThatKeepsWriting() async throws {
        try await withTestStore(.sqlite) { store, database in
            let opened = try await database.openStore()
            let busy = try #require(opened as? SQLiteStore)
            try await withRunningStore(busy) { other in
                let waited = await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // A write transaction every 5 ms that changes nothing and wakes no one.
                        while !Task.isCancelled {
                            _ = try? await busy.backend.writeStatement("UPDATE email_accounts SET name = name WHERE id = -1", [])
                            try? await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    let waited = await Self.waitWhileEnqueuing(into: store, waiter: other)
                    group.cancelAll()
                    return waited
                }
                #expect(waited < .seconds(30), "woken by the other store's commit, not by the 60 s timeout")
            }
        }
    }

    /// PostgreSQL: statements made at once as the store starts wait for its pool to run, so
    /// postgres-nio never warns that a connection was asked for before `run()` (it did at every
    /// start of `herald serve`), and nothing else is logged as a warning.
    @Test func statementsAtStartWaitForThePoolWithoutWarnings() async throws {
        try await withTestStore(.postgres) { _, database in
            let lines = NIOLockedValueBox<[String]>([])
            let store = try await database.openStore(logger: MemoryLogHandler.logger(lines))
            let versions = try await withRunningStore(store) { store in
                try await withThrowingTaskGroup(of: [Int].self) { group in
                    for _ in 0..<16 { group.addTask { try await store.appliedMigrations() } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(versions.count == 16 && versions.allSatisfy { !$0.isEmpty }, "every statement ran")
            let warnings = Self.warningsAndErrors(lines)
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    /// PostgreSQL: a graceful shutdown (SIGTERM to `herald serve`) closes the pool under the
    /// notification listener; that is not logged as a failure of the listener. Whether the
    /// listener hears of the shutdown or of its closed connection first is a race, so the store
    /// is started and shut down several times.
    @Test func aGracefulShutdownLogsNoWarnings() async throws {
        try await withTestStore(.postgres) { _, database in
            let warnings = try await Self.warningsOverFiveCycles(database) { other, logger in
                let store = try await database.openStore(logger: logger)
                let services = ServiceGroup(configuration: ServiceGroupConfiguration(services: [store], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await services.run() }
                    await Self.expectListening(store, wokenBy: other)
                    await services.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    /// PostgreSQL: a statement that comes after the store was shut down (a late request while
    /// `herald serve` stops) is refused as unavailable, and the log does not blame the server.
    @Test func aStatementAfterShutdownIsRefusedWithoutBlamingTheServer() async throws {
        try await withTestStore(.postgres) { _, database in
            let lines = NIOLockedValueBox<[String]>([])
            let logger = MemoryLogHandler.logger(lines)
            let store = try await database.openStore(logger: logger)
            let services = ServiceGroup(configuration: ServiceGroupConfiguration(services: [store], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await services.run() }
                _ = try await store.appliedMigrations()
                await services.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            await #expect {
                _ = try await store.message(id: 1)
            } throws: { error in
                (error as? StoreError)?.code == .unavailable
            }
            let warnings = Self.warningsAndErrors(lines)
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    /// Stopped by cancellation (as `withRunningStore` and task groups stop it), a store logs no
    /// warning either: the pool's closing the listening connection can reach the listener just
    /// before its own cancellation does.
    @Test func aCancelledStoreLogsNoWarnings() async throws {
        try await withTestStore(.postgres) { _, database in
            let warnings = try await Self.warningsOverFiveCycles(database) { other, logger in
                try await withRunningStore(try await database.openStore(logger: logger)) { store in
                    await Self.expectListening(store, wokenBy: other)
                }
            }
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    /// The warnings and errors logged over five runs of `cycle`, each given a running store on
    /// the same database (`other`) and the logger to watch.
    static func warningsOverFiveCycles(
        _ database: TestDatabase, _ cycle: @Sendable (_ other: any Store, _ logger: Logger) async throws -> Void
    ) async throws -> [String] {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = MemoryLogHandler.logger(lines)
        try await withRunningStore(try await database.openStore()) { other in
            for _ in 0..<5 { try await cycle(other, logger) }
        }
        return warningsAndErrors(lines)
    }

    /// Woken by the other pool's NOTIFY: the listener is up.
    static func expectListening(_ store: any Store, wokenBy other: any Store) async {
        let waited = await waitWhileEnqueuing(into: other, waiter: store)
        #expect(waited < .seconds(30), "woken by the notification, not by the 60 s timeout")
    }

    static func warningsAndErrors(_ lines: NIOLockedValueBox<[String]>) -> [String] {
        lines.withLockedValue { $0 }.filter { $0.hasPrefix("warning") || $0.hasPrefix("error") }
    }

    /// How long `waiter.waitForWork` (60 s timeout) took while messages were enqueued into `store`
    /// every 50 ms (the first enqueue may come before the waiter waits).
    static func waitWhileEnqueuing(into store: any Store, waiter: any Store) async -> Duration {
        let clock = ContinuousClock()
        let started = clock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    _ = try? await store.enqueue(sampleMessage())
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            await waiter.waitForWork(timeout: .seconds(60))
            group.cancelAll()
        }
        return clock.now - started
    }
}
