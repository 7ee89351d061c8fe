import NIOConcurrencyHelpers

/// Batches concurrent writes into one transaction so that they share its durable commit.
///
/// The first caller to find no commit running becomes the leader: it takes every item waiting
/// (up to `maxBatch` items and `maxWeight` in total, but always the first), commits them
/// together, and hands each caller its own result. Callers that arrive meanwhile wait; when the leader's commit ends, the oldest of them leads the next batch.
/// So under load a batch forms while the previous one is being fsynced, with no timer and no
/// background task, and no caller leads for longer than one commit.
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
    private let commit: Commit

    /// `weight` measures an item (say, its bytes) against `maxWeight`; an item heavier than
    /// `maxWeight` is committed alone.
    init(
        maxBatch: Int, maxWeight: Int = .max, weight: @escaping @Sendable (Item) -> Int = { _ in 1 }, commit: @escaping Commit
    ) {
        precondition(maxBatch > 0, "a batch holds at least one item")
        self.maxBatch = maxBatch
        self.maxWeight = maxWeight
        self.weight = weight
        self.commit = commit
    }

    /// How many batches and items have been committed: fewer batches than items under load.
    var statistics: (batches: Int, items: Int) { state.withLockedValue { ($0.batches, $0.items) } }

    /// Commits `item` with whatever else is waiting; returns after that commit.
    func submit(_ item: Item) async throws -> Output {
        let ticket = Ticket()
        let leads = state.withLockedValue { state in
            state.waiting.append(Waiter(item: item, ticket: ticket))
            if state.committing { return false }
            state.committing = true
            return true
        }
        if leads { await commitNextBatch() }
        while true {
            switch await ticket.outcome() {
            case .done(let result): return try result.get()
            case .lead: await commitNextBatch()
            }
        }
    }

    private func commitNextBatch() async {
        // Callers woken by the previous commit are usually about to submit again; one yield lets
        // them join this batch instead of the next one.
        await Task.yield()
        let batch = state.withLockedValue { state in
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
        var results = batch.isEmpty ? [] : await commit(batch.map(\.item))
        if results.count != batch.count {
            results = Array(
                repeating: .failure(StoreError(.database, "a batch commit returned the wrong number of results")), count: batch.count)
        }
        for (waiter, result) in zip(batch, results) { waiter.ticket.resolve(.done(result)) }
        let next: Ticket? = state.withLockedValue { state in
            guard let first = state.waiting.first else {
                state.committing = false
                return nil
            }
            return first.ticket
        }
        next?.resolve(.lead)
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
        commit: @escaping GroupCommitter<Item, Output>.Commit
    ) {
        self.lanes = (0..<max(1, lanes)).map { _ in
            GroupCommitter(maxBatch: maxBatch, maxWeight: maxWeight, weight: weight, commit: commit)
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

/// What a waiting caller is told: its result, or that it leads the next commit.
private enum TicketOutcome<Output: Sendable>: Sendable {
    case done(Result<Output, any Error>)
    case lead
}

extension GroupCommitter {
    /// A one-shot mailbox between the leader and one waiting caller. `lead` may arrive before
    /// `done` for the same caller; each is read once.
    fileprivate final class Ticket: Sendable {
        private struct State {
            var pending: [TicketOutcome<Output>] = []
            var continuation: CheckedContinuation<TicketOutcome<Output>, Never>?
        }

        private let state = NIOLockedValueBox(State())

        func resolve(_ outcome: TicketOutcome<Output>) {
            let continuation = state.withLockedValue { state -> CheckedContinuation<TicketOutcome<Output>, Never>? in
                if let continuation = state.continuation {
                    state.continuation = nil
                    return continuation
                }
                state.pending.append(outcome)
                return nil
            }
            continuation?.resume(returning: outcome)
        }

        func outcome() async -> TicketOutcome<Output> {
            await withCheckedContinuation { continuation in
                let ready = state.withLockedValue { state -> TicketOutcome<Output>? in
                    if !state.pending.isEmpty { return state.pending.removeFirst() }
                    state.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
