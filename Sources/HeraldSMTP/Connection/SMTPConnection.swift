import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// One SMTP session with one server: connect (greeting, EHLO, STARTTLS, AUTH), send messages
/// one after another, close with QUIT.
///
/// Every method throws `SMTPError`. A connection whose `isUsable` is false (closed, or failed
/// mid-session) must be discarded.
public final class SMTPConnection: Sendable {
    private let channel: Channel
    private let open: NIOLockedValueBox<Bool>
    /// What the server advertised after the last EHLO.
    public let capabilities: SMTPCapabilities
    /// The server's 220 greeting.
    public let greeting: SMTPReply?
    /// Each step of opening the session (TCP, TLS, greeting, capabilities, login) with its time.
    public let steps: [SMTPSessionStep]
    public let configuration: SMTPClientConfiguration

    private init(channel: Channel, open: NIOLockedValueBox<Bool>, session: SMTPSessionInfo, configuration: SMTPClientConfiguration) {
        self.channel = channel
        self.open = open
        self.capabilities = session.capabilities
        self.greeting = session.greeting
        self.steps = session.steps
        self.configuration = configuration
    }

    /// True while the session is open.
    public var isUsable: Bool { channel.isActive && open.withLockedValue { $0 } }

    /// Connects and runs the session up to the point where a message can be sent.
    ///
    /// Cancelling the calling task closes the connection, whether it is still connecting, waiting
    /// for the greeting or in its set-up (EHLO, STARTTLS, AUTH), and `connect` throws
    /// `CancellationError`.
    public static func connect(
        _ configuration: SMTPClientConfiguration, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.smtp")
    ) async throws -> SMTPConnection {
        try SMTPCommand.checkArgument(configuration.localHostname, "the EHLO host name")
        guard !configuration.localHostname.isEmpty, !configuration.localHostname.contains(" ") else {
            throw SMTPError(
                code: "smtp.invalid_argument", classification: .permanent, phase: .connect,
                message: "the EHLO host name must be a domain or an address literal")
        }
        let tlsContext = try makeTLSContext(configuration)
        let opening = OpeningChannels()
        return try await withTaskCancellationHandler {
            try await connect(configuration, tlsContext: tlsContext, opening: opening, eventLoopGroup: eventLoopGroup, logger: logger)
        } onCancel: {
            opening.cancel()
        }
    }

