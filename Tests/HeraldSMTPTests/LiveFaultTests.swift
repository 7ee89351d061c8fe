import Foundation
import Glibc
import HeraldTestSupport
import NIOSSL
import Testing

@testable import HeraldSMTP

/// Each fault the test server can inject, and what the client must make of it.
@Suite struct LiveFaultTests {
    typealias Fault = SMTPTestServer.Fault

    static func withServer(
        _ configure: (inout SMTPTestServer.Configuration) -> Void = { _ in }, _ body: (SMTPTestServer) async throws -> Void
    ) async throws {
        let server = try await LiveTestServerTests.server(configure)
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    static func expectError(
        _ code: String, _ operation: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) async -> SMTPError? {
        do {
            try await operation()
            Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
            return nil
        } catch let error as SMTPError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("expected SMTPError \(code), got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static let envelope = try! SMTPEnvelope(sender: "sender@example.com", recipients: ["a@example.com"])

    @Test func repliesSplitAcrossWritesAreReassembled() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("EHLO"), .splitReply), Fault(.endOfData, .splitReply)] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            _ = try await connection.send(Self.envelope, message: LiveTestServerTests.message)
            await connection.close()
            #expect(server.received.count == 1)
        }
    }

    @Test func serviceClosing421MidSessionEndsTheConnection() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("RCPT"), .reply("421 4.3.2 Service shutting down"))] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let error = await Self.expectError("smtp.service_closing") { _ = try await connection.send(Self.envelope, message: [1]) }
            #expect(error?.phase == .rcpt)
            #expect(error?.isTransient == true)
            #expect(!connection.isUsable)
        }
    }

    @Test func droppedBeforeTheDotIsANetworkErrorAndAfterItAmbiguous() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("DATA"), .drop, times: 1), Fault(.endOfData, .drop, times: 1)] }) {
            server in
            let client = LiveTestServerTests.client(server, security: .startTLS)
            let first = try await SMTPConnection.connect(client)
            let before = await Self.expectError("smtp.connection_closed") { _ = try await first.send(Self.envelope, message: [65]) }
            #expect(before?.phase == .data)
            #expect(before?.classification == .network)
            let second = try await SMTPConnection.connect(client)
            let after = await Self.expectError("smtp.no_reply_after_data") { _ = try await second.send(Self.envelope, message: [65]) }
            #expect(after?.phase == .message)
            #expect(server.received.isEmpty)
        }
    }

    /// Sends `count` different messages concurrently over one connection; their outcomes.
    static func sendConcurrently(_ count: Int, over connection: SMTPConnection) async -> [Result<SMTPDeliveryResult, SMTPError>] {
        await withTaskGroup(of: Result<SMTPDeliveryResult, SMTPError>.self) { group in
            for index in 0..<count {
                group.addTask {
                    let message = Array("Subject: \(index)\r\n\r\nbody\r\n".utf8)
                    do {
                        return .success(try await connection.send(Self.envelope, message: message))
                    } catch {
                        let unexpected = SMTPError(code: "unexpected", classification: .protocol, phase: .mail, message: "\(error)")
                        return .failure(error as? SMTPError ?? unexpected)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func concurrentSendsShareOneSessionAndEachGetsItsOwnOutcome() async throws {
        try await Self.withServer({ $0.faults = [Fault(.endOfData, .reply("554 5.7.1 rejected as spam"), times: 2)] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let results = await Self.sendConcurrently(30, over: connection)
            let refused = results.compactMap { result -> SMTPError? in
                if case .failure(let error) = result { return error }
                return nil
            }
            #expect(refused.count == 2)
            #expect(refused.allSatisfy { $0.classification == .contentRejected })
            #expect(server.received.count == 28)
            #expect(Set(server.received.map(\.data)).count == 28)
            #expect(connection.isUsable)
            await connection.close()
            #expect(server.connectionCount == 1)
        }
    }

    static func outcomeCodes(_ outcomes: [Result<SMTPDeliveryResult, SMTPError>]) -> [String] {
        outcomes.map { outcome in
            switch outcome {
            case .success: return "sent"
            case .failure(let error): return error.code
            }
        }
    }

    @Test func aBatchReportsEachMessageInOrder() async throws {
        try await Self.withServer({ $0.faults = [Fault(.endOfData, .reply("554 5.7.1 rejected as spam"), times: 1)] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let recipients = ["a@example.com", "b@example.com", "refuse@example.com", "c@example.com", "d@example.com"]
            let batch = try recipients.enumerated().map { index, recipient in
                SMTPOutgoingMessage(
                    envelope: try SMTPEnvelope(sender: "sender@example.com", recipients: [recipient]),
                    bytes: Array("Subject: \(index)\r\n\r\nbody\r\n".utf8))
            }
            let outcomes = await connection.send(batch)
            // The first dot is refused as spam; the third message's only recipient is refused.
            #expect(Self.outcomeCodes(outcomes) == ["smtp.content_rejected", "sent", "smtp.recipient_rejected", "sent", "sent"])
            #expect(server.received.map(\.recipients) == [["b@example.com"], ["c@example.com"], ["d@example.com"]])
            #expect(connection.isUsable)
            await connection.close()
        }
    }

    /// A message sent while the previous one's final reply is still awaited goes out at once,
    /// behind that content (RFC 2920 3.1), not a round trip later: the server, holding that reply,
    /// already has the next MAIL.
    @Test func aSendMadeWhileTheLastReplyIsAwaitedFollowsItAtOnce() async throws {
        try await Self.withServer({ $0.faults = [Fault(.endOfData, .hold, times: 1)] }) { server in
            var client = LiveTestServerTests.client(server, security: .startTLS)
            client.timeouts = .uniform(.seconds(300))
            let connection = try await SMTPConnection.connect(client)
            let first = Task { try await connection.send(Self.envelope, message: Array("first\r\n".utf8)) }
            _ = try await eventually(timeout: .seconds(60)) { server.heldReplyCount == 1 ? true : nil }
            let second = Task { try await connection.send(Self.envelope, message: Array("second\r\n".utf8)) }
            let followed = try? await eventually(timeout: .seconds(30)) { server.commands.count { $0.hasPrefix("MAIL") } == 2 ? true : nil }
            server.releaseHeldReplies()
            #expect(followed == true, "the second MAIL waited for the first message's reply: \(server.commands)")
            #expect(try await first.value.reply.code == 250)
            #expect(try await second.value.reply.code == 250)
            #expect(server.received.map { String(decoding: $0.data, as: UTF8.self) } == ["first\r\n", "second\r\n"])
            await connection.close()
        }
    }

    @Test func aDropAfterTheDotLeavesOnlyThatMessageAmbiguous() async throws {
        try await Self.withServer({ $0.faults = [Fault(.endOfData, .drop)] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let batch = Array(repeating: SMTPOutgoingMessage(envelope: Self.envelope, bytes: [65]), count: 4)
            let outcomes = await connection.send(batch)
            // The first message's content went out; nothing else did, so nothing else is ambiguous.
            #expect(Self.outcomeCodes(outcomes) == ["smtp.no_reply_after_data"] + Array(repeating: "smtp.connection_closed", count: 3))
            #expect(server.received.isEmpty)
            #expect(!connection.isUsable)
            let late = await connection.send(batch)
            #expect(Self.outcomeCodes(late) == Array(repeating: "smtp.connection_closed", count: 4))
        }
    }

    @Test func garbageIsAProtocolError() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("EHLO"), .garbage)] }) { server in
            let error = await Self.expectError("smtp.malformed_reply") {
                _ = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .plaintext, credentials: nil))
            }
            #expect(error?.classification == .protocol)
            #expect(error?.phase == .ehlo)
        }
    }

    @Test func silentServerTimesOutInTheRightPhase() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("DATA"), .silence)] }) { server in
            var client = LiveTestServerTests.client(server, security: .startTLS)
            // Only the wait for DATA's reply is short: a loaded machine must not time out MAIL instead.
            client.timeouts.dataInitiation = .milliseconds(300)
            let connection = try await SMTPConnection.connect(client)
            let error = await Self.expectError("smtp.timeout") { _ = try await connection.send(Self.envelope, message: [65]) }
            #expect(error?.phase == .data)
            #expect(error?.classification == .timeout)
        }
    }

    /// A connect whose task is cancelled ends at once, whether the server has not greeted yet or
    /// has not answered EHLO: a stop must not wait minutes for either.
    @Test(arguments: ["greeting", "EHLO"])
    func cancellingAConnectEndsItAtOnce(waitingFor step: String) async throws {
        let fault = step == "greeting" ? Fault(.connect, .delay(.seconds(60))) : Fault(.command("EHLO"), .silence)
        try await Self.withServer({ $0.faults = [fault] }) { server in
            var client = LiveTestServerTests.client(server, security: .startTLS)
            client.timeouts = .uniform(.seconds(120))
            client.timeouts.silentGreetingProbe = .seconds(120)
            let started = ContinuousClock.now
            let connect = Task { try await SMTPConnection.connect(client) }
            _ = try await eventually {
                (step == "greeting" ? server.connectionCount >= 1 : server.commands.contains { $0.hasPrefix("EHLO") }) ? true : nil
            }
            connect.cancel()
            let outcome = await connect.result
            let waited = ContinuousClock.now - started
            #expect(waited < .seconds(30), "the connect ended \(waited) after it started, not at the cancellation")
            #expect(throws: CancellationError.self) { try outcome.get() }
        }
    }

    @Test func aLongerWaitOutlivesTheShorterOneBeforeIt() async throws {
        // The timer set for DATA's short wait fires during the final dot's longer one: it must
        // set itself again for the later deadline instead of failing the send.
        try await Self.withServer({ $0.faults = [Fault(.endOfData, .delay(.milliseconds(900)))] }) { server in
            var client = LiveTestServerTests.client(server, security: .plaintext, credentials: nil)
            client.timeouts.dataInitiation = .milliseconds(300)
            client.timeouts.dataTermination = .seconds(30)
            let connection = try await SMTPConnection.connect(client)
            let result = try await connection.send(Self.envelope, message: [65])
            #expect(result.reply.code == 250)
            #expect(result.refused.isEmpty)
        }
    }

    @Test func aShorterWaitAfterALongOneStillEndsOnTime() async throws {
        // The final dot's wait outlives the short timer and moves it a minute on; the NOOP's short
        // wait that follows must bring it forward.
        try await Self.withServer({
            $0.faults = [Fault(.endOfData, .delay(.milliseconds(600)), times: 1), Fault(.command("NOOP"), .silence)]
        }) { server in
            var client = LiveTestServerTests.client(server, security: .plaintext, credentials: nil)
            client.timeouts = .uniform(.seconds(60))
            client.timeouts.command = .milliseconds(300)
            let connection = try await SMTPConnection.connect(client)
            let result = try await connection.send(Self.envelope, message: [65])
            #expect(result.reply.code == 250)
            let started = ContinuousClock.now
            let error = await Self.expectError("smtp.timeout") { try await connection.noop() }
            #expect(error?.classification == .timeout)
            #expect(ContinuousClock.now - started < .seconds(30), "the NOOP's 300 ms wait, not the final dot's 60 s")
        }
    }

    @Test func startTLSNotAdvertisedStopsBeforeAuth() async throws {
        try await Self.withServer({
            $0.offerStartTLS = false
            $0.authRequiresTLS = false
        }) { server in
            let error = await Self.expectError("smtp.starttls_unavailable") {
                _ = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            }
            #expect(error?.classification == .tls)
            #expect(!server.commands.contains { $0.uppercased().hasPrefix("AUTH") })
        }
    }

    @Test func plaintextInjectedAfterStartTLSIsRefused() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("STARTTLS"), .injectAfterStartTLS)] }) { server in
            _ = await Self.expectError("smtp.starttls_injection") {
                _ = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            }
            #expect(!server.commands.contains { $0.uppercased().hasPrefix("AUTH") })
        }
    }

    @Test(arguments: [SMTPSecurity.tls, .startTLS])
    func untrustedCertificateStopsBeforeAuth(security: SMTPSecurity) async throws {
        try await Self.withServer({ $0.implicitTLS = security == .tls }) { server in
            var client = LiveTestServerTests.client(server, security: security)
            client.trustRootsPEM = nil
            let error = await Self.expectError("smtp.certificate_untrusted") { _ = try await SMTPConnection.connect(client) }
            #expect(error?.diagnosis?.contains("tls_ca_pem") == true)
            #expect(!server.commands.contains { $0.uppercased().hasPrefix("AUTH") })
        }
    }

    @Test func verificationCanBeTurnedOffExplicitly() async throws {
        try await Self.withServer({ $0.implicitTLS = true }) { server in
            var client = LiveTestServerTests.client(server, security: .tls)
            client.trustRootsPEM = nil
            client.verifyCertificates = false
            let connection = try await SMTPConnection.connect(client)
            await connection.close()
        }
    }

    @Test(arguments: [SMTPSecurity.startTLS, .plaintext])
    func plaintextClientOnImplicitTLSPortIsDiagnosed(security: SMTPSecurity) async throws {
        try await Self.withServer({ $0.implicitTLS = true }) { server in
            var client = LiveTestServerTests.client(server, security: security)
            client.timeouts.greeting = .seconds(120)  // The probe, not this timeout, must end the wait.
            let error = await Self.expectError("smtp.tls_expected") { _ = try await SMTPConnection.connect(client) }
            #expect(error?.classification == .tls)
            #expect(error?.diagnosis?.contains("expects TLS from the first byte") == true)
            #expect(error?.diagnosis?.contains("Set security=tls") == true)
        }
    }

    @Test func tlsClientOnPlaintextPortIsDiagnosed() async throws {
        try await Self.withServer { server in
            let error = await Self.expectError("smtp.plaintext_expected") {
                _ = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .tls))
            }
            #expect(error?.diagnosis?.contains("security=starttls") == true)
            #expect(error?.description.contains("Unexpected EOF") == false)
        }
    }

    @Test func connectionIsResetAndReusedAfterAFailedTransaction() async throws {
        try await Self.withServer({ $0.faults = [Fault(.command("MAIL"), .reply("550 5.7.1 Sender not allowed"), times: 1)] }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let error = await Self.expectError("smtp.sender_rejected") { _ = try await connection.send(Self.envelope, message: [65]) }
            #expect(error?.countsAgainstAccount == true)
            #expect(connection.isUsable)
            let result = try await connection.send(Self.envelope, message: LiveTestServerTests.message)
            #expect(result.reply.code == 250)
            try await connection.noop()
            await connection.close()
            #expect(server.commands.contains("RSET"))
            #expect(server.received.count == 1)
            #expect(server.connectionCount == 1)
        }
    }

    @Test func refusedRecipientAmongAcceptedOnes() async throws {
        try await Self.withServer { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let envelope = try SMTPEnvelope(
                sender: "sender@example.com", recipients: ["a@example.com", "refuse-me@example.com", "b@example.com"])
            let result = try await connection.send(envelope, message: LiveTestServerTests.message)
            await connection.close()
            #expect(result.refused.map(\.recipient) == ["refuse-me@example.com"])
            #expect(result.refused.first?.reply.enhancedCode?.description == "5.1.1")
            #expect(server.received.first?.recipients == ["a@example.com", "b@example.com"])
        }
    }

    @Test func sizeLimitIsCheckedBeforeMail() async throws {
        try await Self.withServer({ $0.sizeLimit = 100 }) { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            let error = await Self.expectError("smtp.message_too_large") {
                _ = try await connection.send(Self.envelope, message: Array(repeating: 65, count: 200))
            }
            #expect(error?.classification == .tooLarge)
            #expect(!server.commands.contains { $0.hasPrefix("MAIL") })
            #expect(connection.isUsable)
            await connection.close()
        }
    }

    @Test func smtputf8RecipientIsAnnounced() async throws {
        try await Self.withServer { server in
            let connection = try await SMTPConnection.connect(LiveTestServerTests.client(server, security: .startTLS))
            _ = try await connection.send(try SMTPEnvelope(sender: "sender@example.com", recipients: ["用户@例子.测试"]), message: [65])
            await connection.close()
            #expect(server.received.first?.mailParameters.contains("SMTPUTF8") == true)
            #expect(server.received.first?.recipients == ["用户@例子.测试"])
        }
    }

    @Test func wrongPasswordIsAnAuthErrorAndNeverShown() async throws {
        try await Self.withServer { server in
            let client = LiveTestServerTests.client(
                server, security: .startTLS, credentials: .password(username: "sender@example.com", password: "wrong-secret"))
            let error = await Self.expectError("smtp.auth_failed") { _ = try await SMTPConnection.connect(client) }
            #expect(error?.classification == .auth)
            #expect(error.map { "\($0)" }?.contains("wrong-secret") == false)
        }
    }

    @Test func ehloHostNameWithALineBreakIsRefusedBeforeConnecting() async throws {
        var client = SMTPClientConfiguration(host: "127.0.0.1", port: 1, security: .plaintext)
        client.localHostname = "client.example\r\nRCPT TO:<x@evil.com>"
        _ = await Self.expectError("smtp.invalid_argument") { _ = try await SMTPConnection.connect(client) }
    }

    @Test func connectionRefusedIsANetworkError() async throws {
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let port = refusing.port
        var client = SMTPClientConfiguration(host: "127.0.0.1", port: port, security: .plaintext)
        client.timeouts = .uniform(.seconds(5))
        let error = await Self.expectError("smtp.connect_failed") { _ = try await SMTPConnection.connect(client) }
        #expect(error?.classification == .network)
        #expect(error?.message == "could not connect to 127.0.0.1:\(port): the connection was refused", "not NIO's description")
        #expect(error?.diagnosis?.contains("check smtp_port") == true, "\(String(describing: error?.diagnosis))")
    }

    /// A connect that gets no answer times out as a timeout, and ends at once when its task is
    /// cancelled instead of waiting for that timeout.
    @Test func aConnectWithNoAnswerTimesOutOrEndsWhenCancelled() async throws {
        let stalled = try StalledPort()
        defer { stalled.close() }
        var client = SMTPClientConfiguration(host: "127.0.0.1", port: stalled.port, security: .plaintext)
        client.timeouts = .uniform(.milliseconds(500))
        let error = await Self.expectError("smtp.connect_timeout") { _ = try await SMTPConnection.connect(client) }
        #expect(error?.classification == .timeout)

        client.timeouts = .uniform(.seconds(120))
        let started = ContinuousClock.now
        let connect = Task { [client] in try await SMTPConnection.connect(client) }
        connect.cancel()
        let outcome = await connect.result
        let waited = ContinuousClock.now - started
        #expect(waited < .seconds(30), "the connect ended \(waited) after it started, not at the cancellation")
        #expect(throws: CancellationError.self) { try outcome.get() }
    }

    /// A server that hangs up on the ClientHello is described in words: not NIOSSL's nested enum
    /// with BoringSSL's source paths, nor an errno.
    @Test func aServerThatHangsUpOnTheHandshakeIsSaidInWords() async throws {
        var configuration = SMTPTestServer.Configuration()
        configuration.faults = [.init(.connect, .drop)]
        let server = try await SMTPTestServer.start(configuration)
        defer { Task { await server.stop() } }
        var client = SMTPClientConfiguration(host: "127.0.0.1", port: server.port, security: .tls)
        client.timeouts = .uniform(.seconds(5))
        do {
            _ = try await SMTPConnection.connect(client)
            Issue.record("the handshake cannot succeed")
        } catch let error as SMTPError {
            // The server's close reaches the client as an end of stream or, when the ClientHello
            // was still unread, as a reset.
            let handshake = "the TLS handshake with 127.0.0.1:\(server.port) failed: the server"
            if error.message == handshake + " reset the connection during the handshake" {
                #expect(error.code == "smtp.network_error" && error.classification == .network, "a reset is retried")
            } else {
                #expect(error.message == handshake + " closed the connection during the handshake", "\(error)")
                #expect(error.code == "smtp.tls_handshake_failed" && error.classification == .tls)
            }
            #expect(error.phase == .tls)
        } catch {
            Issue.record("expected an SMTPError, got \(error)")
        }
        #expect(SMTPConnection.tlsFailure(NIOSSLError.handshakeFailed(.sslError([.eofDuringHandshake]))).hasPrefix("the server closed"))
    }

    @Test func aHostNameWithNoAddressIsSaidInWords() async throws {
        var client = SMTPClientConfiguration(host: "nosuch.invalid", port: 25, security: .plaintext)
        client.timeouts = .uniform(.seconds(5))
        let error = await Self.expectError("smtp.connect_failed") { _ = try await SMTPConnection.connect(client) }
        let resolved = "could not connect to nosuch.invalid:25: the host name nosuch.invalid could not be resolved"
        #expect(error?.message.hasPrefix(resolved) == true, "\(String(describing: error))")
        #expect(error?.diagnosis == "Check smtp_host.")
    }
}
