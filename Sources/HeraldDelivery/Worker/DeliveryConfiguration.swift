import Foundation

/// How the workers run. The defaults suit one process on a small machine.
public struct DeliveryConfiguration: Sendable {
    /// Names this worker in leases (`lease_owner`); unique per process by default.
    public var workerID: String
    /// Messages in flight at once in this process.
    public var concurrency: Int
    /// Messages in flight at most while the API in the same process is taking sends (see
    /// `RequestPressure`); `concurrency` when that is lower. Nothing changes at the defaults.
    public var concurrencyUnderLoad: Int
    /// Messages claimed per round trip at most; also how many more than `concurrency` a busy
    /// worker holds claimed ahead, so that a delivery's end starts the next without a claim's
    /// round trip. A message claimed ahead waits behind at most this many for a slot.
    public var batchSize: Int
    /// How long a claim holds a message; renewed every third of it while the message is in flight.
    public var lease: Duration
    /// How long an idle worker waits for a notification before it looks again.
    public var pollInterval: Duration
    /// How often expired leases and messages are swept.
    public var sweepInterval: Duration
    /// On shutdown, how long in-flight deliveries may take before their messages are released and
    /// their sends ended.
    public var drainTimeout: Duration
    /// How long the list of accounts is cached between reads.
    public var accountRefresh: Duration
    /// Finished messages (success, failed, cancelled) created longer ago than this are deleted,
    /// with their attempts and captures, every `retentionInterval`; nil keeps everything (the
    /// default: `herald prune` is then the explicit clean-up). At least the idempotency window.
    public var retention: Duration?
    /// How often a worker with a `retention` looks for messages past it.
    public var retentionInterval: Duration
    /// Puts a recipient the server refused as not existing (a 5xx reply with enhanced status
    /// 5.1.x, such as 550 5.1.1 "user unknown") on the suppression list, so later messages leave
    /// it out. Off by default: a relay that refuses good addresses would suppress them all.
    public var suppressHardBounces: Bool
    public var retry: RetryPolicy
    public var breaker: CircuitBreaker
    public var errorPolicy: ErrorPolicy

    public init(
        workerID: String? = nil, concurrency: Int = 16, batchSize: Int = 16, lease: Duration = .seconds(60),
        pollInterval: Duration = .seconds(2), sweepInterval: Duration = .seconds(15), drainTimeout: Duration = .seconds(20),
        accountRefresh: Duration = .seconds(2), retry: RetryPolicy = RetryPolicy(), breaker: CircuitBreaker = CircuitBreaker(),
        errorPolicy: ErrorPolicy = ErrorPolicy(), retention: Duration? = nil, retentionInterval: Duration = .seconds(3_600),
        suppressHardBounces: Bool = false, concurrencyUnderLoad: Int = 16
    ) {
        self.workerID = workerID ?? Self.defaultWorkerID()
        self.concurrency = max(1, concurrency)
        self.concurrencyUnderLoad = max(1, concurrencyUnderLoad)
        self.batchSize = max(1, batchSize)
        self.lease = lease
        self.pollInterval = pollInterval
        self.sweepInterval = sweepInterval
        self.drainTimeout = drainTimeout
        self.accountRefresh = accountRefresh
        self.retry = retry
        self.breaker = breaker
        self.errorPolicy = errorPolicy
        self.retention = retention
        self.retentionInterval = retentionInterval
        self.suppressHardBounces = suppressHardBounces
    }

    /// `host-pid-xxxx`: readable in `lease_owner`, unique across restarts.
    static func defaultWorkerID() -> String {
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
    }
}
