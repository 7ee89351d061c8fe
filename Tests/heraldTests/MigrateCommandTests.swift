import Foundation
import Testing

/// `herald migrate` run as a user runs it.
@Suite struct MigrateCommandTests {
    @Test func migrateCreatesTheSchemaOnceAndSaysSo() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
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

    /// The error says what is wrong with the path, not only that it failed.
    @Test func anUnusableDatabaseIsAClearError() throws {
        let folder = "/nonexistent-\(UUID().uuidString)"
        let run = try ComposeCommandTests.herald(["migrate", "--database", "\(folder)/herald.sqlite"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("herald migrate: could not open the SQLite database"))
        #expect(run.stderr.contains("the folder \(folder) does not exist"), "\(run.stderr)")
        // A database URL Herald does not speak is not taken for a file name.
        let mysql = try ComposeCommandTests.herald(["migrate", "--database", "mysql://herald@127.0.0.1/herald"])
        #expect(mysql.status == 1)
        #expect(
            mysql.stderr.contains("mysql:// is not a database Herald uses; give a SQLite file path or a postgres:// URL"), "\(mysql.stderr)"
        )
    }

    /// A setting from the environment that cannot work is said alone: the usage of the command
    /// line (which was right) would only hide it. A wrong flag value still shows its command's usage.
    @Test func aMissingOrMalformedMasterKeyIsSaidWithoutTheUsage() throws {
        let postgres = try ComposeCommandTests.herald(
            ["worker", "--database", "postgres://herald@127.0.0.1:1/herald"], unset: ["HERALD_SECRET_KEY"])
        #expect(postgres.status == 1 && postgres.stderr.contains("HERALD_SECRET_KEY is required with PostgreSQL"), "\(postgres.stderr)")
        let short = try ComposeCommandTests.herald(
            ["worker", "--database", "/tmp/herald-\(UUID().uuidString).sqlite"], environment: ["HERALD_SECRET_KEY": "c2hvcnQ="])
        #expect(short.status == 1 && short.stderr.contains("HERALD_SECRET_KEY must be 32 bytes in base64"), "\(short.stderr)")
        #expect(!(postgres.stderr + short.stderr).contains("Usage:"), "\(postgres.stderr)\(short.stderr)")
        #expect(!short.stderr.contains("c2hvcnQ="), "the key is never printed")
        let flag = try ComposeCommandTests.herald(["migrate", "--sqlite-synchronous", "off", "--database", "/tmp/unused.sqlite"])
        #expect(flag.status == 64 && flag.stderr.contains("Usage: herald migrate"), "\(flag.stderr)")
    }

    @Test func aPasswordInTheURLIsNeverPrinted() throws {
        let run = try ComposeCommandTests.herald(["migrate", "--database", "postgres://herald:hunter2-secret@[::1/herald"])
        #expect(run.status != 0)
        #expect(!(run.stdout + run.stderr).contains("hunter2-secret"))
    }
}
