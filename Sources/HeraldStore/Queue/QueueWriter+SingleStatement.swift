import Foundation

/// On PostgreSQL a batch is one statement: data-modifying CTEs insert the messages, their lookup
/// rows and the notification, or settle the messages and record their attempts, atomically and
/// in one round trip instead of five or six (each of which costs about a millisecond here).
/// SQLite's CTEs cannot write; there each statement is a cheap call on the same machine.
extension QueueWriter {
    /// Whether `commit(enqueues:)` may use the single statement for this batch: the dialect allows
    /// it, no message carries an idempotency key (those need a lookup first), and the parameters fit.
    func canEnqueueInOneStatement(_ batch: [NewMessage]) -> Bool {
        guard queries.dialect.writableCTEs, batch.count <= 400, batch.allSatisfy({ $0.idempotency == nil }) else { return false }
        let parameters = batch.reduce(0) { $0 + 21 + 3 * $1.allRecipients.count + 2 * $1.tags.count }
        return parameters < 60_000
    }

    func enqueueInOneStatement(_ batch: [NewMessage]) async throws -> [Result<EnqueueResult, any Error>] {
        var binds: [SQLValue] = []
        var recipients: [SQLValue] = []
        var tags: [SQLValue] = []
        var positionByUID: [String: Int] = [:]
        for (position, message) in batch.enumerated() {
            let uid = RowTag.next()
            positionByUID[uid] = position
            binds += Self.insertBinds(message, uid: uid)
            for (kind, addresses) in [("to", message.to), ("cc", message.cc), ("bcc", message.bcc)] {
                for address in addresses { recipients += [.text(uid), .text(kind), .text(address.lowercased())] }
            }
            for tag in Set(message.tags) { tags += [.text(uid), .text(tag)] }
        }
        var sql = queries.oneStatementEnqueueHead.with(Queries.repeated(queries.insertMessageRow, batch.count))
        if !recipients.isEmpty {
            sql += queries.oneStatementRecipients.with(Queries.repeated("(?, ?, ?)", recipients.count / 3))
        }
        if !tags.isEmpty {
            sql += queries.oneStatementTags.with(Queries.repeated("(?, ?)", tags.count / 2))
        }
        sql += queries.oneStatementEnqueueTail
        let allBinds = binds + recipients + tags
        let rows = try await backend.writeStatement(sql, allBinds)
        var results = [Result<EnqueueResult, any Error>](
            repeating: .failure(StoreError(.database, "the database did not return every inserted message")), count: batch.count)
        for row in rows {
            guard let position = positionByUID[try row.text("uid")] else { continue }
            results[position] = .success(.created(try Self.record(batch[position], row: row)))
        }
        return results
    }

    func settleInOneStatement(_ batch: [Settlement]) async throws -> [Result<MessageRecord, any Error>] {
        var binds: [SQLValue] = []
        var reports: [SQLValue] = []
        for settlement in batch {
            binds += Self.settleBinds(settlement)
            let report = settlement.report
            reports += [
                .integer(settlement.lease.messageID), .text(Self.outcome(settlement).rawValue), SQLValue(report.accountID),
                SQLValue(report.startedAt), SQLValue(report.errorClass), SQLValue(report.errorCode), SQLValue(report.errorMessage),
                SQLValue(report.smtpCode), SQLValue(report.enhancedCode), SQLValue(report.reply), .text(Self.encode(report.recipients)),
                .text(JSONText.encode(["error_code": report.errorCode ?? "", "error_class": report.errorClass ?? ""])),
            ]
        }
        let sql = queries.oneStatementSettle.with(
            Queries.repeated(queries.settleRow, batch.count), Queries.repeated(queries.oneStatementReportRow, batch.count))
        let rows = try await backend.writeStatement(sql, binds + reports)
        var settled: [Int64: MessageRecord] = [:]
        for row in rows {
            let record = try row.messageRecord()
            settled[record.id] = record
        }
        return batch.map { settlement in
            settled[settlement.lease.messageID].map { .success($0) } ?? .failure(Self.leaseLost(settlement.lease.messageID))
        }
    }
}