    private static func connect(
        _ configuration: SMTPClientConfiguration, tlsContext: NIOSSLContext?, opening: OpeningChannels, eventLoopGroup: EventLoopGroup,
        logger: Logger
    ) async throws -> SMTPConnection {
        let eventLoop = eventLoopGroup.next()
        let readyPromise = eventLoop.makePromise(of: SMTPSessionInfo.self)
        let open = NIOLockedValueBox(true)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(configuration.timeouts.connect))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    guard opening.add(channel) else { return channel.eventLoop.makeFailedFuture(CancellationError()) }
                    do {
                        let sync = channel.pipeline.syncOperations
                        let recorder = FirstBytesRecorder()
                        try sync.addHandler(recorder)
                        if configuration.security == .tls, let tlsContext {
                            try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: sniHostname(configuration.host)))
                        }
                        try sync.addHandler(
                            SMTPChannelHandler(
                                configuration: configuration, tlsContext: tlsContext, recorder: recorder, readyPromise: readyPromise,
                                open: open, logger: logger))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            let failure: any Error = Task.isCancelled ? CancellationError() : connectError(error, configuration)
            readyPromise.fail(failure)
            throw failure
        }

        do {
            let session = try await awaitSession(readyPromise.futureResult, channel: channel, configuration: configuration)
            try Task.checkCancellation()
            return SMTPConnection(channel: channel, open: open, session: session, configuration: configuration)
        } catch {
            channel.close(promise: nil)
            if Task.isCancelled { throw CancellationError() }
            guard let error = error as? SMTPError else { throw error }
            throw await explainSilentServer(error, configuration: configuration, eventLoopGroup: eventLoopGroup)
        }
    }

    /// Sends one message: MAIL, RCPT (pipelined when offered), DATA, the dot-stuffed content.
    ///
    /// Returns the final reply and each recipient's outcome when at least one recipient was
    /// accepted; throws otherwise. After a refusal the session is reset (RSET) and stays usable.
    ///
    /// Concurrent calls share the session in turn; see `send(_:)` for a batch.
    public func send(_ envelope: SMTPEnvelope, message: some Collection<UInt8>) async throws -> SMTPDeliveryResult {
        var buffer = channel.allocator.buffer(capacity: message.count)
        buffer.writeBytes(message)
        let promise = channel.eventLoop.makePromise(of: SMTPDeliveryResult.self)
        channel.writeAndFlush(SMTPRequest.send(envelope, message: buffer, size: buffer.readableBytes, promise: promise))
            .whenFailure { promise.fail(SMTPConnection.closedError(phase: .mail, $0)) }
        return try await promise.futureResult.get()
    }

    /// Sends several messages over this session, in order, in one call, and returns each one's
    /// outcome in the same order: a refusal of one does not stop the others.
    ///
    /// When the server offers PIPELINING, each message's MAIL, RCPT and DATA go out behind the
    /// previous message's content (RFC 2920 3.1), so a message costs one round trip instead of
    /// two. If the session ends part-way, only a message whose content went out can be ambiguous
    /// (`smtp.no_reply_after_data`); the ones after it fail with `smtp.connection_closed`.
    public func send(_ batch: [SMTPOutgoingMessage]) async -> [Result<SMTPDeliveryResult, SMTPError>] {
        let eventLoop = channel.eventLoop
        let outcomes = eventLoop.flatSubmit { [channel] in
            let futures = batch.map { message in
                var buffer = channel.allocator.buffer(capacity: message.bytes.count)
                buffer.writeBytes(message.bytes)
                let promise = eventLoop.makePromise(of: SMTPDeliveryResult.self)
                channel.write(SMTPRequest.send(message.envelope, message: buffer, size: buffer.readableBytes, promise: promise))
                    .whenFailure { promise.fail(SMTPConnection.closedError(phase: .mail, $0)) }
                return promise.futureResult
            }
            channel.flush()
            return EventLoopFuture.whenAllComplete(futures, on: eventLoop)
        }
        do {
            return try await outcomes.get().map { outcome in
                outcome.mapError { $0 as? SMTPError ?? SMTPConnection.closedError(phase: .mail, $0) }
            }
        } catch {
            return batch.map { _ in .failure(SMTPConnection.closedError(phase: .mail, error)) }
        }
    }

    /// NOOP: checks that an idle connection still works.
    public func noop() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(SMTPRequest.noop(promise)).whenFailure { promise.fail(SMTPConnection.closedError(phase: .noop, $0)) }
        try await promise.futureResult.get()
    }

    /// QUIT and close; never throws.
    public func close() async {
        guard isUsable else {
            try? await channel.close()
            return
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(SMTPRequest.quit(promise)).whenFailure { promise.fail($0) }
        _ = try? await promise.futureResult.get()
        _ = try? await channel.close()
    }

    /// Closes the connection at once, without QUIT: a reply still awaited fails as
    /// `smtp.connection_closed`. For a stop that cannot wait for the server.
    public func abort() async {
        _ = try? await channel.close()
    }

    // MARK: - Set-up helpers

    static func makeTLSContext(_ configuration: SMTPClientConfiguration) throws -> NIOSSLContext? {
        guard configuration.security != .plaintext else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if !configuration.verifyCertificates { tls.certificateVerification = .none }
        if let pem = configuration.trustRootsPEM {
            tls.additionalTrustRoots = [.certificates(try SMTPClientConfiguration.trustRoots(fromPEM: pem))]
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw SMTPError(
                code: "smtp.tls_configuration", classification: .tls, phase: .connect, message: "the TLS configuration is invalid: \(error)"
            )
        }
    }

    /// SNI and certificate name checks need a host name; IP literals go without.
    static func sniHostname(_ host: String) -> String? {
        let isIPv4 = host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
        return isIPv4 || host.contains(":") ? nil : host
    }

    private static func awaitSession(
        _ ready: EventLoopFuture<SMTPSessionInfo>, channel: Channel, configuration: SMTPClientConfiguration
    ) async throws -> SMTPSessionInfo {
        guard configuration.security != .tls else { return try await ready.get() }
        // A plaintext client on an implicit-TLS port hears nothing: the server waits for a TLS
        // ClientHello. After a short silence, probe the port on a second connection so that this
        // mistake is reported in seconds, not after the five-minute greeting timeout.
        return try await withThrowingTaskGroup(of: SMTPSessionInfo?.self) { group in
            group.addTask { try await ready.get() }
            group.addTask {
                try await Task.sleep(for: configuration.timeouts.silentGreetingProbe)
                let silent = try await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.handler(type: FirstBytesRecorder.self).bytes.isEmpty
                }.get()
                if silent, await TLSProbe.speaksTLS(host: configuration.host, port: configuration.port, group: channel.eventLoop) {
                    channel.pipeline.fireErrorCaught(tlsExpected(configuration))
                }
                return nil
            }
            while let result = try await group.next() {
                if let session = result {
                    group.cancelAll()
                    return session
                }
            }
            return try await ready.get()
        }
    }

    /// A session that ended before any greeting may have met an implicit-TLS port: say so.
    private static func explainSilentServer(
        _ error: SMTPError, configuration: SMTPClientConfiguration, eventLoopGroup: EventLoopGroup
    ) async -> SMTPError {
        guard configuration.security != .tls, error.phase == .greeting, error.code != "smtp.tls_expected",
            error.classification == .network || error.classification == .timeout
        else { return error }
        if await TLSProbe.speaksTLS(host: configuration.host, port: configuration.port, group: eventLoopGroup.next()) {
            return tlsExpected(configuration)
        }
        return error
    }

    static func tlsExpected(_ configuration: SMTPClientConfiguration) -> SMTPError {
        let mode = configuration.security == .startTLS ? "STARTTLS" : "plaintext"
        return SMTPError(
            code: "smtp.tls_expected", classification: .tls, phase: .greeting,
            message: "\(configuration.host):\(configuration.port) sent no SMTP greeting: it expects TLS from the first byte",
            diagnosis: "\(configuration.host):\(configuration.port) expects TLS from the first byte (implicit TLS); this account "
                + "is set to \(mode). Set security=tls.")
    }

    static func tlsError(_ error: Error, phase: SMTPError.Phase, sawPlaintext: Bool, configuration: SMTPClientConfiguration) -> SMTPError {
        let endpoint = "\(configuration.host):\(configuration.port)"
        if sawPlaintext && configuration.security == .tls && phase != .startTLS {
            return SMTPError(
                code: "smtp.plaintext_expected", classification: .tls, phase: .tls,
                message: "\(endpoint) answered the TLS handshake with a plaintext SMTP greeting",
                diagnosis: "\(endpoint) speaks plaintext SMTP first; this account is set to implicit TLS (security=tls). "
                    + "Set security=starttls (usual on ports 587 and 25).")
        }
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") || error is NIOSSLExtraError {
            return SMTPError(
                code: "smtp.certificate_untrusted", classification: .tls, phase: phase == .startTLS ? .startTLS : .tls,
                message: "the certificate of \(endpoint) is not trusted or does not match the host name",
                diagnosis: "Check smtp_host is the name on the server's certificate; for a private CA set tls_ca_pem. "
                    + "Turning verification off (tls_verify=false) is for testing only.")
        }
        return SMTPError(
            code: "smtp.tls_handshake_failed", classification: .tls, phase: phase == .startTLS ? .startTLS : .tls,
            message: "the TLS handshake with \(endpoint) failed: \(tlsFailure(error))")
    }

    /// Why a handshake failed, in words: BoringSSL's reason (`WRONG_VERSION_NUMBER`) rather than
    /// NIOSSL's nested description with source paths.
    static func tlsFailure(_ error: Error) -> String {
        let closed = "the server closed the connection during the handshake"
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNRESET: return "the server reset the connection during the handshake"
            case EPIPE: return closed
            default: return String(cString: strerror(error.errnoCode))
            }
        }
        guard let error = error as? NIOSSLError else { return "\(error)" }
        switch error {
        case .uncleanShutdown: return closed
        case .handshakeFailed(.sslError(let stack)), .handshakeFailed(.unknownError(let stack)):
            if stack.contains(.eofDuringHandshake) { return closed }
            // "Error: 268435703 error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER at file.c:1"
            let reasons = stack.compactMap { entry -> String? in
                let text = "\(entry)"
                let message = text.range(of: " at ").map { String(text[..<$0.lowerBound]) } ?? text
                return message.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) }
            }
            switch reasons.first(where: { !$0.isEmpty }) {
            case "WRONG_VERSION_NUMBER"?: return "the server's answer is not TLS"
            case "TLSV1_ALERT_PROTOCOL_VERSION"?, "UNSUPPORTED_PROTOCOL"?: return "the server and Herald have no TLS version in common"
            case "SSLV3_ALERT_HANDSHAKE_FAILURE"?, "NO_SHARED_CIPHER"?, "NO_CIPHERS_AVAILABLE"?:
                return "the server refused the handshake: no TLS version or cipher suite in common"
            case let reason?: return reason.lowercased().replacingOccurrences(of: "_", with: " ")
            case nil: return "\(error)"
            }
        default: return "\(error)"
        }
    }

    private static func connectError(_ error: Error, _ configuration: SMTPClientConfiguration) -> SMTPError {
        let endpoint = "\(configuration.host):\(configuration.port)"
        if case ChannelError.connectTimeout = error {
            return SMTPError(
                code: "smtp.connect_timeout", classification: .timeout, phase: .connect, message: "connecting to \(endpoint) timed out")
        }
        if let error = error as? SMTPError { return error }
        let (reason, diagnosis) = connectFailure(error, endpoint: endpoint)
        return SMTPError(
            code: "smtp.connect_failed", classification: .network, phase: .connect, message: "could not connect to \(endpoint): \(reason)",
            diagnosis: diagnosis)
    }

    /// Why a connection could not be made, in words, with what to check; NIO's own description
    /// (`Connection errors: SingleConnectionFailure(...)`) is for programmers.
    static func connectFailure(_ error: Error, endpoint: String) -> (reason: String, diagnosis: String?) {
        guard let error = error as? NIOConnectionError else { return ("\(error)", nil) }
        if error.connectionErrors.isEmpty {
            guard let lookup = error.dnsAError ?? error.dnsAAAAError else { return ("no address to connect to", nil) }
            let detail = lookup is SocketAddressError.UnknownHost ? "no address is known for it" : "\(lookup)"
            return ("the host name \(error.host) could not be resolved: \(detail)", "Check smtp_host.")
        }
        var reasons: [String] = []
        var diagnosis: String?
        for failure in error.connectionErrors {
            let reason: String
            switch (failure.error as? IOError)?.errnoCode {
            case ECONNREFUSED?:
                reason = "the connection was refused"
                diagnosis = diagnosis ?? "Nothing accepts connections on \(endpoint): check smtp_port and that the server runs."
            case ENETUNREACH?: reason = "the network is unreachable"
            case EHOSTUNREACH?: reason = "the host is unreachable"
            case ETIMEDOUT?: reason = "the connection timed out"
            case let code?: reason = String(cString: strerror(code))
            case nil: reason = "\(failure.error)"
            }
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return (reasons.joined(separator: "; "), diagnosis)
    }

    static func closedError(phase: SMTPError.Phase, _ error: Error) -> SMTPError {
        SMTPError(code: "smtp.connection_closed", classification: .network, phase: phase, message: "the connection is closed: \(error)")
    }
}

