extension SMTPStateMachine {
    /// One mail transaction (RFC 5321 3.3): MAIL, RCPT for each recipient, DATA, content, final dot.
    struct Transaction {
        let envelope: SMTPEnvelope
        let commands: [SMTPCommand]
        let pipelined: Bool
        private(set) var mailReply: SMTPReply?
        private(set) var recipientReplies: [SMTPReply] = []
        private(set) var phase: SMTPError.Phase = .mail
        /// Set when DATA was opened although MAIL or every RCPT had been refused.
        private var abandoned: SMTPError?

        /// The message content is going out now (DATA was opened with a valid recipient), so the
        /// next transaction's commands may follow it in the same write.
        var isSendingContent: Bool { phase == .message && abandoned == nil }

        /// The refusal of MAIL, or of every recipient, once their replies are in.
        var envelopeError: SMTPError? {
            if let mailReply, !mailReply.isPositive { return .rejected(mailReply, in: .mail) }
            guard !recipientReplies.contains(where: \.isPositive) else { return nil }
            var error = SMTPError.rejected(recipientReplies[0], in: .rcpt)
            error.recipients = recipientResults
            return error
        }

        enum Step: Equatable {
            case send(SMTPCommand)
            case wait
            case sendData
            case sendContent
            case sendEmptyContent
            case reset(SMTPError)
            case succeeded(SMTPDeliveryResult)
            case failed(SMTPError)
        }

        init(envelope: SMTPEnvelope, commands: [SMTPCommand], pipelined: Bool) {
            self.envelope = envelope
            self.commands = commands
            self.pipelined = pipelined
        }

        var recipientResults: [SMTPRecipientResult] {
            zip(envelope.recipients, recipientReplies).map { SMTPRecipientResult(recipient: $0, reply: $1) }
        }

        mutating func replyReceived(_ reply: SMTPReply) -> Step {
            switch phase {
            case .mail:
                mailReply = reply
                phase = .rcpt
                if pipelined { return .wait }
                return reply.isPositive ? .send(commands[1]) : .reset(.rejected(reply, in: .mail))
            case .rcpt:
                recipientReplies.append(reply)
                if recipientReplies.count < envelope.recipients.count {
                    return pipelined ? .wait : .send(commands[recipientReplies.count + 1])
                }
                phase = .data
                // With PIPELINING, DATA went in the same group (RFC 2920 3.1): its reply is next.
                if pipelined { return .wait }
                if let error = envelopeError { return .reset(error) }
                return .sendData
            case .data:
                if reply.code == 354 {
                    if let error = envelopeError {
                        // A server that opened DATA with no valid recipient gets an empty message
                        // end, and the transaction is reported as refused.
                        phase = .message
                        abandoned = error
                        return .sendEmptyContent
                    }
                    phase = .message
                    return .sendContent
                }
                return .reset(envelopeError ?? .rejected(reply, in: .data))
            case .message where abandoned != nil:
                return .failed(abandoned!)
            case .message:
                guard reply.isPositive else {
                    var error = SMTPError.rejected(reply, in: .message)
                    error.recipients = recipientResults
                    return .failed(error)
                }
                return .succeeded(SMTPDeliveryResult(reply: reply, recipients: recipientResults))
            default:
                preconditionFailure("a transaction is never in phase \(phase)")
            }
        }
    }

    /// Starts a transaction for `envelope` and a message of `size` octets, or refuses it before
    /// any byte is sent when the server cannot take it (SMTPUTF8, 8BITMIME, SIZE).
    mutating func transactionRequested(_ envelope: SMTPEnvelope, size: Int) -> Action {
        guard case .ready = state, let capabilities else { return .transactionFailed(notReady()) }
        switch makeTransaction(envelope, size: size, capabilities: capabilities) {
        case .failure(let error):
            return .transactionFailed(error)
        case .success(let transaction):
            state = .transaction(transaction)
            return transaction.pipelined ? .sendPipelined(transaction.commands + [.data]) : .send(transaction.commands[0])
        }
    }

    /// Starts the next transaction behind the message content going out now: its MAIL, RCPT and
    /// DATA are written right after the final dot, so one round trip carries both the end of one
    /// message and the start of the next. RFC 2920 3.1 allows this: message content may open a
    /// group of pipelined commands and DATA closes it. The server answers the dot first, so the
    /// current transaction's outcome is unaffected; the follower becomes current once it is in.
    ///
    /// Returns the commands to write after the content; nil when the next transaction has to wait
    /// (no PIPELINING, no content going out, a follower already queued); or the error that
    /// refuses it before any byte is sent.
    mutating func transactionRequestedBehindContent(_ envelope: SMTPEnvelope, size: Int) -> Result<[SMTPCommand], SMTPError>? {
        guard case .transaction(let current) = state, current.isSendingContent, follower == nil, let capabilities,
            capabilities.supportsPipelining
        else { return nil }
        switch makeTransaction(envelope, size: size, capabilities: capabilities) {
        case .failure(let error):
            return .failure(error)
        case .success(let transaction):
            follower = transaction
            return .success(transaction.commands + [.data])
        }
    }

