import Foundation
import ServiceLifecycle

/// Herald's durable records and the delivery queue (DESIGN.md sections 3 and 4).
///
/// Every write is a transaction that has committed (and, with the default settings, reached the
/// disk) before the call returns. Lease and schedule times are measured on the database's clock.
/// A store is a `Service`: run it (or its `ServiceGroup`) while it is used; PostgreSQL's
/// connection pool and notifications live in `run()`.
public protocol Store: Service {
    // MARK: Schema

    /// Applies the numbered migrations not yet applied; returns their versions. Safe to run from
    /// several processes at once: they take turns.
    @discardableResult func migrate() async throws -> [Int]
    /// The applied migration versions, oldest first.
    func appliedMigrations() async throws -> [Int]

    // MARK: Messages and the queue

    /// Stores a message. Concurrent calls share one transaction (group commit); each returns only
    /// after its own row committed. With an idempotency key the same request returns the original
    /// message (`.duplicate`); a different request under the same key throws `idempotencyConflict`.
    func enqueue(_ message: NewMessage) async throws -> EnqueueResult
    /// The message with this id, or `nil`.
    func message(id: Int64) async throws -> MessageRecord?
    /// The exact bytes stored for the message, or `nil`.
    func messageBytes(id: Int64) async throws -> [UInt8]?
    /// The message's attempts, oldest first.
    func attempts(messageID: Int64) async throws -> [AttemptRecord]
    /// Messages matching `filter`, newest first, `limit` per page; pass the last page's cursor.
    func messages(matching filter: MessageFilter, limit: Int, cursor: String?) async throws -> MessagePage
    /// Cancels a message that is pending, scheduled or retrying; throws `invalidState` otherwise.
    func cancel(messageID: Int64) async throws -> MessageRecord
    /// Deletes up to `limit` finished messages (success, failed or cancelled) created more than
    /// `age` ago (database clock), oldest first, with their attempts, events, captures and lookup
    /// rows; returns how many it deleted (fewer than `limit`: nothing older is left). The one
    /// clean-up there is: delivery never deletes. Throws `invalidArgument` for an `age` inside the
    /// idempotency window, whose keys still answer with their messages.
    func pruneMessages(olderThan age: Duration, limit: Int) async throws -> Int

    /// Sends a failed, cancelled, retrying or scheduled message again now (the API's retry): due at
    /// once, its expiry and schedule cleared, with at least `extraAttempts` attempts left. Throws
    /// `invalidState` for a message that is pending, sending or delivered.
    func requeue(messageID: Int64, extraAttempts: Int) async throws -> MessageRecord

    /// Claims up to `limit` messages that are due, lowest priority value first, then oldest due,
    /// skipping scheduled, cancelled and expired ones. Each is `sending` under a lease held by
    /// `owner` for `lease`; no two claimers ever hold the same message.
    func claim(limit: Int, owner: String, lease: Duration) async throws -> [ClaimedMessage]
    /// Extends the leases still held by their tokens; returns the ids still held.
    func extendLeases(_ leases: [Lease], by duration: Duration) async throws -> Set<Int64>
    /// Records the attempt and moves the message on (success, retrying, failed). Throws
    /// `leaseLost`, changing nothing, unless the lease is still current.
    func settle(_ settlement: Settlement) async throws -> MessageRecord
    /// Gives messages back without spending an attempt (graceful shutdown); returns those released.
    @discardableResult func release(_ leases: [Lease]) async throws -> Set<Int64>
    /// Periodic upkeep: reclaims expired leases (recording a `lease_expired` attempt, failing the
    /// message once out of attempts), fails unsent messages past `expires_at`, and forgets
    /// idempotency keys past their retention.
    func sweep() async throws -> SweepResult
    /// Counts the times work may have arrived so far. Read it before looking for work and pass
    /// it to `waitForWork(timeout:since:)`, so that work arriving in between is not missed.
    var workGeneration: UInt64 { get }
    /// Returns when work may have arrived (a commit in this process, or a PostgreSQL
    /// notification from another) since `generation` (at once if it already has), or after
    /// `timeout`, whichever is first. Without a generation, waits for the next arrival.
    func waitForWork(timeout: Duration, since generation: UInt64?) async

    /// Records a try through one account that failed and was handed to another account within the
    /// same claim (failover). The message stays `sending`; throws `leaseLost` unless the lease is current.
    func recordFailover(_ lease: Lease, report: AttemptReport) async throws
    /// Gives a held message back, due again after `delay` (database clock), without spending an
    /// attempt: no account could take it now (all open, throttled or out of quota). The reason is
    /// kept as the message's last error. Throws `leaseLost` unless the lease is current.
    @discardableResult func postpone(
        _ lease: Lease, by delay: Duration, errorCode: String, errorMessage: String
    ) async throws
        -> MessageRecord

    // MARK: Statistics

    /// Counts over the last `window`.
    func stats(window: Duration) async throws -> DeliveryStats

    // MARK: Accounts

