import Logging
import NIOCore
import NIOPosix

/// The connections to one account's server: reused across messages, bounded in number, checked
/// with NOOP after being idle, retired after too many messages, a 421 or a failure.
///
/// A send takes the least busy connection. When every connection is busy and the server offers
/// PIPELINING, up to `Options.sendsPerConnection` messages share one: each message's MAIL, RCPT
/// and DATA go out behind the previous message's content (RFC 2920), so a message costs one round
/// trip instead of two. If such a session fails, only the message whose content was sent is
/// ambiguous; the ones queued behind it fail as `smtp.connection_closed` (network class).
///
/// `send` waits at most `Options.acquireTimeout` for a connection and then throws
/// `smtp.pool_timeout`; after `shutdown()` it throws `smtp.pool_closed`.
public actor SMTPConnectionPool {
    public struct Options: Sendable {
        /// At most this many connections open (or opening) at once.
        public var maxConnections = 4
        /// With PIPELINING, at most this many messages in flight on one connection.
        public var sendsPerConnection = 1
        /// A connection takes no more than this many messages; it is closed when the last is done.
        public var maxMessagesPerConnection = 100
        /// An idle connection older than this is closed instead of reused.
        public var idleTimeout: Duration = .seconds(60)
        /// An idle connection older than this is checked with NOOP before it is reused.
        public var healthCheckAfterIdle: Duration = .seconds(5)
        /// How long `send` waits for a free connection.
        public var acquireTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// An open connection and its use.
    private final class Pooled {
        let connection: SMTPConnection
        /// Sends started and not yet finished (a NOOP check counts as one).
        var inFlight = 0
        var messagesStarted = 0
        var idleSince: ContinuousClock.Instant = .now
        var checking = false

        init(_ connection: SMTPConnection) { self.connection = connection }
    }

    public let configuration: SMTPClientConfiguration
    public let options: Options
    private let eventLoopGroup: EventLoopGroup
    private let logger: Logger
    private var connections: [Pooled] = []
    /// Connections being opened, each in a task of its own so that `abort()` can end it.
    private var openings: Set<Task<SMTPConnection, Error>> = []
    /// A send waiting for a connection. It is registered before it suspends, so a wake-up that
    /// comes in between is kept (`woken`) rather than lost.
    private enum Waiter {
        case registered
        case parked(CheckedContinuation<Void, Error>)
        case woken
    }

    private var waiters: [Int: Waiter] = [:]
    /// Registered and parked waiters, longest first.
    private var waiterOrder: [Int] = []
    private var nextWaiter = 0
    private var closed = false
    /// Set by `abort()`: a connection still opening is abandoned, and one that finishes opening
    /// anyway is closed, unused.
    private var aborted = false

    public init(
        configuration: SMTPClientConfiguration, options: Options = Options(),
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "herald.smtp.pool")
    ) {
        self.configuration = configuration
        self.options = options
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Open connections: idle ones, ones in use and ones being opened.
    public var openConnections: Int { connections.count + openings.count }

    /// Sends in progress over all connections.
    public var sendsInFlight: Int { connections.reduce(0) { $0 + $1.inFlight } }

    /// Sends waiting for a connection (every one is busy or at its limit).
    public var sendsWaiting: Int { waiterOrder.count }

    /// Sends one message over a pooled connection.
    public func send(_ envelope: SMTPEnvelope, message: [UInt8]) async throws -> SMTPDeliveryResult {
        let pooled = try await acquire()
        do {
            let result = try await pooled.connection.send(envelope, message: message)
            await release(pooled)
            return result
        } catch {
            await release(pooled)
            throw error
        }
    }

    /// Closes every idle connection (QUIT) and refuses new sends; connections in use close when
    /// their last send is done.
    public func shutdown() async {
        closed = true
        wakeAll(throwing: Self.closedError)
        let idle = connections.filter { $0.inFlight == 0 }
        connections.removeAll { $0.inFlight == 0 }
        for pooled in idle { await pooled.connection.close() }
    }

    /// Closes every connection, those with sends in flight too, without QUIT: for a stop that
    /// cannot wait for them. Those sends fail at once, as `smtp.connection_closed`; a send whose
    /// connection is still opening (connecting, waiting for the greeting, in its set-up) fails as
    /// `smtp.pool_closed`.
    public func abort() async {
        closed = true
        aborted = true
        wakeAll(throwing: Self.closedError)
        for attempt in openings { attempt.cancel() }
        let all = connections
        connections.removeAll()
        for pooled in all { await pooled.connection.abort() }
    }

    // MARK: - Leasing

    private func acquire() async throws -> Pooled {
        let deadline = ContinuousClock.now + options.acquireTimeout
        while true {
            guard !closed else { throw Self.closedError }
            // Idle connections the server closed go, so that they do not hold slots.
            for dead in connections where dead.inFlight == 0 && !dead.connection.isUsable {
                dead.inFlight = 1
                await retire(dead)
            }
            if let pooled = leastBusy() {
                pooled.inFlight += 1
                guard pooled.inFlight == 1 else {
                    pooled.messagesStarted += 1
                    return handOut(pooled)
                }
                // Taken from idle: too old is closed, idle a while is checked first.
                let idleFor = ContinuousClock.now - pooled.idleSince
                if idleFor > options.idleTimeout {
                    await retire(pooled)
                    continue
                }
                if idleFor > options.healthCheckAfterIdle {
                    pooled.checking = true
                    let healthy = (try? await pooled.connection.noop()) != nil
                    pooled.checking = false
                    guard healthy else {
                        await retire(pooled)
                        continue
                    }
                }
                pooled.messagesStarted += 1
                return handOut(pooled)
            }
            if connections.count + openings.count < options.maxConnections {
                return handOut(try await open())
            }
            try await waitForRelease(until: deadline)
        }
    }

    /// A waiter looks again while a connection has room for more (a new pipelining connection
    /// takes several waiters at once).
    private func handOut(_ pooled: Pooled) -> Pooled {
        if !waiterOrder.isEmpty, leastBusy() != nil { wakeOne() }
        return pooled
    }

    /// The usable connection with the fewest sends in flight that may take one more.
    private func leastBusy() -> Pooled? {
        var best: Pooled?
        for pooled in connections where !pooled.checking && pooled.messagesStarted < options.maxMessagesPerConnection {
            guard pooled.connection.isUsable else { continue }
            let limit = pooled.connection.capabilities.supportsPipelining ? max(1, options.sendsPerConnection) : 1
            guard pooled.inFlight < limit else { continue }
            if pooled.inFlight < best?.inFlight ?? .max { best = pooled }
        }
        return best
    }

    /// Opens a connection, which is handed out with this send in flight.
    private func open() async throws -> Pooled {
        let (configuration, eventLoopGroup, logger) = (configuration, eventLoopGroup, logger)
        let attempt = Task { try await SMTPConnection.connect(configuration, eventLoopGroup: eventLoopGroup, logger: logger) }
        openings.insert(attempt)
        let connection: SMTPConnection
        do {
            connection = try await withTaskCancellationHandler {
                try await attempt.value
            } onCancel: {
                attempt.cancel()
            }
            openings.remove(attempt)
        } catch {
            openings.remove(attempt)
            wakeOne()
            throw aborted ? Self.closedError : error
        }
        if aborted {
            await connection.abort()
            throw Self.closedError
        }
        let pooled = Pooled(connection)
        pooled.inFlight = 1
        pooled.messagesStarted = 1
        connections.append(pooled)
        return pooled
    }

    private func release(_ pooled: Pooled) async {
        pooled.inFlight -= 1
        guard pooled.inFlight == 0 else { return wakeOne() }
        pooled.idleSince = .now
        if closed || pooled.messagesStarted >= options.maxMessagesPerConnection || !pooled.connection.isUsable {
            await retire(pooled)
        } else {
            wakeOne()
        }
    }

    /// Takes a connection out of the pool and closes it; a waiter may open one in its place.
    private func retire(_ pooled: Pooled) async {
        connections.removeAll { $0 === pooled }
        await pooled.connection.close()
        wakeOne()
    }

    // MARK: - Waiting

    private func waitForRelease(until deadline: ContinuousClock.Instant) async throws {
        guard ContinuousClock.now < deadline else { throw Self.timeoutError(options.acquireTimeout) }
        let id = nextWaiter
        nextWaiter += 1
        waiters[id] = .registered
        waiterOrder.append(id)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.park(id)
                return true
            }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return false
            }
            defer { group.cancelAll() }
            while let woken = try await group.next() {
                if woken { return }
                // Timed out: withdraw; if the wake-up came meanwhile, the other task returns next.
                withdraw(id)
            }
        }
    }

    private func park(_ id: Int) async throws {
        switch waiters[id] {
        case .woken:
            waiters[id] = nil
        case .registered:
            try await withCheckedThrowingContinuation { continuation in waiters[id] = .parked(continuation) }
        case .parked, nil:
            // Withdrawn (timed out) or the pool shut down before this waiter parked.
            throw closed ? Self.closedError : Self.timeoutError(options.acquireTimeout)
        }
    }

    private func withdraw(_ id: Int) {
        waiterOrder.removeAll { $0 == id }
        switch waiters.removeValue(forKey: id) {
        case .parked(let continuation): continuation.resume(throwing: Self.timeoutError(options.acquireTimeout))
        case .woken: wakeOne()  // a wake-up this waiter will not use goes to the next
        case .registered, nil: break
        }
    }

    /// The longest waiter looks again (a send finished, or a slot was freed).
    private func wakeOne() {
        while !waiterOrder.isEmpty {
            let id = waiterOrder.removeFirst()
            switch waiters[id] {
            case .parked(let continuation):
                waiters[id] = nil
                continuation.resume()
                return
            case .registered:
                waiters[id] = .woken
                return
            case .woken, nil:
                continue
            }
        }
    }

    private func wakeAll(throwing error: SMTPError) {
        for id in waiterOrder {
            if case .parked(let continuation) = waiters.removeValue(forKey: id) { continuation.resume(throwing: error) }
        }
        waiterOrder = []
    }

    static let closedError = SMTPError(
        code: "smtp.pool_closed", classification: .network, phase: .connect, message: "the connection pool is shut down")

    static func timeoutError(_ timeout: Duration) -> SMTPError {
        SMTPError(
            code: "smtp.pool_timeout", classification: .timeout, phase: .connect,
            message: "no SMTP connection became free within \(timeout.components.seconds) s (all are busy)")
    }
}
