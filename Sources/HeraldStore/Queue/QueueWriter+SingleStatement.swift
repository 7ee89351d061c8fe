import Foundation

/// On PostgreSQL a batch is one statement: data-modifying CTEs insert the messages, their lookup
/// rows and the notification, or settle the messages and record their attempts, atomically and
/// in one round trip instead of five or six (each of which costs about a millisecond here).
///
/// Each column of the batch is one array parameter, which `unnest` turns back into rows. The
/// statement's text is then the same for every batch: PostgreSQL parses and plans a short
/// constant statement, where a `VALUES` list of a batch's rows cost more to parse and plan than
/// to execute. SQLite's CTEs cannot write; there each statement is a cheap call on the same machine.
extension QueueWriter {
    /// Whether `commit(enqueues:)` may use the single statement for this batch: the dialect allows
    /// it and no message carries an idempotency key (those need a lookup first).
    func canEnqueueInOneStatement(_ batch: [PendingEnqueue]) -> Bool {
        queries.dialect.writableCTEs && batch.count <= 1000 && batch.allSatisfy { $0.message.idempotency == nil }
    }

    func enqueueInOneStatement(_ batch: [PendingEnqueue]) async throws -> [Result<EnqueueResult, any Error>] {
        var recipients: (uids: [String?], kinds: [String?], addresses: [String?]) = ([], [], [])
        var tags: (uids: [String?], tags: [String?]) = ([], [])
        var positionByUID: [String: Int] = [:]
        positionByUID.reserveCapacity(batch.count)
        for (position, message) in batch.enumerated() {
            positionByUID[message.uid] = position
            for recipient in message.recipients {
                recipients.uids.append(message.uid)
                recipients.kinds.append(recipient.kind)
                recipients.addresses.append(recipient.address)
            }
            for tag in message.tags {
                tags.uids.append(message.uid)
                tags.tags.append(tag)
            }
        }
        let binds =
            try SQLArray.columns(of: batch.map(\.row), kinds: BatchColumns.messageKinds)
            + [
                .array(.texts(recipients.uids)), .array(.texts(recipients.kinds)), .array(.texts(recipients.addresses)),
                .array(.texts(tags.uids)), .array(.texts(tags.tags)),
            ]
        let inserted = try await backend.writeStatement(queries.oneStatementEnqueue, binds)
        var results = [Result<EnqueueResult, any Error>](
            repeating: .failure(StoreError(.database, "the database did not return every inserted message")), count: batch.count)
        for row in inserted {
            guard let position = positionByUID[try row.text("uid")] else { continue }
            results[position] = .success(.created(try Self.record(batch[position].message, row: row)))
        }
        return results
    }

    func settleInOneStatement(_ batch: [Settlement]) async throws -> [Result<MessageRecord, any Error>] {
        let rows = batch.map { settlement in
            let report = settlement.report
            return Self.settleBinds(settlement) + [
                .text(Self.outcome(settlement).rawValue), SQLValue(report.startedAt), SQLValue(report.errorClass),
                SQLValue(report.errorCode), SQLValue(report.errorMessage), SQLValue(report.smtpCode), SQLValue(report.enhancedCode),
                .text(JSONText.encode(report.recipients)),
                .text(JSONText.encode(["error_code": report.errorCode ?? "", "error_class": report.errorClass ?? ""])),
            ]
        }
        let settledRows = try await backend.writeStatement(
            queries.oneStatementSettle, try SQLArray.columns(of: rows, kinds: BatchColumns.settleKinds))
        var settled: [Int64: MessageRecord] = [:]
        for row in settledRows {
            let record = try row.messageRecord()
            settled[record.id] = record
        }
        return batch.map { settlement in
            settled[settlement.lease.messageID].map { .success($0) } ?? .failure(Self.leaseLost(settlement.lease.messageID))
        }
    }
}

/// The kinds of a batch's columns, for `SQLArray.columns(of:kinds:)`.
enum BatchColumns {
    /// The kinds of the 21 columns of `PendingEnqueue.row`, in order.
    static let messageKinds: [SQLArray.Kind] = [
        .text, .text, .integer, .text, .text, .text, .text, .text, .text, .text, .text, .text, .blob, .text, .text, .integer,
        .integer, .integer, .integer, .text, .text,
    ]
    /// The kinds of the 8 columns of `settleBinds` and the 9 attempt columns after them, in order.
    static let settleKinds: [SQLArray.Kind] = [
        .integer, .text, .text, .integer, .integer, .text, .text, .text, .text, .integer, .text, .text, .text, .integer, .text, .text,
        .text,
    ]
}
