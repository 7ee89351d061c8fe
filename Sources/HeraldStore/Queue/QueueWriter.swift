import Foundation

/// The batched writes behind `Store.enqueue` and `Store.settle`: each call commits a whole
/// group in one transaction and answers every member.
struct QueueWriter<Backend: SQLBackend>: Sendable {
    let backend: Backend
    let queries: Queries
    let options: StoreOptions

    /// Commits the batch together; if that fails and the batch has several members, commits each
    /// alone, so that one bad message cannot fail the others.
    func commit(enqueues batch: [PendingEnqueue]) async -> [Result<EnqueueResult, any Error>] {
        let results = await commitEach(batch)
        if results.contains(where: { if case .success(.created) = $0 { true } else { false } }) { backend.workArrived() }
        return results
    }

    private func commitEach(_ batch: [PendingEnqueue]) async -> [Result<EnqueueResult, any Error>] {
        do {
            if canEnqueueInOneStatement(batch) { return try await enqueueInOneStatement(batch) }
            return try await backend.write { try await insert(batch, on: $0) }
        } catch {
            guard batch.count > 1 else { return [.failure(error)] }
            var results: [Result<EnqueueResult, any Error>] = []
            for message in batch {
                do { results += try await backend.write { try await insert([message], on: $0) } } catch { results.append(.failure(error)) }
            }
            return results
        }
    }