    /// Creates an account; throws `alreadyExists` for a taken name.
    func createAccount(_ settings: AccountSettings, password: PasswordChange) async throws -> AccountRecord
    func account(id: Int64) async throws -> AccountRecord?
    func account(named name: String) async throws -> AccountRecord?
    /// All accounts, by priority then id.
    func accounts() async throws -> [AccountRecord]
    /// Replaces an account's settings; the breaker state is kept.
    func updateAccount(id: Int64, _ settings: AccountSettings, password: PasswordChange) async throws -> AccountRecord
    /// Writes the breaker and error fields.
    func updateAccountHealth(id: Int64, _ update: AccountHealthUpdate) async throws -> AccountRecord
    /// Reads the account and the database's clock, lets `change` decide the new breaker fields, and
    /// writes them, in one transaction with the row locked: workers on many machines share one
    /// breaker without losing each other's updates. `change` may run more than once (a retried
    /// transaction), so it must be pure. Returns the account as it is after, and whether it changed.
    func changeAccountHealth(
        id: Int64, _ change: @escaping @Sendable (AccountRecord, Date) -> AccountHealthUpdate?
    ) async throws
        -> (account: AccountRecord, changed: Bool)
    /// Pauses the account for `duration` from now (database clock), after a provider's rate-limit
    /// reply. An existing longer pause is kept.
    func throttleAccount(id: Int64, for duration: Duration) async throws
    /// Counts one send against the account's limits, atomically across every worker: granted when
    /// both the minute and the UTC day have room (`nil` means no limit), otherwise nothing is
    /// counted and the answer says until when the limit holds.
    func reserveQuota(accountID: Int64, perMinute: Int?, perDay: Int?) async throws -> QuotaReservation
    /// Takes back a granted reservation, for a message the server never took (released at a stop,
    /// refused, or never sent). A window that has since rolled over is left alone.
    func returnQuota(_ ticket: QuotaTicket) async throws
    /// The account's sends in the current minute and day.
    func quotaUsage(accountID: Int64) async throws -> QuotaUsage
    /// Deletes an account; its messages keep their history.
    func deleteAccount(id: Int64) async throws
    /// The account's password, opened. Only for the delivery code that logs in with it.
    @_spi(Delivery) func accountPassword(id: Int64) async throws -> String?
    /// Throws `.secretUnreadable` when the store's master key does not open the passwords already
    /// stored (a process started with another HERALD_SECRET_KEY); returns when it does or when
    /// none is stored yet. After the migrations.
    func checkSecretKey() async throws

    // MARK: Templates

    /// Creates or replaces the template for its code, channel and locale (kept in its canonical
    /// form, `TemplateLocale.canonical`); the version grows.
    func saveTemplate(_ content: TemplateContent) async throws -> TemplateRecord
    /// The template for `locale`, falling back to the language (`zh` for `zh-CN`) and then the
    /// default locale `""`; tags compare without regard to case or `_` (`TemplateLocale`).
    func template(code: String, channel: String, locale: String) async throws -> TemplateRecord?
    func templates() async throws -> [TemplateRecord]
    /// Deletes every locale of a template, or one; returns how many were deleted.
    @discardableResult func deleteTemplate(code: String, channel: String, locale: String?) async throws -> Int

    // MARK: API keys

    /// Stores a key's hash; the key itself is never stored.
    func createAPIKey(name: String, prefix: String, hash: String, scopes: Set<APIKeyScope>) async throws -> APIKeyRecord
    /// The live (not revoked) key with this hash, or `nil`.
    func apiKey(hash: String) async throws -> APIKeyRecord?
    func apiKeys() async throws -> [APIKeyRecord]
    /// Revokes a live key (`.notFound` when there is none). With `keepingAnAdmin`, the last live
    /// admin key is not revoked (`.invalidState`): the API must not lock out its administrators.
    func revokeAPIKey(id: Int64, keepingAnAdmin: Bool) async throws

    // MARK: Sandbox captures

    /// Stores what the sandbox channel captured.
    @discardableResult func saveCapture(_ capture: NewCapture) async throws -> CaptureRecord
    /// The message's captures, oldest first.
    func captures(messageID: Int64) async throws -> [CaptureRecord]

    // MARK: Events and suppressions

    @discardableResult func appendEvent(
        kind: String, messageID: Int64?, accountID: Int64?, data: [String: String]
    ) async throws
        -> EventRecord
    /// Events after `id`, oldest first.
    func events(after id: Int64, limit: Int) async throws -> [EventRecord]
    /// Adds an address (lower-cased) to the suppression list, or replaces its reason and source;
    /// returns the entry as saved.
    @discardableResult func suppress(address: String, reason: String, source: String?) async throws -> SuppressionRecord
    /// Takes an address off the list; false when it was not on it.
    @discardableResult func unsuppress(address: String) async throws -> Bool
    /// The suppressions among `addresses`.
    func suppressions(among addresses: [String]) async throws -> [SuppressionRecord]
    /// The list in address order, after `address` (a page's last), at most `limit`.
    func suppressions(after address: String?, limit: Int) async throws -> [SuppressionRecord]
}

extension Store {
    /// Revokes a live key, whichever it is.
    public func revokeAPIKey(id: Int64) async throws {
        try await revokeAPIKey(id: id, keepingAnAdmin: false)
    }

    /// Returns at the next arrival of work or after `timeout`.
    public func waitForWork(timeout: Duration) async {
        await waitForWork(timeout: timeout, since: nil)
    }
}

/// Runs `body` with `store` while the store's service (`run()`) runs beside it, then stops the
/// service. For commands and tests; a server puts the store in its `ServiceGroup` instead.
public func withRunningStore<T: Sendable>(_ store: any Store, _ body: @Sendable (any Store) async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await store.run()
            return nil
        }
        defer { group.cancelAll() }
        return try await body(store)
    }
}
