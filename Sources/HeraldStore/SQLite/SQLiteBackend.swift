import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// SQLite under `SQLStore`: one file, WAL, one writer connection and a few readers.
///
/// Writes run in `BEGIN IMMEDIATE` transactions, one at a time in this process. When another
/// process holds the write lock, SQLite answers "busy" at once (`busy_timeout` is 0) and the
/// transaction is retried here, with an async back-off, until `busyDeadline`: a waiting writer
/// never blocks a thread, so the holder can always finish. "database is locked" never reaches a
/// caller: past the deadline the error is `StoreError.unavailable`.
///
/// Every write runs on the writer's own thread (`WriterThread`), from `BEGIN` to `COMMIT` and
/// its fsync, without a suspension between: a transaction that waited for one of Swift's shared
/// threads between its statements (they are busy with requests and deliveries under load) kept
/// every other writer waiting too. The batched commits of enqueues and settlements run there as
/// well (`commitExecutor`). Reads (listings and statistics can be long) run on the backend's
/// thread pool, so that they do not hold up Swift's shared threads.
///
/// SQLite cannot notify another process of a commit, so while it runs the backend looks at the
/// writer connection's `data_version` every 100 ms and wakes this process's idle workers when
/// another process committed (a `herald send`, a `herald serve --no-workers` beside a
/// `herald worker`): they find its messages then, not at their next poll.
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
    /// One writer: batches take turns.
    public let parallelCommits = 1
    public var commitExecutor: (any TaskExecutor)? { writerThread }
    let configuration: Configuration
    let logger: Logger
    private let threadPool: NIOThreadPool
    private let writer: SQLiteHandle
    private let readers: [SQLiteHandle]
    private let nextReader = NIOLockedValueBox(0)
    private let writeLock = AsyncMutex()
    private let writerThread = WriterThread(name: "herald-sqlite-writer")
    private let signal = WorkSignal()

    private init(configuration: Configuration, logger: Logger, threadPool: NIOThreadPool, writer: SQLiteHandle, readers: [SQLiteHandle]) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = threadPool
        self.writer = writer
        self.readers = readers
    }

    /// Whether the caller runs on the writer's thread (tests).
    var onWriterThread: Bool { writerThread.isCurrent }

    deinit {
        // A backend dropped without `close()` (a test's) does not leave its thread behind.
        writerThread.stop()
    }

    /// Opens (creating if needed) the database file and sets WAL and `synchronous`.
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> SQLiteBackend {
        // A thread per reader; the writer has its own.
        let threadPool = NIOThreadPool(numberOfThreads: configuration.readers)
        threadPool.start()
        var handles: [SQLiteHandle] = []
        func connect(cacheKiB: Int) throws -> SQLiteHandle {
            let handle = try SQLiteHandle(path: configuration.path)
            handles.append(handle)
            // busy_timeout = 0: "busy" comes back at once and `withBusyRetry` waits without
            // holding a thread.
            let pragmas = [
                "PRAGMA busy_timeout = 0", "PRAGMA synchronous = \(configuration.synchronous.rawValue)", "PRAGMA foreign_keys = ON",
                "PRAGMA cache_size = -\(cacheKiB)", "PRAGMA temp_store = MEMORY",
            ]
            for pragma in pragmas { _ = try handle.execute(pragma, []) }
            return handle
        }
        do {
            // The writer keeps SQLite's default 2 MB page cache: the end of every write
            // transaction walks the cache (pcache1Truncate), and with 64 MB that walk was a tenth
            // of the enqueue path. The claim reads only the head of its index, which stays cached.
            // Readers get 16 MB each for listings and statistics.
            let writer = try connect(cacheKiB: 2048)
            let mode = try await withBusyRetry(deadline: configuration.busyDeadline) {
                try writer.execute("PRAGMA journal_mode = WAL", []).first?.optionalText("journal_mode")
            }
            guard mode?.lowercased() == "wal" else {
                throw StoreError(.configuration, "SQLite could not switch \(configuration.path) to WAL mode")
            }
            var readers: [SQLiteHandle] = []
            for _ in 0..<configuration.readers { readers.append(try connect(cacheKiB: 16_384)) }
            return SQLiteBackend(configuration: configuration, logger: logger, threadPool: threadPool, writer: writer, readers: readers)
        } catch {
            for handle in handles { handle.close() }
            try? await threadPool.shutdownGracefully()
            if let error = error as? StoreError { throw error }
            logger.error("could not open the SQLite database", metadata: ["store.path": "\(configuration.path)", "error": "\(error)"])
            let reason = Self.openFailureReason(path: configuration.path).map { ": \($0)" } ?? ""
            throw StoreError(.configuration, "could not open the SQLite database at \(configuration.path)\(reason)")
        }
    }

    /// Why a SQLite file could not be opened, when the path itself says: a URL of a database
    /// Herald does not speak, or a folder that is not there or not writable.
    static func openFailureReason(path: String) -> String? {
        if let scheme = path.range(of: "://").map({ path[..<$0.lowerBound] }), !scheme.contains("/") {
            return "\(scheme):// is not a database Herald uses; give a SQLite file path or a postgres:// URL"
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            return "the folder \(folder) does not exist"
        }
        if !FileManager.default.isWritableFile(atPath: folder) { return "the folder \(folder) is not writable" }
        return nil
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await onWriter {
            _ = try writer.execute("BEGIN IMMEDIATE", [])
            do {
                let result = try await body(Connection.writer(writer))
                _ = try writer.execute("COMMIT", [])
                return result
            } catch {
                if !writer.isAutocommit { _ = try? writer.execute("ROLLBACK", []) }
                throw error
            }
        }
    }

    public func writeStatement(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try await onWriter { try writer.execute(sql, binds) }
    }

    /// Runs `operation` on the writer's thread, holding the write lock, retrying while another
    /// process holds the database, with SQLite's errors mapped.
    private func onWriter<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(writerThread) {
            try await writeLock.withLock {
                try await mapErrors { try await Self.withBusyRetry(deadline: configuration.busyDeadline, operation) }
            }
        }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        let reader = nextReader.withLockedValue { index in
            index = (index + 1) % readers.count
            return readers[index]
        }
        return try await mapErrors {
            try await Self.withBusyRetry(deadline: configuration.busyDeadline) {
                try await body(Connection.onThreadPool(reader, threadPool))
            }
        }
    }

    /// `SQLiteHandle.statementsPreparedAgain` over every connection.
    var statementsPreparedAgain: Int { (readers + [writer]).reduce(0) { $0 + $1.statementsPreparedAgain } }

    public func workArrived() {
        // This process's workers wake now; other processes' when their watchers look.
        signal.fire()
    }

    public var workGeneration: UInt64 { signal.generation }

    public func waitForWork(timeout: Duration, since generation: UInt64?) async {
        await signal.wait(timeout: timeout, since: generation)
    }

    /// Watches for other processes' commits until graceful shutdown or cancellation, then closes
    /// the connections.
    public func run() async throws {
        let (stopped, stop) = AsyncStream<Void>.makeStream()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in stopped {} }
                group.addTask { await self.watchForOtherWriters() }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            stop.finish()
        }
        try await close()
    }

    /// Wakes this process's workers when another process committed. A connection's
    /// `data_version` changes with every commit made on another connection and never with its
    /// own, and this process writes on the writer's connection alone: read there, a change is
    /// always another process's commit, however often this process writes too. (It used to be
    /// read on a connection of its own, which every commit of this process changed as well: a
    /// change in 100 ms in which this process had also written was skipped, so a busy process
    /// never heard of another's enqueues until its next poll.)
    private func watchForOtherWriters() async {
        var seen: Int64?
        while (try? await Task.sleep(for: .milliseconds(100))) != nil {
            // On the writer's thread and under its lock, like every use of that connection. The
            // pragma is a read of one counter: a read transaction of a moment, no write lock.
            let version = try? await onWriter { try writer.execute("PRAGMA data_version", []).first?.int("data_version") }
            guard let version else { continue }
            if let seen, version != seen { signal.fire() }
            seen = version
        }
    }

    /// Closes every connection; the backend is unusable afterwards. Runs to the end even in a
    /// cancelled task, since an unclosed connection would leak its file handle.
    public func close() async throws {
        for handle in readers + [writer] { handle.close() }
        writerThread.stop()
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
            } catch let error as SQLiteFailure where error.isBusy {
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
        } catch let error as SQLiteFailure {
            if error.isUniqueViolation { throw StoreError(.alreadyExists, "a record with the same unique key exists") }
            if error.isStorageFailure {
                logger.error("SQLite could not write", metadata: ["error": "\(error)"])
                throw StoreError(.unavailable, "the SQLite database could not be written (disk full, read-only or an I/O error)")
            }
            logger.error("SQLite refused a statement", metadata: ["error": "\(error)"])
            throw StoreError(.database, "the database refused a statement; see the log")
        }
    }

    /// A connection as `SQLStore` sees it: the writer's statements run where they are called (on
    /// the writer's thread), a reader's on the thread pool.
    enum Connection: SQLConnection {
        case writer(SQLiteHandle)
        case onThreadPool(SQLiteHandle, NIOThreadPool)

        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            switch self {
            case .writer(let handle):
                return try handle.execute(sql, binds)
            case .onThreadPool(let handle, let threadPool):
                return try await threadPool.runIfActive { try handle.execute(sql, binds) }
            }
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
