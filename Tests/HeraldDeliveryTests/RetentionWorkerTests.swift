import Foundation
import HeraldDelivery
import HeraldTestSupport
import Testing

@testable import HeraldStore

/// A worker given a retention deletes finished messages past it, and only those.
@Suite struct RetentionWorkerTests {
    /// Moves messages' creation `days` into the past, as if they had been sent then.
    static func backdate(_ store: any Store, _ ids: [Int64], days: Int64) async throws {
        let sql = "UPDATE messages SET created_at = created_at - ? WHERE id = ?"
        for id in ids {
            let binds: [SQLValue] = [.integer(days * 86_400_000_000), .integer(id)]
            if let store = store as? SQLiteStore { _ = try await store.backend.writeStatement(sql, binds) }
            if let store = store as? PostgresStore { _ = try await store.backend.writeStatement(sql, binds) }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aWorkerWithARetentionDeletesOldFinishedMessagesAndKeepsTheRest(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let old = try await store.enqueue(Harness.message()).message.id
            let recent = try await store.enqueue(Harness.message()).message.id
            var later = Harness.message()
            later.sendAt = Date().addingTimeInterval(86_400)
            let scheduled = try await store.enqueue(later).message.id
            try await Harness.withWorker(store) { _ in
                for id in [old, recent] { _ = try await Harness.status(store, id, in: [.success]) }
            }
            try await Self.backdate(store, [old, scheduled], days: 10)

            var configuration = Harness.configuration()
            configuration.retention = .seconds(5 * 86_400)
            configuration.retentionInterval = .milliseconds(100)
            _ = try await Harness.withWorker(store, configuration: configuration) { _ in
                try await eventually { try await store.message(id: old) == nil ? true : nil }
            }
            #expect(try await store.attempts(messageID: old).isEmpty)
            #expect(try await store.message(id: recent)?.status == .success, "a recent message is kept")
            #expect(try await store.message(id: scheduled)?.status == .scheduled, "an unfinished message is kept, however old")
        }
    }
}
