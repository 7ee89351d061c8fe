import Foundation
import Testing

/// `herald prune` run as a user runs it (what it deletes is `RetentionTests`, on both databases).
@Suite struct PruneCommandTests {
    @Test func pruneSaysWhatItDeletedAndRefusesAnAgeItCannotHonour() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("herald.sqlite").path

        let run = try ComposeCommandTests.herald(["prune", "--older-than", "30d", "--database", path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("deleted 0 finished messages created more than 30d ago"), "\(run.stdout)")
        let young = try ComposeCommandTests.herald(["prune", "--older-than", "2h", "--database", path])
        #expect(young.status == 1 && young.stderr.contains("idempotency window (48h)"), "\(young.stderr)")
        for bad in ["30", "30x", "-1d", "0d"] {
            let refused = try ComposeCommandTests.herald(["prune", "--older-than=\(bad)", "--database", path])
            #expect(refused.status == 64 && refused.stderr.contains("--older-than must be"), "\(bad): \(refused.stderr)")
        }
    }
}
