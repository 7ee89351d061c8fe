import Foundation

extension SQLStore {
    public func enqueue(_ message: NewMessage) async throws -> EnqueueResult {
        try await enqueues.submit(PendingEnqueue(message))
    }

    public func settle(_ settlement: Settlement) async throws -> MessageRecord {
        try await settlements.submit(settlement)
    }

    public func claim(limit: Int, owner: String, lease: Duration) async throws -> [ClaimedMessage] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let sql = queries.claim
        let rows = try await backend.writeStatement(
            sql, [.text(owner), .text(token), .integer(SQLTime.micros(lease)), .integer(Int64(limit))])
        let claimed = try rows.map { row in
            let record = try row.messageRecord()
            return ClaimedMessage(message: record, mime: row.bytes("mime") ?? [], lease: Lease(messageID: record.id, token: token))
        }
        // RETURNING gives rows in no particular order; hand them out in claim order.
        return claimed.sorted {
            ($0.message.priority, $0.message.nextAttemptAt, $0.message.id) < ($1.message.priority, $1.message.nextAttemptAt, $1.message.id)
        }
    }

    public func extendLeases(_ leases: [Lease], by duration: Duration) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let sql = queries.extendLeases.with(Queries.repeated(queries.leaseRow, leases.count))
        let binds = leases.flatMap { [SQLValue.integer($0.messageID), .text($0.token)] } + [.integer(SQLTime.micros(duration))]
        let rows = try await backend.writeStatement(sql, binds)
        return Set(try rows.map { try $0.int("id") })
    }

    public func release(_ leases: [Lease]) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let sql = queries.release.with(Queries.repeated(queries.leaseRow, leases.count))
        let binds = leases.flatMap { [SQLValue.integer($0.messageID), .text($0.token)] }
        let rows = try await backend.writeStatement(sql, binds)
        return Set(try rows.map { try $0.int("id") })
    }

    public func sweep() async throws -> SweepResult {
        let queries = self.queries
        let retention = SQLTime.micros(options.idempotencyRetention)
        return try await backend.write { connection in
            let reclaimed = try await connection.query(queries.reclaimExpired, [])
            var attempts: [SQLValue] = []
            var events: [SQLValue] = []
            for row in reclaimed {
                let id = try row.int("id")
                attempts += [.integer(id), .integer(try row.int("attempts")), row["account_id"]]
                if try row.text("status") == MessageStatus.failed.rawValue {
                    events += [.text("message.failed"), .integer(id), row["account_id"], .text(#"{"error_code":"store.lease_expired"}"#)]
                }
            }
            if !attempts.isEmpty {
                try await connection.query(
                    queries.dialect.render(
                        """
                        INSERT INTO attempts (message_id, number, outcome, account_id, started_at, finished_at, error_class,
                            error_code, error_message, recipients)
                        VALUES \(Queries.valuesList(rows: attempts.count / 3, cells: ["?", "?", "'lease_expired'", "CAST(? AS BIGINT)", "{now}", "{now}", "'timeout'", "'store.lease_expired'", "'the worker stopped before reporting'", "'[]'"]))
                        """),
                    attempts)
            }
            let expired = try await connection.query(queries.expire, []).map { try $0.int("id") }
            events += expired.flatMap {
                [SQLValue.text("message.failed"), .integer($0), .null, .text(#"{"error_code":"message.expired"}"#)]
            }
            if !events.isEmpty {
                try await connection.query(queries.insertEvents.with(Queries.repeated(queries.eventRow, events.count / 4)), events)
            }
            let forgotten = try await connection.query(queries.forgetIdempotencyKeys, [.integer(retention)]).count
            return SweepResult(reclaimed: try reclaimed.map { try $0.int("id") }, expired: expired, forgottenIdempotencyKeys: forgotten)
        }
    }
}
