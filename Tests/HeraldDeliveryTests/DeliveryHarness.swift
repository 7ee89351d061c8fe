import Foundation
import HeraldDelivery
import HeraldSMTP
import HeraldStore
import HeraldTestSupport
import Logging
import Metrics
import MetricsTestKit
import Testing

/// Live delivery fixtures: test SMTP servers, accounts pointing at them, and a running worker.
enum Harness {
    static let certificates = try! TestCertificates()
    static let password = "app-password"
    static let sender = "sender@example.com"

    /// Metrics for the whole test process (swift-metrics bootstraps once); tests use unique account names.
    static let metrics: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    /// Test runs print no delivery logs; logging itself is asserted in its own test.
    static let quiet = Logger(label: "herald.test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Quick timings, so that retries, cool-downs and polls happen within a test.
    static func configuration(
        retryBase: Duration = .seconds(60), coolDown: Duration = .seconds(60), threshold: Int = 3, drain: Duration = .seconds(5)
    ) -> DeliveryConfiguration {
        DeliveryConfiguration(
            concurrency: 8, batchSize: 8, lease: .seconds(20), pollInterval: .milliseconds(100), sweepInterval: .milliseconds(500),
            drainTimeout: drain, accountRefresh: .zero,
            retry: RetryPolicy(base: retryBase, cap: retryBase * 4, jitter: 0, rateLimitWindow: .seconds(60)),
            breaker: CircuitBreaker(failureThreshold: threshold, coolDown: coolDown, maxCoolDown: coolDown * 8, probeTimeout: .seconds(30)))
    }

    static func server(_ configure: (inout SMTPTestServer.Configuration) -> Void = { _ in }) async throws -> SMTPTestServer {
        var configuration = SMTPTestServer.Configuration()
        configuration.certificates = certificates
        configuration.users = [sender: password]
        configure(&configuration)
        return try await SMTPTestServer.start(configuration)
    }

    /// An account on `server` (STARTTLS unless told otherwise), trusting the test CA. A quota is
    /// daily: a test that used the minute window would fail whenever it ran across a minute's end.
    static func account(
        _ store: any Store, _ name: String, server: SMTPTestServer, security: AccountSecurity = .starttls, priority: Int = 10,
        password: String = Harness.password, email: String = Harness.sender, provider: String? = nil, perDay: Int? = nil
    ) async throws -> AccountRecord {
        try await store.createAccount(
            AccountSettings(
                name: name, email: email, smtpHost: "localhost", smtpPort: server.port, security: security, tlsCAPEM: certificates.caPEM,
                priority: priority, perDayLimit: perDay, provider: provider),
            password: .set(password))
    }

    /// A message with a recognisable Message-ID.
    static func message(
        to: [String] = ["rcpt@example.com"], from: String = "App <sender@example.com>", fromAccount: String? = nil, maxAttempts: Int = 5
    ) -> NewMessage {
        let id = "\(UUID().uuidString)@herald.test"
        let bytes = Array(
            "From: \(from)\r\nTo: \(to.joined(separator: ", "))\r\nSubject: hello\r\nMessage-ID: <\(id)>\r\n\r\n.leading dot\r\nbody\r\n"
                .utf8)
        return NewMessage(
            from: from, to: to, subject: "hello", mime: bytes, messageIDHeader: id, fromAccount: fromAccount, maxAttempts: maxAttempts)
    }

    /// Runs a worker (SMTP and sandbox channels) beside `body`, then stops it and waits for it.
    /// `connectionsPerAccount`: the pool's size per account (4 by default). `smtpTimeout`: how
    /// long each SMTP step may take.
    static func withWorker<T: Sendable>(
        _ store: any Store, configuration: DeliveryConfiguration = Harness.configuration(), alerts: AccountAlerts? = nil,
        connectionsPerAccount: Int = 4, requestPressure: RequestPressure = RequestPressure(), smtpTimeout: Duration = .seconds(2),
        _ body: @Sendable (DeliveryWorker) async throws -> T
    ) async throws -> T {
        _ = metrics  // bootstrapped before any metric is made
        var options = SMTPChannel.Options()
        options.pool.maxConnections = connectionsPerAccount
        options.timeouts = .uniform(smtpTimeout)
        options.timeouts.silentGreetingProbe = .milliseconds(500)
        options.pool.acquireTimeout = .seconds(5)
        let worker = DeliveryWorker(
            store: store, channels: [SMTPChannel(store: store, options: options), SandboxChannel(store: store)],
            configuration: configuration, alerts: alerts, random: { 0.5 }, requestPressure: requestPressure, logger: quiet)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await worker.run()
                return nil
            }
            do {
                let result = try await body(worker)
                worker.stop()
                try await group.waitForAll()
                return result
            } catch {
                worker.stop()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Polls until the message reaches one of `statuses`.
    static func status(
        _ store: any Store, _ id: Int64, in statuses: Set<MessageStatus>, timeout: Duration = .seconds(20),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> MessageRecord {
        try await eventually(timeout: timeout, file: file, line: line) {
            guard let message = try await store.message(id: id), statuses.contains(message.status) else { return nil }
            return message
        }
    }
}
