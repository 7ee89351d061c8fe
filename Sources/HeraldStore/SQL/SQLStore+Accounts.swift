import Foundation

extension SQLStore {
    public func createAccount(_ settings: AccountSettings, password: PasswordChange) async throws -> AccountRecord {
        let secret = try sealed(password)
        let dialect = backend.dialect
        do {
            return try await backend.write { connection in
                let binds = Self.settingsBinds(settings) + [secret ?? .null]
                let rows = try await connection.query(
                    dialect.render(
                        """
                        INSERT INTO email_accounts (name, email, display_name, smtp_host, smtp_port, security, username,
                            tls_verify, tls_ca_pem, channel, is_active, priority, weight, per_minute_limit, per_day_limit,
                            routing, provider, secret, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?, ?, {now}, {now})
                        RETURNING *
                        """), binds)
                guard let row = rows.first else { throw StoreError(.database, "the new account was not returned") }
                return try row.accountRecord()
            }
        } catch let error as StoreError where error.code == .alreadyExists {
            throw StoreError(.alreadyExists, "an account named \(settings.name) already exists")
        }
    }

    public func account(id: Int64) async throws -> AccountRecord? {
        try await backend.read { try await $0.query("SELECT * FROM email_accounts WHERE id = ?", [.integer(id)]).first?.accountRecord() }
    }

    public func account(named name: String) async throws -> AccountRecord? {
        try await backend.read { try await $0.query("SELECT * FROM email_accounts WHERE name = ?", [.text(name)]).first?.accountRecord() }
    }

    public func accounts() async throws -> [AccountRecord] {
        try await backend.read {
            try await $0.query("SELECT * FROM email_accounts ORDER BY priority, id", []).map { try $0.accountRecord() }
        }
    }

    public func updateAccount(id: Int64, _ settings: AccountSettings, password: PasswordChange) async throws -> AccountRecord {
        let secretClause: String
        var secretBinds: [SQLValue] = []
        switch password {
        case .keep: secretClause = ""
        case .clear: secretClause = ", secret = NULL"
        case .set:
            secretClause = ", secret = ?"
            secretBinds = [try sealed(password) ?? .null]
        }
        let sql = backend.dialect.render(
            """
            UPDATE email_accounts SET name = ?, email = ?, display_name = ?, smtp_host = ?, smtp_port = ?, security = ?,
                username = ?, tls_verify = ?, tls_ca_pem = ?, channel = ?, is_active = ?, priority = ?, weight = ?,
                per_minute_limit = CAST(? AS BIGINT), per_day_limit = CAST(? AS BIGINT), routing = ?, provider = ?,
                updated_at = {now}\(secretClause)
            WHERE id = ? RETURNING *
            """)
        let binds = Self.settingsBinds(settings) + secretBinds + [.integer(id)]
        do {
            guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
                throw StoreError(.notFound, "there is no account \(id)")
            }
            return try row.accountRecord()
        } catch let error as StoreError where error.code == .alreadyExists {
            throw StoreError(.alreadyExists, "an account named \(settings.name) already exists")
        }
    }

    public func updateAccountHealth(id: Int64, _ update: AccountHealthUpdate) async throws -> AccountRecord {
        let sql = backend.dialect.render(
            """
            UPDATE email_accounts SET health = ?, failure_count = ?, opened_until = CAST(? AS BIGINT), breaker_trips = ?,
                last_error_code = ?, last_error = ?, last_success_at = CAST(? AS BIGINT), updated_at = {now}
            WHERE id = ? RETURNING *
            """)
        let binds: [SQLValue] = [
            .text(update.health.rawValue), .integer(Int64(update.failureCount)), SQLValue(update.openedUntil),
            .integer(Int64(update.breakerTrips)),
            SQLValue(update.lastErrorCode), SQLValue(update.lastError), SQLValue(update.lastSuccessAt), .integer(id),
        ]
        guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
            throw StoreError(.notFound, "there is no account \(id)")
        }
        return try row.accountRecord()
    }

    public func deleteAccount(id: Int64) async throws {
        let rows = try await backend.write { try await $0.query("DELETE FROM email_accounts WHERE id = ? RETURNING id", [.integer(id)]) }
        if rows.isEmpty { throw StoreError(.notFound, "there is no account \(id)") }
    }

    @_spi(Delivery) public func accountPassword(id: Int64) async throws -> String? {
        let row = try await backend.read { try await $0.query("SELECT secret FROM email_accounts WHERE id = ?", [.integer(id)]).first }
        guard let row else { throw StoreError(.notFound, "there is no account \(id)") }
        return try row.bytes("secret").map { try secretKey.open($0) }
    }

    public func checkSecretKey() async throws {
        let rows = try await backend.read {
            try await $0.query("SELECT name, secret FROM email_accounts WHERE secret IS NOT NULL ORDER BY id", [])
        }
        // Every one (accounts are few): after a lost key they are set again one by one.
        let unreadable = try rows.filter { row in row.bytes("secret").map { (try? secretKey.open($0)) == nil } ?? false }
            .map { try $0.text("name") }
        guard let first = unreadable.first else { return }
        throw StoreError(
            .secretUnreadable,
            "the master key (HERALD_SECRET_KEY, or on SQLite the .key file beside the database) does not open "
                + "\(unreadable.count) of the \(rows.count) passwords stored in this database, such as account \(first)'s: every "
                + "process must use the key they were stored under; if that key is lost, set each account's password again "
                + "under this one (herald accounts password NAME --password-stdin)")
    }

    private func sealed(_ password: PasswordChange) throws -> SQLValue? {
        guard case .set(let plaintext) = password else { return nil }
        return .blob(try secretKey.seal(plaintext))
    }

    private static func settingsBinds(_ settings: AccountSettings) -> [SQLValue] {
        let routing = (try? JSONEncoder().encode(settings.routing)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return [
            .text(settings.name), .text(settings.email), SQLValue(settings.displayName), .text(settings.smtpHost),
            .integer(Int64(settings.smtpPort)), .text(settings.security.rawValue), SQLValue(settings.username),
            .bool(settings.tlsVerify), SQLValue(settings.tlsCAPEM), .text(settings.channel), .bool(settings.isActive),
            .integer(Int64(settings.priority)), .integer(Int64(settings.weight)), SQLValue(settings.perMinuteLimit),
            SQLValue(settings.perDayLimit), .text(routing), SQLValue(settings.provider),
        ]
    }
}