    /// The transaction for `envelope`, or the reason the server cannot take it (SMTPUTF8,
    /// 8BITMIME, SIZE, invalid DSN keywords).
    private func makeTransaction(_ envelope: SMTPEnvelope, size: Int, capabilities: SMTPCapabilities) -> Result<Transaction, SMTPError> {
        if envelope.requiresSMTPUTF8 && !capabilities.supportsSMTPUTF8 {
            return .failure(
                SMTPError(
                    code: "smtp.smtputf8_unsupported", classification: .permanent, phase: .mail,
                    message: "the message has internationalised addresses and the server does not offer SMTPUTF8",
                    diagnosis: "Send through a server that supports SMTPUTF8 (RFC 6531), or use ASCII addresses."))
        }
        if envelope.requires8BitMIME && !capabilities.supports8BitMIME {
            return .failure(
                SMTPError(
                    code: "smtp.8bitmime_unsupported", classification: .permanent, phase: .mail,
                    message: "the message is 8-bit and the server does not offer 8BITMIME"))
        }
        if let limit = capabilities.maximumSize, size > limit {
            return .failure(
                SMTPError(
                    code: "smtp.message_too_large", classification: .tooLarge, phase: .mail,
                    message: "the message is \(size) octets and the server accepts at most \(limit) (SIZE)"))
        }
        var mailParameters: [String] = []
        if capabilities.supports("SIZE") { mailParameters.append("SIZE=\(size)") }
        if envelope.requiresSMTPUTF8 { mailParameters.append("SMTPUTF8") }
        if envelope.requires8BitMIME { mailParameters.append("BODY=8BITMIME") }
        var recipientParameters: [String] = []
        if let dsn = envelope.dsn {
            // RFC 3461 4.1 and 4.3: only these keywords; anything else could smuggle parameters.
            let validNotify = dsn.notify.allSatisfy { ["NEVER", "SUCCESS", "FAILURE", "DELAY"].contains($0.uppercased()) }
            let validReturn = dsn.returnContent.map { ["FULL", "HDRS"].contains($0.uppercased()) } ?? true
            guard validNotify, validReturn else {
                return .failure(
                    SMTPError(
                        code: "smtp.invalid_argument", classification: .permanent, phase: .mail,
                        message: "DSN NOTIFY must be NEVER, SUCCESS, FAILURE or DELAY and RET must be FULL or HDRS"))
            }
        }
        if let dsn = envelope.dsn, capabilities.supportsDSN {
            if let ret = dsn.returnContent { mailParameters.append("RET=\(ret)") }
            if let id = dsn.envelopeID { mailParameters.append("ENVID=\(SMTPStateMachine.xtext(id))") }
            if !dsn.notify.isEmpty { recipientParameters.append("NOTIFY=\(dsn.notify.joined(separator: ","))") }
        }
        let commands =
            [SMTPCommand.mail(from: envelope.sender, parameters: mailParameters)]
            + envelope.recipients.map { SMTPCommand.recipient(to: $0, parameters: recipientParameters) }
        return .success(Transaction(envelope: envelope, commands: commands, pipelined: capabilities.supportsPipelining))
    }

    mutating func afterTransactionStep(_ transaction: Transaction, _ step: Transaction.Step) -> Action {
        state = .transaction(transaction)
        switch step {
        case .send(let command): return .send(command)
        case .wait: return .wait
        case .sendData: return .send(.data)
        case .sendContent: return .sendMessageContent
        case .sendEmptyContent: return .send(.endOfData)
        case .reset(let error):
            // RSET leaves the session clean for the next message (RFC 5321 4.1.1.5).
            state = .resetting(error)
            return .send(.rset)
        case .succeeded(let result):
            promoteFollower()
            return .transactionSucceeded(result)
        case .failed(let error):
            promoteFollower()
            return .transactionFailed(error)
        }
    }

    /// After a final reply: the pipelined follower's replies come next, or the session is idle.
    private mutating func promoteFollower() {
        if let follower {
            state = .transaction(follower)
            self.follower = nil
        } else {
            state = .ready
        }
    }

    /// RFC 3461 4: xtext encodes `+`, `=` and anything outside printable ASCII as `+XX`.
    static func xtext(_ value: String) -> String {
        var result = ""
        for byte in value.utf8 {
            if byte > 32 && byte < 127 && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "+" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
