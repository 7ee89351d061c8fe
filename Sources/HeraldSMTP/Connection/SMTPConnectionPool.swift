import Logging
import NIOCore
import NIOPosix

/// The connections to one account's server: reused across messages, bounded in number, checked
/// with NOOP after being idle, retired after too many messages, a 421 or a failure.
///
/// `send` waits at most `Options.acquireTimeout` for a connection and then throws
/// `smtp.pool_timeout`; after `shutdown()` it throws `smtp.pool_closed`.
public actor SMTPConnectionPool {
    public struct Options: Sendable {
        /// At most this many connections open (or opening) at once.
        public var maxConnections = 4
        /// A connection is closed after this many messages and a fresh one opened.
        public var maxMessagesPerConnection = 100
        /// An idle connection older than this is closed instead of reused.
        public var idleTimeout: Duration = .seconds(60)
        /// An idle connection older than this is checked with NOOP before it is reused.
        public var healthCheckAfterIdle: Duration = .seconds(5)
        /// How long `send` waits for a free connection.
        public var acquireTimeout: Duration = .seconds(30)

        public init() {}
    }

    private struct Pooled {
        let connection: SMTPConnection
        var messagesSent: Int
        var idleSince: ContinuousClock.Instant
    }

    /// What a waiter is handed: a connection, or the right to open one.
    private enum Grant {
        case connection(Pooled)
        case permitToConnect
    }

    public let configuration: SMTPClientConfiguration
    public let options: Options
    private let eventLoopGroup: EventLoopGroup
    private let logger: Logger
    private var idle: [Pooled] = []
    /// Connections handed out or being opened.
    private var busy = 0
    private var waiters: [Int: CheckedContinuation<Grant, Error>] = [:]
    private var waiterOrder: [Int] = []
    private var nextWaiter = 0
    private var closed = false

    public init(
        configuration: SMTPClientConfiguration, options: Options = Options(),
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "herald.smtp.pool")
    ) {
        self.configuration = configuration
        self.options = options
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Open connections: idle ones and ones in use.
    public var openConnections: Int { idle.count + busy }

    /// Sends one message over a pooled connection.
    public func send(_ envelope: SMTPEnvelope, message: [UInt8]) async throws -> SMTPDeliveryResult {
        var pooled = try await acquire()
        do {
            let result = try await pooled.connection.send(envelope, message: message)
            pooled.messagesSent += 1
            await release(pooled)
            return result
        } catch {
            pooled.messagesSent += 1
            await release(pooled)
            throw error
        }
    }

    /// Closes every idle connection (QUIT) and refuses new sends; connections in use close when returned.
    public func shutdown() async {
        closed = true
        for id in waiterOrder {
            waiters.removeValue(forKey: id)?.resume(throwing: Self.closedError)
        }
        waiterOrder = []
        let connections = idle
        idle = []
        for pooled in connections { await pooled.connection.close() }
    }

    // MARK: - Leasing

    private func acquire() async throws -> Pooled {
        while true {
            guard !closed else { throw Self.closedError }
            if var pooled = idle.popLast() {
                busy += 1
                let idleFor = ContinuousClock.now - pooled.idleSince
                if !pooled.connection.isUsable || idleFor > options.idleTimeout {
                    busy -= 1
                    await pooled.connection.close()
                    continue
                }
                if idleFor > options.healthCheckAfterIdle {
                    do {
                        try await pooled.connection.noop()
                    } catch {
                        busy -= 1
                        await pooled.connection.close()
                        continue
                    }
                }
                pooled.idleSince = .now
                return pooled
            }
            if busy < options.maxConnections {
                busy += 1
                return try await open()
            }
            switch try await waitForGrant() {
            case .connection(let pooled): return pooled
            case .permitToConnect: return try await open()
            }
        }
    }

    /// Opens a connection for a slot already counted in `busy`.
    private func open() async throws -> Pooled {
        do {
            let connection = try await SMTPConnection.connect(configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            return Pooled(connection: connection, messagesSent: 0, idleSince: .now)
        } catch {
            slotFreed()
            throw error
        }
    }

    private func release(_ pooled: Pooled) async {
        let reusable = !closed && pooled.connection.isUsable && pooled.messagesSent < options.maxMessagesPerConnection
        if reusable {
            if let waiter = nextWaiterContinuation() {
                waiter.resume(
                    returning: .connection(Pooled(connection: pooled.connection, messagesSent: pooled.messagesSent, idleSince: .now)))
            } else {
                busy -= 1
                idle.append(Pooled(connection: pooled.connection, messagesSent: pooled.messagesSent, idleSince: .now))
            }
            return
        }
        slotFreed()
        await pooled.connection.close()
    }

    /// A slot closed: a waiter may open a connection in its place.
    private func slotFreed() {
        if let waiter = nextWaiterContinuation() {
            waiter.resume(returning: .permitToConnect)
        } else {
            busy -= 1
        }
    }

    private func nextWaiterContinuation() -> CheckedContinuation<Grant, Error>? {
        while !waiterOrder.isEmpty {
            if let continuation = waiters.removeValue(forKey: waiterOrder.removeFirst()) { return continuation }
        }
        return nil
    }

    private func waitForGrant() async throws -> Grant {
        let id = nextWaiter
        nextWaiter += 1
        let timeout = options.acquireTimeout
        return try await withThrowingTaskGroup(of: Grant?.self) { group in
            group.addTask { try await self.enqueue(id) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let grant = result { return grant }
                // Timed out: withdraw; if the grant came meanwhile, the other task returns it next.
                withdraw(id)
            }
            throw Self.timeoutError(timeout)
        }
    }

    private func enqueue(_ id: Int) async throws -> Grant {
        try await withCheckedThrowingContinuation { continuation in
            waiters[id] = continuation
            waiterOrder.append(id)
        }
    }

    private func withdraw(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume(throwing: Self.timeoutError(options.acquireTimeout))
    }

    static let closedError = SMTPError(
        code: "smtp.pool_closed", classification: .network, phase: .connect, message: "the connection pool is shut down")

    static func timeoutError(_ timeout: Duration) -> SMTPError {
        SMTPError(
            code: "smtp.pool_timeout", classification: .timeout, phase: .connect,
            message: "no SMTP connection became free within \(timeout.components.seconds) s (all are busy)")
    }
}
