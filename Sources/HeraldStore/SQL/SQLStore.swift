import Foundation
import Logging

/// The embedded store: one SQLite file (see `SQLiteBackend`).
public typealias SQLiteStore = SQLStore<SQLiteBackend>
/// The shared store: PostgreSQL, for many processes on many machines (see `PostgresBackend`).
public typealias PostgresStore = SQLStore<PostgresBackend>

/// Settings every store takes.
public struct StoreOptions: Sendable {
    /// How long an idempotency key is remembered. At least 24 hours, as clients expect.
    public var idempotencyRetention: Duration
    /// The most writes one group commit carries.
    public var maxBatch: Int
    /// The most message bytes one enqueue commit carries (a message larger than this is committed
    /// alone). Large messages then cannot make one statement of gigabytes, which PostgreSQL
    /// refuses beyond 1 GB and which would hold a second copy of every body in memory.
    public var maxBatchBytes: Int

    public init(idempotencyRetention: Duration = .seconds(48 * 3600), maxBatch: Int = 500, maxBatchBytes: Int = 16 << 20) {
        self.idempotencyRetention = max(idempotencyRetention, .seconds(24 * 3600))
        self.maxBatch = max(1, maxBatch)
        self.maxBatchBytes = max(1, maxBatchBytes)
    }
}

/// Herald's `Store`, written once over a `SQLBackend`; `SQLiteStore` and `PostgresStore` are it.
public final class SQLStore<Backend: SQLBackend>: Store {
    let backend: Backend
    let secretKey: SecretKey
    let options: StoreOptions
    let logger: Logger
    let queries: Queries
    let enqueues: ParallelGroupCommitter<PendingEnqueue, EnqueueResult>
    let settlements: ParallelGroupCommitter<Settlement, MessageRecord>

    /// A store over `backend`, sealing account secrets with `secretKey`.
    public init(backend: Backend, secretKey: SecretKey, options: StoreOptions = StoreOptions(), logger: Logger) {
        self.backend = backend
        self.secretKey = secretKey
        self.options = options
        self.logger = logger
        let queries = Queries(dialect: backend.dialect)
        self.queries = queries
        let writer = QueueWriter(backend: backend, queries: queries, options: options)
        let lanes = backend.parallelCommits
        // An API request waits for its enqueue: on a thread of its own (SQLite's writer) the next
        // batch starts at once. Settlements gather (see `GroupCommitter`): a delivery's wait of a
        // few milliseconds matters less than the writer's time, and delivery ran 25% faster so.
        self.enqueues = ParallelGroupCommitter(
            lanes: lanes, maxBatch: options.maxBatch, maxWeight: options.maxBatchBytes, weight: { $0.message.mime.count },
            executor: backend.commitExecutor, gathers: backend.commitExecutor == nil
        ) { await writer.commit(enqueues: $0) }
        self.settlements = ParallelGroupCommitter(lanes: lanes, maxBatch: options.maxBatch, executor: backend.commitExecutor) {
            await writer.commit(settlements: $0)
        }
    }

    /// Runs the backend's background work until cancelled or shut down gracefully.
    public func run() async throws {
        try await backend.run()
    }

    // MARK: Schema

    public func migrate() async throws -> [Int] {
        let dialect = backend.dialect
        return try await backend.write { connection in
            for statement in dialect.migrationLock { try await connection.query(statement, []) }
            try await connection.query(dialect.render(Migrations.bookkeeping), [])
            let applied = Set(try await connection.query("SELECT version FROM schema_migrations", []).map { try $0.int("version") })
            if let newest = applied.max(), newest > Migrations.all.last?.version ?? 0 {
                throw StoreError(.schemaMismatch, "the database has schema version \(newest), newer than this Herald knows; upgrade Herald")
            }
            var ran: [Int] = []
            for migration in Migrations.all where !applied.contains(Int64(migration.version)) {
                for statement in migration.statements { try await connection.query(dialect.render(statement), []) }
                try await connection.query(
                    dialect.render("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, {now})"),
                    [.integer(Int64(migration.version)), .text(migration.name)])
                ran.append(migration.version)
            }
            return ran
        }
    }

    public func appliedMigrations() async throws -> [Int] {
        let dialect = backend.dialect
        return try await backend.write { connection in
            try await connection.query(dialect.render(Migrations.bookkeeping), [])
            return try await connection.query("SELECT version FROM schema_migrations ORDER BY version", []).map {
                Int(try $0.int("version"))
            }
        }
    }

    public var workGeneration: UInt64 { backend.workGeneration }

    public func waitForWork(timeout: Duration, since generation: UInt64?) async {
        await backend.waitForWork(timeout: timeout, since: generation)
    }
}

/// Exposes how many group commits a store made (for tests, benchmarks and metrics).
public protocol GroupCommitting {
    /// Enqueue transactions committed, and the messages they carried.
    var enqueueCommits: (batches: Int, items: Int) { get }
    /// Settlement transactions committed, and the settlements they carried.
    var settlementCommits: (batches: Int, items: Int) { get }
}

extension SQLStore: GroupCommitting {
    public var enqueueCommits: (batches: Int, items: Int) { enqueues.statistics }
    public var settlementCommits: (batches: Int, items: Int) { settlements.statistics }
}
