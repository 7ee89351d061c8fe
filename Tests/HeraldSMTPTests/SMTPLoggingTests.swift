import Foundation
import HeraldSMTP
import HeraldTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// Secrets never reach a log line: the transcript at trace level redacts AUTH.
@Suite struct SMTPLoggingTests {
    @Test(arguments: ["PLAIN", "LOGIN"])
    func authPayloadsAreRedactedInTheTranscript(mechanism: String) async throws {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in MemoryLogHandler(lines: lines) }
        try await LiveFaultTests.withServer({ $0.authMechanisms = [mechanism] }) { server in
            let password = "app-password"
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS), logger: logger)
            _ = try await connection.send(LiveFaultTests.envelope, message: LiveTestServerTests.message)
            await connection.close()
            let transcript = lines.withLockedValue { $0 }
            #expect(transcript.contains { $0.contains("C: AUTH \(mechanism)") }, "the transcript was not logged")
            #expect(transcript.contains { $0.contains("<redacted>") })
            let secrets = [
                password, Data(password.utf8).base64EncodedString(),
                Data("\0sender@example.com\0\(password)".utf8).base64EncodedString(),
                Data("sender@example.com".utf8).base64EncodedString(),
            ]
            for secret in secrets {
                #expect(!transcript.contains { $0.contains(secret) }, "a log line holds \(secret)")
            }
        }
    }
}
