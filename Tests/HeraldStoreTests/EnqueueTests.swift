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
