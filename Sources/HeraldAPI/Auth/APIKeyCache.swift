import Foundation
import HeraldStore
import NIOConcurrencyHelpers

/// Recognises API keys without a database read per request: lookups (found or not) are kept for
/// `ttl`, so a revoked key stops working within that time. A lock, not an actor: a hit (nearly
/// every request) then costs no hop to another executor.
final class APIKeyCache: Sendable {
    private struct Entry {
        var record: APIKeyRecord?
        var at: ContinuousClock.Instant
    }

    private let store: any Store
    private let ttl: Duration
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    init(store: any Store, ttl: Duration = .seconds(10)) {
        self.store = store
        self.ttl = ttl
    }

    /// Entries are keyed by the hash, so that the process never holds keys it has not just been sent.
    func lookup(_ key: String) async throws -> APIKeyRecord? {
        let hash = APIKeyIssuer.hash(key)
        let now = ContinuousClock.now
        if let entry = entries.withLockedValue({ $0[hash] }), now - entry.at < ttl { return entry.record }
        let record = try await store.apiKey(hash: hash)
        entries.withLockedValue { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[hash] = Entry(record: record, at: .now)
        }
        return record
    }

    func forget() { entries.withLockedValue { $0.removeAll() } }
}

/// A token bucket per API key: `perSecond` requests a second on average, bursts up to `burst`.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    let perSecond: Double
    let burst: Double
    private let buckets = NIOLockedValueBox<[Int64: Bucket]>([:])

    init(perSecond: Double, burst: Double) {
        self.perSecond = max(perSecond, 0.001)
        self.burst = max(burst, 1)
    }

    /// Takes a token for `key`; `nil` when allowed, else the whole seconds to wait.
    func take(_ key: Int64) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLockedValue { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, at: now)
            let elapsed = now - bucket.at
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * perSecond)
            bucket.at = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return Int(((1 - bucket.tokens) / perSecond).rounded(.up)) }
            bucket.tokens -= 1
            return nil
        }
    }
}
