import Foundation

extension SQLStore {
    public func message(id: Int64) async throws -> MessageRecord? {
        try await backend.read { connection in
            try await connection.query("SELECT \(Queries.messageColumns) FROM messages WHERE id = ?", [.integer(id)]).first?.messageRecord()
        }
    }

    public func messageBytes(id: Int64) async throws -> [UInt8]? {
        try await backend.read { connection in
            try await connection.query("SELECT mime FROM messages WHERE id = ?", [.integer(id)]).first?.bytes("mime")
        }
    }

    public func attempts(messageID: Int64) async throws -> [AttemptRecord] {
        try await backend.read { connection in
            try await connection.query("SELECT * FROM attempts WHERE message_id = ? ORDER BY number, id", [.integer(messageID)])
                .map { try $0.attemptRecord() }
        }
    }

    public func messages(matching filter: MessageFilter, limit: Int, cursor: String?) async throws -> MessagePage {
        let limit = min(max(limit, 1), 1000)
        var conditions: [String] = []
        var binds: [SQLValue] = []
        if let cursor {
            guard let data = Data(base64Encoded: cursor), let before = Int64(String(decoding: data, as: UTF8.self)) else {
                throw StoreError(.invalidArgument, "the cursor is not one this server handed out")
            }
            conditions.append("id < ?")
            binds.append(.integer(before))
        }
        if !filter.statuses.isEmpty {
            let statuses = filter.statuses.map(\.rawValue).sorted()
            conditions.append("status IN (\(Queries.placeholders(statuses.count)))")
            binds += statuses.map { .text($0) }
        }
        if let recipient = filter.recipient {
            conditions.append("id IN (SELECT message_id FROM message_recipients WHERE address = ?)")
            binds.append(.text(recipient.lowercased()))
        }
        if let tag = filter.tag {
            conditions.append("id IN (SELECT message_id FROM message_tags WHERE tag = ?)")
            binds.append(.text(tag))
        }
        if let templateCode = filter.templateCode {
            conditions.append("template_code = ?")
            binds.append(.text(templateCode))
        }
        if let accountID = filter.accountID {
            conditions.append("account_id = ?")
            binds.append(.integer(accountID))
        }
        if let from = filter.createdFrom {
            conditions.append("created_at >= ?")
            binds.append(SQLValue(from))
        }
        if let before = filter.createdBefore {
            conditions.append("created_at < ?")
            binds.append(SQLValue(before))
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Queries.messageColumns) FROM messages \(whereClause) ORDER BY id DESC \(Queries.limitParameter)"
        let finalBinds = binds + [.integer(Int64(limit + 1))]
        let rows = try await backend.read { try await $0.query(sql, finalBinds) }
        var messages = try rows.map { try $0.messageRecord() }
        var nextCursor: String?
        if messages.count > limit {
            messages.removeLast(messages.count - limit)
            nextCursor = messages.last.map { Data(String($0.id).utf8).base64EncodedString() }
        }
        return MessagePage(messages: messages, nextCursor: nextCursor)
    }

    public func cancel(messageID: Int64) async throws -> MessageRecord {
        let queries = self.queries
        return try await backend.write { connection in
            if let row = try await connection.query(queries.cancel, [.integer(messageID)]).first {
                try await connection.query(
                    queries.dialect.render(
                        "INSERT INTO events (kind, message_id, data, created_at) VALUES ('message.cancelled', ?, '{}', {now})"),
                    [.integer(messageID)])
                return try row.messageRecord()
            }
            guard
                let status = try await connection.query("SELECT status FROM messages WHERE id = ?", [.integer(messageID)]).first?.text(
                    "status")
            else { throw StoreError(.notFound, "there is no message \(messageID)") }
            throw StoreError(
                .invalidState, "message \(messageID) is \(status); only pending, scheduled or retrying messages can be cancelled")
        }
    }

    public func requeue(messageID: Int64, extraAttempts: Int) async throws -> MessageRecord {
        let dialect = backend.dialect
        let backend = self.backend
        let extra = SQLValue.integer(Int64(max(1, extraAttempts)))
        let requeued = try await backend.write { connection in
            let rows = try await connection.query(
                dialect.render(
                    """
                    UPDATE messages SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,
                        next_attempt_at = {now}, send_at = NULL, expires_at = NULL,
                        max_attempts = CASE WHEN max_attempts < attempts + ? THEN attempts + ? ELSE max_attempts END,
                        updated_at = {now}
                    WHERE id = ? AND status IN ('failed', 'cancelled', 'retrying', 'scheduled')
                    RETURNING *
                    """), [extra, extra, .integer(messageID)])
            if let row = rows.first {
                try await connection.query(
                    dialect.render("INSERT INTO events (kind, message_id, data, created_at) VALUES ('message.requeued', ?, '{}', {now})"),
                    [.integer(messageID)])
                return try row.messageRecord()
            }
            guard let status = try await connection.query("SELECT status FROM messages WHERE id = ?", [.integer(messageID)]).first else {
                throw StoreError(.notFound, "there is no message \(messageID)")
            }
            throw StoreError(
                .invalidState,
                "message \(messageID) is \(try status.text("status")); only failed, cancelled, retrying or scheduled messages can be retried"
            )
        }
        backend.workArrived()
        return requeued
    }

    public func stats(window: Duration) async throws -> DeliveryStats {
        let dialect = backend.dialect
        let span = SQLValue.integer(SQLTime.micros(window))
        return try await backend.read { connection in
            var counts: [MessageStatus: Int] = [:]
            for row in try await connection.query(
                dialect.render("SELECT status, COUNT(*) AS n FROM messages WHERE created_at >= {now} - ? GROUP BY status"), [span])
            {
                if let status = MessageStatus(rawValue: try row.text("status")) { counts[status] = Int(try row.int("n")) }
            }
            var errorClasses: [String: Int] = [:]
            for row in try await connection.query(
                dialect.render(
                    """
                    SELECT error_class, COUNT(*) AS n FROM attempts
                    WHERE finished_at >= {now} - ? AND error_class IS NOT NULL GROUP BY error_class
                    """), [span])
            {
                errorClasses[try row.text("error_class")] = Int(try row.int("n"))
            }
            var accounts: [Int64: AccountAttemptCounts] = [:]
            for row in try await connection.query(
                dialect.render(
                    """
                    SELECT account_id, outcome, COUNT(*) AS n FROM attempts
                    WHERE finished_at >= {now} - ? AND account_id IS NOT NULL GROUP BY account_id, outcome
                    """), [span])
            {
                let id = try row.int("account_id")
                var entry = accounts[id] ?? AccountAttemptCounts(succeeded: 0, failed: 0)
                if try row.text("outcome") == AttemptOutcome.success.rawValue {
                    entry.succeeded += Int(try row.int("n"))
                } else {
                    entry.failed += Int(try row.int("n"))
                }
                accounts[id] = entry
            }
            let depth =
                try await connection.query(
                    "SELECT COUNT(*) AS n FROM messages WHERE status IN \(Queries.claimable)", []
                ).first?.int("n") ?? 0
            let succeeded = counts[.success] ?? 0
            let finished = succeeded + (counts[.failed] ?? 0)
            return DeliveryStats(
                countsByStatus: counts,
                successRate: finished == 0 ? nil : Double(succeeded) / Double(finished),
                errorClasses: errorClasses,
                accounts: accounts,
                queueDepth: Int(depth)
            )
        }
    }
}
