import Foundation
import HeraldStore
import Logging
import Metrics

/// Delivers one claimed message: routes it, tries its accounts in order (failing over when the
/// policy says so), keeps the accounts' breakers, throttles and quotas, and settles it with the
/// attempt record. Every decision about an error comes from `ErrorPolicy`.
struct MessageDispatcher: Sendable {
    let store: any Store
    let channels: [String: any DeliveryChannel]
    let configuration: DeliveryConfiguration
    let directory: AccountDirectory
    let alerts: AccountAlerts
    let random: @Sendable () -> Double
    /// Whether the worker is stopping: a message not yet handed to a channel is then released.
    let isStopping: @Sendable () -> Bool
    let logger: Logger
    let senders = SenderAddresses()

    private var router: AccountRouter { AccountRouter(breaker: configuration.breaker) }
    private var breaker: CircuitBreaker { configuration.breaker }

    /// `suppressions`: the suppressed recipients (lower-cased address to reason) if the caller
    /// looked them up for a whole claim; nil to look this message's up.
    func deliver(_ claimed: ClaimedMessage, suppressions: [String: String]? = nil) async {
        var logger = logger
        logger[metadataKey: LogKey.messageID] = "\(claimed.message.id)"
        logger[metadataKey: LogKey.attempt] = "\(claimed.message.attempts + 1)"
        do {
            try await deliver(claimed, suppressions: suppressions, logger: logger)
        } catch let error as StoreError where error.code == .leaseLost {
            logger.warning("the message's lease was lost (it expired and another worker took it); this result is dropped")
        } catch {
            // The lease will expire and the sweep makes the message claimable again: nothing is lost.
            logger.error("could not record the delivery: \(error)")
        }
    }

