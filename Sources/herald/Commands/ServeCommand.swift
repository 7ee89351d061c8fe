import ArgumentParser
import Foundation
import HeraldAPI
import HeraldDelivery
import HeraldStore
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus

/// `herald serve`: the HTTP API and the delivery workers in one process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Herald: the HTTP API and the delivery workers.",
        discussion: """
            With no configuration it listens on 127.0.0.1:8080, keeps everything in ./herald.sqlite, \
            sends through the sandbox account (which captures instead of sending) until a real account \
            is added, and on the first start prints an admin API key once.

            Every option can also come from the environment (HERALD_HOST, HERALD_PORT, HERALD_DATABASE_URL, \
            HERALD_SECRET_KEY, HERALD_LOG_LEVEL, HERALD_RATE_LIMIT, HERALD_CONCURRENCY, ...) or from a \
            configuration file of the same KEY=VALUE settings (--config, $HERALD_CONFIG, or ./herald.env). \
            Flags win over the environment, which wins over the file.
            """
    )

    @Option(help: "The address to listen on (HERALD_HOST).") var host = ProcessInfo.processInfo.environment["HERALD_HOST"] ?? "127.0.0.1"
    @Option(parsing: .unconditional, help: "The port to listen on (HERALD_PORT).") var port =
        Int(ProcessInfo.processInfo.environment["HERALD_PORT"] ?? "") ?? 8080
    @Option(parsing: .unconditional, help: "Requests per second per API key (HERALD_RATE_LIMIT); bursts of twice that.")
    var rateLimit = Double(ProcessInfo.processInfo.environment["HERALD_RATE_LIMIT"] ?? "") ?? 100
    @Flag(help: "Run the API only; delivery is left to `herald worker` processes.") var noWorkers = false
    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var workerOptions: WorkerOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535 (0 picks a free port)") }
        guard rateLimit > 0, rateLimit.isFinite else { throw ValidationError("--rate-limit must be above 0") }
    }

    func run() async throws {
        CommandLogging.bootstrap()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "herald.serve")
        // Said before anything is created: a start that cannot listen makes no database and no key.
        if let problem = await Self.listenProblem(host: host, port: port) {
            FileHandle.standardError.write(Data("herald serve: cannot listen on \(host):\(port): \(problem)\n".utf8))
            throw ExitCode(1)
        }
        let location = try databaseOptions.location()
        let store = try await location.open(for: "serve", secretKey: try databaseOptions.secretKey(), logger: logger)
        var configuration = APIConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.rateLimitPerSecond = rateLimit
        configuration.rateLimitBurst = rateLimit * 2
        let host = configuration.host
        let worker = noWorkers ? nil : workerOptions.makeWorker(store: store, logger: logger)
        let application = buildApplication(
            store: store, worker: worker, configuration: configuration, metrics: registry, migrate: !workerOptions.noMigrate,
            logger: logger,
            beforeServing: { store in try await Self.firstAdminKey(store) },
            onServerRunning: { port in
                logger.info("Herald is listening", metadata: ["url": "http://\(host):\(port)", "store": "\(location)"])
            })
        do {
            try await application.runService()
        } catch let error as IOError {
            guard let reason = Self.listenFailure(error.errnoCode) else { throw error }
            FileHandle.standardError.write(Data("herald serve: cannot listen on \(host):\(port): \(reason)\n".utf8))
            throw ExitCode(1)
        } catch let error as StoreError {
            throw error.reported(by: "serve")
        } catch is CancellationError {
            // SIGTERM or Ctrl-C came while the start waited for the database: a clean stop.
            logger.info("stopped before the database could be reached")
        }
    }

    /// Binds the address for a moment, as the server will (SO_REUSEADDR), and says why that
    /// failed, or nil. Another process may still take the port before the server binds it; that
    /// rare case is reported when it happens.
    static func listenProblem(host: String, port: Int) async -> String? {
        guard port != 0 else { return nil }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try? await channel.close()
            return nil
        } catch let error as IOError {
            return listenFailure(error.errnoCode) ?? "\(error)"
        } catch is SocketAddressError.UnknownHost {
            return "no address is known for that host name; check --host (HERALD_HOST)"
        } catch {
            return "\(error)"
        }
    }

    /// Why the address could not be bound, in words, for the errors an operator can fix.
    static func listenFailure(_ code: Int32) -> String? {
        switch code {
        case EADDRINUSE: "another process already listens there; stop it or choose another --port (HERALD_PORT)"
        case EACCES: "ports below 1024 need privileges; choose a port of 1024 or more (--port, HERALD_PORT)"
        case EADDRNOTAVAIL: "no network interface of this machine has that address; check --host (HERALD_HOST)"
        default: nil
        }
    }

    /// On a first start (no keys at all), makes an admin key and prints it once on standard output.
    static func firstAdminKey(_ store: any Store) async throws {
        guard try await store.apiKeys().isEmpty else { return }
        let (key, _) = try await APIKeyIssuer.create(name: "first admin key", scopes: [.admin], in: store)
        FileHandle.standardOutput.write(
            Data("Herald created an admin API key. It is shown only this once; keep it somewhere safe:\n\(key)\n".utf8))
    }
}
