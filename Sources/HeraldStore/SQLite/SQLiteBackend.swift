import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle

/// SQLite under `SQLStore`: one file, WAL, one writer connection and a few readers.
///
/// Writes run in `BEGIN IMMEDIATE` transactions, one at a time in this process. When another
/// process holds the write lock, SQLite answers "busy" at once (`busy_timeout` is 0) and the
/// transaction is retried here, with an async back-off, until `busyDeadline`: a waiting writer
/// never blocks one of the threads that run SQLite calls, so the holder can always finish.
/// "database is locked" never reaches a caller: past the deadline the error is
/// `StoreError.unavailable`. The connections run on the backend's own thread pool, one thread
/// per connection.
public final class SQLiteBackend: SQLBackend {
    /// How hard a commit pushes to disk (SQLite's `synchronous`).
    public enum Synchronous: String, Sendable {
        /// Every commit is fsynced before it returns: nothing acknowledged is lost on power loss.
        case full = "FULL"
        /// Commits survive a crash of the process but maybe not a power loss.
        case normal = "NORMAL"
    }

    public struct Configuration: Sendable {
        /// The database file; created when missing.
        public var path: String
        public var synchronous: Synchronous
        /// How long a write keeps retrying while other processes hold the database.
        public var busyDeadline: Duration
        /// Connections for reads, used in turn.
        public var readers: Int

        public init(path: String, synchronous: Synchronous = .full, busyDeadline: Duration = .seconds(60), readers: Int = 2) {
            self.path = path
            self.synchronous = synchronous
            self.busyDeadline = busyDeadline
            self.readers = max(1, readers)
        }
    }

    public let dialect = SQLDialect.sqlite
    let configuration: Configuration
    let logger: Logger
    private let threadPool: NIOThreadPool
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let nextReader = NIOLockedValueBox(0)
    private let writeLock = AsyncMutex()
    private let signal = WorkSignal()

