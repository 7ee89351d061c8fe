import Foundation
import HeraldStore
import NIOConcurrencyHelpers

/// Accounts and templates as the send path last read them, kept for `ttl` so that a busy API
/// does not read them from the database for every message. Writes through this process's API
/// forget them at once; another process's writes are seen within `ttl`.
final class CatalogCache: Sendable {
    private struct State {
        var accounts: (value: [AccountRecord], at: ContinuousClock.Instant)?
        /// Counts the account snapshots read, so that a choice worked out from one is not kept for the next.
        var snapshot = 0
        /// `MessageFactory.likelyAccount` by tags, for the current snapshot.
        var likely: [[String]: AccountRecord?] = [:]
        var templates: [String: (value: TemplateRecord?, at: ContinuousClock.Instant)] = [:]
    }

    private let store: any Store
    private let ttl: Duration
    private let state = NIOLockedValueBox(State())

    init(store: any Store, ttl: Duration = .seconds(2)) {
        self.store = store
        self.ttl = ttl
    }

    func accounts() async throws -> [AccountRecord] {
        try await snapshot().accounts
    }

    /// The account a message without `from_account` most likely goes through
    /// (`MessageFactory.likelyAccount`), worked out once per account snapshot and set of tags:
    /// routing every request anew was 2% of a send's CPU.
    func likelyAccount(tags: [String]) async throws -> AccountRecord? {
        let (accounts, snapshot) = try await self.snapshot()
        if let known = state.withLockedValue({ $0.snapshot == snapshot ? $0.likely[tags] : nil }) { return known }
        let account = MessageFactory.likelyAccount(accounts, tags: tags)
        state.withLockedValue { state in
            guard state.snapshot == snapshot else { return }
            if state.likely.count >= 1_000 { state.likely.removeAll() }
            state.likely[tags] = account
        }
        return account
    }

    private func snapshot() async throws -> (accounts: [AccountRecord], number: Int) {
        let cached = state.withLockedValue { state in state.accounts.map { ($0, state.snapshot) } }
        if let (accounts, number) = cached, ContinuousClock.now - accounts.at < ttl { return (accounts.value, number) }
        let fresh = try await store.accounts()
        let number = state.withLockedValue { state in
            state.accounts = (fresh, .now)
            state.snapshot += 1
            state.likely.removeAll()
            return state.snapshot
        }
        return (fresh, number)
    }

    func template(code: String, locale: String) async throws -> TemplateRecord? {
        let key = code + "\u{0}" + locale
        if let cached = state.withLockedValue({ $0.templates[key] }), ContinuousClock.now - cached.at < ttl { return cached.value }
        let fresh = try await store.template(code: code, channel: "email", locale: locale)
        state.withLockedValue { state in
            if state.templates.count > 10_000 { state.templates.removeAll() }
            state.templates[key] = (fresh, .now)
        }
        return fresh
    }

    /// Why `template(code:locale:)` found nothing: there is no template `code` (field
    /// `template_code`), or none of its variants answers `locale` (field `locale`, naming the
    /// variants there are). Read on the error path only.
    func missingTemplate(code: String, locale: String) async throws -> APIError.FieldError {
        let variants = try await store.templates().filter { $0.code == code && $0.channel == "email" }.map(\.locale)
        guard !variants.isEmpty else { return .init(field: "template_code", reason: "is not a known template: \(code)") }
        let names = variants.map { $0.isEmpty ? "the default (\"\")" : $0 }.sorted().joined(separator: ", ")
        if locale.isEmpty {
            return .init(field: "locale", reason: "is needed: template \(code) has no default variant; its variants: \(names)")
        }
        return .init(
            field: "locale", reason: "\(locale) matches no variant of template \(code), which has no default; its variants: \(names)")
    }

    /// Forgets everything, after a write through the API.
    func forget() {
        state.withLockedValue { state in state = State(snapshot: state.snapshot + 1) }
    }
}
