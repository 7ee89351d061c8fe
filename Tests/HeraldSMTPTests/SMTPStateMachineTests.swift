import Testing

@testable import HeraldSMTP

func reply(_ code: Int, _ lines: String...) -> SMTPReply { SMTPReply(code: code, lines: lines.isEmpty ? [""] : lines) }

let ehloWithEverything = reply(250, "mx.example.com", "PIPELINING", "SIZE 1000", "STARTTLS", "AUTH PLAIN LOGIN XOAUTH2", "SMTPUTF8", "DSN")

@Suite struct SMTPStateMachineTests {
    static func machine(
        _ security: SMTPSecurity = .startTLS, credentials: SMTPCredentials? = .password(username: "u@qq.com", password: "code"),
        allowPlaintextAuth: Bool = false
    ) -> SMTPStateMachine {
        SMTPStateMachine(
            configuration: .init(
                security: security, credentials: credentials, hostname: "client.example", allowPlaintextAuth: allowPlaintextAuth))
    }

    /// Runs a machine to the ready state over STARTTLS with AUTH PLAIN.
    static func ready(_ ehlo: SMTPReply = ehloWithEverything) -> SMTPStateMachine {
        var machine = machine()
        _ = machine.replyReceived(reply(220))
        _ = machine.replyReceived(ehlo)
        _ = machine.replyReceived(reply(220))
        _ = machine.tlsEstablished()
        _ = machine.replyReceived(ehlo)
        _ = machine.replyReceived(reply(235))
        return machine
    }

    @Test func startTLSSessionWithAuthPlain() {
        var machine = Self.machine()
        #expect(machine.replyReceived(reply(220, "mx ESMTP")) == .send(.ehlo("client.example")))
        #expect(machine.replyReceived(ehloWithEverything) == .send(.startTLS))
        #expect(machine.replyReceived(reply(220, "2.0.0 go ahead")) == .startTLS)
        // RFC 3207: capabilities are forgotten and asked for again over TLS.
        #expect(machine.tlsEstablished() == .send(.ehlo("client.example")))
        #expect(machine.capabilities == nil)
        #expect(machine.replyReceived(ehloWithEverything) == .send(.auth(mechanism: "PLAIN", initialResponse: "AHVAcXEuY29tAGNvZGU=")))
        #expect(machine.replyReceived(reply(235, "2.7.0 ok")) == .sessionReady(SMTPCapabilities(ehloReply: ehloWithEverything)))
        #expect(machine.isReady)
    }

