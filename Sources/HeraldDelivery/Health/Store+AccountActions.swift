import HeraldStore

extension Store {
    /// Brings an account back by hand: active again, breaker closed, failure count reset, any
    /// throttle kept (it ends by itself). The last error stays for the record. Nobody needs SQL.
    @discardableResult public func enableAccount(id: Int64) async throws -> AccountRecord {
        guard var account = try await account(id: id) else { throw StoreError(.notFound, "there is no account \(id)") }
        if !account.isActive {
            var settings = account.settings
            settings.isActive = true
            account = try await updateAccount(id: id, settings, password: .keep)
        }
        return try await changeAccountHealth(id: id) { current, _ in CircuitBreaker.reset(current) }.account
    }

    /// Takes an account out of routing until it is enabled again; its messages keep their history.
    @discardableResult public func disableAccount(id: Int64) async throws -> AccountRecord {
        guard let account = try await account(id: id) else { throw StoreError(.notFound, "there is no account \(id)") }
        guard account.isActive else { return account }
        var settings = account.settings
        settings.isActive = false
        return try await updateAccount(id: id, settings, password: .keep)
    }
}
