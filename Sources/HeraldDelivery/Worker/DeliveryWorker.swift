import Foundation
import HeraldStore
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The delivery workers of one process, as a `Service`: claims batches, delivers up to
/// `concurrency` messages at once, renews their leases, sweeps expired leases, and on graceful
/// shutdown (SIGTERM) stops claiming, releases what has not started sending, lets sends in
/// progress finish for `drainTimeout`, and releases what is still held, without spending an attempt,
/// ending the sends that still run.
///
/// While every slot is busy, the worker claims up to `batchSize` more messages ahead, and a
/// delivery that ends starts the next of them at once. So a claim's round trip is never between
/// one delivery and the next, and claims come in batches instead of one or two messages each
/// time a slot frees: on PostgreSQL, where a claim is a transaction with its own commit, this
/// doubled delivery at the default concurrency.
///
/// The same service runs inside `herald serve` and alone in `herald worker`; any number of them
/// may share one store.
public final class DeliveryWorker: Service, Sendable {
    public let configuration: DeliveryConfiguration
    private let store: any Store
    private let channels: [String: any DeliveryChannel]
    private let dispatcher: MessageDispatcher
    /// Requests in this process's API, for which delivery holds fewer messages in flight; `herald
    /// serve` wires its API to it.
    public let requestPressure: RequestPressure
    private let logger: Logger
    private let holdings = NIOLockedValueBox(Holdings())
    private let stopped = NIOLockedValueBox(false)
    /// Signalled when a delivery ends or the worker is told to stop.
    private let changed = WorkSignal()

