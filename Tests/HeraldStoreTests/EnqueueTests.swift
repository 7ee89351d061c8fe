import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Enqueue and idempotency")
struct EnqueueTests {
    @Test(arguments: StoreBackendKind.allCases)
    func enqueuedMessageReadsBackExactly(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let new = sampleMessage(tags: ["welcome", "cn"], templateCode: "test_email")
            guard case .created(let created) = try await store.enqueue(new) else {
                Issue.record("a new message must be created")
                return
            }
            let read = try #require(try await store.message(id: created.id))
            #expect(read == created)
            #expect(read.status == .pending)
            #expect(read.from == new.from)
            #expect(read.to == new.to && read.cc == new.cc && read.bcc == new.bcc)
            #expect(read.subject == "hello" && read.templateCode == "test_email")
            #expect(read.templateVariables == new.templateVariables)
            #expect(read.tags == ["welcome", "cn"])
            #expect(read.metadata == new.metadata, "metadata survives quotes and newlines")
            #expect(read.attempts == 0 && read.maxAttempts == 8)
            #expect(read.leaseOwner == nil && read.sentAt == nil)
            #expect(try await store.messageBytes(id: created.id) == new.mime)
            #expect(try await store.message(id: created.id + 1000) == nil)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func futureSendAtIsScheduled(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let later = try await store.enqueue(sampleMessage(sendAt: Date().addingTimeInterval(3600))).message
            let past = try await store.enqueue(sampleMessage(sendAt: Date().addingTimeInterval(-60))).message
            #expect(later.status == .scheduled)
            #expect(past.status == .pending)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func concurrentEnqueuesShareCommits(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let sqlStore = try #require(store as? any GroupCommitting)
            let before = sqlStore.enqueueCommits.batches
            let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<300 {
                    group.addTask { try await store.enqueue(sampleMessage(subject: "m\(index)")).message.id }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(Set(ids).count == 300, "every caller got its own id")
            let batches = sqlStore.enqueueCommits.batches - before
            #expect(batches < 300, "concurrent enqueues were batched (\(batches) commits for 300 messages)")
            for id in ids.prefix(20) {
                let message = try #require(try await store.message(id: id))
                #expect(message.status == .pending)
            }
            #expect(try await store.stats(window: .seconds(3600)).queueDepth == 300)
        }
    }

    /// Large messages are not all put in one statement: a commit carries at most `maxBatchBytes`
    /// of bodies, and a message too large to share goes alone, stored whole.
    @Test(arguments: StoreBackendKind.allCases)
    func enqueueCommitsStopAtTheirByteLimit(kind: StoreBackendKind) async throws {
        // Two bodies of 30 KB exceed 50 KB: every message must be committed alone, where 40
        // concurrent small ones share commits (see concurrentEnqueuesShareCommits).
        try await withTestStore(kind, options: StoreOptions(maxBatchBytes: 50_000)) { store, _ in
            let sqlStore = try #require(store as? any GroupCommitting)
            let before = sqlStore.enqueueCommits
            let stored = try await withThrowingTaskGroup(of: (Int64, [UInt8]).self) { group in
                for index in 0..<40 {
                    group.addTask {
                        var message = sampleMessage(subject: "large \(index)")
                        message.mime += Array(repeating: UInt8(ascii: "a") + UInt8(index % 26), count: 30_000 + index)
                        return (try await store.enqueue(message).message.id, message.mime)
                    }
                }
                return try await group.reduce(into: [(Int64, [UInt8])]()) { $0.append($1) }
            }
            let after = sqlStore.enqueueCommits
            #expect(after.items - before.items == 40)
            #expect(after.batches - before.batches == 40, "\(after.batches - before.batches) commits for 40 messages")
            for (id, mime) in stored {
                let rows = try await rawRows(store, "SELECT mime FROM messages WHERE id = ?", [.integer(id)])
                #expect(try #require(rows.first).bytes("mime") == mime)
            }
        }
    }

