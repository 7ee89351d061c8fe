import Foundation
import NIOConcurrencyHelpers

/// Opens once; until then `wait()` suspends. `PostgresBackend` opens it as `run()` starts the
/// connection pool, so that no statement asks the pool for a connection before that: the
/// connection would come once the pool runs, but postgres-nio warns about every such request,
/// and `herald serve` logged two of those warnings at each start.
final class StartLatch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    var isOpen: Bool { state.withLockedValue { $0.isOpen } }

    /// Opens the latch and lets every waiter go.
    func open() {
        let waiters = state.withLockedValue { state in
            state.isOpen = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the latch is open; throws `CancellationError` if the task is cancelled first.
    func wait() async throws {
        if isOpen { return }
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLockedValue { state in
                    if state.isOpen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        if !isOpen { throw CancellationError() }
    }
}
