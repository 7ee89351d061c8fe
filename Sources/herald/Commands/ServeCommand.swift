import ArgumentParser
import Foundation
import HeraldAPI
import HeraldDelivery
import HeraldStore
import Hummingbird
import Logging
import Metrics
import Prometheus

/// `herald serve`: the HTTP API and the delivery workers in one process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Herald: the HTTP API and the delivery workers.",
        discussion: """
            With no configuration it listens on 127.0.0.1:8080, keeps everything in ./herald.sqlite,
            sends through the sandbox account (which captures instead of sending) until a real account
            is added, and on the first start prints an admin API key once.
            Every option can also come from the environment (HERALD_HOST, HERALD_PORT, HERALD_DATABASE_URL,
            HERALD_SECRET_KEY, HERALD_LOG_LEVEL, HERALD_RATE_LIMIT, HERALD_CONCURRENCY, ...) or from a
            configuration file of the same KEY=VALUE settings (--config, $HERALD_CONFIG, or ./herald.env).
            Flags win over the environment, which wins over the file.
            """
    )

    @Option(help: "The address to listen on (HERALD_HOST).") var host = ProcessInfo.processInfo.environment["HERALD_HOST"] ?? "127.0.0.1"
    @Option(help: "The port to listen on (HERALD_PORT).") var port = Int(ProcessInfo.processInfo.environment["HERALD_PORT"] ?? "") ?? 8080
    @Option(help: "Requests per second per API key (HERALD_RATE_LIMIT); bursts of twice that.")
    var rateLimit = Double(ProcessInfo.processInfo.environment["HERALD_RATE_LIMIT"] ?? "") ?? 100
    @Flag(help: "Run the API only; delivery is left to `herald worker` processes.") var noWorkers = false
    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var workerOptions: WorkerOptions

    func run() async throws {
        CommandLogging.bootstrap()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "herald.serve")
        let location = try databaseOptions.location()
        let store = try await location.open(secretKey: try databaseOptions.secretKey(), logger: logger)
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
        try await application.runService()
    }

    /// On a first start (no keys at all), makes an admin key and prints it once on standard output.
    static func firstAdminKey(_ store: any Store) async throws {
        guard try await store.apiKeys().isEmpty else { return }
        let (key, _) = try await APIKeyIssuer.create(name: "first admin key", scopes: [.admin], in: store)
        FileHandle.standardOutput.write(
            Data("Herald created an admin API key. It is shown only this once; keep it somewhere safe:\n\(key)\n".utf8))
    }
}

/// `herald keys`: API keys from the command line.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key and print it, alone, on standard output (shown once).")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Option(help: "send, read or admin (repeatable).") var scope: [String] = []
        @Option(help: "A name to tell the key apart.") var name = "key"

        func run() async throws {
            let scopes = try Set(
                scope.map { text in
                    guard let value = APIKeyScope(rawValue: text) else { throw ValidationError("--scope must be send, read or admin") }
                    return value
                })
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope (send, read or admin)") }
            let key = try await AccountsCommand.withStore(databaseOptions, command: "keys create") { store in
                try await APIKeyIssuer.create(name: name, scopes: scopes, in: store).key
            }
            print(key)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (their prefixes; keys are never stored).")
        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            let keys = try await AccountsCommand.withStore(databaseOptions, command: "keys list") { try await $0.apiKeys() }
            for key in keys {
                let scopes = key.scopes.map(\.rawValue).sorted().joined(separator: ",")
                print("\(key.id)\t\(key.prefix)…\t\(key.name)\t\(scopes)\t\(key.revokedAt == nil ? "active" : "revoked")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by id.")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The key's id (from herald keys list).") var id: Int64

        func run() async throws {
            try await AccountsCommand.withStore(databaseOptions, command: "keys revoke") { try await $0.revokeAPIKey(id: id) }
            print("revoked \(id)")
        }
    }
}

/// `herald send`: one message from the command line, through the API's own validation and composition.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Queue one message (delivered by a running herald serve or herald worker).",
        discussion: """
            Example: herald send --to 205672513@qq.com --template-code test_email --var timestamp="2025-10-25 17:05:00"
            """)

    @OptionGroup var databaseOptions: DatabaseOptions
    @Option(help: "A recipient (repeatable).") var to: [String] = []
    @Option(help: "A Cc recipient (repeatable).") var cc: [String] = []
    @Option(help: "The template to render.") var templateCode: String?
    @Option(name: .customLong("var"), help: "A template variable, NAME=VALUE (repeatable).") var variables: [String] = []
    @Option(help: "The subject, without a template.") var subject: String?
    @Option(help: "The text body, without a template.") var text: String?
    @Option(help: "The HTML body, without a template.") var html: String?
    @Option(help: "The account to send through.") var fromAccount: String?

    func run() async throws {
        var request = SendRequest(to: to, templateCode: templateCode, subject: subject, text: text)
        request.cc = cc.isEmpty ? nil : AddressList(cc)
        request.html = html
        request.fromAccount = fromAccount
        if !variables.isEmpty {
            var values: [String: JSONValue] = [:]
            for pair in variables {
                guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("--var takes NAME=VALUE, got \(pair)") }
                values[String(pair[..<equals])] = .string(String(pair[pair.index(after: equals)...]))
            }
            request.templateVariables = values
        }
        let sent = request
        do {
            let message = try await AccountsCommand.withStore(databaseOptions, command: "send") { store in
                try await MessageFactory(store: store).send(sent, origin: .init(requestID: "cli-\(UUID().uuidString.lowercased())")).message
            }
            print("message \(message.id) queued (\(message.status.rawValue))")
        } catch let error as APIError {
            FileHandle.standardError.write(Data("herald send: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
