import Foundation
import HeraldStore
import HeraldTestSupport
import MetricsTestKit
import NIOConcurrencyHelpers
import Testing

@testable import HeraldDelivery

@Suite struct WorkerTests {
    typealias Fault = SMTPTestServer.Fault

    @Test(arguments: StoreBackendKind.allCases)
    func aFreshInstallDeliversThroughTheSandbox(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let new = Harness.message()
            let id = try await store.enqueue(new).message.id
            let message = try await Harness.withWorker(store) { _ in try await Harness.status(store, id, in: [.success, .failed]) }
            #expect(message.status == .success)
            let sandbox = try #require(try await store.account(named: "sandbox"))
            #expect(message.accountID == sandbox.id)
            let captures = try await store.captures(messageID: id)
            #expect(captures.count == 1)
            #expect(captures.first?.data == new.mime, "the exact bytes")
            #expect(captures.first?.recipients == ["rcpt@example.com"])
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func deliversThroughSMTPAndRecordsTheAttempt(kind: StoreBackendKind) async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(kind) { store, _ in
            let account = try await Harness.account(store, "main", server: server)
            let new = Harness.message(to: ["one@example.com", "refuse-two@example.com"])
            let id = try await store.enqueue(new).message.id
            let message = try await Harness.withWorker(store) { _ in try await Harness.status(store, id, in: [.success, .failed]) }
            #expect(message.status == .success && message.accountID == account.id)
            #expect(server.received.count == 1)
            #expect(server.received.first?.data == new.mime)
            #expect(server.received.first?.recipients == ["one@example.com"], "the refused recipient is not in the transaction")
            #expect(server.received.first?.authenticatedUser == Harness.sender)
            let attempt = try #require(try await store.attempts(messageID: id).first)
            #expect(attempt.outcome == .success && attempt.smtpCode == 250)
            #expect(attempt.recipients.map(\.accepted) == [true, false], "each recipient's outcome is recorded")
            #expect(attempt.recipients.last?.code == 550)
            #expect(try await store.captures(messageID: id).isEmpty, "the sandbox is not used once a real account exists")
        }
    }