/// One message for `SMTPConnection.send(_:)`: its envelope and its bytes as composed (CRLF line
/// ends, not yet dot-stuffed).
public struct SMTPOutgoingMessage: Sendable {
    public let envelope: SMTPEnvelope
    public let bytes: [UInt8]

    public init(envelope: SMTPEnvelope, bytes: [UInt8]) {
        self.envelope = envelope
        self.bytes = bytes
    }
}

/// One step of opening a session, as `herald check` reports it.
public struct SMTPSessionStep: Sendable, Hashable, Codable {
    /// `tcp`, `tls`, `starttls`, `greeting`, `capabilities` or `login`.
    public let name: String
    /// Time since the previous step.
    public let milliseconds: Double
    /// What happened (never a secret).
    public let detail: String
}

/// What the channel handler learnt while opening the session.
struct SMTPSessionInfo: Sendable {
    let capabilities: SMTPCapabilities
    let greeting: SMTPReply?
    let steps: [SMTPSessionStep]
}

/// The channels a connect has made so far (more than one when both IPv4 and IPv6 are tried), so
/// that cancelling the connect can close them; one made after the cancellation is refused.
private final class OpeningChannels: Sendable {
    private let state = NIOLockedValueBox((channels: [any Channel](), cancelled: false))

    /// Keeps `channel`; false when the connect was cancelled already.
    func add(_ channel: any Channel) -> Bool {
        state.withLockedValue { state in
            guard !state.cancelled else { return false }
            state.channels.append(channel)
            return true
        }
    }

    func cancel() {
        let channels = state.withLockedValue { state in
            state.cancelled = true
            return state.channels
        }
        for channel in channels { channel.close(promise: nil) }
    }
}
