import Foundation
import HeraldStore

/// The accounts as a worker last read them, re-read at most every `refresh`; a worker's own
/// health writes replace their entry at once, so it acts on what it just learnt.
actor AccountDirectory {
    private let store: any Store
    private let refresh: Duration
    private var accounts: [AccountRecord] = []
    private var readAt: ContinuousClock.Instant?

    init(store: any Store, refresh: Duration) {
        self.store = store
        self.refresh = refresh
    }

    func current() async throws -> [AccountRecord] {
        if let readAt, ContinuousClock.now - readAt < refresh { return accounts }
        let fresh = try await store.accounts()
        accounts = fresh
        readAt = .now
        return fresh
    }

    func replace(_ account: AccountRecord) {
        if let index = accounts.firstIndex(where: { $0.id == account.id }) { accounts[index] = account }
    }
}