    private func deliver(_ claimed: ClaimedMessage, suppressions: [String: String]?, logger: Logger) async throws {
        if isStopping() { return try await releaseUnsent(claimed, logger: logger) }
        let message = claimed.message
        let plan = router.plan(
            RoutingRequest(message, senders: senders), accounts: try await directory.current(), now: Date(), random: random)
        if let refusal = plan.refusal {
            // Retried with backoff when the accounts' set-up may change back (a transient refusal).
            let (kind, notRetried) = decide(refusal, message: message)
            try await settle(claimed, kind, error: refusal, notRetried: notRetried, account: nil, recipients: [], logger: logger)
            return
        }
        let (recipients, suppressed) = try await unsuppressed(message, known: suppressions)
        guard !recipients.isEmpty else {
            let error = DeliveryError(
                code: "delivery.all_suppressed", errorClass: .recipientRejected, message: "every recipient is on the suppression list",
                recipients: suppressed)
            try await settle(claimed, .failed, error: error, account: nil, recipients: suppressed, logger: logger)
            return
        }

        var nextAvailable = plan.nextAvailable
        var lastFailure: (error: DeliveryError, account: AccountRecord)?
        // This process cannot open an account's password (its HERALD_SECRET_KEY is not the one
        // the password was stored under): not the account's fault nor the message's.
        var unreadableSecret: DeliveryError?
        for (index, candidate) in plan.candidates.enumerated() {
            var account = candidate
            var probing = false
            switch breaker.admission(account, now: Date()) {
            case .skip(let until):
                nextAvailable = min(nextAvailable ?? until, until)
                continue
            case .probe:
                let breaker = self.breaker
                let (after, took) = try await store.changeAccountHealth(id: account.id) { breaker.takeProbe($0, now: $1) }
                await replace(after)
                guard took else {
                    nextAvailable = min(nextAvailable ?? Date(), after.openedUntil ?? Date())
                    continue
                }
                account = after
                probing = true
                logger.info("probing an account whose breaker was open", metadata: [LogKey.accountName: "\(account.name)"])
            case .send:
                break
            }
            guard let channel = channels[account.channel] else {
                let error = DeliveryError(
                    code: "delivery.unknown_channel", errorClass: .permanent,
                    message: "account \(account.name) uses channel \(account.channel), which this Herald does not have")
                lastFailure = (error, account)
                continue
            }
            var ticket: QuotaTicket?
            if account.perMinuteLimit != nil || account.perDayLimit != nil {
                switch try await store.reserveQuota(accountID: account.id, perMinute: account.perMinuteLimit, perDay: account.perDayLimit) {
                case .granted(let granted):
                    ticket = granted
                case .exhausted(let until):
                    nextAvailable = min(nextAvailable ?? until, until)
                    if probing { try await giveBackProbe(account) }
                    continue
                }
            }

            let outgoing = OutgoingMessage(messageID: message.id, sender: account.email, recipients: recipients, bytes: claimed.mime)
            let started = Date()
            let clock = DispatchTime.now()
            let receipt: DeliveryReceipt
            do {
                receipt = try await channel.deliver(outgoing, through: account)
            } catch let error where error.code == DeliveryError.stopping.code {
                if probing { try await giveBackProbe(account) }
                if let ticket { try await store.returnQuota(ticket) }
                return try await releaseUnsent(claimed, logger: logger)
            } catch let error where error.code == DeliveryError.secretUnreadableCode {
                // Nothing was sent: the account keeps its health and the message its attempts;
                // another account, or a process with the right key, takes it.
                if probing { try await giveBackProbe(account) }
                if let ticket { try await store.returnQuota(ticket) }
                logger.error(
                    "\(error.explanation)",
                    metadata: [LogKey.accountName: "\(account.name)", LogKey.errorCode: "\(error.code)"])
                unreadableSecret = error
                continue
            } catch {
                // The limits count what the server took or may have taken: a refusal or a session
                // that never reached the message leaves the account's minute and day as they were.
                if let ticket, !error.ambiguous { try await store.returnQuota(ticket) }
                let rule = configuration.errorPolicy.rule(for: error.errorClass, smtpCode: error.smtpCode)
                count(outcome: "error", errorClass: error.errorClass.rawValue, account: account)
                try await accountFailed(account, error: error, rule: rule, logger: logger)
                lastFailure = (error, account)
                guard rule.failsOver, index + 1 < plan.candidates.count, !error.ambiguous else { break }
                logger.notice(
                    "failing over to another account", metadata: [LogKey.accountName: "\(account.name)", LogKey.errorCode: "\(error.code)"])
                try await store.recordFailover(
                    claimed.lease, report: report(error, account: account, started: started, suppressed: suppressed))
                continue
            }
            Timer(label: "herald_delivery_duration_seconds", dimensions: [("channel", account.channel)]).recordInterval(since: clock)
            try await accountWorked(account, delivered: true)
            try await settleDelivered(claimed, receipt: receipt, account: account, started: started, suppressed: suppressed, logger: logger)
            return
        }

        if let (error, account) = lastFailure {
            let (kind, notRetried) = decide(error, message: message)
            try await settle(
                claimed, kind, error: error, notRetried: notRetried, account: account, recipients: error.recipients + suppressed,
                logger: logger)
            return
        }
        if let unreadableSecret {
            try await store.postpone(
                claimed.lease, by: Self.unreadableSecretWait, errorCode: unreadableSecret.code,
                errorMessage: "\(unreadableSecret.explanation) The message was left unsent, without spending an attempt.")
            return
        }
        // No account could take the message now: wait for the first to come back, without spending an attempt.
        let wait = max(min((nextAvailable ?? Date()).timeIntervalSinceNow, 3600), 1)
        logger.notice("no account can send now; the message waits", metadata: ["wait.seconds": "\(Int(wait))"])
        try await store.postpone(
            claimed.lease, by: .milliseconds(Int64(wait * 1000)), errorCode: "delivery.no_account_available",
            errorMessage: "every account that could send this message is paused (breaker open, throttled or out of quota)")
    }

    /// Gives a message back to the queue as it was: the worker is stopping and nothing was sent.
    private func releaseUnsent(_ claimed: ClaimedMessage, logger: Logger) async throws {
        // Empty when the stop already released it, mid-send, and then ended the send.
        guard !(try await store.release([claimed.lease])).isEmpty else { return }
        logger.info("the worker is stopping; the message was released unsent")
    }

    /// How long a message waits when this process could not open its account's password.
    static let unreadableSecretWait = Duration.seconds(60)

