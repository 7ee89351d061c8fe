import Foundation
import HeraldStore
import HeraldTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `herald serve` on a fresh folder, as a new user runs it: an admin key printed once, the original
/// request accepted, the message captured by the sandbox, and a graceful stop on SIGTERM.
@Suite struct ServeCommandTests {
    final class Output: @unchecked Sendable {
        private let lock = NSLock()
        private var text = ""
        func append(_ data: Data) { lock.withLock { text += String(decoding: data, as: UTF8.self) } }
        var value: String { lock.withLock { text } }

        /// Collects what `pipe` carries until it closes, then stops watching it: a handler left
        /// on a closed pipe is called again at once, forever, and would spin a core.
        func collect(_ pipe: Pipe) {
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil } else { self.append(data) }
            }
        }
    }

    static func request(_ method: String, _ url: String, key: String, body: String? = nil) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        request.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    @Test func aFreshServeTakesTheOriginalRequestAndStopsGracefully() async throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        process.executableURL = ComposeCommandTests.binary
        process.arguments = ["serve", "--port", "0"]
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        for name in ["HERALD_DATABASE_URL", "HERALD_SECRET_KEY", "HERALD_PORT", "HERALD_HOST"] { environment.removeValue(forKey: name) }
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let out = Output()
        let err = Output()
        out.collect(stdout)
        err.collect(stderr)
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let key = try await eventually { out.value.split(separator: "\n").first { $0.hasPrefix("hk_") }.map(String.init) }
        #expect(out.value.contains("shown only this once"))
        let base = try await eventually { () -> String? in
            guard let range = err.value.range(of: #"url=http://127\.0\.0\.1:\d+"#, options: .regularExpression) else { return nil }
            return String(err.value[range].dropFirst(4))
        }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("herald.sqlite").path), "SQLite in the working folder")

        let template = #"{"code":"test_email","subject":"【测试】系统通知 - {{timestamp}}","text":"at {{timestamp}}"}"#
        #expect(try await Self.request("POST", "\(base)/api/v1/templates", key: key, body: template).0 == 201)
        let seed =
            #"{"to": ["205672513@qq.com"], "template_code": "test_email", "template_variables": {"timestamp": "2025-10-25 17:05:00"}}"#
        let (status, sent) = try await Self.request("POST", "\(base)/api/v1/messages/email/send", key: key, body: seed)
        #expect(status == 202 && sent["code"] as? Int == 0 && sent["message"] as? String == "Message queued for sending")
        let id = try #require((sent["data"] as? [String: Any])?["message_id"] as? Int)
        let delivered = try await eventually { () -> [String: Any]? in
            let data = try await Self.request("GET", "\(base)/api/v1/messages/\(id)", key: key).1["data"] as? [String: Any]
            return data?["status"] as? String == "success" ? data : nil
        }
        #expect(delivered["subject"] as? String == "【测试】系统通知 - 2025-10-25 17:05:00")
        #expect((try await Self.request("GET", "\(base)/api/v1/messages/\(id)/raw", key: key)).0 == 200)

        kill(process.processIdentifier, SIGTERM)
        let exited = try await eventually { process.isRunning ? nil : process.terminationStatus }
        #expect(exited == 0, "\(err.value)")
        #expect(err.value.contains("delivery worker stopped"))
        #expect(!(out.value + err.value).contains("Authorization"), "no request header is logged")
    }

    /// A port another program holds is named as such, with what to do, not as NIO's bind error,
    /// and before anything is made: no database, no master key, no admin key printed.
    @Test func aPortInUseIsExplainedAndExitsNonZero() async throws {
        let other = try await HTTPCaptureServer.start()
        defer { Task { await other.stop() } }
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try ComposeCommandTests.herald(
            ["serve", "--port", "\(other.port)"], unset: ["HERALD_DATABASE_URL", "HERALD_PORT", "HERALD_HOST"], in: folder)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(
            run.stderr.contains("herald serve: cannot listen on 127.0.0.1:\(other.port): another process already listens there"),
            "\(run.stderr)")
        #expect(!run.stderr.contains("errno"), "not NIO's description: \(run.stderr)")
        #expect(run.stdout.isEmpty, "no admin key is printed for a server that never ran: \(run.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "no database or key file is made")

        let unknown = try ComposeCommandTests.herald(
            ["serve", "--host", "nosuch.invalid", "--port", "8080"], unset: ["HERALD_DATABASE_URL", "HERALD_PORT"], in: folder)
        #expect(unknown.status == 1, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("cannot listen on nosuch.invalid:8080: no address is known"), "\(unknown.stderr)")
    }

    /// A database that cannot be opened is one line naming the command and the reason, as for
    /// the other commands, not the argument parser's "Error:" with the error's type.
    @Test(arguments: ["serve", "worker"])
    func aDatabaseThatCannotBeOpenedIsOneLine(command: String) throws {
        let folder = "/nonexistent-\(UUID().uuidString)"
        let start = command == "serve" ? ["serve", "--port", "0"] : [command]
        let run = try ComposeCommandTests.herald(
            start + ["--database", "\(folder)/herald.sqlite"], environment: ["HERALD_SECRET_KEY": TestDatabase.secretKey.base64])
        #expect(run.status == 1, "\(run.stderr)")
        let expected =
            "herald \(command): could not open the SQLite database at \(folder)/herald.sqlite: the folder \(folder) does not exist"
            + " (store.configuration)"
        #expect(run.stderr.split(separator: "\n").last.map(String.init) == expected, "\(run.stderr)")
        #expect(!run.stderr.contains("Error:"), "\(run.stderr)")
    }

    /// A process whose master key does not open the passwords already stored would fail every
    /// send through them (serve, worker) or store one nobody can open (accounts add): each stops
    /// at once, in one line, before doing anything.
    @Test(arguments: ["serve", "worker", "accounts add"])
    func aMasterKeyThatDoesNotOpenTheStoredPasswordsStopsTheStart(command: String) async throws {
        try await withTestStore(.sqlite) { store, database in
            _ = try await store.createAccount(
                AccountSettings(name: "main", email: "a@example.com", smtpHost: "127.0.0.1", smtpPort: 2525, security: .none),
                password: .set("code"))
            let arguments: [String] =
                switch command {
                case "serve": ["serve", "--port", "0"]
                case "worker": ["worker"]
                default: ["accounts", "add", "second", "--email", "b@example.com", "--host", "127.0.0.1", "--password-stdin"]
                }
            let run = try ComposeCommandTests.herald(
                arguments + ["--database", database.location], stdin: "other-code\n",
                environment: ["HERALD_SECRET_KEY": SecretKey.generate().base64], timeout: .seconds(60))
            #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
            #expect(
                run.stderr.contains("herald \(command): the master key (HERALD_SECRET_KEY") && run.stderr.contains("account main's"),
                "\(run.stderr)")
            #expect(!run.stdout.contains("hk_"), "no admin key is made: \(run.stdout)")
            #expect(try await store.account(named: "second") == nil)
        }
    }

    /// A start that waits for a PostgreSQL that is down says so once, in words, and SIGTERM ends
    /// the wait at once with a clean stop, instead of holding the process until the pool gives up.
    @Test func aStartWaitingForADatabaseThatIsDownStopsAtOnceOnSIGTERM() async throws {
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let port = refusing.port
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = Output()
        let process = Process()
        process.executableURL = ComposeCommandTests.binary
        process.arguments = ["serve", "--port", "0"]
        process.currentDirectoryURL = folder
        process.environment = ProcessInfo.processInfo.environment.merging([
            "HERALD_DATABASE_URL": "postgres://herald@127.0.0.1:\(port)/herald", "HERALD_SECRET_KEY": TestDatabase.secretKey.base64,
        ]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        output.collect(pipe)
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let said = "PostgreSQL at 127.0.0.1:\(port) cannot be reached yet: the connection was refused"
        _ = try await eventually(timeout: .seconds(30)) { output.value.contains(said) ? true : nil }
        kill(process.processIdentifier, SIGTERM)
        // The pool alone would hold the start for about a minute; the stop must not wait for it.
        let status = try await eventually(timeout: .seconds(15)) { process.isRunning ? nil : process.terminationStatus }
        #expect(status == 0, "\(output.value)")
        #expect(output.value.contains("stopped before the database could be reached"), "\(output.value)")
        #expect(!output.value.contains("PostgreSQL is unreachable"), "a cancelled wait is not a failing server: \(output.value)")
        #expect(!output.value.contains("Herald is listening"), "the server never started: \(output.value)")
    }

    @Test func keysCreatePrintsTheKeyAlone() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("herald.sqlite").path
        let run = try ComposeCommandTests.herald(["keys", "create", "--scope", "send", "--scope", "read", "--database", database])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("hk_") && lines[0].count == 46)
        let list = try ComposeCommandTests.herald(["keys", "list", "--database", database])
        #expect(list.stdout.contains("read,send") && !list.stdout.contains(String(lines[0])))
        let bad = try ComposeCommandTests.herald(["keys", "create", "--scope", "root", "--database", database])
        #expect(bad.status == 64 && bad.stderr.contains("--scope must be send, read or admin"))
        #expect(bad.stderr.contains("Usage: herald keys create"), "this command's usage: \(bad.stderr)")
    }
}
