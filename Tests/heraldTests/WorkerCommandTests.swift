import Foundation
import HeraldStore
import HeraldTestSupport
import Testing

/// `herald worker` run as an operator runs it: it delivers, and SIGTERM stops it gracefully.
@Suite struct WorkerCommandTests {
    @Test(arguments: StoreBackendKind.allCases)
    func theWorkerDeliversAndStopsGracefullyOnSIGTERM(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            let message = NewMessage(
                from: "App <app@example.com>", to: ["rcpt@example.com"], subject: "hi",
                mime: Array("From: App <app@example.com>\r\nSubject: hi\r\n\r\nhello\r\n".utf8))
            let id = try await store.enqueue(message).message.id

            let folder = try ComposeCommandTests.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: folder) }
            let log = folder.appendingPathComponent("worker.log")
            #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
            let process = Process()
            process.executableURL = ComposeCommandTests.binary
            process.arguments = ["worker", "--database", database.location, "--drain-timeout", "5"]
            process.environment = ProcessInfo.processInfo.environment.merging(["HERALD_SECRET_KEY": TestDatabase.secretKey.base64]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
            defer { if process.isRunning { process.terminate() } }

            let delivered: MessageRecord
            do {
                delivered = try await eventually(timeout: .seconds(60)) {
                    try await store.message(id: id).flatMap { $0.status == .success ? $0 : nil }
                }
            } catch {
                Issue.record("the worker did not deliver; its log:\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
                throw error
            }
            #expect(delivered.accountID == (try await store.account(named: "sandbox"))?.id, "a fresh install sends through the sandbox")
            #expect(try await store.captures(messageID: id).first?.data == message.mime)

            kill(process.processIdentifier, SIGTERM)
            let exited = try await eventually { process.isRunning ? nil : process.terminationStatus }
            let output = try String(contentsOf: log, encoding: .utf8)
            #expect(exited == 0, "\(output)")
            #expect(output.contains("delivery worker stopped"), "\(output)")
            #expect(!output.contains(TestDatabase.secretKey.base64), "the master key is never logged")
        }
    }

    @Test func aRetentionOrWebhookThatCannotWorkIsRefusedBeforeAnythingStarts() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("h.sqlite").path
        let refusals: [([String], [String: String], String)] = [
            (["worker", "--retention", "30"], [:], "--retention must be a number of days or hours"),
            (["serve", "--retention", "24h"], [:], "--retention must be at least 48h"),
            (["worker", "--alert-webhook", "hooks.example.com/herald"], [:], "--alert-webhook must be an http:// or https:// URL"),
            // From the environment (or the configuration file), a setting is named without the usage.
            (["worker"], ["HERALD_RETENTION": "1d"], "HERALD_RETENTION=1d (from the environment or the configuration file) must be"),
            (["serve"], ["HERALD_ALERT_WEBHOOK": "ftp://hooks.example.com/"], "HERALD_ALERT_WEBHOOK=ftp://hooks.example.com/"),
            (["worker"], ["HERALD_SUPPRESS_HARD_BOUNCES": "maybe"], "HERALD_SUPPRESS_HARD_BOUNCES=maybe (from the environment"),
        ]
        for (arguments, environment, reason) in refusals {
            let run = try ComposeCommandTests.herald(arguments + ["--database", database], environment: environment, in: folder)
            #expect(run.status == (environment.isEmpty ? 64 : 2), "\(arguments) \(environment): \(run.stderr)")
            #expect(run.stderr.contains(reason), "\(arguments) \(environment): \(run.stderr)")
            #expect(run.stderr.contains("Usage: herald \(arguments[0])") == environment.isEmpty, "\(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: database), "a refused start creates no database")
    }

    /// A negative number is a value out of range, named as such; the argument parser used to take
    /// "-1" for an option and say the value was missing.
    @Test func aNegativeNumberIsRefusedForItsRangeNotAsMissing() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("h.sqlite").path
        let refusals: [([String], String)] = [
            (["serve", "--rate-limit", "-1"], "--rate-limit must be above 0"),
            (["serve", "--port", "-5"], "--port must be 0 to 65535"),
            (["worker", "--concurrency", "-2"], "--concurrency must be at least 1"),
            (["worker", "--drain-timeout", "-1"], "--drain-timeout must be 0 or more seconds"),
        ]
        for (arguments, reason) in refusals {
            let run = try ComposeCommandTests.herald(arguments + ["--database", database], environment: [:], in: folder)
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(reason) && !run.stderr.contains("Missing value"), "\(arguments): \(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: database), "a refused start creates no database")
    }
}
