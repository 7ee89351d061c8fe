import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

/// `pruneMessages`, the one clean-up: finished messages past an age go with everything that
/// points at them; nothing else is touched.
@Suite("Retention")
struct RetentionTests {
    /// Moves messages' creation `days` into the past, as if they had waited there.
    static func backdate(_ store: any Store, _ ids: [Int64], days: Int64) async throws {
        let shift = SQLValue.integer(days * 86_400_000_000)
        for id in ids {
            let sql = "UPDATE messages SET created_at = created_at - ? WHERE id = ?"
            if let store = store as? SQLiteStore { _ = try await store.backend.writeStatement(sql, [shift, .integer(id)]) }
            if let store = store as? PostgresStore { _ = try await store.backend.writeStatement(sql, [shift, .integer(id)]) }
        }
    }

    /// Claims the message and settles it as `kind`, with an attempt.
    static func finish(_ store: any Store, _ id: Int64, _ kind: Settlement.Kind) async throws {
        let claimed = try await store.claim(limit: 10, owner: "w", lease: .seconds(60))
        let lease = try #require(claimed.first { $0.message.id == id }).lease
        _ = try await store.settle(Settlement(lease: lease, kind: kind, report: deliveredReport()))
        try await store.release(claimed.filter { $0.message.id != id }.map(\.lease))
    }

    @Test(arguments: StoreBackendKind.allCases)
    func oldFinishedMessagesGoWithEverythingThatPointsAtThemAndNothingElseDoes(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let delivered = try await store.enqueue(sampleMessage(to: ["Ann@Example.com"], tags: ["t1", "t2"])).message.id
            try await Self.finish(store, delivered, .delivered)
            let failed = try await store.enqueue(sampleMessage(subject: "failed", tags: ["t1"])).message.id
            try await Self.finish(store, failed, .failed)
            let waiting = try await store.enqueue(sampleMessage(subject: "waiting", tags: ["t1"])).message.id
            let recent = try await store.enqueue(sampleMessage(to: ["Ann@Example.com"], tags: ["t1"])).message.id
            try await Self.finish(store, recent, .delivered)
            try await Self.backdate(store, [delivered, failed, waiting], days: 10)

            #expect(try await store.pruneMessages(olderThan: .seconds(5 * 86_400), limit: 1) == 1, "a batch stops at its limit")
            #expect(try await store.message(id: delivered) == nil, "oldest first")
            #expect(try await store.pruneMessages(olderThan: .seconds(5 * 86_400), limit: 10) == 1)
            #expect(try await store.pruneMessages(olderThan: .seconds(5 * 86_400), limit: 10) == 0)

            #expect(try await store.message(id: failed) == nil)
            #expect(try await store.message(id: waiting)?.status == .pending, "an unfinished message is kept, however old")
            #expect(try await store.message(id: recent)?.status == .success, "a recent one is kept")
            for gone in [delivered, failed] {
                #expect(try await store.attempts(messageID: gone).isEmpty)
                #expect(try await store.messageBytes(id: gone) == nil)
                for table in ["message_recipients", "message_tags", "events", "sandbox_captures"] {
                    let left = try await rawRows(store, "SELECT message_id FROM \(table) WHERE message_id = ?", [.integer(gone)])
                    #expect(left.isEmpty, "\(table) still points at message \(gone)")
                }
            }
            let ann = try await store.messages(matching: MessageFilter(recipient: "ann@example.com"), limit: 10, cursor: nil)
            #expect(ann.messages.map(\.id) == [recent], "the recipient lookup lost only the pruned message")
            let tagged = try await store.messages(matching: MessageFilter(tag: "t1"), limit: 10, cursor: nil)
            #expect(Set(tagged.messages.map(\.id)) == [waiting, recent])
            #expect(try await store.attempts(messageID: recent).count == 1)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func anAgeInsideTheIdempotencyWindowIsRefused(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let id = try await store.enqueue(sampleMessage()).message.id
            try await Self.finish(store, id, .delivered)
            do {
                _ = try await store.pruneMessages(olderThan: .seconds(3_600), limit: 10)
                Issue.record("an hour is inside the 24 h idempotency window")
            } catch let error as StoreError {
                #expect(error.code == .invalidArgument)
            }
            #expect(try await store.message(id: id) != nil)
        }
    }
}
