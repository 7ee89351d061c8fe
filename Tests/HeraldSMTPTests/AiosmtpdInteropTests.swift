import Foundation
import HeraldSMTP
import HeraldTestSupport
import Testing

/// Interoperability with aiosmtpd, a real SMTP server, started on loopback by `scripts/test`
/// (`Tests/python/aiosmtpd_peers.py`; `HERALD_AIOSMTPD` names its peers.json).
@Suite struct AiosmtpdInteropTests {
    struct Spooled: Decodable {
        let mail_from: String
        let mail_options: [String]
        let rcpt_tos: [String]
        let data: String
        let tls: Bool
        let auth: String?
    }

    static func peers() throws -> AiosmtpdPeers { try AiosmtpdPeers.load() }

    static func client(_ kind: String, security: SMTPSecurity, authenticate: Bool = true) throws -> SMTPClientConfiguration {
        let peers = try peers()
        var configuration = SMTPClientConfiguration(
            host: "localhost", port: peers.ports[kind]!, security: security,
            credentials: authenticate ? .password(username: peers.user, password: peers.password) : nil)
        configuration.trustRootsPEM = try String(contentsOfFile: peers.ca, encoding: .utf8)
        configuration.timeouts = .uniform(.seconds(20))
        configuration.timeouts.silentGreetingProbe = .milliseconds(500)
        return configuration
    }

    /// Sends a message with a unique marker and returns what aiosmtpd spooled for it.
    static func sendAndFetch(_ configuration: SMTPClientConfiguration, recipients: [String]) async throws -> (SMTPDeliveryResult, Spooled) {
        let marker = UUID().uuidString
        let message = Array("Subject: interop \(marker)\r\n\r\n.dot line\r\n\(marker)\r\n".utf8)
        let connection = try await SMTPConnection.connect(configuration)
        let result = try await connection.send(try SMTPEnvelope(sender: "herald@example.com", recipients: recipients), message: message)
        await connection.close()
        let spool = try peers().spool
        for file in try FileManager.default.contentsOfDirectory(atPath: spool) where file.hasSuffix(".json") {
            let spooled = try JSONDecoder().decode(Spooled.self, from: Data(contentsOf: URL(fileURLWithPath: "\(spool)/\(file)")))
            if let data = Data(base64Encoded: spooled.data), String(decoding: data, as: UTF8.self).contains(marker) {
                #expect(Array(data) == message, "aiosmtpd received different bytes")
                return (result, spooled)
            }
        }
        throw AiosmtpdPeers.NotSpooled()
    }

    @Test(arguments: ["implicit_tls", "implicit_tls_login"])
    func implicitTLSWithAuth(kind: String) async throws {
        let (result, spooled) = try await Self.sendAndFetch(try Self.client(kind, security: .tls), recipients: ["to@example.com"])
        #expect(result.reply.code == 250)
        #expect(spooled.tls)
        #expect(spooled.auth == "herald@example.com")
    }

    @Test func startTLSRequiredWithAuth() async throws {
        let (_, spooled) = try await Self.sendAndFetch(try Self.client("starttls", security: .startTLS), recipients: ["to@example.com"])
        #expect(spooled.tls)
        #expect(spooled.auth == "herald@example.com")
    }

    @Test func smtputf8Recipient() async throws {
        let (_, spooled) = try await Self.sendAndFetch(
            try Self.client("plain", security: .plaintext, authenticate: false), recipients: ["用户@例子.测试"])
        #expect(spooled.rcpt_tos == ["用户@例子.测试"])
        #expect(spooled.mail_options.contains("SMTPUTF8"))
    }

    @Test func refusedRecipientAmongAcceptedOnes() async throws {
        let (result, spooled) = try await Self.sendAndFetch(
            try Self.client("starttls", security: .startTLS), recipients: ["a@example.com", "refuse@example.com", "b@example.com"])
        #expect(result.refused.map(\.recipient) == ["refuse@example.com"])
        #expect(result.refused.first?.reply.code == 550)
        #expect(spooled.rcpt_tos == ["a@example.com", "b@example.com"])
    }

    @Test func sizeLimitIsRespected() async throws {
        // aiosmtpd advertises SIZE 4096; Herald refuses before MAIL rather than provoke its 552.
        let connection = try await SMTPConnection.connect(try Self.client("plain", security: .plaintext, authenticate: false))
        #expect(connection.capabilities.maximumSize == 4096)
        do {
            _ = try await connection.send(
                try SMTPEnvelope(sender: "a@example.com", recipients: ["b@example.com"]), message: Array(repeating: 65, count: 5000))
            Issue.record("a message over SIZE was sent")
        } catch let error as SMTPError {
            #expect(error.classification == .tooLarge)
        }
        #expect(connection.isUsable)
        await connection.close()
    }

    /// The original incident: "Unexpected EOF received" from a plaintext or STARTTLS client on
    /// port 465. Herald must say what is wrong and what to set.
    @Test(arguments: [SMTPSecurity.startTLS, .plaintext])
    func plaintextOrStartTLSOnTheImplicitTLSPortIsDiagnosed(security: SMTPSecurity) async throws {
        var configuration = try Self.client("implicit_tls", security: security)
        configuration.allowPlaintextAuth = true
        do {
            _ = try await SMTPConnection.connect(configuration)
            Issue.record("connected with the wrong security mode")
        } catch let error as SMTPError {
            #expect(error.code == "smtp.tls_expected", "\(error)")
            #expect(error.diagnosis?.contains("expects TLS from the first byte (implicit TLS)") == true)
            #expect(error.diagnosis?.contains("Set security=tls") == true)
        }
    }

    @Test func tlsOnThePlaintextPortIsDiagnosed() async throws {
        do {
            _ = try await SMTPConnection.connect(try Self.client("starttls", security: .tls))
            Issue.record("connected with the wrong security mode")
        } catch let error as SMTPError {
            #expect(error.code == "smtp.plaintext_expected", "\(error)")
            #expect(error.diagnosis?.contains("Set security=starttls") == true)
        }
    }
}
