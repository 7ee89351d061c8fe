import Foundation
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

    private struct Delivery {
        let envelope: SMTPEnvelope
        let message: ByteBuffer
        let size: Int
        let promise: EventLoopPromise<SMTPDeliveryResult>
    }

    private enum Pending {
        case delivery(Delivery)
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
    /// Whether a TLS handshake has completed on this connection.
    private var tlsEstablished = false
    private var stepStart = NIODeadline.now()
    /// The request whose replies are awaited.
    private var pending: Pending?
    /// The delivery whose MAIL, RCPT and DATA went out behind `pending`'s content.
    private var follower: Delivery?
    /// Requests made while the session was busy, in order.
    private var queue = CircularBuffer<Pending>()
    /// When the reply awaited now is late, and the length of that wait (for the error); nil when
    /// no reply is awaited.
    private var deadline: (at: NIODeadline, seconds: Int64)?
    /// The one timer, and when it fires. It is moved only when a deadline comes sooner than
    /// it: each reply sets a new deadline, and moving the timer every time (a cancel and a new
    /// scheduled task) was a few percent of a delivery's CPU. A timer that fires early sets
    /// itself again for the deadline.
    private var timer: (task: Scheduled<Void>, firesAt: NIODeadline)?
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
        stopTimer()
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
            tlsEstablished = true
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
        let request: Pending
        switch unwrapOutboundIn(data) {
        case .send(let envelope, let message, let size, let deliveryPromise):
            request = .delivery(Delivery(envelope: envelope, message: message, size: size, promise: deliveryPromise))
        case .noop(let noopPromise):
            request = .noop(noopPromise)
        case .quit(let quitPromise):
            request = .quit(quitPromise)
        }
        promise?.succeed()
        if case .closed = machine.state {
            end(request)
        } else if pending == nil && machine.isReady {
            start(request, context: context)
        } else {
            // Requests wait their turn; a delivery may still go out early behind the current
            // message's content: when that content is written (see `.sendMessageContent`), or
            // now if it already was, rather than a round trip later, after its final reply.
            queue.append(request)
            let commands = takeFollower()
            guard !commands.isEmpty else { return }
            var buffer = context.channel.allocator.buffer(capacity: 64 * commands.count)
            write(commands, into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func start(_ request: Pending, context: ChannelHandlerContext) {
        pending = request
        switch request {
        case .delivery(let delivery): run(machine.transactionRequested(delivery.envelope, size: delivery.size), context: context)
        case .noop: run(machine.noopRequested(), context: context)
        case .quit: run(machine.quitRequested(), context: context)
        }
    }

    /// Once the session is idle again: the next queued request, if any.
    private func startQueued(context: ChannelHandlerContext) {
        guard pending == nil, machine.isReady, let next = queue.popFirst() else { return }
        start(next, context: context)
    }

    /// Fails a request that never got its turn; a QUIT on an ended session is simply done.
    private func end(_ request: Pending) {
        let failure = SMTPError(
            code: "smtp.connection_closed", classification: .network, phase: .mail,
            message: "the session ended before this message was sent")
        switch request {
        case .delivery(let delivery): delivery.promise.fail(failure)
        case .noop(let promise): promise.fail(failure)
        case .quit(let promise): promise.succeed()
        }
    }

    /// Makes the next queued delivery the follower when it may go out behind the content of the
    /// message going out now (the server pipelines), and returns its MAIL, RCPT and DATA; none
    /// otherwise.
    private func takeFollower() -> [SMTPCommand] {
        while follower == nil, case .delivery(let next)? = queue.first,
            let outcome = machine.transactionRequestedBehindContent(next.envelope, size: next.size)
        {
            queue.removeFirst()
            switch outcome {
            case .success(let commands):
                follower = next
                return commands
            case .failure(let error):
                next.promise.fail(error)
            }
        }
        return []
    }

    /// Appends `commands` to `buffer`, each traced with its secrets redacted.
    private func write(_ commands: [SMTPCommand], into buffer: inout ByteBuffer) {
        for command in commands {
            logger.trace("C: \(command.line(redacted: true))")
            command.write(into: &buffer)
        }
    }

    /// The current request has its final reply: the follower's replies come next, or the next
    /// queued request starts.
    private func finishCurrent(context: ChannelHandlerContext) {
        pending = nil
        if let next = follower {
            follower = nil
            pending = .delivery(next)
            armTimeout(configuration.timeouts.command, context: context)
        } else {
            startQueued(context: context)
        }
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
            write(commands, into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimeout(configuration.timeouts.command, context: context)
        case .startTLS:
            startTLS(context: context)
        case .sessionReady(let capabilities):
            cancelTimeout()
            readyPromise?.succeed(SMTPSessionInfo(capabilities: capabilities, greeting: greeting, steps: steps))
            readyPromise = nil
        case .sendMessageContent:
            guard case .delivery(let delivery) = pending else { return }
            let message = delivery.message
            var buffer = context.channel.allocator.buffer(capacity: message.readableBytes + message.readableBytes / 32 + 256)
            DotStuffing.write(message.readableBytesView, into: &buffer)
            write(takeFollower(), into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimeout(configuration.timeouts.dataTermination, context: context)
        case .transactionSucceeded(let result):
            cancelTimeout()
            if case .delivery(let delivery) = pending { delivery.promise.succeed(result) }
            finishCurrent(context: context)
        case .transactionFailed(let error):
            cancelTimeout()
            switch pending {
            case .delivery(let delivery): delivery.promise.fail(error)
            case .noop(let promise), .quit(let promise): promise.fail(error)
            case nil: break
            }
            finishCurrent(context: context)
        case .noopSucceeded:
            cancelTimeout()
            if case .noop(let promise) = pending { promise.succeed() }
            finishCurrent(context: context)
        case .close(let error):
            stopTimer()
            // Marked closed before the promises fail, so a caller never sees a failed session as usable.
            open.withLockedValue { $0 = false }
            context.close(promise: nil)
            let failure = error ?? machine.notReady()
            readyPromise?.fail(failure)
            readyPromise = nil
            let finished = pending
            pending = nil
            switch finished {
            case .delivery(let delivery): delivery.promise.fail(failure)
            case .noop(let promise): promise.fail(failure)
            case .quit(let promise): error == nil ? promise.succeed() : promise.fail(failure)
            case nil: break
            }
            // What had not been answered yet was never delivered: its content was not sent.
            if let follower { end(.delivery(follower)) }
            follower = nil
            while let waiting = queue.popFirst() { end(waiting) }
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
        let at = NIODeadline.now() + TimeAmount(duration)
        deadline = (at, duration.components.seconds)
        if let timer, timer.firesAt <= at { return }
        timer?.task.cancel()
        setTimer(at, context: context)
    }

    private func setTimer(_ firesAt: NIODeadline, context: ChannelHandlerContext) {
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: firesAt) { [weak self] in
            guard let self, let context = self.context else { return }
            self.timer = nil
            guard let deadline = self.deadline else { return }
            guard NIODeadline.now() >= deadline.at else { return self.setTimer(deadline.at, context: context) }
            self.deadline = nil
            let phase = self.machine.phase
            self.run(
                self.machine.errorOccurred(
                    SMTPError(
                        code: "smtp.timeout", classification: .timeout, phase: phase,
                        message: "no reply during \(phase.rawValue.uppercased()) within \(deadline.seconds) s")),
                context: context)
        }
        timer = (task, firesAt)
    }

    /// No reply is awaited any more. The timer is left to fire and find nothing due, unless the
    /// connection is going away.
    private func cancelTimeout() {
        deadline = nil
    }

    /// No reply will be awaited again: the connection is closing.
    private func stopTimer() {
        deadline = nil
        timer?.task.cancel()
        timer = nil
    }

    /// Turns transport and TLS errors into `SMTPError`s with a diagnosis where one is known.
    private func translate(_ error: Error) -> SMTPError {
        if let error = error as? SMTPError { return error }
        let phase = machine.phase
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return SMTPConnection.tlsError(error, phase: phase, sawPlaintext: recorder.sawPlaintextReply, configuration: configuration)
        }
        if configuration.security == .tls && !tlsEstablished && phase == .greeting {
            // Implicit TLS before the handshake ended: said as the handshake's failure, but a
            // network error (retried), since a dropped connection is no evidence against the settings.
            return SMTPError(
                code: "smtp.network_error", classification: .network, phase: .tls,
                message: "the TLS handshake with \(configuration.host):\(configuration.port) failed: \(SMTPConnection.tlsFailure(error))")
        }
        let during = "during \(phase.rawValue.uppercased())"
        let reason: String
        switch (error as? IOError)?.errnoCode {
        case ECONNRESET?: reason = "the server reset the connection \(during)"
        case EPIPE?: reason = "the server closed the connection \(during)"
        case ETIMEDOUT?: reason = "the connection timed out \(during)"
        case let code?: reason = "the connection failed \(during): \(String(cString: strerror(code)))"
        case nil: reason = "the connection failed \(during): \(error)"
        }
        return SMTPError(code: "smtp.network_error", classification: .network, phase: phase, message: reason)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
