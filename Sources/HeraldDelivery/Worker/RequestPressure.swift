import NIOCore
import Synchronization

/// Whether the HTTP API in the same process is taking requests, so that delivery can leave it the
/// cores: `herald serve` notes each send request here, and its delivery worker holds at most
/// `DeliveryConfiguration.concurrencyUnderLoad` messages in flight while requests keep coming.
///
/// Delivery is background work and a request has a caller waiting. With many deliveries in flight
/// beside the requests, each request's jobs wait behind theirs on the shared threads and event
/// loops (see the README's `e2e` benchmark).
public final class RequestPressure: Sendable {
    /// How long after the last request the API still counts as busy, in nanoseconds.
    private let window: UInt64
    /// The last request's time, `NIODeadline.uptimeNanoseconds` (0: none yet).
    private let lastRequest = Atomic<UInt64>(0)

    public init(window: Duration = .milliseconds(200)) {
        self.window = UInt64(max(0, TimeAmount(window).nanoseconds))
    }

    /// Notes a request now.
    public func noteRequest() {
        lastRequest.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
    }

    /// Whether a request came within the last `window`.
    public var isBusy: Bool {
        let last = lastRequest.load(ordering: .relaxed)
        return last != 0 && NIODeadline.now().uptimeNanoseconds &- last < window
    }
}
