import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Concurrent claimers")
struct ConcurrencyTests {
    /// Several stores on one database (separate connection pools, as separate processes would
    /// have) claim and settle in parallel: each message is claimed exactly once.
    @Test(arguments: StoreBackendKind.allCases)
    func parallelClaimersNeverShareAMessage(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            var expected: Set<Int64> = []
            for index in 0..<400 { expected.insert(try await store.enqueue(sampleMessage(subject: "c\(index)")).message.id) }
            @Sendable func drain(_ claimer: any Store, owner: String) async throws -> [Int64] {
                var mine: [Int64] = []
                while true {
                    let batch = try await claimer.claim(limit: 7, owner: owner, lease: .seconds(120))
                    if batch.isEmpty { return mine }
                    for message in batch {
                        mine.append(message.message.id)
                        _ = try await claimer.settle(Settlement(lease: message.lease, kind: .delivered, report: AttemptReport()))
                    }
                }
            }
            let claimedLists = try await withThrowingTaskGroup(of: [Int64].self) { group in
                group.addTask { try await drain(store, owner: "claimer-0") }
                for index in 1...3 {
                    let other = try await database.openStore()
                    group.addTask { try await withRunningStore(other) { try await drain($0, owner: "claimer-\(index)") } }
                }
                return try await group.reduce(into: [[Int64]]()) { $0.append($1) }
            }
            let all = claimedLists.flatMap { $0 }
            #expect(all.count == expected.count, "no message was claimed twice")
            #expect(Set(all) == expected, "every message was claimed")
            #expect(claimedLists.filter { !$0.isEmpty }.count > 1, "the claimers really ran side by side")
            #expect(try await store.stats(window: .seconds(3600)).countsByStatus[.success] == expected.count)
        }
    }

    /// Separate processes on one SQLite file: none sees "database is locked", none shares a message.
    @Test func separateProcessesShareOneSQLiteFile() async throws {
        try await withTestStore(.sqlite) { store, database in
            var expected: Set<Int64> = []
            for index in 0..<600 { expected.insert(try await store.enqueue(sampleMessage(subject: "p\(index)")).message.id) }
            let probes = try (0..<3).map { index in
                try ProbeProcess(
                    ["claim"] + probeLocation(database) + ["--owner", "process-\(index)", "--batch", "5", "--settle", "--until-empty"])
            }
            // Meanwhile this process enqueues too, competing for the write lock.
            for index in 0..<100 { expected.insert(try await store.enqueue(sampleMessage(subject: "late\(index)")).message.id) }
            var claimed: [Int64] = []
            for probe in probes {
                let status = try await probe.exitStatus()
                #expect(status == 0, "stderr: \(probe.standardError)")
                #expect(!probe.standardError.localizedCaseInsensitiveContains("locked"))
                claimed += probe.ids("claimed")
            }
            // Messages enqueued after every probe found the queue empty are still waiting.
            let leftover = try await store.claim(limit: 1000, owner: "here", lease: .seconds(60)).map(\.message.id)
            #expect(claimed.count == Set(claimed).count, "no message was claimed by two processes")
            #expect(Set(claimed).union(leftover) == expected)
            #expect(Set(claimed).isDisjoint(with: leftover))
            #expect(probes.filter { !$0.ids("claimed").isEmpty }.count > 1, "more than one process claimed")
        }
    }
}