    /// The retry decision for the last error (DESIGN.md section 5), within the message's attempts
    /// and expiry; and why an error its class would retry is not retried this time (nil otherwise),
    /// so that a message failed after 1 attempt of 8 says why.
    func decide(_ error: DeliveryError, message: MessageRecord) -> (kind: Settlement.Kind, notRetried: String?) {
        let rule = configuration.errorPolicy.rule(for: error.errorClass, smtpCode: error.smtpCode)
        let attempt = message.attempts + 1
        var delay: Duration
        switch rule.retry {
        case .never:
            return (.failed, nil)
        case .once where message.errorCode == error.code:
            return (.failed, "not retried: the same error ended the attempt before")
        case .backoff, .once:
            delay = configuration.retry.delay(afterAttempt: attempt, random: random)
        case .afterRateLimitWindow:
            delay = max(configuration.retry.delay(afterAttempt: attempt, random: random), configuration.retry.rateLimitWindow)
        }
        guard attempt < message.maxAttempts else {
            let used = message.maxAttempts == 1 ? "its one attempt is used" : "all \(message.maxAttempts) attempts are used"
            return (.failed, "not retried: \(used)")
        }
        if let expires = message.expiresAt, Date().addingTimeInterval(RetryPolicy.seconds(delay)) > expires {
            return (.failed, "not retried: the message expires at \(expires.formatted(.iso8601)), before the next try")
        }
        return (.retry(after: delay), nil)
    }

    // MARK: Accounts

    private func accountWorked(_ account: AccountRecord, delivered: Bool) async throws {
        let breaker = self.breaker
        guard breaker.recordSuccess(account, now: Date(), delivered: delivered) != nil else { return }
        let (after, _) = try await store.changeAccountHealth(id: account.id) { breaker.recordSuccess($0, now: $1, delivered: delivered) }
        await replace(after)
    }

    private func accountFailed(_ account: AccountRecord, error: DeliveryError, rule: ErrorPolicy.Rule, logger: Logger) async throws {
        if rule.throttlesAccount {
            try await store.throttleAccount(id: account.id, for: configuration.retry.rateLimitWindow)
            logger.notice("the provider rate-limited the account; it pauses", metadata: [LogKey.accountName: "\(account.name)"])
        }
        guard rule.countsAgainstAccount else {
            // The server took the session this far: the account itself works.
            try await accountWorked(account, delivered: false)
            return
        }
        let breaker = self.breaker
        let explanation = error.explanation
        let (after, _) = try await store.changeAccountHealth(id: account.id) { current, now in
            breaker.recordFailure(current, code: error.code, message: explanation, opensAtOnce: rule.opensBreakerAtOnce, now: now).update
        }
        await replace(after)
        if account.health == .closed && after.health == .open {
            await alerts.accountOpened(
                AccountAlert(
                    accountID: after.id, accountName: after.name, errorCode: error.code, error: explanation,
                    failureCount: after.failureCount, probeAfter: after.openedUntil))
        }
    }

    /// A probe that could not be sent (the quota was full) goes back, so the breaker is not left half-open.
    private func giveBackProbe(_ account: AccountRecord) async throws {
        let breaker = self.breaker
        let (after, _) = try await store.changeAccountHealth(id: account.id) { breaker.returnProbe($0, now: $1) }
        await replace(after)
    }

    /// Keeps this worker's view of the account current and publishes its breaker state.
    private func replace(_ account: AccountRecord) async {
        await directory.replace(account)
        AccountAlerts.publishBreakerState(account)
    }

    // MARK: Recipients and settling

    /// Suppressions as lower-cased address to reason, the form `deliver(_:suppressions:)` takes.
    static func reasons(_ suppressions: [SuppressionRecord]) -> [String: String] {
        Dictionary(suppressions.map { ($0.address.lowercased(), $0.reason) }, uniquingKeysWith: { first, _ in first })
    }

    private func unsuppressed(
        _ message: MessageRecord, known: [String: String]?
    ) async throws -> (recipients: [String], suppressed: [RecipientOutcome]) {
        let all = message.to + message.cc + message.bcc
        let reasons: [String: String]
        if let known {
            reasons = known
        } else {
            reasons = Self.reasons(try await store.suppressions(among: all))
        }
        guard !reasons.isEmpty else { return (all, []) }
        var kept: [String] = []
        var suppressed: [RecipientOutcome] = []
        for address in all {
            if let reason = reasons[address.lowercased()] {
                suppressed.append(RecipientOutcome(address: address, accepted: false, reply: "suppressed: \(reason)"))
            } else {
                kept.append(address)
            }
        }
        return (kept, suppressed)
    }