    func commit(settlements batch: [Settlement]) async -> [Result<MessageRecord, any Error>] {
        // A lease settles once: a second settlement of the same message in one batch is refused
        // like any settlement after the first.
        var seen: Set<Int64> = []
        let unique = batch.filter { seen.insert($0.lease.messageID).inserted }
        let results: [Result<MessageRecord, any Error>]
        do {
            if queries.dialect.writableCTEs {
                results = try await settleInOneStatement(unique)
            } else {
                results = try await backend.write { try await settle(unique, on: $0) }
            }
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
        guard unique.count < batch.count else { return results }
        var answered: Set<Int64> = []
        var iterator = results.makeIterator()
        return batch.map { settlement in
            guard answered.insert(settlement.lease.messageID).inserted, let result = iterator.next() else {
                return .failure(Self.leaseLost(settlement.lease.messageID))
            }
            return result
        }
    }

    /// The record of a message just inserted: what was given plus what the database decided (id,
    /// status, times). Decoding the whole row back would cost more than the insert.
    static func record(_ message: NewMessage, row: SQLRow) throws -> MessageRecord {
        guard let status = MessageStatus(rawValue: try row.text("status")) else {
            throw StoreError(.database, "a message has an unknown status")
        }
        let createdAt = try row.date("created_at")
        return MessageRecord(
            id: try row.int("id"), requestID: message.requestID, apiKeyID: message.apiKeyID,
            idempotencyKey: message.idempotency?.key, channel: message.channel, from: message.from, to: message.to, cc: message.cc,
            bcc: message.bcc, subject: message.subject, templateCode: message.templateCode,
            templateVariables: message.templateVariables, messageIDHeader: message.messageIDHeader, fromAccount: message.fromAccount,
            status: status, priority: message.priority, sendAt: message.sendAt.map(SQLTime.rounded),
            expiresAt: message.expiresAt.map(SQLTime.rounded), attempts: 0, maxAttempts: message.maxAttempts,
            nextAttemptAt: try row.date("next_attempt_at"), leaseOwner: nil, leaseUntil: nil, accountID: nil, errorCode: nil,
            errorMessage: nil, smtpReply: nil, tags: message.tags, metadata: message.metadata, createdAt: createdAt,
            updatedAt: createdAt, sentAt: nil)
    }

    /// The 8 values of one row in `Queries.settleRow`.
    static func settleBinds(_ settlement: Settlement) -> [SQLValue] {
        let report = settlement.report
        let (status, delay): (MessageStatus, Int64?) =
            switch settlement.kind {
            case .delivered: (.success, nil)
            case .retry(let after): (.retrying, SQLTime.micros(after))
            case .failed: (.failed, nil)
            }
        let succeeded = status == .success
        return [
            .integer(settlement.lease.messageID), .text(settlement.lease.token), .text(status.rawValue), SQLValue(delay),
            SQLValue(report.accountID), succeeded ? .null : SQLValue(report.errorCode),
            succeeded ? .null : SQLValue(report.errorMessage), SQLValue(report.reply),
        ]
    }

    /// How the attempt of a settlement is recorded.
    static func outcome(_ settlement: Settlement) -> AttemptOutcome {
        if settlement.report.ambiguous { return .ambiguous }
        switch settlement.kind {
        case .delivered: return .success
        case .retry: return .retry
        case .failed: return .failed
        }
    }

    static func leaseLost(_ id: Int64) -> StoreError {
        StoreError(.leaseLost, "message \(id) is no longer held by this lease; its state was not changed")
    }

    // MARK: Enqueue

    private struct IdempotencyScope: Hashable {
        var scope: Int64
        var key: String
    }

    private func insert(_ batch: [PendingEnqueue], on connection: any SQLConnection) async throws -> [Result<EnqueueResult, any Error>] {
        var results = [Result<EnqueueResult, any Error>?](repeating: nil, count: batch.count)
        // Idempotency keys already stored decide some members before anything is inserted.
        var firstInBatch: [IdempotencyScope: Int] = [:]
        var followers: [Int: Int] = [:]  // a later member with the same key -> the first one
        let keyed = batch.indices.compactMap { index in batch[index].message.idempotency.map { (index, $0) } }
        if !keyed.isEmpty {
            let known = try await storedKeys(Set(keyed.map(\.1.key)), on: connection)
            for (index, idempotency) in keyed {
                let scope = IdempotencyScope(scope: batch[index].message.apiKeyID ?? 0, key: idempotency.key)
                if let stored = known[scope] {
                    results[index] = try await resolve(idempotency, against: stored, on: connection)
                } else if let first = firstInBatch[scope] {
                    followers[index] = first
                } else {
                    firstInBatch[scope] = index
                }
            }
        }
        let toInsert = batch.indices.filter { results[$0] == nil && followers[$0] == nil }
        // The record of each member inserted, by its place in the batch.
        var inserted = [MessageRecord?](repeating: nil, count: batch.count)
        let chunkSize = 400
        for start in stride(from: 0, to: toInsert.count, by: chunkSize) {
            let chunk = Array(toInsert[start..<min(start + chunkSize, toInsert.count)])
            try await insertMessages(of: batch, chunk, into: &inserted, on: connection)
        }
        try await insertRecipientsAndTags(of: batch, inserted, on: connection)
        // Claim the idempotency keys. On PostgreSQL another process may have taken one since the
        // lookup above: then its message wins and ours is taken back, inside this transaction.
        for (scope, index) in firstInBatch {
            guard let record = inserted[index], let idempotency = batch[index].message.idempotency else { continue }
            let claimed = try await connection.query(
                queries.dialect.render(
                    """
                    INSERT INTO idempotency_keys (scope, idem_key, request_hash, message_id, created_at)
                    VALUES (?, ?, ?, ?, {now}) ON CONFLICT (scope, idem_key) DO NOTHING RETURNING scope
                    """),
                [.integer(scope.scope), .text(scope.key), .text(idempotency.requestHash), .integer(record.id)])
            if claimed.isEmpty {
                try await removeMessage(record.id, batch[index].message, on: connection)
                inserted[index] = nil
                let stored = try await storedKeys([scope.key], on: connection)[scope]
                results[index] = try await resolve(idempotency, against: stored, on: connection)
            } else {
                results[index] = .success(.created(record))
            }
        }
        for (index, record) in inserted.enumerated() where results[index] == nil {
            if let record { results[index] = .success(.created(record)) }
        }
        for (index, first) in followers {
            results[index] = followerResult(
                batch[index].message.idempotency, first: batch[first].message.idempotency, firstResult: results[first])
        }
        return results.map { $0 ?? .failure(StoreError(.database, "a message was left without a result")) }
    }

    private struct StoredKey {
        var requestHash: String
        var messageID: Int64
    }

    /// Live (unexpired) idempotency keys among `keys`, by scope.
    private func storedKeys(_ keys: Set<String>, on connection: any SQLConnection) async throws -> [IdempotencyScope: StoredKey] {
        let keys = Array(keys)
        let rows = try await connection.query(
            queries.dialect.render(
                """
                SELECT scope, idem_key, request_hash, message_id FROM idempotency_keys
                WHERE idem_key IN (\(Queries.placeholders(keys.count))) AND created_at >= {now} - ?
                """),
            keys.map { .text($0) } + [.integer(SQLTime.micros(options.idempotencyRetention))])
        var stored: [IdempotencyScope: StoredKey] = [:]
        for row in rows {
            stored[IdempotencyScope(scope: try row.int("scope"), key: try row.text("idem_key"))] =
                StoredKey(requestHash: try row.text("request_hash"), messageID: try row.int("message_id"))
        }
        // An expired key is forgotten now, so that it can be used again.
        try await connection.query(
            queries.dialect.render(
                "DELETE FROM idempotency_keys WHERE idem_key IN (\(Queries.placeholders(keys.count))) AND created_at < {now} - ?"),
            keys.map { .text($0) } + [.integer(SQLTime.micros(options.idempotencyRetention))])
        return stored
    }

    private func resolve(
        _ idempotency: Idempotency, against stored: StoredKey?, on connection: any SQLConnection
    ) async throws
        -> Result<EnqueueResult, any Error>
    {
        guard let stored else { return .failure(StoreError(.database, "an idempotency key vanished while it was being used")) }
        guard stored.requestHash == idempotency.requestHash else { return .failure(Self.conflict) }
        let rows = try await connection.query("SELECT \(Queries.messageColumns) FROM messages WHERE id = ?", [.integer(stored.messageID)])
        guard let row = rows.first else { return .failure(StoreError(.notFound, "the original message of this idempotency key is gone")) }
        return .success(.duplicate(try row.messageRecord()))
    }

    private func followerResult(
        _ mine: Idempotency?, first: Idempotency?, firstResult: Result<EnqueueResult, any Error>?
    )
        -> Result<EnqueueResult, any Error>
    {
        guard mine?.requestHash == first?.requestHash else { return .failure(Self.conflict) }
        switch firstResult {
        case .success(let result): return .success(.duplicate(result.message))
        case .failure(let error): return .failure(error)
        case nil: return .failure(StoreError(.database, "a message was left without a result"))
        }
    }

    private static var conflict: StoreError {
        StoreError(
            .idempotencyConflict, "this Idempotency-Key was already used with a different request; use a new key for a new request")
    }

    /// Inserts the members of `batch` at `indices` and sets their records in `inserted`.
    private func insertMessages(
        of batch: [PendingEnqueue], _ indices: [Int], into inserted: inout [MessageRecord?], on connection: any SQLConnection
    ) async throws {
        let sql = queries.insertMessages.with(Queries.repeated(queries.insertMessageRow, indices.count))
        var binds: [SQLValue] = []
        binds.reserveCapacity(indices.count * 21)
        var indexByUID: [String: Int] = [:]
        indexByUID.reserveCapacity(indices.count)
        for index in indices {
            indexByUID[batch[index].uid] = index
            binds += batch[index].row
        }
        let rows: [SQLRow]
        if queries.dialect.cheapReturning {
            rows = try await connection.query(sql, binds)
        } else {
            // The write transaction is the only one, and AUTOINCREMENT numbers only upwards: the
            // rows above the mark are this insert's.
            let mark = try await connection.query(queries.messagesMark, []).first?.int("seq") ?? 0
            try await connection.query(sql, binds)
            rows = try await connection.query(queries.messagesAboveMark, [.integer(mark)])
        }
        // The record is built from what was inserted plus what the database decided; decoding the
        // whole row back would cost more than the insert.
        var found = 0
        for row in rows {
            guard let index = indexByUID[try row.text("uid")] else { continue }
            inserted[index] = try Self.record(batch[index].message, row: row)
            found += 1
        }
        guard found == indices.count else { throw StoreError(.database, "the database did not return every inserted message") }
    }

    /// Index rows for filtering by recipient and tag, for the members of `batch` inserted.
    private func insertRecipientsAndTags(
        of batch: [PendingEnqueue], _ inserted: [MessageRecord?], on connection: any SQLConnection
    ) async throws {
        var recipients: [SQLValue] = []
        var tags: [SQLValue] = []
        recipients.reserveCapacity(batch.count * 3)
        tags.reserveCapacity(batch.count * 2)
        for (message, record) in zip(batch, inserted) {
            guard let id = record?.id else { continue }
            for recipient in message.recipients {
                recipients.append(.integer(id))
                recipients.append(.text(recipient.kind))
                recipients.append(.text(recipient.address))
            }
            for tag in message.tags {
                tags.append(.integer(id))
                tags.append(.text(tag))
            }
        }
        for chunk in recipients.chunked(by: 3 * 3000) {
            try await connection.query(
                "INSERT INTO message_recipients (message_id, kind, address) VALUES "
                    + Queries.valuesList(rows: chunk.count / 3, cells: ["?", "?", "?"]) + " ON CONFLICT DO NOTHING",
                chunk)
        }
        for chunk in tags.chunked(by: 2 * 3000) {
            try await connection.query(
                "INSERT INTO message_tags (message_id, tag) VALUES " + Queries.valuesList(rows: chunk.count / 2, cells: ["?", "?"]), chunk)
        }
    }

    /// Takes back a message inserted in this transaction, with its lookup rows.
    private func removeMessage(_ id: Int64, _ message: NewMessage, on connection: any SQLConnection) async throws {
        try await Self.deleteLookupRows(of: id, recipients: message.allRecipients, tags: message.tags, on: connection)
        try await connection.query("DELETE FROM messages WHERE id = ?", [.integer(id)])
    }

    /// Deletes a message's recipient and tag lookup rows. They are keyed by address (lower-cased,
    /// as `insertRecipientsAndTags` wrote them) and tag, so they are found from the message's own lists.
    static func deleteLookupRows(of id: Int64, recipients: [String], tags: [String], on connection: any SQLConnection) async throws {
        for address in Set(recipients.map { $0.lowercased() }) {
            try await connection.query(
                "DELETE FROM message_recipients WHERE address = ? AND message_id = ?", [.text(address), .integer(id)])
        }
        for tag in Set(tags) {
            try await connection.query("DELETE FROM message_tags WHERE tag = ? AND message_id = ?", [.text(tag), .integer(id)])
        }
    }

    // MARK: Settle

    private func settle(_ batch: [Settlement], on connection: any SQLConnection) async throws -> [Result<MessageRecord, any Error>] {
        let sql = queries.settle.with(Queries.repeated(queries.settleRow, batch.count))
        var binds: [SQLValue] = []
        for settlement in batch { binds += Self.settleBinds(settlement) }
        var settled: [Int64: MessageRecord] = [:]
        for row in try await connection.query(sql, binds) {
            let record = try row.messageRecord()
            settled[record.id] = record
        }
        var attempts: [SQLValue] = []
        var events: [SQLValue] = []
        for settlement in batch {
            guard let record = settled[settlement.lease.messageID] else { continue }
            let report = settlement.report
            let outcome = Self.outcome(settlement)
            attempts += [
                .integer(record.id), .integer(Int64(record.attempts)), .text(outcome.rawValue), SQLValue(report.accountID),
                SQLValue(report.startedAt), SQLValue(report.errorClass), SQLValue(report.errorCode), SQLValue(report.errorMessage),
                SQLValue(report.smtpCode), SQLValue(report.enhancedCode), SQLValue(report.reply), .text(JSONText.encode(report.recipients)),
            ]
            if record.status == .failed {
                events += [
                    .text("message.failed"), .integer(record.id), SQLValue(report.accountID),
                    .text(JSONText.encode(["error_code": report.errorCode ?? "", "error_class": report.errorClass ?? ""])),
                ]
            }
        }
        if !attempts.isEmpty {
            try await connection.query(queries.insertAttempts.with(Queries.repeated(queries.attemptRow, attempts.count / 12)), attempts)
        }
        if !events.isEmpty {
            try await connection.query(queries.insertEvents.with(Queries.repeated(queries.eventRow, events.count / 4)), events)
        }
        return batch.map { settlement in
            if let record = settled[settlement.lease.messageID] { return .success(record) }
            return .failure(Self.leaseLost(settlement.lease.messageID))
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(by size: Int) -> [[Element]] {
        if count <= size { return isEmpty ? [] : [self] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
