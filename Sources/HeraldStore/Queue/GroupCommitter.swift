import NIOConcurrencyHelpers

/// Batches concurrent writes into one transaction so that they share its durable commit.
///
/// The first item to find no commit running starts a committing task. That task takes every item
/// waiting (up to `maxBatch` items and `maxWeight` in total, but always the first), commits them
/// together, hands each caller its own result, and goes on with the items that arrived meanwhile
/// until none is left. So under load a batch forms while the previous one is being fsynced, with
/// no timer and no task when idle.
///
/// The committing task runs on `executor` when one is given (SQLite's writer thread): from one
/// batch to the next it then never waits for one of Swift's shared threads, which are busy with
/// requests and deliveries exactly when batches matter. Callers are not made to commit for
/// others: each only waits for its own result.
final class GroupCommitter<Item: Sendable, Output: Sendable>: Sendable {
    /// Commits a batch in one transaction and returns one result per item, in order.
    typealias Commit = @Sendable ([Item]) async -> [Result<Output, any Error>]

    private struct Waiter {
        var item: Item
        var ticket: Ticket
    }

    private struct State {
        var waiting: [Waiter] = []
        var committing = false
        var batches = 0
        var items = 0
    }

    private let state = NIOLockedValueBox(State())
    private let maxBatch: Int
    private let maxWeight: Int
    private let weight: @Sendable (Item) -> Int
    private let executor: (any TaskExecutor)?
    private let gathers: Bool
    private let commit: Commit

    /// `weight` measures an item (say, its bytes) against `maxWeight`; an item heavier than
    /// `maxWeight` is committed alone.
    ///
    /// `gathers`: the committing task yields before each batch. Callers answered by the last
    /// commit are often about to submit again, and the yield lets them join this batch instead of
    /// the next: fewer, larger commits, for a little more latency each. Worth it where throughput
    /// counts more than a caller's wait (settlements), or where the next batch needs the shared
    /// threads anyway (PostgreSQL).
    init(
        maxBatch: Int, maxWeight: Int = .max, weight: @escaping @Sendable (Item) -> Int = { _ in 1 },
        executor: (any TaskExecutor)? = nil, gathers: Bool = true, commit: @escaping Commit
    ) {
        precondition(maxBatch > 0, "a batch holds at least one item")
        self.maxBatch = maxBatch
        self.maxWeight = maxWeight
        self.weight = weight
        self.executor = executor
        self.gathers = gathers
        self.commit = commit
    }

    /// How many batches and items have been committed: fewer batches than items under load.
    var statistics: (batches: Int, items: Int) { state.withLockedValue { ($0.batches, $0.items) } }

    /// Commits `item` with whatever else is waiting; returns after that commit.
    func submit(_ item: Item) async throws -> Output {
        let ticket = Ticket()
        let starts = state.withLockedValue { state in
            state.waiting.append(Waiter(item: item, ticket: ticket))
            if state.committing { return false }
            state.committing = true
            return true
        }
        // Not a child task: a caller's cancellation must not stop the commit of the others.
        if starts { Task(executorPreference: executor) { await self.commitWhileWaiting() } }
        return try await ticket.result().get()
    }

    private func commitWhileWaiting() async {
        while true {
            if gathers { await Task.yield() }
            guard let batch = nextBatch() else { return }
            var results = await commit(batch.map(\.item))
            if results.count != batch.count {
                results = Array(
                    repeating: .failure(StoreError(.database, "a batch commit returned the wrong number of results")), count: batch.count)
            }
            for (waiter, result) in zip(batch, results) { waiter.ticket.resolve(result) }
        }
    }

    /// The next batch, or nil (and no longer committing) when nothing waits.
    private func nextBatch() -> [Waiter]? {
        state.withLockedValue { state in
            guard !state.waiting.isEmpty else {
                state.committing = false
                return nil
            }
            var count = 0
            var total = 0
            for waiter in state.waiting.prefix(maxBatch) {
                total += weight(waiter.item)
                if count > 0 && total > maxWeight { break }
                count += 1
            }
            let batch: [Waiter]
            if count == state.waiting.count {
                // The usual case: everyone waiting fits; take the array instead of copying it.
                batch = state.waiting
                state.waiting = []
                state.waiting.reserveCapacity(batch.count)
            } else {
                batch = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
            }
            state.batches += 1
            state.items += count
            return batch
        }
    }
}

/// Group committers side by side, used in turn. On a database that runs transactions in
/// parallel (PostgreSQL), one batch executes while another waits for its WAL flush and a third
/// forms, instead of every batch waiting for the one before it.
final class ParallelGroupCommitter<Item: Sendable, Output: Sendable>: Sendable {
    private let lanes: [GroupCommitter<Item, Output>]
    private let nextLane = NIOLockedValueBox(0)

    init(
        lanes: Int, maxBatch: Int, maxWeight: Int = .max, weight: @escaping @Sendable (Item) -> Int = { _ in 1 },
        executor: (any TaskExecutor)? = nil, gathers: Bool = true, commit: @escaping GroupCommitter<Item, Output>.Commit
    ) {
        self.lanes = (0..<max(1, lanes)).map { _ in
            GroupCommitter(maxBatch: maxBatch, maxWeight: maxWeight, weight: weight, executor: executor, gathers: gathers, commit: commit)
        }
    }

    var statistics: (batches: Int, items: Int) {
        lanes.map(\.statistics).reduce((0, 0)) { ($0.0 + $1.batches, $0.1 + $1.items) }
    }

    func submit(_ item: Item) async throws -> Output {
        let lane = nextLane.withLockedValue { next in
            defer { next = (next + 1) % lanes.count }
            return next
        }
        return try await lanes[lane].submit(item)
    }
}

extension GroupCommitter {
    /// A one-shot mailbox between the committing task and one waiting caller.
    fileprivate final class Ticket: Sendable {
        private struct State {
            var result: Result<Output, any Error>?
            var continuation: CheckedContinuation<Result<Output, any Error>, Never>?
        }

        private let state = NIOLockedValueBox(State())

        func resolve(_ result: Result<Output, any Error>) {
            let continuation = state.withLockedValue { state -> CheckedContinuation<Result<Output, any Error>, Never>? in
                guard let continuation = state.continuation else {
                    state.result = result
                    return nil
                }
                state.continuation = nil
                return continuation
            }
            continuation?.resume(returning: result)
        }

        func result() async -> Result<Output, any Error> {
            await withCheckedContinuation { continuation in
                let ready = state.withLockedValue { state -> Result<Output, any Error>? in
                    if let result = state.result { return result }
                    state.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
