import Foundation

/// Filters for listing messages; every one set must match. Served by indexes.
public struct MessageFilter: Sendable, Hashable {
    public var statuses: Set<MessageStatus>
    public var recipient: String?
    public var templateCode: String?
    public var accountID: Int64?
    public var tag: String?
    /// Created at or after / before.
    public var createdFrom: Date?
    public var createdBefore: Date?

    public init(
        statuses: Set<MessageStatus> = [], recipient: String? = nil, templateCode: String? = nil, accountID: Int64? = nil,
        tag: String? = nil, createdFrom: Date? = nil, createdBefore: Date? = nil
    ) {
        self.statuses = statuses
        self.recipient = recipient
        self.templateCode = templateCode
        self.accountID = accountID
        self.tag = tag
        self.createdFrom = createdFrom
        self.createdBefore = createdBefore
    }
}

/// One page of messages, newest first, and the cursor for the next page (`nil` on the last).
public struct MessagePage: Sendable, Hashable {
    public var messages: [MessageRecord]
    public var nextCursor: String?
}

/// Counts over a window that ends now (on the database's clock).
public struct DeliveryStats: Sendable, Hashable {
    /// Messages created in the window, by status.
    public var countsByStatus: [MessageStatus: Int]
    /// success / (success + failed) among the messages created in the window; `nil` when none finished.
    public var successRate: Double?
    /// Failed attempts in the window by error class.
    public var errorClasses: [String: Int]
    /// Attempts in the window per account.
    public var accounts: [Int64: AccountAttemptCounts]
    /// Messages waiting to be sent (pending, scheduled, retrying), whatever their age.
    public var queueDepth: Int
}

/// One account's attempts in a window.
public struct AccountAttemptCounts: Sendable, Hashable {
    public var succeeded: Int
    public var failed: Int
}

/// Work the periodic sweep did (`Store.sweep()`).
public struct SweepResult: Sendable, Hashable {
    /// Messages whose worker's lease expired, made claimable again (or failed when out of attempts).
    public var reclaimed: [Int64]
    /// Unsent messages past `expires_at`, now `failed`.
    public var expired: [Int64]
    /// Idempotency keys older than their retention, forgotten.
    public var forgottenIdempotencyKeys: Int
}
