import ArgumentParser
import Foundation
import HeraldAPI
import HeraldDelivery
import HeraldStore
import Logging
import ServiceLifecycle

/// `herald worker`: delivery workers alone, sharing the queue with every other Herald process.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run delivery workers only (no HTTP API). Any number may share one database.",
        discussion: """
            Example: HERALD_DATABASE_URL=postgres://herald@db/herald HERALD_SECRET_KEY=... herald worker --concurrency 32

            SIGTERM or Ctrl-C stops claiming, gives back what has not started sending, lets sends in \
            progress finish for --drain-timeout seconds, and gives the rest back to the queue, all \
            without spending an attempt.
            """
    )

    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var workerOptions: WorkerOptions

    func run() async throws {
        CommandLogging.bootstrap()
        let logger = Logger(label: "herald.worker")
        let location = try databaseOptions.location()
        let store = try await location.open(for: "worker", secretKey: try databaseOptions.secretKey(), logger: logger)
        let worker = workerOptions.makeWorker(store: store, logger: logger)
        logger.info("starting delivery workers", metadata: ["store": "\(location)", "worker.id": "\(worker.configuration.workerID)"])
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: store),
                    .init(
                        service: MigratingService(store: store, migrate: !workerOptions.noMigrate, then: worker),
                        successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as StoreError {
            throw error.reported(by: "worker")
        }
    }
}

/// The workers' settings, shared by `herald worker` and `herald serve`.
struct WorkerOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Messages in flight at once in this process (HERALD_CONCURRENCY).")
    var concurrency = Int(ProcessInfo.processInfo.environment["HERALD_CONCURRENCY"] ?? "") ?? 16
    @Option(
        parsing: .unconditional,
        help: """
            herald serve: messages in flight at most while its API is taking sends, so that requests keep their \
            latency; --concurrency when lower (HERALD_CONCURRENCY_UNDER_LOAD).
            """)
    var concurrencyUnderLoad = Int(ProcessInfo.processInfo.environment["HERALD_CONCURRENCY_UNDER_LOAD"] ?? "") ?? 16
    @Option(parsing: .unconditional, help: "SMTP connections per account, the per-account concurrency (HERALD_CONNECTIONS_PER_ACCOUNT).")
    var connectionsPerAccount = Int(ProcessInfo.processInfo.environment["HERALD_CONNECTIONS_PER_ACCOUNT"] ?? "") ?? 4
    @Option(
        parsing: .unconditional,
        help: """
            Messages in flight on one SMTP connection when all are busy and the server offers PIPELINING: each \
            rides behind the previous one's content (HERALD_SENDS_PER_CONNECTION).
            """)
    var sendsPerConnection = Int(ProcessInfo.processInfo.environment["HERALD_SENDS_PER_CONNECTION"] ?? "") ?? 4
    @Option(
        parsing: .unconditional,
        help: "Seconds sends in progress may take to finish on shutdown before they are released (HERALD_DRAIN_TIMEOUT).")
    var drainTimeout = Int(ProcessInfo.processInfo.environment["HERALD_DRAIN_TIMEOUT"] ?? "") ?? 20
    @Option(help: "A URL that receives a JSON POST when an account's breaker opens (HERALD_ALERT_WEBHOOK).")
    var alertWebhook: String?
    @Option(
        help: """
            Delete finished messages (success, failed, cancelled) created longer ago than this, hourly: days (30d) or \
            hours (72h), at least 48h (HERALD_RETENTION). Unset, nothing is deleted but by `herald prune`.
            """)
    var retention: String?
    @Flag(
        help: """
            Put a recipient the server refused as not existing (5xx with enhanced status 5.1.x, such as 550 5.1.1) on \
            the suppression list (HERALD_SUPPRESS_HARD_BOUNCES=true).
            """)
    var suppressHardBounces = ConfigFile.isTrue(ProcessInfo.processInfo.environment["HERALD_SUPPRESS_HARD_BOUNCES"])
    @Flag(help: "Do not apply database migrations at start-up.") var noMigrate = false

    func validate() throws {
        for (flag, value) in [
            ("--concurrency", concurrency), ("--concurrency-under-load", concurrencyUnderLoad),
            ("--connections-per-account", connectionsPerAccount),
            ("--sends-per-connection", sendsPerConnection),
        ] where value < 1 {
            throw ValidationError("\(flag) must be at least 1")
        }
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must be 0 or more seconds") }
        if let retention, let problem = Self.retentionProblem(retention) { throw ValidationError("--retention \(problem)") }
        if let alertWebhook, let problem = Self.webhookProblem(alertWebhook) { throw ValidationError("--alert-webhook \(problem)") }
    }

    /// An optional option's value, else the environment variable `name` (empty means unset). Read
    /// here rather than as the option's default: ArgumentParser deprecates defaults for optional
    /// options.
    static func setting(_ option: String?, else name: String) -> String? {
        (option ?? ProcessInfo.processInfo.environment[name]).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// What is wrong with a retention (`30d`, `72h`), or nil.
    static func retentionProblem(_ text: String) -> String? {
        guard let age = PruneCommand.age(text) else { return "must be a number of days or hours, like 30d or 72h" }
        return age >= StoreOptions().idempotencyRetention
            ? nil : "must be at least 48h: an Idempotency-Key answers with its message that long"
    }

    /// What is wrong with an alert webhook URL, or nil.
    static func webhookProblem(_ text: String) -> String? {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased()), url.host?.isEmpty == false else {
            return "must be an http:// or https:// URL"
        }
        return nil
    }

    func makeWorker(store: any Store, logger: Logger) -> DeliveryWorker {
        var smtp = SMTPChannel.Options()
        // validate() has refused values out of range.
        smtp.pool.maxConnections = connectionsPerAccount
        smtp.pool.sendsPerConnection = sendsPerConnection
        let configuration = DeliveryConfiguration(
            concurrency: concurrency, drainTimeout: .seconds(drainTimeout),
            retention: Self.setting(retention, else: "HERALD_RETENTION").flatMap(PruneCommand.age),
            suppressHardBounces: suppressHardBounces, concurrencyUnderLoad: concurrencyUnderLoad)
        let webhook = Self.setting(alertWebhook, else: "HERALD_ALERT_WEBHOOK")
        let alerts = AccountAlerts(store: store, webhook: webhook.flatMap(URL.init(string:)), logger: logger)
        return DeliveryWorker(
            store: store, channels: [SMTPChannel(store: store, options: smtp, logger: logger), SandboxChannel(store: store)],
            configuration: configuration, alerts: alerts, logger: logger)
    }
}
