import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// PostgreSQL under `SQLStore`, through postgres-nio's `PostgresClient` pool.
///
/// Claims lock rows with `FOR UPDATE SKIP LOCKED`, so any number of processes share one queue.
/// After an enqueue commits, `NOTIFY herald_queue` is sent, and `run()` keeps one connection
/// listening, so idle workers anywhere wake at once (they also poll, in case a notification is
/// missed).
///
/// The NOTIFY is its own statement, not part of the enqueue: PostgreSQL serialises the commits
/// of transactions that notify (one global lock, held through the WAL flush), which capped
/// parallel enqueues at one commit at a time. Notifications are coalesced: while one is being
/// sent, any number of later requests become one more.
public final class PostgresBackend: SQLBackend {
    public struct Configuration: Sendable {
        public var client: PostgresClient.Configuration
        /// How long a transaction keeps retrying serialisation failures and deadlocks.
        public var retryDeadline: Duration

        /// The URL's TLS mode, for `checkLogin()`'s one direct connection (the pool's TLS setting
        /// cannot be read back). Set from a URL; nil skips the check.
        var loginTLS: LoginTLS?

        enum LoginTLS: Sendable { case disable, prefer, require }

        public init(client: PostgresClient.Configuration, retryDeadline: Duration = .seconds(30)) {
            self.client = client
            self.retryDeadline = retryDeadline
        }

        /// From a URL: `postgres://user:password@host:port/database?sslmode=disable|prefer|require&pool_size=N&search_path=S`.
        /// The error never repeats the URL, which may hold a password.
        public init(url: String) throws {
            guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
                let host = components.host, !host.isEmpty
            else {
                throw StoreError(.configuration, "the database URL must look like postgres://user:password@host:5432/database")
            }
            let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            let tls: PostgresClient.Configuration.TLS
            let loginTLS: LoginTLS
            switch query["sslmode"] ?? "prefer" {
            case "disable": (tls, loginTLS) = (.disable, .disable)
            case "prefer", "allow": (tls, loginTLS) = (.prefer(.makeClientConfiguration()), .prefer)
            case "require", "verify-ca", "verify-full": (tls, loginTLS) = (.require(.makeClientConfiguration()), .require)
            default: throw StoreError(.configuration, "sslmode must be disable, prefer or require")
            }
            let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            var client = PostgresClient.Configuration(
                host: host, port: components.port ?? 5432, username: components.user?.removingPercentEncoding ?? "postgres",
                password: components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database, tls: tls)
            if let size = query["pool_size"].flatMap(Int.init), size > 0 { client.options.maximumConnections = size }
            if let schema = query["search_path"], !schema.isEmpty {
                client.options.additionalStartupParameters.append(("search_path", schema))
            }
            self.init(client: client)
            self.loginTLS = loginTLS
        }
    }

