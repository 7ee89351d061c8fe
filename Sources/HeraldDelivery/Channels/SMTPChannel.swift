import HeraldSMTP
@_spi(Delivery) import HeraldStore
import Logging
import NIOCore
import NIOPosix

/// Delivers through SMTP, with one connection pool per account.
///
/// A pool is made on the account's first message, with its password opened from the store, and
/// kept while the account's settings and password stay the same. A changed account (a new or
/// removed password included) gets a new pool; so does an account whose login failed, so that a
/// corrected password is read again.
public actor SMTPChannel: DeliveryChannel {
    /// Settings of every account's pool.
    public struct Options: Sendable {
        public var pool = SMTPConnectionPool.Options()
        public var timeouts = SMTPTimeouts()
        /// The name sent in EHLO.
        public var localHostname = "localhost"

        public init() {}
    }

    public nonisolated let name = "smtp"
    private let store: any Store
    private let options: Options
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    /// By account: the pool, made for these settings and this version of the password.
    private var pools: [Int64: (settings: AccountSettings, passwordVersion: Int?, pool: SMTPConnectionPool)] = [:]
    private var closed = false
    /// Pools shut down with sends still running, for `abort()`.
    private var closing: [SMTPConnectionPool] = []
    private var aborted = false

    public init(
        store: any Store, options: Options = Options(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.delivery.smtp")
    ) {
        self.store = store
        self.options = options
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    public func deliver(_ message: OutgoingMessage, through account: AccountRecord) async throws(DeliveryError) -> DeliveryReceipt {
        let envelope: SMTPEnvelope
        do {
            var made = try SMTPEnvelope(sender: message.sender, recipients: message.recipients)
            made.requires8BitMIME = message.bytes.contains { $0 >= 0x80 }
            envelope = made
        } catch {
            throw DeliveryError(error)
        }
        let pool = try await pool(for: account)
        do {
            let result = try await pool.send(envelope, message: message.bytes)
            return DeliveryReceipt(
                smtpCode: result.reply.code, enhancedCode: result.reply.enhancedCode?.description, reply: result.reply.text,
                recipients: result.recipients.map(RecipientOutcome.init))
        } catch is SMTPError where aborted {
            // Ended by `abort()`: the worker released the message already.
            throw DeliveryError.stopping
        } catch is CancellationError {
            // The delivery's task was cancelled while its connection was still opening: nothing sent.
            throw DeliveryError.stopping
        } catch let error as SMTPError where error.code == "smtp.pool_closed" && closed {
            // Waiting for a connection when the workers stopped: never started.
            throw DeliveryError.stopping
        } catch let error as SMTPError where error.code == "smtp.pool_timeout" || error.code == "smtp.pool_closed" {
            // This process's connections to the account were all busy (or being replaced): local
            // congestion, not the account's fault. Retried later, through any account.
            throw DeliveryError(code: error.code, errorClass: .transient, message: error.message)
        } catch let error as SMTPError {
            let failure = DeliveryError(error)
            if failure.errorClass == .auth { await reset(accountID: account.id) }
            throw failure
        } catch {
            throw DeliveryError(code: "smtp.unexpected", errorClass: .protocol, message: "the SMTP session failed unexpectedly")
        }
    }

    public func reset(accountID: Int64) async {
        guard let entry = pools.removeValue(forKey: accountID) else { return }
        await entry.pool.shutdown()
    }

    public func shutdown() async {
        closed = true
        let all = pools.values.map(\.pool)
        pools = [:]
        closing += all
        for pool in all { await pool.shutdown() }
    }

    public func abort() async {
        closed = true
        aborted = true
        let all = pools.values.map(\.pool) + closing
        pools = [:]
        closing = []
        for pool in all { await pool.abort() }
    }

    /// Open connections per account, for metrics and tests.
    public func openConnections() async -> [Int64: Int] {
        var counts: [Int64: Int] = [:]
        for (id, entry) in pools { counts[id] = await entry.pool.openConnections }
        return counts
    }

    private func pool(for account: AccountRecord) async throws(DeliveryError) -> SMTPConnectionPool {
        guard !closed else { throw DeliveryError.stopping }
        let settings = account.settings
        func current(_ entry: (settings: AccountSettings, passwordVersion: Int?, pool: SMTPConnectionPool)?) -> SMTPConnectionPool? {
            guard let entry, entry.settings == settings, entry.passwordVersion == account.passwordVersion else { return nil }
            return entry.pool
        }
        if let pool = current(pools[account.id]) { return pool }
        let password: String?
        do {
            password = account.hasPassword ? try await store.accountPassword(id: account.id) : nil
        } catch {
            throw DeliveryError(
                code: DeliveryError.secretUnreadableCode, errorClass: .auth,
                message: "the account's password could not be opened",
                diagnosis: "Check HERALD_SECRET_KEY: it must be the key the password was stored under; or set the password again.")
        }
        // The channel may have shut down, or another delivery made the pool, while the password was read.
        guard !closed else { throw DeliveryError.stopping }
        if let pool = current(pools[account.id]) { return pool }
        if let stale = pools.removeValue(forKey: account.id) { await stale.pool.shutdown() }
        var configuration = SMTPClientConfiguration(
            host: account.smtpHost, port: account.smtpPort, security: SMTPSecurity(account.security),
            credentials: password.map { .password(username: account.login, password: $0) })
        configuration.verifyCertificates = account.tlsVerify
        configuration.trustRootsPEM = account.tlsCAPEM
        configuration.localHostname = options.localHostname
        configuration.timeouts = options.timeouts
        var logger = logger
        logger[metadataKey: LogKey.accountID] = "\(account.id)"
        let pool = SMTPConnectionPool(configuration: configuration, options: options.pool, eventLoopGroup: eventLoopGroup, logger: logger)
        pools[account.id] = (settings, account.passwordVersion, pool)
        return pool
    }
}

extension SMTPSecurity {
    /// The SMTP client's mode for an account's security setting.
    public init(_ security: AccountSecurity) {
        switch security {
        case .tls: self = .tls
        case .starttls: self = .startTLS
        case .none: self = .plaintext
        }
    }
}
