import Foundation
import HeraldSMTP
import HeraldTestSupport
import Testing

/// The client against Herald's own test server on loopback, fault by fault.
@Suite struct LiveTestServerTests {
    static let certificates = try! TestCertificates()

    static func server(_ configure: (inout SMTPTestServer.Configuration) -> Void = { _ in }) async throws -> SMTPTestServer {
        var configuration = SMTPTestServer.Configuration()
        configuration.certificates = certificates
        configuration.users = ["sender@example.com": "app-password"]
        configure(&configuration)
        return try await SMTPTestServer.start(configuration)
    }

    static func client(
        _ server: SMTPTestServer, security: SMTPSecurity,
        credentials: SMTPCredentials? = .password(username: "sender@example.com", password: "app-password")
    ) -> SMTPClientConfiguration {
        var configuration = SMTPClientConfiguration(host: "localhost", port: server.port, security: security, credentials: credentials)
        configuration.trustRootsPEM = certificates.caPEM
        configuration.timeouts = .uniform(.seconds(10))
        configuration.timeouts.silentGreetingProbe = .milliseconds(500)
        return configuration
    }

    static let message = Array("Subject: test\r\n\r\n.leading dot\r\nbody\r\n".utf8)

    @Test(arguments: [SMTPSecurity.tls, .startTLS])
    func sendsOverTLSWithAuth(security: SMTPSecurity) async throws {
        let server = try await Self.server { $0.implicitTLS = security == .tls }
        defer { Task { await server.stop() } }
        let connection = try await SMTPConnection.connect(Self.client(server, security: security))
        let envelope = try SMTPEnvelope(sender: "sender@example.com", recipients: ["a@example.com", "b@example.com"])
        let result = try await connection.send(envelope, message: Self.message)
        #expect(result.reply.code == 250)
        #expect(result.recipients.map(\.accepted) == [true, true])
        await connection.close()
        let received = try #require(server.received.first)
        #expect(received.data == Self.message)
        #expect(received.overTLS)
        #expect(received.authenticatedUser == "sender@example.com")
        #expect(received.recipients == ["a@example.com", "b@example.com"])
    }
}
