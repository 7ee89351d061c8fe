import Foundation
import NIOConcurrencyHelpers

/// Wakes everyone waiting: `fire()` releases every current waiter. The store uses it to wake
/// workers when messages arrive; the workers use it for their own waits (a free slot, the stop).
///
/// To wait without missing a `fire()` that happens between checking a condition and waiting,
/// read `generation` before checking and pass it to `wait(timeout:since:)`.
public final class WorkSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UUID> = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Counts the `fire()` calls so far.
    public var generation: UInt64 { state.withLockedValue { $0.generation } }

    public func fire() {
        let waiters = state.withLockedValue { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns on the next `fire()` (at once if one happened since `generation`), after
    /// `timeout`, or when the task is cancelled.
    public func wait(timeout: Duration, since generation: UInt64? = nil) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.next(since: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    private func next(since generation: UInt64?) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLockedValue { state in
                    if state.cancelled.remove(id) != nil { return true }
                    if let generation, generation != state.generation { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state in
                if let waiter = state.waiters.removeValue(forKey: id) { return Optional(waiter) }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }
}
