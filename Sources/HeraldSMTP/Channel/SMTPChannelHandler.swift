import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// Drives `SMTPStateMachine` on a channel: decodes replies, runs the machine's actions, arms the
/// per-phase timeouts and completes the promises of `SMTPConnection`'s requests.
final class SMTPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = SMTPRequest
    typealias OutboundOut = ByteBuffer

    private enum Pending {
        case delivery(EventLoopPromise<SMTPDeliveryResult>, message: ByteBuffer)
        case noop(EventLoopPromise<Void>)
        case quit(EventLoopPromise<Void>)
    }

    private var machine: SMTPStateMachine
    private var decoder = NIOSingleStepByteToMessageProcessor(SMTPReplyDecoder())
    private let configuration: SMTPClientConfiguration
    private let tlsContext: NIOSSLContext?
    private let recorder: FirstBytesRecorder
    /// Cleared when the session ends; read by `SMTPConnection.isUsable` from any thread. The
    /// channel itself may stay active for a while: a TLS handler closes only after close_notify.
    private let open: NIOLockedValueBox<Bool>
    private let logger: Logger
    private var readyPromise: EventLoopPromise<SMTPSessionInfo>?
    private var steps: [SMTPSessionStep] = []
    private var greeting: SMTPReply?
    private var stepStart = NIODeadline.now()
    private var pending: Pending?
    private var timeout: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(
        configuration: SMTPClientConfiguration, tlsContext: NIOSSLContext?, recorder: FirstBytesRecorder,
        readyPromise: EventLoopPromise<SMTPSessionInfo>, open: NIOLockedValueBox<Bool>, logger: Logger
    ) {
        self.open = open
        self.machine = SMTPStateMachine(
            configuration: .init(
                security: configuration.security, credentials: configuration.credentials, hostname: configuration.localHostname,
                allowPlaintextAuth: configuration.allowPlaintextAuth || configuration.hostIsLoopback))
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.recorder = recorder
        self.readyPromise = readyPromise
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { armTimeout(configuration.timeouts.greeting, context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        record("tcp", "connected to \(configuration.host):\(configuration.port)")
        armTimeout(configuration.security == .tls ? configuration.timeouts.tlsHandshake : configuration.timeouts.greeting, context: context)
        context.fireChannelActive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try decoder.process(buffer: buffer) { reply in
                logger.trace("S: \(reply)", metadata: ["smtp.phase": "\(machine.phase.rawValue)"])
                recordStep(for: reply)
                let action = machine.replyReceived(reply)
                if action == .startTLS && decoder.unprocessedBytes > 0 {
                    // RFC 3207 5: anything after the 220 arrived in plaintext and could be an
                    // attacker's injection; postgres-nio refuses the same after its SSLRequest.
                    run(
                        machine.errorOccurred(
                            SMTPError(
                                code: "smtp.starttls_injection", classification: .tls, phase: .startTLS,
                                message: "the server sent plaintext data after agreeing to STARTTLS; refusing to continue")),
                        context: context)
                    return
                }
                run(action, context: context)
            }
        } catch var error as SMTPError {
            error.phase = machine.phase
            run(machine.errorOccurred(error), context: context)
        } catch {
            run(
                machine.errorOccurred(
                    SMTPError(code: "smtp.protocol_error", classification: .protocol, phase: machine.phase, message: "\(error)")),
                context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            record(
                machine.phase == .startTLS ? "starttls" : "tls",
                "TLS established, certificate verified: \(configuration.verifyCertificates)")
            cancelTimeout()
            if machine.phase == .greeting { armTimeout(configuration.timeouts.greeting, context: context) }
            run(machine.tlsEstablished(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.connectionClosed(), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        run(machine.errorOccurred(translate(error)), context: context)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .send(let envelope, let message, let size, let deliveryPromise):
            guard pending == nil else { return deliveryPromise.fail(machine.notReady()) }
            pending = .delivery(deliveryPromise, message: message)
            run(machine.transactionRequested(envelope, size: size), context: context)
        case .noop(let noopPromise):
            guard pending == nil else { return noopPromise.fail(machine.notReady()) }
            pending = .noop(noopPromise)
            run(machine.noopRequested(), context: context)
        case .quit(let quitPromise):
            guard pending == nil else { return quitPromise.fail(machine.notReady()) }
            pending = .quit(quitPromise)
            run(machine.quitRequested(), context: context)
        }
        promise?.succeed()
    }

    // MARK: Actions

    private func run(_ action: SMTPStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .wait:
            // Pipelined replies: each one restarts the timeout of the next, DATA's own (RFC 5321 4.5.3.2) included.
            if case .transaction = machine.state {
                armTimeout(
                    machine.phase == .data ? configuration.timeouts.dataInitiation : configuration.timeouts.command, context: context)
            }
        case .send(let command):
            logger.trace("C: \(command.line(redacted: true))")
            var buffer = context.channel.allocator.buffer(capacity: 64)
            command.write(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimeout(machine.phase == .data ? configuration.timeouts.dataInitiation : configuration.timeouts.command, context: context)
        case .sendPipelined(let commands):
            var buffer = context.channel.allocator.buffer(capacity: 64 * commands.count)
            for command in commands {
                logger.trace("C: \(command.line(redacted: true))")
                command.write(into: &buffer)
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimeout(configuration.timeouts.command, context: context)
        case .startTLS:
            startTLS(context: context)
        case .sessionReady(let capabilities):
            cancelTimeout()
            readyPromise?.succeed(SMTPSessionInfo(capabilities: capabilities, greeting: greeting, steps: steps))
            readyPromise = nil
        case .sendMessageContent:
            guard case .delivery(_, let message) = pending else { return }
            var buffer = context.channel.allocator.buffer(capacity: message.readableBytes + message.readableBytes / 32 + 8)
            DotStuffing.write(message.readableBytesView, into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimeout(configuration.timeouts.dataTermination, context: context)
        case .transactionSucceeded(let result):
            cancelTimeout()
            if case .delivery(let promise, _) = pending {
                pending = nil
                promise.succeed(result)
            }
        case .transactionFailed(let error):
            cancelTimeout()
            let finished = pending
            pending = nil
            switch finished {
            case .delivery(let promise, _): promise.fail(error)
            case .noop(let promise), .quit(let promise): promise.fail(error)
            case nil: break
            }
        case .noopSucceeded:
            cancelTimeout()
            if case .noop(let promise) = pending {
                pending = nil
                promise.succeed()
            }
        case .close(let error):
            cancelTimeout()
            // Marked closed before the promises fail, so a caller never sees a failed session as usable.
            open.withLockedValue { $0 = false }
            context.close(promise: nil)
            let failure = error ?? machine.notReady()
            readyPromise?.fail(failure)
            readyPromise = nil
            let finished = pending
            pending = nil
            switch finished {
            case .delivery(let promise, _): promise.fail(failure)
            case .noop(let promise): promise.fail(failure)
            case .quit(let promise): error == nil ? promise.succeed() : promise.fail(failure)
            case nil: break
            }
            if let error { logger.debug("SMTP session ended", metadata: ["smtp.error": "\(error.code)"]) }
        }
    }

    private func startTLS(context: ChannelHandlerContext) {
        guard let tlsContext else {
            return run(
                machine.errorOccurred(
                    SMTPError(code: "smtp.tls_unavailable", classification: .tls, phase: .startTLS, message: "no TLS configuration")),
                context: context)
        }
        do {
            let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: SMTPConnection.sniHostname(configuration.host))
            try context.pipeline.syncOperations.addHandler(handler, position: .before(self))
            armTimeout(configuration.timeouts.tlsHandshake, context: context)
        } catch {
            run(machine.errorOccurred(translate(error)), context: context)
        }
    }

    // MARK: Steps, for `herald check`

    private func record(_ name: String, _ detail: String) {
        let now = NIODeadline.now()
        steps.append(SMTPSessionStep(name: name, milliseconds: Double((now - stepStart).nanoseconds) / 1e6, detail: detail))
        stepStart = now
    }

    private func recordStep(for reply: SMTPReply) {
        switch machine.phase {
        case .greeting:
            greeting = reply
            record("greeting", reply.description)
        case .ehlo where reply.isPositive:
            let extensions = reply.lines.dropFirst()
            record("capabilities", extensions.isEmpty ? "none" : extensions.joined(separator: ", "))
        case .auth where reply.code == 235:
            record("login", "authenticated as \(configuration.credentials?.username ?? "")")
        default:
            break
        }
    }

    // MARK: Timeouts and errors

    private func armTimeout(_ duration: Duration, context: ChannelHandlerContext) {
        cancelTimeout()
        let seconds = duration.components.seconds
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(duration)) { [weak self] in
            guard let self, let context = self.context else { return }
            self.timeout = nil
            let phase = self.machine.phase
            self.run(
                self.machine.errorOccurred(
                    SMTPError(
                        code: "smtp.timeout", classification: .timeout, phase: phase,
                        message: "no reply during \(phase.rawValue.uppercased()) within \(seconds) s")),
                context: context)
        }
    }

    private func cancelTimeout() {
        timeout?.cancel()
        timeout = nil
    }

    /// Turns transport and TLS errors into `SMTPError`s with a diagnosis where one is known.
    private func translate(_ error: Error) -> SMTPError {
        if let error = error as? SMTPError { return error }
        let phase = machine.phase
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return SMTPConnection.tlsError(error, phase: phase, sawPlaintext: recorder.sawPlaintextReply, configuration: configuration)
        }
        return SMTPError(code: "smtp.network_error", classification: .network, phase: phase, message: "the connection failed: \(error)")
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
