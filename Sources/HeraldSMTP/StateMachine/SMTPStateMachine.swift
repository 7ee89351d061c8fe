import Foundation

/// The SMTP client protocol as a value type: events in (replies, TLS up, connection closed,
/// requests), actions out (send this, start TLS, report that). No I/O, clock or logger inside,
/// so every exchange is tested without a socket; `SMTPChannelHandler` runs the actions.
struct SMTPStateMachine {
    struct Configuration: Sendable {
        var security: SMTPSecurity
        var credentials: SMTPCredentials?
        var hostname: String
        /// AUTH over plaintext is allowed (loopback host, or explicitly).
        var allowPlaintextAuth: Bool
    }

    enum Authentication: Equatable {
        case plain
        case loginAwaitingUsernamePrompt
        case loginAwaitingPasswordPrompt
        case loginAwaitingResult
        case xoauth2
        case xoauth2AwaitingFailure
    }

    enum State {
        case awaitingGreeting
        case awaitingEHLO(afterTLS: Bool)
        case awaitingHELO
        case awaitingStartTLS
        case negotiatingTLS
        case authenticating(Authentication)
        case ready
        case transaction(Transaction)
        /// RSET after a failed transaction; the error is reported once the session is clean again.
        case resetting(SMTPError)
        case awaitingNoop
        case quitting
        case closed
    }

    enum Action: Equatable {
        case wait
        case send(SMTPCommand)
        /// MAIL and RCPT written together (RFC 2920).
        case sendPipelined([SMTPCommand])
        /// Insert the TLS handler and begin the handshake.
        case startTLS
        case sessionReady(SMTPCapabilities)
        /// Write the dot-stuffed message and the final dot.
        case sendMessageContent
        case transactionSucceeded(SMTPDeliveryResult)
        case transactionFailed(SMTPError)
        case noopSucceeded
        /// Close the connection; with an error, fail whatever is pending.
        case close(SMTPError?)
    }

    let configuration: Configuration
    /// Written only by the machine itself (this file and its Transaction extension).
    var state: State = .awaitingGreeting
    private(set) var capabilities: SMTPCapabilities?
    private(set) var tlsActive = false
    /// A transaction whose commands went out behind the current message's content; see
    /// `transactionRequestedBehindContent`. Written only by the machine, like `state`.
    var follower: Transaction?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The phase whose reply is awaited; chooses the timeout and labels errors.
    var phase: SMTPError.Phase {
        switch state {
        case .awaitingGreeting: return .greeting
        case .awaitingEHLO, .awaitingHELO: return .ehlo
        case .awaitingStartTLS, .negotiatingTLS: return .startTLS
        case .authenticating: return .auth
        case .ready, .closed: return .quit
        case .transaction(let transaction): return transaction.phase
        case .resetting: return .rset
        case .awaitingNoop: return .noop
        case .quitting: return .quit
        }
    }

    var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    // MARK: - Events

    mutating func tlsEstablished() -> Action {
        tlsActive = true
        switch state {
        case .negotiatingTLS:
            // RFC 3207 4.2: forget what was learnt before TLS and ask again.
            capabilities = nil
            state = .awaitingEHLO(afterTLS: true)
            return .send(.ehlo(configuration.hostname))
        case .awaitingGreeting:
            return .wait  // Implicit TLS: the greeting comes next.
        case .awaitingEHLO, .awaitingHELO, .awaitingStartTLS, .authenticating, .ready, .transaction, .resetting,
            .awaitingNoop, .quitting, .closed:
            return fail(
                SMTPError(code: "smtp.protocol_error", classification: .protocol, phase: phase, message: "TLS started unexpectedly"))
        }
    }

