import Foundation
import HeraldTestSupport
import Testing

/// `herald check` run as a user runs it, against Herald's test SMTP server.
@Suite struct CheckCommandTests {
    static let certificates = try! TestCertificates()

    static func withServer(implicitTLS: Bool, _ body: (SMTPTestServer, String) async throws -> Void) async throws {
        var configuration = SMTPTestServer.Configuration()
        configuration.implicitTLS = implicitTLS
        configuration.certificates = certificates
        configuration.users = ["ops@example.com": "auth-code-1234"]
        let server = try await SMTPTestServer.start(configuration)
        let directory = try ComposeCommandTests.temporaryDirectory()
        let ca = directory.appendingPathComponent("ca.pem")
        try Data(certificates.caPEM.utf8).write(to: ca)
        do {
            try await body(server, ca.path)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    @Test func workingServerPassesEveryStepAndSendsTheTestMessage() async throws {
        try await Self.withServer(implicitTLS: true) { server, ca in
            let run = try ComposeCommandTests.herald([
                "check", "localhost:\(server.port)", "--security", "tls", "--user", "ops@example.com", "--password", "auth-code-1234",
                "--ca-file", ca, "--from", "Ops <ops@example.com>", "--to", "rcpt@example.com",
            ])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            for step in ["tcp", "tls", "greeting", "capabilities", "login", "send"] {
                #expect(run.stdout.contains("ok   \(step)"), "missing step \(step): \(run.stdout)")
            }
            #expect(run.stdout.contains("OK: localhost:\(server.port) works with security=tls and AUTH as ops@example.com."))
            #expect(!run.stdout.contains("auth-code-1234"))
            #expect(server.received.count == 1)
        }
    }

    @Test func wrongSecurityModeNamesTheOneThatWorks() async throws {
        try await Self.withServer(implicitTLS: true) { server, ca in
            let run = try ComposeCommandTests.herald([
                "check", "localhost:\(server.port)", "--security", "starttls", "--user", "ops@example.com", "--password", "auth-code-1234",
                "--ca-file", ca,
            ])
            #expect(run.status != 0)
            #expect(run.stdout.contains("expects TLS from the first byte"))
            #expect(run.stdout.contains("security=tls does. Set security=tls."))
            #expect(!run.stdout.contains("auth-code-1234"))
        }
    }

    @Test func jsonReportIsOneObject() async throws {
        try await Self.withServer(implicitTLS: false) { server, ca in
            let run = try ComposeCommandTests.herald(["check", "localhost:\(server.port)", "--security", "tls", "--ca-file", ca, "--json"])
            #expect(run.status != 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(object["ok"] as? Bool == false)
            #expect(object["working_security"] as? String == "starttls", "snake_case, as the API: \(object.keys.sorted())")
            #expect(object["auth_mechanisms"] is [String], "\(object.keys.sorted())")
            #expect((object["error"] as? [String: Any])?["code"] as? String == "smtp.plaintext_expected")
        }
    }

    @Test func wrongPasswordFailsWithTheAuthDiagnosis() async throws {
        try await Self.withServer(implicitTLS: false) { server, ca in
            let run = try ComposeCommandTests.herald([
                "check", "localhost:\(server.port)", "--user", "ops@example.com", "--password", "not-the-code", "--ca-file", ca,
            ])
            #expect(run.status != 0)
            #expect(run.stdout.contains("FAIL auth"))
            #expect(run.stdout.contains("authorisation code"))
            #expect(!run.stdout.contains("not-the-code"))
            #expect(!run.stdout.contains("try security="))
        }
    }

    /// The authorisation code read from standard input stays out of the process list.
    @Test func thePasswordIsReadFromStandardInput() async throws {
        try await Self.withServer(implicitTLS: false) { server, ca in
            let arguments = ["check", "localhost:\(server.port)", "--user", "ops@example.com", "--password-stdin", "--ca-file", ca]
            let run = try ComposeCommandTests.herald(arguments, stdin: "auth-code-1234\n")
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains("ok   login") && !run.stdout.contains("auth-code-1234"), "\(run.stdout)")
            let both = try ComposeCommandTests.herald(arguments + ["--password", "x"], stdin: "auth-code-1234\n")
            #expect(both.status == 2 && both.stderr.contains("give --password or --password-stdin, not both"), "\(both.stderr)")
        }
    }

    @Test(arguments: [["check"], ["check", "host:notaport"], ["check", "host", "--security", "ssl3"], ["check", "host", "--user", "u"]])
    func invalidArgumentsExitNonZero(arguments: [String]) throws {
        let run = try ComposeCommandTests.herald(arguments)
        #expect(run.status != 0)
        #expect(!run.stderr.isEmpty)
    }
}
