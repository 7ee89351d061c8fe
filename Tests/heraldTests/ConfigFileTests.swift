import Foundation
import Testing

/// The configuration file: flags win over the environment, which wins over the file.
@Suite struct ConfigFileTests {
    static func herald(_ arguments: [String], environment: [String: String] = [:], in folder: URL) throws -> ComposeCommandTests.Run {
        try ComposeCommandTests.herald(
            arguments, environment: environment, unset: ["HERALD_DATABASE_URL", "HERALD_CONFIG", "HERALD_SECRET_KEY"], in: folder)
    }

    @Test func theFileFillsInWhatTheEnvironmentAndFlagsLeaveOut() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fromFile = folder.appendingPathComponent("file.sqlite").path
        let fromEnvironment = folder.appendingPathComponent("env.sqlite").path
        let fromFlag = folder.appendingPathComponent("flag.sqlite").path
        try Data("# Herald settings\nHERALD_DATABASE_URL = \"\(fromFile)\"\n".utf8).write(to: folder.appendingPathComponent("herald.env"))

        #expect(try Self.herald(["migrate"], in: folder).status == 0)
        #expect(FileManager.default.fileExists(atPath: fromFile), "./herald.env is read when present")
        #expect(try Self.herald(["migrate"], environment: ["HERALD_DATABASE_URL": fromEnvironment], in: folder).status == 0)
        #expect(FileManager.default.fileExists(atPath: fromEnvironment), "the environment wins over the file")
        #expect(
            try Self.herald(["migrate", "--database", fromFlag], environment: ["HERALD_DATABASE_URL": fromEnvironment], in: folder).status
                == 0)
        #expect(FileManager.default.fileExists(atPath: fromFlag), "a flag wins over both")

        try Data("HERALD_DATABASE_URL=\(fromFlag)\n".utf8).write(to: folder.appendingPathComponent("other.env"))
        let named = try Self.herald(["migrate", "--config", "other.env"], in: folder)
        #expect(named.status == 0 && named.stdout.contains("flag.sqlite"), "\(named.stdout) \(named.stderr)")
    }

    @Test func aMistakeInTheFileIsNamedAndNothingRuns() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("HERALD_PORT=8080\nHERALD_PROT=9\n".utf8).write(to: folder.appendingPathComponent("bad.env"))
        let unknown = try Self.herald(["migrate", "--config", "bad.env"], in: folder)
        #expect(unknown.status == 2 && unknown.stderr.contains("bad.env:2: unknown setting HERALD_PROT"))
        let missing = try Self.herald(["migrate", "--config", "nowhere.env"], in: folder)
        #expect(missing.status == 2 && missing.stderr.contains("cannot read the configuration file nowhere.env"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("herald.sqlite").path))
    }

    /// A setting that must be a number or a name and is not: an error naming it, not a silent
    /// default (a wrapped port, a worker that never claims), and nothing runs.
    @Test func aBadSettingIsNamedAndNothingRuns() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fromEnvironment: [(String, String, String)] = [
            ("HERALD_PORT", "70000", "must be a port number"), ("HERALD_PORT", "http", "must be a port number"),
            ("HERALD_CONCURRENCY", "0", "at least 1"), ("HERALD_RATE_LIMIT", "-3", "above 0"),
            ("HERALD_LOG_LEVEL", "verbose", "must be one of"), ("HERALD_DRAIN_TIMEOUT", "soon", "seconds"),
        ]
        for (key, value, problem) in fromEnvironment {
            let run = try Self.herald(["migrate"], environment: [key: value], in: folder)
            #expect(run.status == 2 && run.stderr.contains("\(key)=\(value)") && run.stderr.contains(problem), "\(run.stderr)")
        }
        try Data("HERALD_SENDS_PER_CONNECTION=0\n".utf8).write(to: folder.appendingPathComponent("herald.env"))
        let fromFile = try Self.herald(["migrate"], in: folder)
        #expect(fromFile.status == 2 && fromFile.stderr.contains("HERALD_SENDS_PER_CONNECTION=0"), "\(fromFile.stderr)")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("herald.env"))
        for (arguments, problem) in [
            (["serve", "--port", "70000"], "--port must be 0 to 65535"), (["serve", "--rate-limit=-1"], "--rate-limit must be above 0"),
            (["worker", "--concurrency", "0"], "--concurrency must be at least 1"),
        ] {
            let run = try Self.herald(arguments, in: folder)
            #expect(run.status == 64 && run.stderr.contains(problem), "\(arguments): \(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("herald.sqlite").path))
    }
}