    @Test func implicitTLSGreetsAfterTheHandshake() {
        var machine = Self.machine(.tls, credentials: nil)
        #expect(machine.tlsEstablished() == .wait)
        #expect(machine.replyReceived(reply(220)) == .send(.ehlo("client.example")))
        #expect(
            machine.replyReceived(reply(250, "mx", "AUTH PLAIN"))
                == .sessionReady(SMTPCapabilities(ehloReply: reply(250, "mx", "AUTH PLAIN"))))
    }

    @Test func authLoginAnswersBothChallenges() {
        var machine = Self.machine(.tls)
        _ = machine.tlsEstablished()
        _ = machine.replyReceived(reply(220))
        #expect(machine.replyReceived(reply(250, "mx", "AUTH LOGIN")) == .send(.auth(mechanism: "LOGIN", initialResponse: nil)))
        #expect(machine.replyReceived(reply(334, "VXNlcm5hbWU6")) == .send(.authResponse("dUBxcS5jb20=")))
        #expect(machine.replyReceived(reply(334, "UGFzc3dvcmQ6")) == .send(.authResponse("Y29kZQ==")))
        #expect(machine.replyReceived(reply(235)) == .sessionReady(SMTPCapabilities(ehloReply: reply(250, "mx", "AUTH LOGIN"))))
    }

    @Test func xoauth2FailureIsAnsweredThenReported() {
        var machine = Self.machine(.tls, credentials: .oauth2(username: "u@gmail.com", accessToken: "tok"))
        _ = machine.tlsEstablished()
        _ = machine.replyReceived(reply(220))
        let ehlo = reply(250, "mx", "AUTH PLAIN XOAUTH2")
        #expect(
            machine.replyReceived(ehlo)
                == .send(
                    .auth(mechanism: "XOAUTH2", initialResponse: SMTPStateMachine.base64("user=u@gmail.com\u{1}auth=Bearer tok\u{1}\u{1}")))
        )
        #expect(machine.replyReceived(reply(334, "eyJzdGF0dXMiOiI0MDEifQ==")) == .send(.authResponse("")))
        guard case .close(let error?) = machine.replyReceived(reply(535, "5.7.8 bad token")) else { Issue.record("expected close"); return }
        #expect(error.classification == .auth)
    }

    @Test func wrongPasswordIsAnAuthErrorWithADiagnosis() {
        var machine = Self.machine(.tls)
        _ = machine.tlsEstablished()
        _ = machine.replyReceived(reply(220))
        _ = machine.replyReceived(reply(250, "mx", "AUTH PLAIN"))
        guard case .close(let error?) = machine.replyReceived(reply(535, "Login fail. Account is abnormal")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == "smtp.auth_failed")
        #expect(error.classification == .auth)
        #expect(error.phase == .auth)
        #expect(!error.isTransient)
        #expect(error.diagnosis?.contains("authorisation code") == true)
        #expect(!error.description.contains("code\""))
    }

    @Test func missingStartTLSStopsBeforeAnyAuthByte() {
        var machine = Self.machine(.startTLS)
        _ = machine.replyReceived(reply(220))
        guard case .close(let error?) = machine.replyReceived(reply(250, "mx", "AUTH PLAIN LOGIN")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == "smtp.starttls_unavailable")
        #expect(error.classification == .tls)
    }

    @Test func refusedStartTLSStopsTheSession() {
        var machine = Self.machine(.startTLS)
        _ = machine.replyReceived(reply(220))
        _ = machine.replyReceived(ehloWithEverything)
        guard case .close(let error?) = machine.replyReceived(reply(454, "4.7.0 TLS not available")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == "smtp.starttls_failed")
    }

    @Test func plaintextAuthIsRefusedUnlessAllowed() {
        var machine = Self.machine(.plaintext)
        _ = machine.replyReceived(reply(220))
        guard case .close(let error?) = machine.replyReceived(reply(250, "mx", "AUTH PLAIN")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == "smtp.plaintext_auth_refused")
        var allowed = Self.machine(.plaintext, allowPlaintextAuth: true)
        _ = allowed.replyReceived(reply(220))
        #expect(
            allowed.replyReceived(reply(250, "mx", "AUTH PLAIN"))
                == .send(.auth(mechanism: "PLAIN", initialResponse: "AHVAcXEuY29tAGNvZGU=")))
    }

    @Test func ehloUnknownFallsBackToHELO() {
        var machine = Self.machine(.plaintext, credentials: nil)
        _ = machine.replyReceived(reply(220))
        #expect(machine.replyReceived(reply(502, "5.5.1 unrecognized")) == .send(.helo("client.example")))
        guard case .sessionReady(let capabilities) = machine.replyReceived(reply(250, "mx")) else {
            Issue.record("expected ready")
            return
        }
        #expect(capabilities.isLegacyHELO)
        #expect(!capabilities.supportsPipelining)
    }

    @Test func greetingRefusalAnd421AreErrors() {
        var refused = Self.machine()
        guard case .close(let error?) = refused.replyReceived(reply(554, "5.7.1 no service for you")) else {
            Issue.record("expected close"); return
        }
        #expect(error.phase == .greeting)
        #expect(error.classification == .permanent)

        var closing = Self.ready()
        _ = closing.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 10)
        guard case .close(let closed?) = closing.replyReceived(reply(421, "4.7.0 Too many connections, try again later")) else {
            Issue.record("expected close"); return
        }
        #expect(closed.classification == .rateLimited)
        #expect(closed.phase == .mail)
        #expect(!closing.isReady)
    }

    // MARK: Transactions

    @Test func pipelinedTransactionWithOneRefusedRecipient() {
        var machine = Self.ready()
        let envelope = try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com", "refuse@x.com", "b@x.com"])
        #expect(
            machine.transactionRequested(envelope, size: 100)
                == .sendPipelined([
                    .mail(from: "u@qq.com", parameters: ["SIZE=100"]), .recipient(to: "a@x.com", parameters: []),
                    .recipient(to: "refuse@x.com", parameters: []), .recipient(to: "b@x.com", parameters: []), .data,
                ]))
        #expect(machine.replyReceived(reply(250)) == .wait)
        #expect(machine.replyReceived(reply(250)) == .wait)
        #expect(machine.replyReceived(reply(550, "5.1.1 no such user")) == .wait)
        #expect(machine.replyReceived(reply(250)) == .wait)
        #expect(machine.replyReceived(reply(354)) == .sendMessageContent)
        guard case .transactionSucceeded(let result) = machine.replyReceived(reply(250, "2.0.0 queued")) else {
            Issue.record("expected success"); return
        }
        #expect(result.recipients.map(\.accepted) == [true, false, true])
        #expect(result.refused.map(\.recipient) == ["refuse@x.com"])
        #expect(machine.isReady)
    }

    @Test func withoutPipeliningCommandsGoOneByOne() {
        var machine = Self.ready(reply(250, "mx", "STARTTLS", "AUTH PLAIN"))
        let envelope = try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com", "b@x.com"])
        #expect(machine.transactionRequested(envelope, size: 100) == .send(.mail(from: "u@qq.com", parameters: [])))
        #expect(machine.replyReceived(reply(250)) == .send(.recipient(to: "a@x.com", parameters: [])))
        #expect(machine.replyReceived(reply(250)) == .send(.recipient(to: "b@x.com", parameters: [])))
        #expect(machine.replyReceived(reply(250)) == .send(.data))
    }

    @Test func refusedSenderResetsAndReportsOnceTheSessionIsClean() {
        var machine = Self.ready(reply(250, "mx", "STARTTLS", "AUTH PLAIN"))
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "other@qq.com", recipients: ["a@x.com"]), size: 1)
        #expect(machine.replyReceived(reply(501, "mail from address must be same as authorization user")) == .send(.rset))
        guard case .transactionFailed(let error) = machine.replyReceived(reply(250)) else { Issue.record("expected failure"); return }
        #expect(error.classification == .senderRejected)
        #expect(error.countsAgainstAccount)
        #expect(error.diagnosis?.contains("account you log in with") == true)
        #expect(machine.isReady)
    }

    @Test func allRecipientsRefusedIsRecipientRejectedWithEachReply() {
        var machine = Self.ready()
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["x@x.com", "y@x.com"]), size: 1)
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(550, "5.1.1 unknown"))
        #expect(machine.replyReceived(reply(550, "5.1.1 unknown")) == .wait)
        #expect(machine.replyReceived(reply(554, "5.5.1 no valid recipients")) == .send(.rset))
        guard case .transactionFailed(let error) = machine.replyReceived(reply(250)) else { Issue.record("expected failure"); return }
        #expect(error.classification == .recipientRejected)
        #expect(error.recipients.map(\.recipient) == ["x@x.com", "y@x.com"])
        #expect(!error.countsAgainstAccount)
    }

    @Test func spamRejectionAfterTheDotIsContentRejected() {
        var machine = Self.ready()
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 1)
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(354))
        guard case .transactionFailed(let error) = machine.replyReceived(reply(554, "DT:SPM 163 smtp, mail is rejected as spam")) else {
            Issue.record("expected failure"); return
        }
        #expect(error.classification == .contentRejected)
        #expect(error.phase == .message)
        #expect(machine.isReady)
    }

    @Test func connectionLostAfterTheDotIsAmbiguous() {
        var machine = Self.ready()
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 1)
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(354))
        guard case .close(let error?) = machine.connectionClosed() else { Issue.record("expected close"); return }
        #expect(error.code == "smtp.no_reply_after_data")
        #expect(error.phase == .message)
    }

    @Test func dataOpenedWithoutValidRecipientsIsClosedEmptyAndReported() {
        var machine = Self.ready()
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["x@x.com"]), size: 1)
        _ = machine.replyReceived(reply(250))
        _ = machine.replyReceived(reply(550, "5.1.1 unknown"))
        #expect(machine.replyReceived(reply(354)) == .send(.endOfData))
        guard case .transactionFailed(let error) = machine.replyReceived(reply(554, "no recipients")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.classification == .recipientRejected)
        #expect(machine.isReady)
    }

    @Test func limitsAreCheckedBeforeMail() {
        var machine = Self.ready()
        guard
            case .transactionFailed(let tooLarge) = machine.transactionRequested(
                try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 5000)
        else {
            Issue.record("expected failure"); return
        }
        #expect(tooLarge.classification == .tooLarge)
        #expect(machine.isReady)

        var noUTF8 = Self.ready(reply(250, "mx", "STARTTLS", "AUTH PLAIN"))
        guard
            case .transactionFailed(let utf8) = noUTF8.transactionRequested(
                try! SMTPEnvelope(sender: "u@qq.com", recipients: ["用户@x.com"]), size: 1)
        else {
            Issue.record("expected failure"); return
        }
        #expect(utf8.code == "smtp.smtputf8_unsupported")
        #expect(machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["用户@x.com"]), size: 1) != .wait)
    }

    @Test func dsnParametersWhenAskedAndOffered() {
        var machine = Self.ready()
        var envelope = try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"])
        envelope.dsn = .init(notify: ["FAILURE", "DELAY"], returnContent: "HDRS", envelopeID: "id+1")
        #expect(
            machine.transactionRequested(envelope, size: 1)
                == .sendPipelined([
                    .mail(from: "u@qq.com", parameters: ["SIZE=1", "RET=HDRS", "ENVID=id+2B1"]),
                    .recipient(to: "a@x.com", parameters: ["NOTIFY=FAILURE,DELAY"]), .data,
                ]))
    }

    @Test func dsnKeywordsAreValidated() {
        var machine = Self.ready()
        var envelope = try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"])
        envelope.dsn = .init(notify: ["FAILURE ORCPT=rfc822;x@evil.com"])
        guard case .transactionFailed(let error) = machine.transactionRequested(envelope, size: 1) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == "smtp.invalid_argument")
        #expect(machine.isReady)
    }

    // MARK: Transactions pipelined behind the previous content

    static let nextEnvelope = try! SMTPEnvelope(sender: "u@qq.com", recipients: ["b@x.com"])

    /// A machine whose transaction for a@x.com has had its 354: its content is going out.
    static func sendingContent(_ ehlo: SMTPReply = ehloWithEverything) -> SMTPStateMachine {
        var machine = ready(ehlo)
        _ = machine.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 10)
        for code in [250, 250] { _ = machine.replyReceived(reply(code)) }
        #expect(machine.replyReceived(reply(354)) == .sendMessageContent)
        return machine
    }

    @Test func theNextTransactionGoesOutBehindTheContentAndStartsAfterTheDotsReply() {
        var machine = Self.sendingContent()
        let commands = machine.transactionRequestedBehindContent(Self.nextEnvelope, size: 20)
        #expect(
            commands
                == .success([.mail(from: "u@qq.com", parameters: ["SIZE=20"]), .recipient(to: "b@x.com", parameters: []), .data]))
        // One follower at a time: a third message waits for its own turn.
        #expect(machine.transactionRequestedBehindContent(Self.nextEnvelope, size: 20) == nil)
        #expect(machine.phase == .message)
        guard case .transactionSucceeded(let first) = machine.replyReceived(reply(250, "2.0.0 queued as A")) else {
            Issue.record("expected the first message's success"); return
        }
        #expect(first.recipients.map(\.recipient) == ["a@x.com"])
        // The next replies belong to the follower, which is now the current transaction.
        #expect(machine.phase == .mail)
        #expect(machine.replyReceived(reply(250)) == .wait)
        #expect(machine.replyReceived(reply(250)) == .wait)
        #expect(machine.replyReceived(reply(354)) == .sendMessageContent)
        guard case .transactionFailed(let second) = machine.replyReceived(reply(554, "5.7.1 spam")) else {
            Issue.record("expected the second message's refusal"); return
        }
        #expect(second.classification == .contentRejected)
        #expect(second.recipients.map(\.recipient) == ["b@x.com"])
        #expect(machine.isReady)
    }

    @Test func aRefusedDotDoesNotTouchTheFollower() {
        var machine = Self.sendingContent()
        _ = machine.transactionRequestedBehindContent(Self.nextEnvelope, size: 20)
        guard case .transactionFailed(let error) = machine.replyReceived(reply(554, "5.7.1 spam")) else {
            Issue.record("expected failure"); return
        }
        #expect(error.recipients.map(\.recipient) == ["a@x.com"])
        #expect(machine.phase == .mail)
        #expect(machine.replyReceived(reply(550, "5.7.1 sender refused")) == .wait)
        #expect(machine.replyReceived(reply(250)) == .wait)
        // DATA refused after MAIL was: RSET, then the follower's own error.
        #expect(machine.replyReceived(reply(503, "5.5.1 no valid sender")) == .send(.rset))
        guard case .transactionFailed(let follower) = machine.replyReceived(reply(250)) else { Issue.record("expected failure"); return }
        #expect(follower.classification == .senderRejected)
        #expect(machine.isReady)
    }

    @Test func nothingGoesOutBehindContentWithoutPipeliningOrBeforeThe354() {
        var plain = Self.sendingContent(reply(250, "mx", "STARTTLS", "AUTH PLAIN"))
        #expect(plain.transactionRequestedBehindContent(Self.nextEnvelope, size: 20) == nil)
        var ready = Self.ready()
        #expect(ready.transactionRequestedBehindContent(Self.nextEnvelope, size: 20) == nil)
        _ = ready.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 10)
        #expect(ready.transactionRequestedBehindContent(Self.nextEnvelope, size: 20) == nil)
        // A DATA opened with no valid recipient gets an empty message end: nothing rides on it.
        var abandoned = Self.ready()
        _ = abandoned.transactionRequested(try! SMTPEnvelope(sender: "u@qq.com", recipients: ["a@x.com"]), size: 10)
        _ = abandoned.replyReceived(reply(250))
        _ = abandoned.replyReceived(reply(550, "5.1.1 unknown"))
        #expect(abandoned.replyReceived(reply(354)) == .send(.endOfData))
        #expect(abandoned.transactionRequestedBehindContent(Self.nextEnvelope, size: 20) == nil)
    }

    @Test func aFollowerTheServerCannotTakeIsRefusedBeforeAnyByte() {
        var machine = Self.sendingContent()
        guard case .failure(let error)? = machine.transactionRequestedBehindContent(Self.nextEnvelope, size: 5000) else {
            Issue.record("expected the SIZE refusal"); return
        }
        #expect(error.code == "smtp.message_too_large")
        #expect(machine.follower == nil)
        guard case .transactionSucceeded = machine.replyReceived(reply(250)) else { Issue.record("expected success"); return }
        #expect(machine.isReady)
    }

    @Test func connectionLostWithAFollowerLeavesOnlyTheSentMessageAmbiguous() {
        var machine = Self.sendingContent()
        _ = machine.transactionRequestedBehindContent(Self.nextEnvelope, size: 20)
        guard case .close(let error?) = machine.connectionClosed() else { Issue.record("expected close"); return }
        #expect(error.code == "smtp.no_reply_after_data")
        #expect(machine.follower == nil)
    }

    @Test func noopAndQuit() {
        var machine = Self.ready()
        #expect(machine.noopRequested() == .send(.noop))
        #expect(machine.replyReceived(reply(250)) == .noopSucceeded)
        #expect(machine.quitRequested() == .send(.quit))
        #expect(machine.replyReceived(reply(221)) == .close(nil))
        // A second QUIT on an ended session completes at once instead of waiting for a reply.
        #expect(machine.quitRequested() == .close(nil))
    }
}