    mutating func replyReceived(_ reply: SMTPReply) -> Action {
        if reply.code == 421 && phase != .quit {
            // RFC 5321 3.8: the server is closing the channel, at any point.
            return fail(.rejected(reply, in: phase))
        }
        switch state {
        case .awaitingGreeting:
            guard reply.code == 220 else { return fail(.rejected(reply, in: .greeting)) }
            state = .awaitingEHLO(afterTLS: tlsActive)
            return .send(.ehlo(configuration.hostname))
        case .awaitingEHLO(let afterTLS):
            return ehloReplied(reply, afterTLS: afterTLS)
        case .awaitingHELO:
            guard reply.isPositive else { return fail(.rejected(reply, in: .ehlo)) }
            capabilities = SMTPCapabilities.legacyHELO
            return helloCompleted()
        case .awaitingStartTLS:
            guard reply.code == 220 else {
                return fail(
                    SMTPError(
                        code: "smtp.starttls_failed", classification: .tls, phase: .startTLS, reply: reply,
                        message: "the server refused STARTTLS",
                        diagnosis: "STARTTLS is required by this account's security=starttls; the session stopped before AUTH."))
            }
            state = .negotiatingTLS
            return .startTLS
        case .negotiatingTLS:
            return fail(
                SMTPError(
                    code: "smtp.protocol_error", classification: .protocol, phase: .startTLS, reply: reply,
                    message: "a reply arrived during the TLS handshake"))
        case .authenticating(let step):
            return authenticationReplied(reply, step: step)
        case .transaction(var transaction):
            let action = transaction.replyReceived(reply)
            return afterTransactionStep(transaction, action)
        case .resetting(let error):
            guard reply.isPositive else { return fail(error) }
            state = .ready
            return .transactionFailed(error)
        case .awaitingNoop:
            guard reply.isPositive else { return fail(.rejected(reply, in: .noop)) }
            state = .ready
            return .noopSucceeded
        case .quitting:
            state = .closed
            return .close(nil)
        case .ready, .closed:
            return fail(
                SMTPError(
                    code: "smtp.protocol_error", classification: .protocol, phase: phase, reply: reply,
                    message: "the server sent a reply nobody asked for"))
        }
    }

    /// The connection ended (EOF or reset) without our QUIT.
    mutating func connectionClosed() -> Action {
        switch state {
        case .closed:
            return .wait
        case .quitting:
            state = .closed
            return .close(nil)
        case .transaction(let transaction) where transaction.phase == .message:
            return fail(
                SMTPError(
                    code: "smtp.no_reply_after_data", classification: .network, phase: .message,
                    message: "the connection closed after the message was sent but before the server replied; "
                        + "it may have been delivered (ambiguous attempt)"))
        default:
            return fail(
                SMTPError(
                    code: "smtp.connection_closed", classification: .network, phase: phase,
                    message: "the server closed the connection during \(phase.rawValue.uppercased())"))
        }
    }

    /// A transport error, timeout or decoding error: the session cannot go on.
    mutating func errorOccurred(_ error: SMTPError) -> Action {
        if case .closed = state { return .wait }
        return fail(error)
    }

    mutating func noopRequested() -> Action {
        guard case .ready = state else { return .transactionFailed(notReady()) }
        state = .awaitingNoop
        return .send(.noop)
    }

    mutating func quitRequested() -> Action {
        switch state {
        case .closed:
            return .close(nil)  // Already ended: nothing to say, the caller's QUIT is done.
        case .ready:
            state = .quitting
            return .send(.quit)
        default:
            state = .closed
            return .close(nil)
        }
    }

    mutating func fail(_ error: SMTPError) -> Action {
        state = .closed
        follower = nil
        return .close(error)
    }

    func notReady() -> SMTPError {
        SMTPError(
            code: "smtp.connection_unusable", classification: .network, phase: phase,
            message: "the connection is not ready for a new command")
    }

    // MARK: - Greeting, EHLO, AUTH

