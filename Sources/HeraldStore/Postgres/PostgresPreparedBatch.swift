import PostgresNIO

/// The queue's busiest statements, which PostgreSQL parses and plans once per connection and
/// then only binds and executes. Sent unnamed, the batch statements cost PostgreSQL three times
/// as much to parse and plan as to execute (about 1 ms against 0.35 ms each, from the server's
/// statement log under `scripts/bench queue`).
///
/// `PostgresBackend.writeStatement` recognises these texts; every other statement goes unnamed.
/// The parameter types come from the first execution's binds, all typed arrays or non-NULL values.
protocol PostgresPreparedBatch: PostgresPreparedStatement where Row == PostgresRow {
    init(binds: [SQLValue])
    var binds: [SQLValue] { get }
}

extension PostgresPreparedBatch {
    func makeBindings() throws -> PostgresBindings { PostgresBackend.Connection.bindings(binds) }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }

    func execute(on connection: PostgresConnection, logger: Logger) async throws -> [SQLRow] {
        try await PostgresBackend.Connection.rows(from: connection.execute(self, logger: logger))
    }
}

extension Queries {
    static let postgres = Queries(dialect: .postgres)
}

/// Enqueues a batch (`QueueWriter.enqueueInOneStatement`).
struct PreparedEnqueue: PostgresPreparedBatch {
    static let name = "herald_enqueue_batch_1"
    static let sql = PostgresBackend.Connection.numbered(Queries.postgres.oneStatementEnqueue)
    let binds: [SQLValue]
}

/// Settles a batch (`QueueWriter.settleInOneStatement`).
struct PreparedSettle: PostgresPreparedBatch {
    static let name = "herald_settle_batch_1"
    static let sql = PostgresBackend.Connection.numbered(Queries.postgres.oneStatementSettle)
    let binds: [SQLValue]
}

/// Claims a batch (`SQLStore.claim`).
struct PreparedClaim: PostgresPreparedBatch {
    static let name = "herald_claim_1"
    static let sql = PostgresBackend.Connection.numbered(Queries.postgres.claim)
    let binds: [SQLValue]
}

extension PostgresBackend {
    /// The prepared form of a statement, by its text.
    static let preparedBatches: [String: any PostgresPreparedBatch.Type] = [
        Queries.postgres.oneStatementEnqueue: PreparedEnqueue.self,
        Queries.postgres.oneStatementSettle: PreparedSettle.self,
        Queries.postgres.claim: PreparedClaim.self,
    ]
}