@Suite struct SMTPErrorClassificationTests {
    @Test(arguments: [
        (reply(550, "5.1.1 user unknown"), SMTPError.Phase.rcpt, SMTPError.Classification.recipientRejected),
        (reply(553, "sorry, that domain isn't in my list"), .rcpt, .recipientRejected),
        (reply(451, "4.7.1 frequency limited"), .mail, .rateLimited),
        (reply(450, "Requested mail action not taken: too many messages"), .rcpt, .rateLimited),
        (reply(421, "4.7.0 rate limit exceeded"), .data, .rateLimited),
        (reply(451, "4.3.0 temporary failure"), .message, .transient),
        (reply(452, "4.3.1 insufficient storage"), .rcpt, .transient),
        (reply(535, "5.7.8 Error: authentication failed"), .auth, .auth),
        (reply(454, "4.7.0 Temporary authentication failure"), .auth, .auth),
        (reply(530, "5.7.0 Authentication required"), .mail, .auth),
        (reply(501, "mail from address must be same as authorization user"), .mail, .senderRejected),
        (reply(553, "5.7.1 Sender address rejected: not owned by user"), .mail, .senderRejected),
        (reply(552, "5.3.4 Message size exceeds fixed limit"), .message, .tooLarge),
        (reply(554, "DT:SPM 163 smtp5"), .message, .contentRejected),
        (reply(550, "The \"From\" header is missing or invalid"), .message, .contentRejected),
        (reply(554, "5.6.0 malformed"), .message, .contentRejected),
        (reply(554, "transaction failed"), .message, .permanent),
        (reply(500, "unknown"), .noop, .permanent),
    ])
    func repliesAreClassifiedByTheDesignTable(reply: SMTPReply, phase: SMTPError.Phase, expected: SMTPError.Classification) {
        #expect(SMTPError.rejected(reply, in: phase).classification == expected)
    }

    @Test func onlyTemporaryAuthFailureIsRetried() {
        #expect(SMTPError.rejected(reply(454, "4.7.0 try later"), in: .auth).isTransient)
        #expect(!SMTPError.rejected(reply(535, "5.7.8 bad"), in: .auth).isTransient)
    }
}
