import Foundation
import Synchronization

/// Whether the HTTP API in the same process is taking requests, so that delivery can leave it the
/// cores: `herald serve` notes each send request here, and its delivery worker holds at most
/// `DeliveryConfiguration.concurrencyUnderLoad` messages in flight while requests keep coming.
///
/// Delivery is background work and a request has a caller waiting. With many deliveries in flight
/// beside the requests, each request's jobs wait behind theirs on the shared threads and event
/// loops (see the README's `e2e` benchmark).
public final class RequestPressure: Sendable {
    /// How long after the last request the API still counts as busy.
    public let window: Duration
    private let windowNanoseconds: UInt64
    /// The last request's time, in nanoseconds of the monotonic clock (0: none yet).
    private let lastRequest = Atomic<UInt64>(0)

    public init(window: Duration = .milliseconds(200)) {
        self.window = window
        let (seconds, attoseconds) = window.components
        windowNanoseconds = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Notes a request now.
    public func noteRequest() {
        lastRequest.store(Self.now(), ordering: .relaxed)
    }

    /// Whether a request came within the last `window`.
    public var isBusy: Bool {
        let last = lastRequest.load(ordering: .relaxed)
        return last != 0 && Self.now() &- last < windowNanoseconds
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
