import Foundation
import Testing

/// `herald migrate` run as a user runs it.
@Suite struct MigrateCommandTests {
    @Test func migrateCreatesTheSchemaOnceAndSaysSo() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("herald-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("herald.sqlite").path

        let first = try ComposeCommandTests.herald(["migrate", "--database", path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied migrations 1"))
        #expect(FileManager.default.fileExists(atPath: path))
        let second = try ComposeCommandTests.herald(["migrate", "--database", path])
        #expect(second.status == 0)
        #expect(second.stdout.contains("schema is up to date"))
    }

    @Test func anUnusableDatabaseIsAClearError() throws {
        let run = try ComposeCommandTests.herald(["migrate", "--database", "/nonexistent-\(UUID().uuidString)/herald.sqlite"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("herald migrate: could not open the SQLite database"))
    }

    @Test func aPasswordInTheURLIsNeverPrinted() throws {
        let run = try ComposeCommandTests.herald(["migrate", "--database", "postgres://herald:hunter2-secret@[::1/herald"])
        #expect(run.status != 0)
        #expect(!(run.stdout + run.stderr).contains("hunter2-secret"))
    }
}