    private func settleDelivered(
        _ claimed: ClaimedMessage, receipt: DeliveryReceipt, account: AccountRecord, started: Date, suppressed: [RecipientOutcome],
        logger: Logger
    ) async throws {
        let report = AttemptReport(
            accountID: account.id, startedAt: started, smtpCode: receipt.smtpCode, enhancedCode: receipt.enhancedCode,
            reply: receipt.reply, recipients: receipt.recipients + suppressed)
        // Before the settlement: whoever sees the message finished sees its bounces listed.
        await suppressHardBounces(receipt.recipients, logger: logger)
        _ = try await store.settle(Settlement(lease: claimed.lease, kind: .delivered, report: report))
        count(outcome: "success", errorClass: "none", account: account)
        let refused = receipt.recipients.filter { !$0.accepted }.count
        logger.debug(
            "delivered", metadata: [LogKey.accountName: "\(account.name)", "recipients.refused": "\(refused + suppressed.count)"])
    }

    /// Records the attempt that ended with `error`; `notRetried` (from `decide`) is added to its
    /// message.
    private func settle(
        _ claimed: ClaimedMessage, _ kind: Settlement.Kind, error: DeliveryError, notRetried: String? = nil, account: AccountRecord?,
        recipients: [RecipientOutcome], logger: Logger
    ) async throws {
        var report = report(error, account: account, started: Date(), suppressed: [])
        report.recipients = recipients
        if let notRetried { report.errorMessage = [report.errorMessage, notRetried].compactMap { $0 }.joined(separator: "; ") }
        await suppressHardBounces(recipients, logger: logger)
        let record = try await store.settle(Settlement(lease: claimed.lease, kind: kind, report: report))
        let metadata: Logger.Metadata = [
            LogKey.errorCode: "\(error.code)", LogKey.errorClass: "\(error.errorClass.rawValue)",
            LogKey.accountName: "\(account?.name ?? "-")",
        ]
        if record.status == .failed {
            logger.warning("delivery failed for good: \(error.explanation)", metadata: metadata)
        } else {
            logger.notice("delivery failed; it will be retried", metadata: metadata)
        }
    }

    /// With `suppressHardBounces`, lists the recipients a server refused as not existing (5xx with
    /// enhanced status 5.1.x). A failure to list one is logged; the delivery's outcome stands.
    private func suppressHardBounces(_ outcomes: [RecipientOutcome], logger: Logger) async {
        guard configuration.suppressHardBounces else { return }
        for outcome in outcomes where ErrorPolicy.isHardBounce(outcome) {
            let source = ["smtp", outcome.code.map(String.init), outcome.enhancedCode, outcome.reply.map { String($0.prefix(200)) }]
                .compactMap { $0 }.joined(separator: " ")
            do {
                try await store.suppress(address: outcome.address, reason: "hard bounce", source: source)
                logger.notice(
                    "suppressed a recipient the server says does not exist",
                    metadata: ["smtp.code": "\(outcome.code ?? 0)", "smtp.enhanced_code": "\(outcome.enhancedCode ?? "")"])
            } catch {
                logger.error("could not suppress a hard-bounced recipient: \(error)")
            }
        }
    }

    private func report(_ error: DeliveryError, account: AccountRecord?, started: Date, suppressed: [RecipientOutcome]) -> AttemptReport {
        AttemptReport(
            accountID: account?.id, startedAt: started, errorClass: error.errorClass.rawValue, errorCode: error.code,
            errorMessage: error.explanation, smtpCode: error.smtpCode, enhancedCode: error.enhancedCode, reply: error.reply,
            recipients: error.recipients + suppressed, ambiguous: error.ambiguous)
    }

    private func count(outcome: String, errorClass: String, account: AccountRecord) {
        Counter(
            label: "herald_delivery_attempts_total",
            dimensions: [("outcome", outcome), ("error_class", errorClass), ("account", account.name)]
        ).increment()
    }
}