    public let dialect = SQLDialect.postgres
    /// Batches commit on several pooled connections at once: while one waits for its WAL flush,
    /// the next executes.
    public let parallelCommits = 2
    public let commitExecutor: (any TaskExecutor)? = nil
    static let channel = "herald_queue"
    let client: PostgresClient
    let configuration: Configuration
    let logger: Logger
    private let signal = WorkSignal()
    /// Open once `run()` has started the connection pool; every statement waits for it.
    private let started = StartLatch()
    /// Set once `run()` is stopping the pool: a statement failing after that failed because of
    /// Herald's own shutdown, not the server's.
    private let stopping = NIOLockedValueBox(false)
    private let notifications: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) =
        AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The payload of this backend's notifications. The listener skips them: `workArrived` has
    /// already woken this process's workers, and the echo would only send them to claim again.
    private let notificationSender = UUID().uuidString

    public init(_ configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // The pool logs every failed connection attempt at info, with postgres-nio's own error
        // description: a line or more a second while the server is down. An unreachable server is
        // said once, in words, by `checkLogin()`, and statements that fail say so themselves.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        self.client = PostgresClient(configuration: configuration.client, backgroundLogger: background)
    }

    /// Runs the connection pool and the notification listener until cancelled or shut down.
    /// Statements wait until this has started the pool.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                // `PostgresClient.run()` marks the pool running as its very first step, which
                // this task takes at once; statements go 1 ms later, which covers the thread
                // losing the CPU in between.
                async let statementsGo: Void = self.openAfterAPause()
                await self.client.run()
                await statementsGo
            }
            group.addTask { await self.listen() }
            group.addTask { await self.sendNotifications() }
            let (stopped, stop) = AsyncStream<Void>.makeStream()
            await withGracefulShutdownHandler {
                for await _ in stopped {}
            } onGracefulShutdown: {
                stop.finish()
            }
            stopping.withLockedValue { $0 = true }
            group.cancelAll()
        }
    }

    /// Makes one direct connection, so that a login or database the server refuses is said at
    /// once, in the server's words. Through the pool it would be retried for about a minute and
    /// then reported as "could not be reached". A server that cannot be reached at all is not an
    /// error here: the pool keeps trying it, as it does for an outage later on.
    public func checkLogin() async throws {
        guard let login = loginConfiguration() else { return }
        let server = "PostgreSQL at \(configuration.client.host ?? "?"):\(configuration.client.port ?? 5432)"
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: login, id: 0, logger: logger
            ).get()
            try? await connection.close()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] != nil {
            // The server answered and refused: say why, in its words.
            let state = error.serverInfo?[.sqlState] ?? ""
            let said = error.serverInfo?[.message] ?? "no reason given"
            if state.hasPrefix("28") {
                throw StoreError(
                    .configuration,
                    "\(server) refused the login: \(said) (SQLSTATE \(state)); check the user and password in the database URL")
            }
            if state == "3D000" {
                throw StoreError(.configuration, "\(server): \(said); create it (createdb) or correct the database URL")
            }
            throw StoreError(.configuration, "\(server) refused the connection: \(said) (SQLSTATE \(state))")
        } catch {
            logger.warning("\(server) cannot be reached yet: \(Self.unreachable(error)); waiting for it")
        }
    }

    /// Why a server could not be reached, in words rather than postgres-nio's nested description.
    static func unreachable(_ error: any Error) -> String {
        if let error = error as? PSQLError, let underlying = error.underlying { return unreachable(underlying) }
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first { return unreachable(failure.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "its host name could not be resolved" }
        }
        if let error = error as? IOError {
            return error.errnoCode == ECONNREFUSED
                ? "the connection was refused (is it running, on that port?)" : String(cString: strerror(error.errnoCode))
        }
        if error is SocketAddressError.UnknownHost { return "its host name could not be resolved" }
        return "\(error)"
    }

    /// The pool's server, user and database for one direct connection, with the URL's TLS mode;
    /// nil without a mode, or when TLS cannot be set up (the pool then reports it).
    private func loginConfiguration() -> PostgresConnection.Configuration? {
        let client = configuration.client
        guard let mode = configuration.loginTLS, let host = client.host else { return nil }
        let tls: PostgresConnection.Configuration.TLS
        switch mode {
        case .disable: tls = .disable
        case .prefer:
            guard let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) else { return nil }
            tls = .prefer(context)
        case .require:
            guard let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) else { return nil }
            tls = .require(context)
        }
        var login = PostgresConnection.Configuration(
            host: host, port: client.port ?? 5432, username: client.username, password: client.password, database: client.database, tls: tls
        )
        login.options.additionalStartupParameters = client.options.additionalStartupParameters
        return login
    }

    private func openAfterAPause() async {
        try? await Task.sleep(for: .milliseconds(1))
        started.open()
    }

    /// Whether the task is being cancelled or shut down: then a failed statement is the pool
    /// closing, not something to warn about.
    private static var isStopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    /// Keeps a LISTEN open, reconnecting after failures, until cancelled.
    private func listen() async {
        guard (try? await started.wait()) != nil else { return }
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        for try await notification in notifications where notification.payload != self.notificationSender {
                            self.signal.fire()
                        }
                    }
                }
            } catch {
                // At shutdown the pool closes the listening connection; that is not a failure. The
                // error can arrive just before this task's cancellation does, so look after a pause.
                try? await Task.sleep(for: .seconds(1))
                if Self.isStopping { return }
                logger.warning("the PostgreSQL notification listener failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Sends one NOTIFY per request, coalescing the requests made while one is sent, until cancelled.
    private func sendNotifications() async {
        guard (try? await started.wait()) != nil else { return }
        for await _ in notifications.stream {
            do {
                try await client.withConnection { connection in
                    _ = try await connection.query(
                        "SELECT pg_notify('\(unescaped: Self.channel)', \(notificationSender))", logger: logger)
                }
            } catch {
                try? await Task.sleep(for: .milliseconds(100))
                if Self.isStopping { return }
                logger.warning(
                    "could not notify other processes of new messages; they will find them by polling",
                    metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await started.wait()
        return try await retryingAbortedTransactions {
            try await client.withTransaction(logger: logger) { connection in
                try await body(Connection(connection: connection, logger: logger))
            }
        }
    }

    public func writeStatement(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try await started.wait()
        let prepared = Self.preparedBatches[sql]?.init(binds: binds)
        return try await retryingAbortedTransactions {
            try await client.withConnection { connection in
                if let prepared { return try await prepared.execute(on: connection, logger: logger) }
                return try await Connection(connection: connection, logger: logger).query(sql, binds)
            }
        }
    }

    /// Runs `operation` (errors mapped) again after serialisation failures and deadlocks, until
    /// `retryDeadline`.
    private func retryingAbortedTransactions<T>(_ operation: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let giveUp = clock.now + configuration.retryDeadline
        while true {
            do {
                return try await mapErrors(operation)
            } catch let error as Retry {
                guard clock.now < giveUp else { throw error.underlying }
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...20)))
            }
        }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await started.wait()
        do {
            return try await mapErrors {
                try await client.withConnection { connection in try await body(Connection(connection: connection, logger: logger)) }
            }
        } catch let error as Retry {
            throw error.underlying
        }
    }

    public func workArrived() {
        signal.fire()
        notifications.continuation.yield()
    }

    public var workGeneration: UInt64 { signal.generation }

    public func waitForWork(timeout: Duration, since generation: UInt64?) async {
        await signal.wait(timeout: timeout, since: generation)
    }

    /// A transaction to run again, with the error to give if the deadline passes.
    private struct Retry: Error {
        var underlying: StoreError
    }

    /// postgres-nio's errors become `StoreError`s (or a `Retry`); the details go to the log.
    private func mapErrors<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as PostgresTransactionError {
            // The body's own error (a StoreError) comes back as it was thrown.
            guard let cause = error.closureError ?? error.commitError ?? error.beginError else { throw error }
            if let storeError = cause as? StoreError { throw storeError }
            if let psqlError = cause as? PSQLError { throw map(psqlError) }
            throw cause
        } catch let error as PSQLError {
            throw map(error)
        } catch let error as StoreError {
            throw error
        } catch let error as Retry {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch  where Task.isCancelled {
            // The pool gives up a cancelled task's wait with an error of its own (requestCancelled):
            // that is the caller stopping, not the server failing.
            throw CancellationError()
        } catch {
            if let shutDown = shutDownError(error) { throw shutDown }
            // The pool's own errors: no connection could be made (refused, timed out, circuit open).
            logger.error("PostgreSQL is unreachable", metadata: ["error": "\(String(reflecting: error))"])
            throw StoreError(.unavailable, "PostgreSQL could not be reached")
        }
    }

    /// The error for a statement that failed because the store is shutting down (the pool
    /// refuses it, or closed its connection); nil while the store runs.
    private func shutDownError(_ error: any Error) -> StoreError? {
        guard stopping.withLockedValue({ $0 }) else { return nil }
        logger.debug("a statement came after the store began shutting down", metadata: ["error": "\(String(reflecting: error))"])
        return StoreError(.unavailable, "the store is shutting down")
    }

    private func map(_ error: PSQLError) -> any Error {
        let state = error.serverInfo?[.sqlState]
        switch state {
        case "23505":
            return StoreError(.alreadyExists, "a record with the same unique key exists")
        case "40001", "40P01":
            return Retry(underlying: StoreError(.unavailable, "PostgreSQL kept aborting the transaction (serialisation failures)"))
        case .some(let state):
            logger.error("PostgreSQL refused a statement", metadata: ["error": "\(String(reflecting: error))"])
            return StoreError(.database, "the database refused a statement (SQLSTATE \(state)); see the log")
        case nil:
            if let shutDown = shutDownError(error) { return shutDown }
            logger.error("PostgreSQL is unreachable", metadata: ["error": "\(String(reflecting: error))"])
            return StoreError(.unavailable, "PostgreSQL could not be reached")
        }
    }

    /// A connection as `SQLStore` sees it: `?` placeholders become `$1, $2, ...`.
    struct Connection: SQLConnection {
        let connection: PostgresConnection
        let logger: Logger

        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            let query = PostgresQuery(unsafeSQL: Self.numbered(sql), binds: Self.bindings(binds))
            return try await Self.rows(from: connection.query(query, logger: logger))
        }

        static func bindings(_ binds: [SQLValue]) -> PostgresBindings {
            var bindings = PostgresBindings(capacity: binds.count)
            for value in binds {
                switch value {
                case .null: bindings.appendNull()
                case .integer(let value): bindings.append(value)
                case .real(let value): bindings.append(value)
                case .text(let value): bindings.append(value)
                case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
                case .bool(let value): bindings.append(value)
                case .array(let array): bindings.append(PostgresArrayParameter(array: array))
                }
            }
            return bindings
        }

        /// The rows of a result, sharing one set of column names.
        static func rows<Rows: AsyncSequence>(from rows: Rows) async throws -> [SQLRow] where Rows.Element == PostgresRow {
            var result: [SQLRow] = []
            var columns: SQLColumns?
            for try await row in rows {
                let names = columns ?? SQLColumns(names: row.map(\.columnName))
                columns = names
                result.append(SQLRow(columns: names, values: row.map(Self.value)))
            }
            return result
        }

        /// Replaces each `?` outside string literals with `$n` (bytewise: batch statements are long).
        static func numbered(_ sql: String) -> String {
            var out: [UInt8] = []
            out.reserveCapacity(sql.utf8.count + sql.utf8.count / 4)
            var number = 0
            var inLiteral = false
            for byte in sql.utf8 {
                if byte == UInt8(ascii: "'") { inLiteral.toggle() }
                if byte == UInt8(ascii: "?") && !inLiteral {
                    number += 1
                    out.append(UInt8(ascii: "$"))
                    out.append(contentsOf: String(number).utf8)
                } else {
                    out.append(byte)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        static func value(_ cell: PostgresCell) -> SQLValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int8: return (try? cell.decode(Int64.self)).map { .integer($0) } ?? .null
            case .int4: return (try? cell.decode(Int32.self)).map { .integer(Int64($0)) } ?? .null
            case .int2: return (try? cell.decode(Int16.self)).map { .integer(Int64($0)) } ?? .null
            case .bool: return (try? cell.decode(Bool.self)).map { .bool($0) } ?? .null
            case .float8, .float4: return (try? cell.decode(Double.self)).map { .real($0) } ?? .null
            case .numeric: return (try? cell.decode(Decimal.self)).map { .real(NSDecimalNumber(decimal: $0).doubleValue) } ?? .null
            case .bytea: return (try? cell.decode(ByteBuffer.self)).map { .blob(Array($0.readableBytesView)) } ?? .null
            default: return (try? cell.decode(String.self)).map { .text($0) } ?? .null
            }
        }
    }
}

extension SQLStore where Backend == PostgresBackend {
    /// A PostgreSQL store from a `postgres://` URL. Run it (`run()`) while it is used, and
    /// `migrate()` before first use.
    public convenience init(url: String, secretKey: SecretKey, options: StoreOptions = StoreOptions(), logger: Logger) throws {
        let backend = PostgresBackend(try PostgresBackend.Configuration(url: url), logger: logger)
        self.init(backend: backend, secretKey: secretKey, options: options, logger: logger)
    }
}