    /// - Parameters:
    ///   - channels: by name (`smtp`, `sandbox`); an account whose channel is missing fails its messages.
    ///   - random: values in 0..<1 for backoff jitter and weighted routing.
    public init(
        store: any Store, channels: [any DeliveryChannel], configuration: DeliveryConfiguration = DeliveryConfiguration(),
        alerts: AccountAlerts? = nil, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        requestPressure: RequestPressure = RequestPressure(), logger: Logger = Logger(label: "herald.delivery")
    ) {
        var logger = logger
        logger[metadataKey: LogKey.worker] = "\(configuration.workerID)"
        self.store = store
        self.channels = Dictionary(channels.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.configuration = configuration
        self.requestPressure = requestPressure
        self.logger = logger
        dispatcher = MessageDispatcher(
            store: store, channels: self.channels, configuration: configuration,
            directory: AccountDirectory(store: store, refresh: configuration.accountRefresh),
            alerts: alerts ?? AccountAlerts(store: store, logger: logger), random: random,
            isStopping: { [stopped] in stopped.withLockedValue { $0 } }, logger: logger)
    }

    /// The messages this worker is delivering right now, not counting those claimed ahead.
    public var inFlight: Int { holdings.withLockedValue { $0.sending } }

    public func run() async throws {
        var metadata: Logger.Metadata = ["concurrency": "\(configuration.concurrency)"]
        if configuration.concurrencyUnderLoad < configuration.concurrency {
            metadata["concurrency.under_load"] = "\(configuration.concurrencyUnderLoad)"
        }
        if let retention = configuration.retention { metadata["retention.hours"] = "\(retention.components.seconds / 3_600)" }
        logger.info("delivery worker started", metadata: metadata)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { background in
                background.addTask { await self.renewLeases() }
                background.addTask { await self.sweep() }
                if let retention = self.configuration.retention {
                    background.addTask { await self.prune(olderThan: retention) }
                }
                await self.claimAndDeliver()
                background.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        for channel in channels.values { await channel.shutdown() }
        logger.info("delivery worker stopped")
    }

    /// Stops claiming; `run()` returns once in-flight messages are finished or released.
    public func stop() {
        stopped.withLockedValue { $0 = true }
        changed.fire()
    }

    private var isStopping: Bool { stopped.withLockedValue { $0 } || Task.isCancelled }

    /// `concurrency`, or at most `concurrencyUnderLoad` while the API is taking sends. Lowered,
    /// it takes effect as deliveries finish; raised, at the next delivery's end or poll.
    private var currentConcurrency: Int {
        requestPressure.isBusy ? min(configuration.concurrency, configuration.concurrencyUnderLoad) : configuration.concurrency
    }

    // MARK: Claiming

    /// What the worker holds: a lease per message, delivering or claimed ahead.
    private struct Holdings {
        var leases: [Int64: Lease] = [:]
        /// Claimed ahead, oldest claim first; each starts when a slot frees.
        var ready: [ReadyMessage] = []
        var sending = 0
    }

    private struct ReadyMessage: Sendable {
        var message: ClaimedMessage
        /// Looked up once for the claim it came in (see `suppressionReasons(for:)`).
        var suppressions: [String: String]?
    }

    /// A claim that found fewer due messages than it asked for: until new work arrives or the
    /// poll interval passes, another claim would find none.
    private struct ShortClaim {
        /// The store's work generation before that claim.
        var work: UInt64
        var until: ContinuousClock.Instant
    }

    private func claimAndDeliver() async {
        await withDiscardingTaskGroup { deliveries in
            var short: ShortClaim?
            while !isStopping {
                let seen = changed.generation
                while let next = takeReady() {
                    deliveries.addTask { await self.deliver(startingWith: next) }
                }
                // A delivery's end wakes this loop to start what is ready, but does not make a
                // claim worth its round trip while the queue has nothing more.
                if let found = short, store.workGeneration == found.work, ContinuousClock.now < found.until {
                    await waitForWork(since: found, or: seen)
                    continue
                }
                short = nil
                let wanted = messagesToClaim()
                guard wanted > 0 else {
                    await changed.wait(timeout: configuration.pollInterval, since: seen)
                    continue
                }
                let work = store.workGeneration
                let claimed: [ClaimedMessage]
                do {
                    claimed = try await store.claim(limit: wanted, owner: configuration.workerID, lease: configuration.lease)
                } catch {
                    logger.error("could not claim messages: \(error)")
                    await changed.wait(timeout: configuration.pollInterval)
                    continue
                }
                if claimed.count < wanted { short = ShortClaim(work: work, until: .now + configuration.pollInterval) }
                if claimed.isEmpty { continue }
                holdings.withLockedValue { holdings in
                    for message in claimed { holdings.leases[message.lease.messageID] = message.lease }
                }
                let suppressions = await suppressionReasons(for: claimed)
                holdings.withLockedValue { holdings in
                    holdings.ready += claimed.map { ReadyMessage(message: $0, suppressions: suppressions) }
                }
            }
            await drain()
            deliveries.cancelAll()
        }
    }

    /// How many messages the next claim asks for: none while more than half a batch is ready;
    /// otherwise enough for the free slots and a batch ahead, at most a batch.
    private func messagesToClaim() -> Int {
        let concurrency = currentConcurrency
        let ahead = configuration.batchSize
        return holdings.withLockedValue { holdings in
            guard holdings.ready.count <= ahead / 2 else { return 0 }
            let room = max(0, concurrency - holdings.sending) + ahead - holdings.ready.count
            return min(room, ahead)
        }
    }

    /// The oldest message claimed ahead, counted as sending from here, if a slot is free.
    private func takeReady() -> ReadyMessage? {
        guard !isStopping else { return nil }
        let concurrency = currentConcurrency
        return holdings.withLockedValue { holdings in
            guard holdings.sending < concurrency, !holdings.ready.isEmpty else { return nil }
            holdings.sending += 1
            return holdings.ready.removeFirst()
        }
    }

    /// Delivers `first`, then each message ready while a slot is free, without waiting for the
    /// claiming loop.
    private func deliver(startingWith first: ReadyMessage) async {
        var next: ReadyMessage? = first
        while let current = next {
            await dispatcher.deliver(current.message, suppressions: current.suppressions)
            holdings.withLockedValue { holdings in
                holdings.leases.removeValue(forKey: current.message.lease.messageID)
                holdings.sending -= 1
            }
            next = takeReady()
            changed.fire()
        }
    }

    /// The suppressed recipients of a whole claim (lower-cased address to reason), looked up once
    /// instead of once per message; nil (each message looks its own up) if that fails or the
    /// claim has very many recipients.
    private func suppressionReasons(for claimed: [ClaimedMessage]) async -> [String: String]? {
        let addresses = Set(claimed.flatMap { $0.message.to + $0.message.cc + $0.message.bcc }.map { $0.lowercased() })
        guard addresses.count <= 5_000, let found = try? await store.suppressions(among: Array(addresses)) else { return nil }
        return MessageDispatcher.reasons(found)
    }

    /// Waits for work to arrive after a short claim, the poll interval since it, a delivery's
    /// end, or the stop, whichever is first.
    private func waitForWork(since claim: ShortClaim, or generation: UInt64) async {
        let timeout = claim.until - .now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.store.waitForWork(timeout: timeout, since: claim.work) }
            group.addTask { await self.changed.wait(timeout: timeout, since: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Releases the messages claimed ahead, lets in-flight deliveries finish for `drainTimeout`,
    /// then releases what is still held and ends the sends that still run. The channels shut down
    /// first: a message still waiting for a connection is released at once instead of being sent
    /// after the stop.
    private func drain() async {
        let deadline = ContinuousClock.now + configuration.drainTimeout
        let unstarted = holdings.withLockedValue { holdings in
            defer { holdings.ready = [] }
            return holdings.ready.compactMap { holdings.leases.removeValue(forKey: $0.message.lease.messageID) }
        }
        await release(unstarted, "released messages claimed ahead at shutdown")
        for channel in channels.values { await channel.shutdown() }
        while !Task.isCancelled {
            let seen = changed.generation
            guard inFlight > 0, ContinuousClock.now < deadline else { break }
            await changed.wait(timeout: deadline - ContinuousClock.now, since: seen)
        }
        await release(holdings.withLockedValue { Array($0.leases.values) }, "released messages still in flight at shutdown")
        // Their messages are back in the queue; a send still waiting for a reply would hold the
        // stop until its SMTP timeout, minutes away.
        guard inFlight > 0 else { return }
        for channel in channels.values { await channel.abort() }
    }

    private func release(_ leases: [Lease], _ message: Logger.Message) async {
        guard !leases.isEmpty else { return }
        do {
            let released = try await store.release(leases)
            logger.notice(message, metadata: ["released": "\(released.count)"])
        } catch {
            logger.error("could not release messages at shutdown; their leases will expire: \(error)")
        }
    }

    // MARK: Upkeep

    /// Renews the leases of in-flight messages every third of the lease.
    private func renewLeases() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.lease / 3)
            let leases = holdings.withLockedValue { Array($0.leases.values) }
            guard !leases.isEmpty, !Task.isCancelled else { continue }
            do {
                let kept = try await store.extendLeases(leases, by: configuration.lease)
                let lostNow = { self.holdings.withLockedValue { Self.lost(leases, kept: kept, stillHeld: $0.leases) } }
                guard lostNow() > 0 else { continue }
                // A settlement that committed while the renewal waited on its row may not have
                // reached its delivery yet: look again a moment later.
                try? await Task.sleep(for: min(.seconds(1), configuration.lease / 10))
                let lost = lostNow()
                if lost > 0 {
                    logger.warning("some leases were lost before they could be renewed", metadata: ["lost": "\(lost)"])
                }
            } catch {
                logger.error("could not renew leases: \(error)")
            }
        }
    }

    /// How many of the leases a renewal asked for were lost: not renewed (`kept` lacks them), yet
    /// still held. A message whose delivery settled while the renewal ran is not renewed either,
    /// and is not lost: it is no longer held.
    static func lost(_ asked: [Lease], kept: Set<Int64>, stillHeld: [Int64: Lease]) -> Int {
        asked.filter { !kept.contains($0.messageID) && stillHeld[$0.messageID] == $0 }.count
    }

    /// Reclaims expired leases and fails expired messages every `sweepInterval`.
    private func sweep() async {
        while !Task.isCancelled {
            do {
                let result = try await store.sweep()
                if !result.reclaimed.isEmpty || !result.expired.isEmpty {
                    logger.notice(
                        "swept the queue", metadata: ["reclaimed": "\(result.reclaimed.count)", "expired": "\(result.expired.count)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("could not sweep the queue: \(error)")
            }
            try? await Task.sleep(for: configuration.sweepInterval)
        }
    }

    /// Deletes finished messages past the retention every `retentionInterval`, a batch per
    /// transaction so that the queue's writers are never held up for long.
    private func prune(olderThan retention: Duration) async {
        let batch = 500
        while !Task.isCancelled {
            do {
                var deleted = 0
                while !Task.isCancelled {
                    let pruned = try await store.pruneMessages(olderThan: retention, limit: batch)
                    deleted += pruned
                    if pruned < batch { break }
                }
                if deleted > 0 { logger.info("pruned finished messages past the retention", metadata: ["deleted": "\(deleted)"]) }
            } catch is CancellationError {
                return
            } catch {
                logger.error("could not prune finished messages: \(error)")
            }
            try? await Task.sleep(for: configuration.retentionInterval)
        }
    }
}