    private init(
        configuration: Configuration, logger: Logger, threadPool: NIOThreadPool, writer: SQLiteConnection, readers: [SQLiteConnection]
    ) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = threadPool
        self.writer = writer
        self.readers = readers
    }

    /// Opens (creating if needed) the database file and sets WAL and `synchronous`.
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> SQLiteBackend {
        let threadPool = NIOThreadPool(numberOfThreads: configuration.readers + 1)
        threadPool.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        func connect(cacheKiB: Int) async throws -> SQLiteConnection {
            let connection = try await SQLiteConnection.open(
                storage: .file(path: configuration.path), threadPool: threadPool, logger: logger, on: eventLoop)
            // busy_timeout = 0 replaces sqlite-nio's spinning busy handler: "busy" comes back at
            // once and `withBusyRetry` waits without holding a thread.
            let pragmas = [
                "PRAGMA busy_timeout = 0", "PRAGMA synchronous = \(configuration.synchronous.rawValue)", "PRAGMA foreign_keys = ON",
                "PRAGMA cache_size = -\(cacheKiB)", "PRAGMA temp_store = MEMORY",
            ]
            for pragma in pragmas { _ = try await connection.query(pragma, []) }
            return connection
        }
        do {
            // The writer claims, so it gets a 64 MB page cache (SQLite's default is 2 MB): a long
            // queue's index pages stay in memory. Readers get 16 MB each, which bounds the process.
            let writer = try await connect(cacheKiB: 65_536)
            let mode = try await withBusyRetry(deadline: configuration.busyDeadline) {
                try await writer.query("PRAGMA journal_mode = WAL", []).first?.column("journal_mode")?.string
            }
            guard mode?.lowercased() == "wal" else {
                throw StoreError(.configuration, "SQLite could not switch \(configuration.path) to WAL mode")
            }
            var readers: [SQLiteConnection] = []
            for _ in 0..<configuration.readers { readers.append(try await connect(cacheKiB: 16_384)) }
            return SQLiteBackend(configuration: configuration, logger: logger, threadPool: threadPool, writer: writer, readers: readers)
        } catch let error as StoreError {
            try? await threadPool.shutdownGracefully()
            throw error
        } catch {
            try? await threadPool.shutdownGracefully()
            logger.error("could not open the SQLite database", metadata: ["store.path": "\(configuration.path)", "error": "\(error)"])
            throw StoreError(.configuration, "could not open the SQLite database at \(configuration.path)")
        }
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            try await mapErrors {
                try await Self.withBusyRetry(deadline: configuration.busyDeadline) {
                    let connection = Connection(connection: writer)
                    _ = try await connection.query("BEGIN IMMEDIATE", [])
                    do {
                        let result = try await body(connection)
                        _ = try await connection.query("COMMIT", [])
                        return result
                    } catch {
                        _ = try? await connection.query("ROLLBACK", [])
                        throw error
                    }
                }
            }
        }
    }

    public func writeStatement(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try await writeLock.withLock {
            try await mapErrors {
                try await Self.withBusyRetry(deadline: configuration.busyDeadline) {
                    try await Connection(connection: writer).query(sql, binds)
                }
            }
        }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        let reader = nextReader.withLockedValue { index in
            index = (index + 1) % readers.count
            return readers[index]
        }
        return try await mapErrors {
            try await Self.withBusyRetry(deadline: configuration.busyDeadline) { try await body(Connection(connection: reader)) }
        }
    }

    public func notifyWork(on connection: any SQLConnection) async throws {
        // Other processes on this file find the messages by polling; this process's workers wake now.
        signal.fire()
    }

    public func waitForWork(timeout: Duration) async {
        await signal.wait(timeout: timeout)
    }

    /// Waits for graceful shutdown or cancellation, then closes the connections.
    public func run() async throws {
        let (stopped, stop) = AsyncStream<Void>.makeStream()
        await withGracefulShutdownHandler {
            for await _ in stopped {}
        } onGracefulShutdown: {
            stop.finish()
        }
        try await close()
    }

    /// Closes every connection; the backend is unusable afterwards. Runs to the end even in a
    /// cancelled task (the future-based close does not observe cancellation), since an unclosed
    /// connection would leak its file handle.
    public func close() async throws {
        for connection in readers + [writer] where !connection.isClosed { try await connection.close().get() }
        try await threadPool.shutdownGracefully()
    }

    /// Runs `operation` again while SQLite reports the database busy or locked, until `deadline`.
    static func withBusyRetry<T>(deadline: Duration, _ operation: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let giveUp = clock.now + deadline
        var pause = Duration.milliseconds(1)
        while true {
            do {
                return try await operation()
            } catch let error as SQLiteError where error.isBusy {
                guard clock.now < giveUp else {
                    throw StoreError(.unavailable, "the SQLite database stayed busy for \(deadline); another process holds it")
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(100))
            }
        }
    }

    /// SQLite's errors become `StoreError`s; the details go to the log.
    private func mapErrors<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as SQLiteError {
            switch error.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                throw StoreError(.alreadyExists, "a record with the same unique key exists")
            case .full, .ioError, .ioErrorFailedWrite, .ioErrorFailedSync, .readOnly, .cantOpen:
                logger.error("SQLite could not write", metadata: ["error": "\(error)"])
                throw StoreError(.unavailable, "the SQLite database could not be written (disk full, read-only or an I/O error)")
            default:
                logger.error("SQLite refused a statement", metadata: ["error": "\(error)"])
                throw StoreError(.database, "the database refused a statement; see the log")
            }
        }
    }

    /// A connection as `SQLStore` sees it.
    struct Connection: SQLConnection {
        let connection: SQLiteConnection

        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            let rows = try await connection.query(sql, binds.map(Self.sqliteData))
            guard let first = rows.first else { return [] }
            let columns = SQLColumns(names: first.columns.map(\.name))
            return rows.map { row in SQLRow(columns: columns, values: row.columns.map { Self.value($0.data) }) }
        }

        static func sqliteData(_ value: SQLValue) -> SQLiteData {
            switch value {
            case .null: .null
            case .integer(let value): .integer(SQLiteInt64(value))
            case .real(let value): .float(value)
            case .text(let value): .text(value)
            case .blob(let bytes): .blob(ByteBuffer(bytes: bytes))
            case .bool(let value): .integer(value ? 1 : 0)
            }
        }

        static func value(_ data: SQLiteData) -> SQLValue {
            switch data {
            case .null: .null
            case .integer(let value): .integer(Int64(value))
            case .float(let value): .real(value)
            case .text(let value): .text(value)
            case .blob(let buffer): .blob(Array(buffer.readableBytesView))
            }
        }
    }
}

extension SQLiteError {
    var isBusy: Bool {
        switch reason {
        case .busy, .locked, .busyTimeout, .busyInRecovery, .busyInSnapshot, .lockedBySharedCache: true
        default: false
        }
    }
}

extension SQLStore where Backend == SQLiteBackend {
    /// Opens the SQLite store at `path` (created when missing). Run `migrate()` before first use.
    public convenience init(
        path: String, synchronous: SQLiteBackend.Synchronous = .full, secretKey: SecretKey, options: StoreOptions = StoreOptions(),
        logger: Logger
    ) async throws {
        let backend = try await SQLiteBackend.open(SQLiteBackend.Configuration(path: path, synchronous: synchronous), logger: logger)
        self.init(backend: backend, secretKey: secretKey, options: options, logger: logger)
    }
}