    private mutating func ehloReplied(_ reply: SMTPReply, afterTLS: Bool) -> Action {
        guard reply.isPositive else {
            // RFC 5321 3.2: a server that does not know EHLO answers 500/502; fall back to HELO,
            // unless extensions are required (STARTTLS) or TLS is already up (EHLO worked before).
            if [500, 502].contains(reply.code), !(configuration.security == .startTLS && !tlsActive) {
                state = .awaitingHELO
                return .send(.helo(configuration.hostname))
            }
            return fail(.rejected(reply, in: .ehlo))
        }
        let capabilities = SMTPCapabilities(ehloReply: reply)
        self.capabilities = capabilities
        if configuration.security == .startTLS && !tlsActive {
            guard capabilities.supportsStartTLS else {
                return fail(
                    SMTPError(
                        code: "smtp.starttls_unavailable", classification: .tls, phase: .ehlo, reply: reply,
                        message: "the server does not offer STARTTLS",
                        diagnosis: "This account requires STARTTLS (security=starttls) and the server did not advertise it, "
                            + "so the session stopped before AUTH. If the port expects TLS from the first byte, use "
                            + "security=tls; use security=none only for a trusted local relay."))
            }
            state = .awaitingStartTLS
            return .send(.startTLS)
        }
        return helloCompleted()
    }

    private mutating func helloCompleted() -> Action {
        guard let credentials = configuration.credentials else {
            state = .ready
            return .sessionReady(capabilities ?? SMTPCapabilities.legacyHELO)
        }
        guard tlsActive || configuration.allowPlaintextAuth else {
            return fail(
                SMTPError(
                    code: "smtp.plaintext_auth_refused", classification: .tls, phase: .auth,
                    message: "refusing to send credentials over an unencrypted connection",
                    diagnosis: "Use security=tls or security=starttls; AUTH over security=none is allowed only to a "
                        + "loopback host or when explicitly allowed."))
        }
        let offered = capabilities?.authMechanisms ?? []
        switch credentials {
        case .password(let username, let password):
            if offered.contains("PLAIN") {
                state = .authenticating(.plain)
                return .send(.auth(mechanism: "PLAIN", initialResponse: Self.base64("\0\(username)\0\(password)")))
            }
            if offered.contains("LOGIN") {
                state = .authenticating(.loginAwaitingUsernamePrompt)
                return .send(.auth(mechanism: "LOGIN", initialResponse: nil))
            }
        case .oauth2(let username, let token):
            if offered.contains("XOAUTH2") {
                state = .authenticating(.xoauth2)
                return .send(
                    .auth(mechanism: "XOAUTH2", initialResponse: Self.base64("user=\(username)\u{1}auth=Bearer \(token)\u{1}\u{1}")))
            }
        }
        return fail(
            SMTPError(
                code: "smtp.auth_unavailable", classification: .auth, phase: .auth,
                message:
                    "the server offers no AUTH mechanism Herald can use (offered: \(offered.isEmpty ? "none" : offered.joined(separator: " ")))",
                diagnosis: offered.isEmpty && !tlsActive
                    ? "Many servers offer AUTH only after TLS: use security=starttls or security=tls." : nil))
    }

    private mutating func authenticationReplied(_ reply: SMTPReply, step: Authentication) -> Action {
        guard case .password(let username, let password)? = configuration.credentials ?? nil else {
            // XOAUTH2: 235, or 334 with an error document that must be answered with an empty line.
            switch (step, reply.code) {
            case (.xoauth2, 235): return authenticated()
            case (.xoauth2, 334):
                state = .authenticating(.xoauth2AwaitingFailure)
                return .send(.authResponse(""))
            default: return fail(.rejected(reply, in: .auth))
            }
        }
        switch (step, reply.code) {
        case (.plain, 235), (.loginAwaitingResult, 235):
            return authenticated()
        case (.loginAwaitingUsernamePrompt, 334):
            state = .authenticating(.loginAwaitingPasswordPrompt)
            return .send(.authResponse(Self.base64(username)))
        case (.loginAwaitingPasswordPrompt, 334):
            state = .authenticating(.loginAwaitingResult)
            return .send(.authResponse(Self.base64(password)))
        default:
            return fail(.rejected(reply, in: .auth))
        }
    }

    private mutating func authenticated() -> Action {
        state = .ready
        return .sessionReady(capabilities ?? SMTPCapabilities.legacyHELO)
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
}