    /// One commit's messages differ in which optional fields they have (on PostgreSQL each
    /// column of a batch is one array, with NULL elements): each reads back as it was given.
    @Test(arguments: StoreBackendKind.allCases)
    func concurrentMixedMessagesReadBackExactly(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let later = Date().addingTimeInterval(3600)
            let messages = (0..<60).map { index in
                NewMessage(
                    requestID: index % 2 == 0 ? "req-\(index)" : nil, from: "sender\(index)@example.com",
                    to: ["To\(index)@Example.com"], cc: index % 3 == 0 ? ["cc\(index)@example.com"] : [],
                    bcc: index % 5 == 0 ? ["bcc\(index)@example.com"] : [], subject: index % 4 == 0 ? nil : "s\(index) 【测试】",
                    templateCode: index % 2 == 1 ? "t\(index % 3)" : nil, templateVariables: index % 2 == 1 ? #"{"n":\#(index)}"# : nil,
                    mime: index % 7 == 0 ? [] : Array("m\(index)\r\n".utf8), messageIDHeader: index % 3 == 1 ? nil : "\(index)@herald",
                    fromAccount: index % 4 == 2 ? "backup" : nil, priority: index % 10, sendAt: index % 6 == 0 ? later : nil,
                    expiresAt: index % 8 == 0 ? later.addingTimeInterval(60) : nil, maxAttempts: 1 + index % 9,
                    tags: index % 2 == 0 ? ["even", "n\(index)"] : [], metadata: index % 3 == 0 ? ["i": "\(index)"] : [:])
            }
            let created = try await withThrowingTaskGroup(of: (Int, MessageRecord).self) { group in
                for (index, message) in messages.enumerated() {
                    group.addTask { (index, try await store.enqueue(message).message) }
                }
                return try await group.reduce(into: [Int: MessageRecord]()) { $0[$1.0] = $1.1 }
            }
            #expect(Set(created.values.map(\.id)).count == messages.count)
            for (index, new) in messages.enumerated() {
                let record = try #require(created[index])
                let read = try #require(try await store.message(id: record.id))
                #expect(read == record, "the record returned by enqueue is what was stored (message \(index))")
                #expect(read.requestID == new.requestID && read.from == new.from && read.to == new.to)
                #expect(read.cc == new.cc && read.bcc == new.bcc && read.subject == new.subject)
                #expect(read.templateCode == new.templateCode && read.templateVariables == new.templateVariables)
                #expect(read.messageIDHeader == new.messageIDHeader && read.fromAccount == new.fromAccount)
                #expect(read.priority == new.priority && read.maxAttempts == new.maxAttempts)
                #expect(read.sendAt == new.sendAt.map(SQLTime.rounded) && read.expiresAt == new.expiresAt.map(SQLTime.rounded))
                #expect(read.status == (new.sendAt == nil ? .pending : .scheduled))
                #expect(read.tags == new.tags && read.metadata == new.metadata)
                #expect(try await store.messageBytes(id: record.id) == new.mime)
            }
            let tagged = try await store.messages(matching: MessageFilter(tag: "even"), limit: 100, cursor: nil)
            #expect(Set(tagged.messages.map(\.id)) == Set((0..<60).filter { $0 % 2 == 0 }.compactMap { created[$0]?.id }))
            let copied = try await store.messages(matching: MessageFilter(recipient: "cc3@example.com"), limit: 10, cursor: nil)
            #expect(copied.messages.map(\.id) == [try #require(created[3]).id])
            let addressed = try await store.messages(matching: MessageFilter(recipient: "to7@example.com"), limit: 10, cursor: nil)
            #expect(addressed.messages.map(\.id) == [try #require(created[7]).id], "recipients are found case-insensitively")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func sameKeySameRequestReturnsTheOriginal(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let key = Idempotency(key: "order-42", requestHash: "hash-a")
            let first = try await store.enqueue(sampleMessage(idempotency: key, apiKeyID: 7))
            let again = try await store.enqueue(sampleMessage(idempotency: key, apiKeyID: 7))
            guard case .created(let original) = first, case .duplicate(let duplicate) = again else {
                Issue.record("expected created then duplicate, got \(first) and \(again)")
                return
            }
            #expect(duplicate.id == original.id)
            #expect(duplicate.idempotencyKey == "order-42")
            // The same key under another API key is another request.
            let otherScope = try await store.enqueue(sampleMessage(idempotency: key, apiKeyID: 8))
            guard case .created(let separate) = otherScope else {
                Issue.record("a key is scoped to its API key")
                return
            }
            #expect(separate.id != original.id)
            #expect(try await store.stats(window: .seconds(3600)).queueDepth == 2)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func sameKeyDifferentRequestIsAConflict(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            _ = try await store.enqueue(sampleMessage(idempotency: Idempotency(key: "k", requestHash: "one")))
            await #expect(throws: StoreError.self) {
                try await store.enqueue(sampleMessage(idempotency: Idempotency(key: "k", requestHash: "two")))
            }
            do {
                _ = try await store.enqueue(sampleMessage(idempotency: Idempotency(key: "k", requestHash: "two")))
            } catch let error as StoreError {
                #expect(error.code == .idempotencyConflict)
            }
            #expect(try await store.stats(window: .seconds(3600)).queueDepth == 1, "the conflicting request stored nothing")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func racingRequestsWithOneKeyCreateOneMessage(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            // Two stores: on PostgreSQL these are separate connection pools, like two API processes.
            let other = try await database.openStore()
            try await withRunningStore(other) { (other: any Store) async throws in
                let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
                    for index in 0..<40 {
                        let target = index.isMultiple(of: 2) ? store : other
                        group.addTask { try await target.enqueue(sampleMessage(idempotency: Idempotency(key: "same", requestHash: "h"))) }
                    }
                    return try await group.reduce(into: [EnqueueResult]()) { $0.append($1) }
                }
                let created = results.filter { if case .created = $0 { true } else { false } }
                #expect(created.count == 1)
                #expect(Set(results.map(\.message.id)).count == 1, "every caller got the one message")
                #expect(try await store.stats(window: .seconds(3600)).queueDepth == 1)
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func idempotencyKeysAreKeptForTheirRetention(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let key = Idempotency(key: "kept", requestHash: "h")
            let original = try await store.enqueue(sampleMessage(idempotency: key)).message
            #expect(try await store.sweep().forgottenIdempotencyKeys == 0, "a fresh key is not forgotten")
            // Age the key past the retention (48 hours by default) as if two days had passed.
            _ = try await rawRows(
                store, "UPDATE idempotency_keys SET created_at = created_at - ? RETURNING scope", [.integer(49 * 3600 * 1_000_000)])
            let reused = try await store.enqueue(sampleMessage(idempotency: key))
            guard case .created(let fresh) = reused else {
                Issue.record("an expired key may be used again")
                return
            }
            #expect(fresh.id != original.id)
        }
    }
}
