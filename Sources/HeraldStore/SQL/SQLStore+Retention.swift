import Foundation

/// Retention: nothing is deleted by delivery (DESIGN.md section 4); finished messages leave only
/// through this explicit clean-up.
extension SQLStore {
    public func pruneMessages(olderThan age: Duration, limit: Int) async throws -> Int {
        guard age >= options.idempotencyRetention else {
            // An idempotency key still answered with its message must find that message.
            throw StoreError(
                .invalidArgument,
                "the age must be at least the idempotency window (\(options.idempotencyRetention.components.seconds / 3600)h): "
                    + "an Idempotency-Key still answers with its message that long")
        }
        let dialect = backend.dialect
        // Old finished messages, oldest first, by the created_at index. Locked (PostgreSQL) so
        // that a retry through the API, which makes a failed message pending again, either comes
        // first and keeps it or waits and finds it gone.
        let select = dialect.render(
            """
            SELECT id, to_addresses, cc_addresses, bcc_addresses, tags FROM messages
            WHERE created_at < {now} - ? AND status IN ('success', 'failed', 'cancelled')
            ORDER BY created_at \(Queries.limitParameter){for_update}
            """)
        let binds: [SQLValue] = [.integer(SQLTime.micros(age)), .integer(Int64(max(1, limit)))]
        return try await backend.write { connection in
            let rows = try await connection.query(select, binds)
            guard !rows.isEmpty else { return 0 }
            let ids = try rows.map { SQLValue.integer(try $0.int("id")) }
            let list = "(" + Array(repeating: "?", count: ids.count).joined(separator: ", ") + ")"
            for row in rows {
                let recipients = ["to_addresses", "cc_addresses", "bcc_addresses"].flatMap { JSONText.strings(row.optionalText($0)) }
                try await QueueWriter<Backend>.deleteLookupRows(
                    of: try row.int("id"), recipients: recipients, tags: JSONText.strings(row.optionalText("tags")), on: connection)
            }
            for table in ["attempts", "events", "sandbox_captures"] {
                try await connection.query("DELETE FROM \(table) WHERE message_id IN \(list)", ids)
            }
            try await connection.query("DELETE FROM messages WHERE id IN \(list)", ids)
            return rows.count
        }
    }
}