    @Test func anAmbiguousAttemptIsRecordedAndRetriedWithIdenticalBytesAndNoFailover() async throws {
        let server = try await Harness.server { $0.faults = [Fault(.endOfData, .drop, times: 1)] }
        let other = try await Harness.server()
        defer {
            Task {
                await server.stop()
                await other.stop()
            }
        }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "a", server: server, priority: 1)
            _ = try await Harness.account(store, "b", server: other, priority: 2)
            let new = Harness.message()
            let id = try await store.enqueue(new).message.id
            let message = try await Harness.withWorker(store, configuration: Harness.configuration(retryBase: .milliseconds(200))) { _ in
                try await Harness.status(store, id, in: [.success, .failed])
            }
            #expect(message.status == .success)
            let attempts = try await store.attempts(messageID: id)
            #expect(attempts.map(\.outcome) == [.ambiguous, .success])
            #expect(attempts.first?.errorCode == "smtp.no_reply_after_data")
            #expect(other.received.isEmpty, "an ambiguous attempt never fails over: that could deliver twice")
            #expect(server.received.last?.data == new.mime, "the retry sends the identical bytes")
            let ids = server.received.map { String(decoding: $0.data, as: UTF8.self) }.filter {
                $0.contains("Message-ID: <\(new.messageIDHeader!)>")
            }
            #expect(ids.count == server.received.count && !ids.isEmpty, "with the identical Message-ID")
        }
    }

    /// The original incident: account A is set to STARTTLS on an implicit-TLS port, B is healthy.
    @Test(arguments: StoreBackendKind.allCases)
    func theOriginalIncidentFailsOverOpensTheBreakerAndHealsAfterCorrection(kind: StoreBackendKind) async throws {
        let implicitTLS = try await Harness.server { $0.implicitTLS = true }
        let healthy = try await Harness.server()
        defer {
            Task {
                await implicitTLS.stop()
                await healthy.stop()
            }
        }
        try await withTestStore(kind) { store, _ in
            let name = "qq-\(UUID().uuidString.prefix(8))"
            let a = try await Harness.account(store, name, server: implicitTLS, security: .starttls, priority: 1)
            let b = try await Harness.account(store, "b", server: healthy, priority: 2)
            let configuration = Harness.configuration(coolDown: .milliseconds(500))
            let lines = NIOLockedValueBox<[String]>([])
            let alerts = AccountAlerts(store: store, logger: MemoryLogHandler.logger(lines))
            try await Harness.withWorker(store, configuration: configuration, alerts: alerts) { _ in
                let first = try await store.enqueue(Harness.message()).message.id
                let sent = try await Harness.status(store, first, in: [.success, .failed])
                #expect(sent.status == .success && sent.accountID == b.id, "sent once, through B")
                #expect(healthy.received.count == 1 && implicitTLS.received.isEmpty)

                let opened = try #require(try await store.account(id: a.id))
                #expect(opened.health == .open)
                #expect(opened.lastErrorCode == "smtp.tls_expected")
                #expect(opened.lastError?.contains("security=tls") == true, "\(opened.lastError ?? "")")
                let events = try await store.events(after: 0, limit: 100).filter { $0.kind == "account.opened" }
                #expect(events.map(\.accountID) == [a.id])
                #expect(events.first?.data["error_code"] == "smtp.tls_expected")
                let warnings = lines.withLockedValue { $0 }.filter { $0.hasPrefix("warning") && $0.contains("breaker opened") }
                #expect(warnings.count == 1 && warnings.first?.contains("smtp.tls_expected") == true, "\(warnings)")
                #expect(!warnings.joined().contains(Harness.password), "no password in the alert")
                #expect(try Harness.metrics.expectCounter("herald_account_breaker_opened_total", [("account", name)]).totalValue == 1)

                // Corrected, A's probe after the cool-down closes the breaker.
                var settings = a.settings
                settings.security = .tls
                _ = try await store.updateAccount(id: a.id, settings, password: .keep)
                try await Task.sleep(for: .milliseconds(600))  // the breaker's cool-down, a configured duration
                let second = try await store.enqueue(Harness.message()).message.id
                let probed = try await Harness.status(store, second, in: [.success, .failed])
                #expect(probed.status == .success && probed.accountID == a.id)
                let healed = try #require(try await store.account(id: a.id))
                #expect(healed.health == .closed && healed.failureCount == 0 && healed.lastSuccessAt != nil)
                #expect(implicitTLS.received.count == 1 && implicitTLS.received.first?.overTLS == true)
            }
        }
    }

    @Test func theBreakerOpensAfterConsecutiveFailuresAndSkipsTheAccount() async throws {
        let down = try await Harness.server { $0.faults = [Fault(.connect, .drop)] }
        defer { Task { await down.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            let account = try await Harness.account(store, "flaky-\(UUID().uuidString.prefix(8))", server: down)
            try await Harness.withWorker(store, configuration: Harness.configuration(threshold: 2)) { _ in
                for expected in 1...2 {
                    let id = try await store.enqueue(Harness.message()).message.id
                    let message = try await Harness.status(store, id, in: [.retrying, .failed])
                    #expect(message.status == .retrying && message.errorCode == "smtp.connection_closed")
                    #expect(try await store.account(id: account.id)?.failureCount == expected)
                }
                #expect(try await store.account(id: account.id)?.health == .open)
                let connections = down.connectionCount
                let id = try await store.enqueue(Harness.message()).message.id
                let waiting = try await eventually {
                    try await store.message(id: id).flatMap { $0.errorCode == "delivery.no_account_available" ? $0 : nil }
                }
                #expect(waiting.status == .pending && waiting.attempts == 0, "postponed without spending an attempt")
                #expect(down.connectionCount == connections, "an open account is not tried")
            }
        }
    }

    @Test func anOpenedBreakerPostsToTheAlertWebhookWithoutSecrets() async throws {
        let hook = try await HTTPCaptureServer.start()
        let server = try await Harness.server()
        defer {
            Task {
                await hook.stop()
                await server.stop()
            }
        }
        try await withTestStore(.sqlite) { store, _ in
            let name = "bad-\(UUID().uuidString.prefix(8))"
            let wrong = "wrong-password-71c3"
            _ = try await Harness.account(store, name, server: server, password: wrong)
            let url = try #require(URL(string: "http://127.0.0.1:\(hook.port)/alerts?token=hook-token"))
            let alerts = AccountAlerts(store: store, webhook: url, logger: Harness.quiet)
            try await Harness.withWorker(store, alerts: alerts) { _ in
                let id = try await store.enqueue(Harness.message()).message.id
                let failed = try await Harness.status(store, id, in: [.failed, .success])
                #expect(failed.status == .failed && failed.errorCode == "smtp.auth_failed", "an auth error is not retried")
                let request = try await eventually { hook.received.first }
                #expect(request.head.hasPrefix("POST /alerts?token=hook-token HTTP/1.1"))
                #expect(request.head.lowercased().contains("content-type: application/json"))
                let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
                #expect(body["kind"] as? String == "account.opened")
                #expect(body["account_name"] as? String == name)
                #expect(body["error_code"] as? String == "smtp.auth_failed")
                #expect((body["error"] as? String)?.contains("authorisation code") == true)
                #expect(!String(decoding: request.body, as: UTF8.self).contains(wrong), "never the password")
                #expect(try Harness.metrics.expectGauge("herald_account_breaker_state", [("account", name)]).lastValue == 2)
            }
        }
    }

    @Test func quotasPostponeOrFailOverWithoutSpendingAttempts() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            let limited = try await Harness.account(store, "limited", server: server, perDay: 1)
            try await Harness.withWorker(store) { _ in
                let first = try await store.enqueue(Harness.message()).message.id
                #expect(try await Harness.status(store, first, in: [.success]).accountID == limited.id)
                let second = try await store.enqueue(Harness.message()).message.id
                let waiting = try await eventually {
                    try await store.message(id: second).flatMap { $0.errorCode == "delivery.no_account_available" ? $0 : nil }
                }
                #expect(waiting.attempts == 0 && waiting.nextAttemptAt > Date())
                #expect(server.received.count == 1)
            }
        }
    }

    @Test func aMessageTheServerRefusedGivesItsQuotaPlaceBack() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            let limited = try await Harness.account(store, "limited", server: server, perDay: 1)
            try await Harness.withWorker(store) { _ in
                let refused = try await store.enqueue(Harness.message(to: ["refuse-me@example.com"])).message.id
                #expect(try await Harness.status(store, refused, in: [.failed, .success]).errorCode == "smtp.recipient_rejected")
                #expect(try await store.quotaUsage(accountID: limited.id).day == 0)
                let next = try await store.enqueue(Harness.message()).message.id
                let sent = try await eventually {
                    try await store.message(id: next).flatMap {
                        $0.status == .success || $0.status == .failed || $0.errorCode == "delivery.no_account_available" ? $0 : nil
                    }
                }
                #expect(sent.status == .success && sent.attempts == 1, "the day's one place was still free: \(sent.errorCode ?? "")")
                #expect(try await store.quotaUsage(accountID: limited.id).day == 1)
            }
        }
    }

    @Test func providerSenderRulesRefuseAMismatchBeforeSending() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "qq", server: server, provider: "qq")
            let id = try await store.enqueue(Harness.message(from: "Shop <noreply@shop.example>")).message.id
            let message = try await Harness.withWorker(store) { _ in try await Harness.status(store, id, in: [.failed, .success]) }
            #expect(message.status == .failed && message.errorCode == "delivery.sender_mismatch")
            #expect(message.errorMessage?.contains(Harness.sender) == true)
            #expect(server.connectionCount == 0, "refused before any connection")
        }
    }

    /// An operator who disables every account (or the one a message names) for maintenance, or
    /// renames it, loses no mail: such a message is retried with backoff, spending attempts, and
    /// sent once the account is back. Before, it failed for good at its next attempt.
    @Test func aMessageWhoseAccountIsDisabledWaitsForItWithBackoff() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            try await store.disableAccount(id: try #require(try await store.account(named: "sandbox")).id)
            let account = try await Harness.account(store, "main", server: server)
            try await store.disableAccount(id: account.id)
            let named = try await store.enqueue(Harness.message(fromAccount: "main")).message.id
            let any = try await store.enqueue(Harness.message()).message.id
            try await Harness.withWorker(store, configuration: Harness.configuration(retryBase: .milliseconds(200))) { _ in
                for (id, code) in [(named, "delivery.account_disabled"), (any, "delivery.no_active_account")] {
                    let waiting = try await Harness.status(store, id, in: [.retrying, .failed, .success])
                    #expect(waiting.status == .retrying && waiting.errorCode == code, "\(id): \(waiting.status) \(waiting.errorCode ?? "")")
                }
                try await store.enableAccount(id: account.id)
                for id in [named, any] {
                    #expect(try await Harness.status(store, id, in: [.success, .failed]).status == .success)
                }
            }
            #expect(server.received.count == 2)
        }
    }

    /// A message that fails for good on an error its class would retry says why it was not: its
    /// attempts are used, or it expires before the next try. "failed after 1 of 8" is not a riddle.
    @Test func aRetryableErrorNotRetriedSaysWhy() async throws {
        let server = try await Harness.server { $0.faults = [Fault(.command("DATA"), .reply("451 4.3.0 Local error in processing"))] }
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "main", server: server)
            let once = try await store.enqueue(Harness.message(maxAttempts: 1)).message.id
            var expiring = Harness.message()
            expiring.expiresAt = Date().addingTimeInterval(20)
            let soon = try await store.enqueue(expiring).message.id
            try await Harness.withWorker(store) { _ in
                let first = try await Harness.status(store, once, in: [.failed, .retrying, .success])
                #expect(first.status == .failed && first.errorCode == "smtp.transient_failure")
                #expect(first.errorMessage?.hasSuffix("; not retried: its one attempt is used") == true, "\(first.errorMessage ?? "")")
                let second = try await Harness.status(store, soon, in: [.failed, .retrying, .success])
                #expect(second.status == .failed, "the next try, a minute on, comes after the expiry")
                #expect(second.errorMessage?.contains("; not retried: the message expires at ") == true, "\(second.errorMessage ?? "")")
                let attempts = try await store.attempts(messageID: soon)
                #expect(attempts.last?.errorMessage == second.errorMessage, "the attempt says it too")
            }
        }
    }

    /// A worker whose master key cannot open an account's password (a machine started with another
    /// HERALD_SECRET_KEY) sends nothing and harms nothing: the account keeps its health, shared
    /// with every worker, and the message keeps its attempts for a worker that can open it.
    @Test func aWorkerThatCannotOpenThePasswordLeavesTheMessageAndTheAccountAlone() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, database in
            try await store.disableAccount(id: try #require(try await store.account(named: "sandbox")).id)
            let account = try await Harness.account(store, "main", server: server)
            let id = try await store.enqueue(Harness.message()).message.id
            let other = try await database.openStore(secretKey: .generate())
            try await withRunningStore(other) { (other: any Store) async throws in
                try await Harness.withWorker(other) { _ in
                    let left = try await eventually(timeout: .seconds(20)) {
                        try await store.message(id: id).flatMap { $0.errorCode == "delivery.secret_unreadable" ? $0 : nil }
                    }
                    #expect(left.status == .pending && left.attempts == 0, "\(left.status) after \(left.attempts) attempts")
                    #expect(left.errorMessage?.contains("without spending an attempt") == true, "\(left.errorMessage ?? "")")
                }
            }
            let after = try #require(try await store.account(id: account.id))
            #expect(after.health == .closed && after.failureCount == 0, "\(after.health) \(after.failureCount)")
            #expect(server.connectionCount == 0)
        }
    }

    @Test func suppressedRecipientsAreLeftOutAndRecorded() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "main", server: server)
            try await store.suppress(address: "bounced@example.com", reason: "hard bounce", source: "test")
            let id = try await store.enqueue(Harness.message(to: ["ok@example.com", "Bounced@example.com"])).message.id
            let message = try await Harness.withWorker(store) { _ in try await Harness.status(store, id, in: [.success, .failed]) }
            #expect(message.status == .success)
            #expect(server.received.first?.recipients == ["ok@example.com"])
            let recipients = try await store.attempts(messageID: id).first?.recipients ?? []
            #expect(recipients.first { $0.address == "Bounced@example.com" }?.reply == "suppressed: hard bounce")
        }
    }

    /// Opt-in: a recipient refused as not existing (550 5.1.1) is suppressed, and the next message
    /// leaves it out without asking the server again; by default nothing is listed.
    @Test(arguments: [true, false])
    func hardBouncesAreSuppressedWhenAskedTo(enabled: Bool) async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "main", server: server)
            var configuration = Harness.configuration()
            configuration.suppressHardBounces = enabled
            try await Harness.withWorker(store, configuration: configuration) { _ in
                let first = try await store.enqueue(Harness.message(to: ["ok@example.com", "refuse-me@example.com"])).message.id
                #expect(try await Harness.status(store, first, in: [.success, .failed]).status == .success)
                let listed = try await store.suppressions(among: ["refuse-me@example.com", "ok@example.com"])
                #expect(listed.map(\.address) == (enabled ? ["refuse-me@example.com"] : []))
                if enabled {
                    #expect(listed.first?.reason == "hard bounce" && listed.first?.source?.hasPrefix("smtp 550 5.1.1") == true)
                    let second = try await store.enqueue(Harness.message(to: ["refuse-me@example.com"])).message.id
                    let failed = try await Harness.status(store, second, in: [.success, .failed])
                    #expect(failed.status == .failed && failed.errorCode == "delivery.all_suppressed")
                    #expect(server.received.count == 1, "the server was not asked again")
                }
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func twoWorkersDeliverEachMessageOnce(kind: StoreBackendKind) async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(kind) { store, _ in
            _ = try await Harness.account(store, "main", server: server)
            var enqueued: [Int64] = []
            for _ in 0..<40 { enqueued.append(try await store.enqueue(Harness.message()).message.id) }
            let ids = enqueued
            try await Harness.withWorker(store) { _ in
                try await Harness.withWorker(store) { _ in
                    for id in ids { _ = try await Harness.status(store, id, in: [.success]) }
                }
            }
            let messageIDs = server.received.map { message in
                String(decoding: message.data, as: UTF8.self).split(separator: "\r\n").first { $0.hasPrefix("Message-ID:") }.map(
                    String.init)
            }
            #expect(messageIDs.count == 40 && Set(messageIDs).count == 40, "each message exactly once")
        }
    }

    /// While sends come in to the API of the same process, the worker sends at most
    /// `concurrencyUnderLoad` messages at once; with no sends, `concurrency`.
    @Test(arguments: [true, false])
    func sendsToTheAPILowerHowManyMessagesAreInFlight(busy: Bool) async throws {
        let slow = try await Harness.server { $0.faults = [Fault(.command("DATA"), .hold)] }
        defer { Task { await slow.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "pressure-\(busy)", server: slow)
            for _ in 0..<12 { _ = try await store.enqueue(Harness.message()) }
            let pressure = RequestPressure(window: .seconds(3_600))
            if busy { pressure.noteRequest() }
            #expect(pressure.isBusy == busy)
            var configuration = Harness.configuration()
            configuration.concurrencyUnderLoad = 2
            #expect(configuration.concurrency == 8 && configuration.batchSize == 8)
            let expected = busy ? 2 : 8
            try await Harness.withWorker(
                store, configuration: configuration, connectionsPerAccount: 8, requestPressure: pressure, smtpTimeout: .seconds(300)
            ) { worker in
                // Every message is claimed (leased) either way: those beyond the slots are claimed
                // ahead. What pressure limits is how many are being sent: the server holds each
                // send at DATA until the test is done, so none ends during it.
                defer { slow.releaseHeldReplies() }
                _ = try await eventually { slow.heldReplyCount >= expected ? true : nil }
                #expect(worker.inFlight == expected)
                #expect(slow.commands.filter { $0.hasPrefix("DATA") }.count == expected)
                worker.stop()
            }
        }
    }

    /// The server holds the DATA reply (or its greeting) for a minute, far longer than the drain,
    /// and the send may wait for it (its timeout is longer still): the drain always ends first
    /// however slow the machine, and then the send is ended instead of holding the stop for that
    /// minute.
    @Test(arguments: ["DATA", "greeting"])
    func gracefulShutdownReleasesWhatIsStillInFlightWithoutSpendingAnAttempt(stalledAt step: String) async throws {
        let fault = step == "DATA" ? Fault(.command("DATA"), .delay(.seconds(60))) : Fault(.connect, .delay(.seconds(60)))
        let slow = try await Harness.server { $0.faults = [fault] }
        defer { Task { await slow.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            _ = try await Harness.account(store, "slow", server: slow)
            let id = try await store.enqueue(Harness.message()).message.id
            let configuration = Harness.configuration(drain: .milliseconds(300))
            let started = ContinuousClock.now
            try await Harness.withWorker(store, configuration: configuration, smtpTimeout: .seconds(90)) { worker in
                _ = try await Harness.status(store, id, in: [.sending])
                _ = try await eventually {
                    (step == "DATA" ? slow.commands.contains { $0.hasPrefix("DATA") } : slow.connectionCount >= 1) ? true : nil
                }
                worker.stop()
            }
            #expect(ContinuousClock.now - started < .seconds(40), "the stop ended the send instead of waiting for the server")
            let released = try #require(try await store.message(id: id))
            #expect(released.status == .pending && released.attempts == 0 && released.leaseOwner == nil)
            #expect(try await store.attempts(messageID: id).isEmpty)
        }
    }

    /// On a stop, a message still waiting for a connection is released at once, unsent and with
    /// no attempt; only the one already sending finishes. Before, the waiting ones were sent one
    /// after the other until the drain timeout.
    @Test(arguments: StoreBackendKind.allCases)
    func aStopReleasesWhatHasNotStartedSending(kind: StoreBackendKind) async throws {
        let slow = try await Harness.server { $0.faults = [Fault(.command("DATA"), .hold)] }
        defer { Task { await slow.stop() } }
        try await withTestStore(kind) { store, _ in
            // A limit, so that the stop shows it gives back the places of what it released.
            let account = try await Harness.account(store, "slow", server: slow, perDay: 10)
            var ids: [Int64] = []
            for _ in 0..<4 { ids.append(try await store.enqueue(Harness.message()).message.id) }
            let configuration = Harness.configuration(drain: .seconds(300))
            try await Harness.withWorker(store, configuration: configuration, connectionsPerAccount: 1, smtpTimeout: .seconds(300)) {
                [ids] worker in
                // The one sending is held at DATA until the others are given back.
                defer { slow.releaseHeldReplies() }
                for id in ids { _ = try await Harness.status(store, id, in: [.sending]) }
                _ = try await eventually { slow.heldReplyCount == 1 ? true : nil }
                worker.stop()
                _ = try await eventually {
                    var pending = 0
                    for id in ids where try await store.message(id: id)?.status == .pending { pending += 1 }
                    return pending == 3 ? true : nil
                }
            }
            let outcomes = try await Self.outcomesAfterAStop(store, ids)
            #expect(outcomes == [.success: 1, .pending: 3], "\(outcomes)")
            #expect(slow.commands.filter { $0.hasPrefix("DATA") }.count == 1, "only the message already sending went out")
            #expect(try await store.quotaUsage(accountID: account.id).day == 1, "only the sent one counts")
        }
    }

    /// How many of `ids` ended in each status; those pending must be untouched: no attempt spent,
    /// no lease left.
    private static func outcomesAfterAStop(_ store: any Store, _ ids: [Int64]) async throws -> [MessageStatus: Int] {
        var outcomes: [MessageStatus: Int] = [:]
        for id in ids {
            let message = try #require(try await store.message(id: id))
            outcomes[message.status, default: 0] += 1
            if message.status == .pending {
                #expect(message.attempts == 0 && message.leaseOwner == nil)
                #expect(try await store.attempts(messageID: id).isEmpty)
            }
        }
        return outcomes
    }

    /// With every slot busy, the worker holds up to a batch more messages claimed ahead, and
    /// none of them is sent before a slot frees. A stop gives those back at once, unsent and with
    /// no attempt, while the ones sending finish.
    @Test(arguments: StoreBackendKind.allCases)
    func messagesClaimedAheadWaitForASlotAndAStopGivesThemBack(kind: StoreBackendKind) async throws {
        // DATA's replies are held until the test has seen what it looks for, however slow the machine.
        let slow = try await Harness.server { $0.faults = [Fault(.command("DATA"), .hold)] }
        defer { Task { await slow.stop() } }
        try await withTestStore(kind) { store, _ in
            _ = try await Harness.account(store, "ahead", server: slow)
            var ids: [Int64] = []
            for _ in 0..<10 { ids.append(try await store.enqueue(Harness.message()).message.id) }
            var configuration = Harness.configuration(drain: .seconds(300))
            configuration.concurrency = 2
            configuration.batchSize = 4
            try await Harness.withWorker(store, configuration: configuration, smtpTimeout: .seconds(300)) { [ids] worker in
                defer { slow.releaseHeldReplies() }  // the two sending finish once the body is done
                // 2 sending and 4 ahead: the first 6 in queue order are leased, the rest wait.
                for id in ids.prefix(6) { _ = try await Harness.status(store, id, in: [.sending]) }
                _ = try await eventually { slow.heldReplyCount == 2 ? true : nil }
                #expect(worker.inFlight == 2)
                for id in ids.suffix(4) { #expect(try await store.message(id: id)?.status == .pending) }
                worker.stop()
                // Given back while the two are still at DATA, not after them.
                for id in ids[2..<6] { _ = try await Harness.status(store, id, in: [.pending]) }
                for id in ids.prefix(2) { #expect(try await store.message(id: id)?.status == .sending) }
            }
            let outcomes = try await Self.outcomesAfterAStop(store, ids)
            #expect(outcomes == [.success: 2, .pending: 8], "\(outcomes)")
            #expect(slow.commands.filter { $0.hasPrefix("DATA") }.count == 2, "only the two sending went out")
        }
    }

    /// After a claim finds the queue empty, the worker waits for new work rather than claiming
    /// again at each delivery's end, and a message enqueued meanwhile wakes it at once: with a
    /// poll interval of a minute, each of these would otherwise wait that minute.
    @Test(arguments: StoreBackendKind.allCases)
    func workEnqueuedAfterAClaimFoundTheQueueEmptyIsClaimedAtOnce(kind: StoreBackendKind) async throws {
        let slow = try await Harness.server { $0.faults = [Fault(.command("DATA"), .delay(.milliseconds(300)))] }
        defer { Task { await slow.stop() } }
        try await withTestStore(kind) { store, _ in
            _ = try await Harness.account(store, "waking", server: slow)
            var configuration = Harness.configuration()
            configuration.pollInterval = .seconds(60)
            try await Harness.withWorker(store, configuration: configuration) { _ in
                let first = try await store.enqueue(Harness.message()).message.id
                _ = try await Harness.status(store, first, in: [.sending], timeout: .seconds(10))
                // Enqueued while the first is sending: the claim that took the first found no more.
                let second = try await store.enqueue(Harness.message()).message.id
                _ = try await Harness.status(store, second, in: [.sending, .success], timeout: .seconds(10))
                _ = try await Harness.status(store, first, in: [.success], timeout: .seconds(10))
                _ = try await Harness.status(store, second, in: [.success], timeout: .seconds(10))
                // And once nothing is in flight.
                let third = try await store.enqueue(Harness.message()).message.id
                _ = try await Harness.status(store, third, in: [.success], timeout: .seconds(10))
            }
        }
    }

    /// A renewal that finds a message no longer leased warns only if the worker still holds it:
    /// a delivery that settled while the renewal ran is not a lost lease. `scripts/bench e2e` saw
    /// the warning in most runs on PostgreSQL, with one worker and nothing to take its leases.
    @Test func aRenewalCountsOnlyLeasesStillHeldAsLost() {
        let settled = Lease(messageID: 1, token: "a")
        let renewed = Lease(messageID: 2, token: "a")
        let taken = Lease(messageID: 3, token: "a")
        let stillHeld = [renewed.messageID: renewed, taken.messageID: taken]
        #expect(DeliveryWorker.lost([settled, renewed, taken], kept: [renewed.messageID], stillHeld: stillHeld) == 1)
        #expect(DeliveryWorker.lost([settled, renewed], kept: [renewed.messageID], stillHeld: stillHeld) == 0)
    }

    /// A password set or removed while the account's pool is open takes effect on the next
    /// message: the pool is replaced, not kept with the old credentials.
    @Test func aChangedPasswordReplacesTheAccountsConnections() async throws {
        let server = try await Harness.server()
        defer { Task { await server.stop() } }
        try await withTestStore(.sqlite) { store, _ in
            let account = try await Harness.account(store, "relay", server: server)
            try await Harness.withWorker(store) { _ in
                let first = try await store.enqueue(Harness.message()).message.id
                _ = try await Harness.status(store, first, in: [.success])
                _ = try await store.updateAccount(id: account.id, account.settings, password: .clear)
                let second = try await store.enqueue(Harness.message()).message.id
                _ = try await Harness.status(store, second, in: [.success])
            }
            let users = server.received.map(\.authenticatedUser)
            #expect(users == [Harness.sender, nil], "the first logged in, the second went without AUTH: \(users)")
        }
    }
}
