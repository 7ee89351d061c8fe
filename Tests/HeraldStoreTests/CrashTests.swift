import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Crashes")
struct CrashTests {
    /// A process is killed with SIGKILL while enqueuing and again while claiming; after a restart
    /// every acknowledged message is there and is claimed again once its lease expired.
    @Test(arguments: StoreBackendKind.allCases)
    func acknowledgedMessagesSurviveSIGKILL(kind: StoreBackendKind) async throws {
        let database = try await TestDatabase.make(kind)

        let enqueuer = try ProbeProcess(["enqueue"] + probeLocation(database) + ["--count", "100000", "--concurrency", "16"])
        try await enqueuer.wait { lines in lines.filter { $0.hasPrefix("acked") }.count >= 400 }
        enqueuer.kill()
        let acknowledged = Set(enqueuer.ids("acked"))
        #expect(acknowledged.count >= 400, "stderr: \(enqueuer.standardError)")

        let claimer = try ProbeProcess(["claim"] + probeLocation(database) + ["--owner", "doomed", "--lease", "2", "--batch", "25"])
        try await claimer.wait { lines in lines.filter { $0.hasPrefix("claimed") }.count >= 100 }
        claimer.kill()
        let held = Set(claimer.ids("claimed"))
        #expect(held.count >= 100, "stderr: \(claimer.standardError)")

        let store = try await database.openStore()
        try await withRunningStore(store) { store in
            try await store.migrate()
            for id in acknowledged {
                let message = try #require(try await store.message(id: id), "acknowledged message \(id) was lost")
                // Sending: held by the dead claimer, which may have claimed one batch it did not live to print.
                #expect(message.status == .pending || message.status == .sending)
            }
            // The dead claimer's leases run out; the sweep makes its messages claimable again.
            // It may have committed one more batch (of 25) than it lived to print, so the sweep
            // goes on until nothing is held any more.
            var reclaimed: Set<Int64> = []
            _ = try await eventually { () -> Bool? in
                reclaimed.formUnion(try await store.sweep().reclaimed)
                let sending = try await store.messages(matching: MessageFilter(statuses: [.sending]), limit: 10, cursor: nil)
                return sending.messages.isEmpty ? true : nil
            }
            #expect(held.isSubset(of: reclaimed), "every message the dead claimer printed is reclaimed")
            #expect(reclaimed.subtracting(held).count <= 25)
            var claimedAgain: Set<Int64> = []
            while true {
                let batch = try await store.claim(limit: 500, owner: "survivor", lease: .seconds(120))
                if batch.isEmpty { break }
                claimedAgain.formUnion(batch.map(\.message.id))
            }
            #expect(acknowledged.isSubset(of: claimedAgain), "every acknowledged message is claimed again")
            for id in held.prefix(5) {
                #expect(try await store.attempts(messageID: id).map(\.outcome) == [.leaseExpired])
            }
        }
        await database.drop()
    }
}
