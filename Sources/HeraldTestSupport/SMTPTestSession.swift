import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// One connection to `SMTPTestServer`: a small, strict SMTP server with faults on demand.
final class SMTPTestSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Mode {
        case command
        case data
        case authLoginUsername
        case authLoginPassword(String)
    }

    private let configuration: SMTPTestServer.Configuration
    private let state: NIOLockedValueBox<SMTPTestServer.State>
    private let tlsContext: NIOSSLContext?
    private var buffer = ByteBuffer()
    private var mode = Mode.command
    private var tls: Bool
    private var user: String?
    private var sender: String?
    private var mailParameters: [String] = []
    private var recipients: [String] = []
    private var greeted = false
    /// Replies waiting behind a delayed or held one, in order; such a reply's text is nil until due.
    private var outbox: [(slot: Int?, text: String?)] = []
    private var nextHeldSlot = 0

    init(configuration: SMTPTestServer.Configuration, state: NIOLockedValueBox<SMTPTestServer.State>, tlsContext: NIOSSLContext?) {
        self.configuration = configuration
        self.state = state
        self.tlsContext = tlsContext
        self.tls = configuration.implicitTLS
    }

    func channelActive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.connections += 1 }
        respond("220 localhost Herald test server ESMTP", trigger: .connect, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while context.channel.isActive {
            if case .data = mode {
                // The CRLF that ended the DATA line counts as the first CRLF of an empty message's end.
                if buffer.readableBytesView.starts(with: Array(".\r\n".utf8)) {
                    buffer.moveReaderIndex(forwardBy: 3)
                    finishData([], context: context)
                    continue
                }
                guard let end = buffer.readableBytesView.firstRange(of: Array("\r\n.\r\n".utf8)) else { return }
                let length = end.lowerBound - buffer.readerIndex
                let raw = buffer.readBytes(length: length)! + [0x0D, 0x0A]
                buffer.moveReaderIndex(forwardBy: 5)
                finishData(raw, context: context)
                continue
            }
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return }
            var line = buffer.readString(length: newline - buffer.readerIndex + 1)!
            line.removeLast()
            if line.hasSuffix("\r") { line.removeLast() }
            handle(line, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: Commands

    private func handle(_ line: String, context: ChannelHandlerContext) {
        state.withLockedValue { $0.commands.append(line) }
        switch mode {
        case .authLoginUsername:
            mode = .authLoginPassword(decode(line))
            return respond("334 UGFzc3dvcmQ6", trigger: .command("AUTH"), context: context)
        case .authLoginPassword(let username):
            mode = .command
            return respond(login(username, decode(line)), trigger: .command("AUTH"), context: context)
        case .command, .data:
            break
        }
        let verb = line.prefix(while: { $0 != " " && $0 != ":" }).uppercased()
        let argument = line.dropFirst(verb.count).trimmingCharacters(in: .whitespaces)
        let trigger = SMTPTestServer.Fault.Trigger.command(verb)
        switch verb {
        case "EHLO":
            resetTransaction()
            respond(ehloReply(), trigger: trigger, context: context)
        case "HELO":
            respond("250 localhost", trigger: trigger, context: context)
        case "STARTTLS":
            guard configuration.offerStartTLS, !tls, let tlsContext else {
                return respond("502 5.5.1 STARTTLS not available", trigger: trigger, context: context)
            }
            if takeFault(trigger).map({ if case .injectAfterStartTLS = $0 { return true } else { return false } }) == true {
                write("220 2.0.0 Ready to start TLS\r\n250 injected\r\n", context: context)
            } else {
                write("220 2.0.0 Ready to start TLS\r\n", context: context)
            }
            tls = true
            buffer.clear()
            try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
        case "AUTH":
            let parts = argument.split(separator: " ").map(String.init)
            switch parts.first?.uppercased() {
            case "PLAIN" where parts.count == 2:
                let fields = decode(parts[1]).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
                respond(fields.count == 3 ? login(fields[1], fields[2]) : "501 5.5.2 malformed", trigger: trigger, context: context)
            case "LOGIN":
                mode = .authLoginUsername
                respond("334 VXNlcm5hbWU6", trigger: trigger, context: context)
            default:
                respond("504 5.5.4 mechanism not supported", trigger: trigger, context: context)
            }
        case "MAIL":
            let parts = argument.split(separator: " ").map(String.init)
            // A scripted refusal leaves no sender, as a real refusal would.
            if peekFault(trigger) == nil {
                sender = parts.first.map(Self.path)
                mailParameters = Array(parts.dropFirst())
            }
            if let limit = configuration.sizeLimit,
                let size = mailParameters.first(where: { $0.hasPrefix("SIZE=") }).flatMap({ Int($0.dropFirst(5)) }),
                size > limit
            {
                return respond("552 5.3.4 Message size exceeds fixed maximum", trigger: trigger, context: context)
            }
            respond("250 2.1.0 Sender OK", trigger: trigger, context: context)
        case "RCPT":
            let address = Self.path(argument.split(separator: " ").first.map(String.init) ?? "")
            guard sender != nil else { return respond("503 5.5.1 need MAIL first", trigger: trigger, context: context) }
            if address.contains(configuration.refusedRecipientMarker) {
                return respond("550 5.1.1 <\(address)>: Recipient address rejected: User unknown", trigger: trigger, context: context)
            }
            recipients.append(address)
            respond("250 2.1.5 Recipient OK", trigger: trigger, context: context)
        case "DATA":
            guard sender != nil, !recipients.isEmpty else {
                return respond("503 5.5.1 need RCPT first", trigger: trigger, context: context)
            }
            // A scripted refusal of DATA leaves the session in command mode, as a real refusal would.
            if case .reply(let text)? = peekFault(trigger), !text.hasPrefix("3") {
                return respond("354 End data with <CR><LF>.<CR><LF>", trigger: trigger, context: context)
            }
            mode = .data
            respond("354 End data with <CR><LF>.<CR><LF>", trigger: trigger, context: context)
        case "RSET":
            resetTransaction()
            respond("250 2.0.0 OK", trigger: trigger, context: context)
        case "NOOP":
            respond("250 2.0.0 OK", trigger: trigger, context: context)
        case "QUIT":
            write("221 2.0.0 Bye\r\n", context: context)
            context.close(promise: nil)
        default:
            respond("500 5.5.2 command not recognized", trigger: trigger, context: context)
        }
    }

    private func finishData(_ raw: [UInt8], context: ChannelHandlerContext) {
        mode = .command
        let message = SMTPTestServer.ReceivedMessage(
            sender: sender ?? "", recipients: recipients, mailParameters: mailParameters, data: Self.unstuff(raw), overTLS: tls,
            authenticatedUser: user)
        // Only a message the server acknowledges is recorded as received.
        let acknowledged: Bool
        switch peekFault(.endOfData) {
        case nil, .delay?, .hold?, .splitReply?: acknowledged = true
        case .reply(let text)?: acknowledged = text.hasPrefix("2")
        case .drop?, .garbage?, .silence?, .injectAfterStartTLS?: acknowledged = false
        }
        if acknowledged { state.withLockedValue { $0.received.append(message) } }
        resetTransaction()
        respond("250 2.0.0 OK queued as \(state.withLockedValue { $0.received.count })", trigger: .endOfData, context: context)
    }

    private func ehloReply() -> String {
        var lines = ["localhost greets you"]
        if configuration.pipelining { lines.append("PIPELINING") }
        lines.append("SIZE \(configuration.sizeLimit ?? 0)")
        lines.append("8BITMIME")
        if configuration.smtputf8 { lines.append("SMTPUTF8") }
        lines.append("ENHANCEDSTATUSCODES")
        if configuration.offerStartTLS && !tls && tlsContext != nil { lines.append("STARTTLS") }
        if !configuration.users.isEmpty && (tls || !configuration.authRequiresTLS) {
            lines.append("AUTH " + configuration.authMechanisms.joined(separator: " "))
        }
        return lines.enumerated().map { "250\($0.offset == lines.count - 1 ? " " : "-")\($0.element)" }.joined(separator: "\r\n")
    }

    private func login(_ username: String, _ password: String) -> String {
        guard configuration.users[username] == password else { return "535 5.7.8 Authentication credentials invalid" }
        user = username
        return "235 2.7.0 Authentication successful"
    }

    private func resetTransaction() {
        sender = nil
        recipients = []
        mailParameters = []
    }

    // MARK: Replies and faults

    private func respond(_ reply: String, trigger: SMTPTestServer.Fault.Trigger, context: ChannelHandlerContext) {
        guard let fault = takeFault(trigger) else { return write(reply + "\r\n", context: context) }
        switch fault {
        case .reply(let text): write(text + "\r\n", context: context)
        case .drop: context.close(promise: nil)
        case .garbage: write("\u{16}\u{03}\u{01} this is not SMTP\r\n", context: context)
        case .silence, .injectAfterStartTLS: break
        case .splitReply:
            for byte in (reply + "\r\n").utf8 {
                var buffer = context.channel.allocator.buffer(capacity: 1)
                buffer.writeInteger(byte)
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .delay(let amount):
            let deliver = hold(reply, context: context)
            context.eventLoop.scheduleTask(in: amount) { deliver() }
        case .hold:
            let deliver = hold(reply, context: context)
            let eventLoop = context.eventLoop
            state.withLockedValue { $0.heldReplies.append { eventLoop.execute { deliver() } } }
        }
    }

    /// Keeps a reply's place in the outbox and returns what sends it (on the event loop); replies
    /// to commands pipelined behind it wait for it, as on a real server.
    private func hold(_ reply: String, context: ChannelHandlerContext) -> @Sendable () -> Void {
        let slot = nextHeldSlot
        nextHeldSlot += 1
        outbox.append((slot, nil))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        return {
            let (session, context) = loopBound.value
            if let index = session.outbox.firstIndex(where: { $0.slot == slot }) { session.outbox[index].text = reply + "\r\n" }
            while let first = session.outbox.first, let text = first.text {
                session.outbox.removeFirst()
                session.send(text, context: context)
            }
        }
    }

    /// Takes the first matching fault, counting it down.
    private func takeFault(_ trigger: SMTPTestServer.Fault.Trigger) -> SMTPTestServer.Fault.Behaviour? {
        state.withLockedValue { state in
            guard let index = state.faults.firstIndex(where: { $0.trigger == trigger && $0.times != 0 }) else { return nil }
            if let times = state.faults[index].times { state.faults[index].times = times - 1 }
            return state.faults[index].behaviour
        }
    }

    private func peekFault(_ trigger: SMTPTestServer.Fault.Trigger) -> SMTPTestServer.Fault.Behaviour? {
        state.withLockedValue { state in state.faults.first(where: { $0.trigger == trigger && $0.times != 0 })?.behaviour }
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        guard outbox.isEmpty else { return outbox.append((nil, text)) }
        send(text, context: context)
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    private func decode(_ base64: String) -> String {
        Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    private static func path(_ text: String) -> String {
        let trimmed = text.hasPrefix("FROM:") || text.hasPrefix("TO:") ? String(text.drop(while: { $0 != ":" }).dropFirst()) : text
        return trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "<> "))
    }

    /// Undoes dot-stuffing (RFC 5321 4.5.2).
    private static func unstuff(_ raw: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var atLineStart = true
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if atLineStart && byte == UInt8(ascii: ".") {
                index += 1
                atLineStart = false
                continue
            }
            output.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
            index += 1
        }
        return output
    }
}
