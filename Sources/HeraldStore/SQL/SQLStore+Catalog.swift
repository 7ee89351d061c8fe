import Foundation

extension SQLStore {
    // MARK: Templates

    public func saveTemplate(_ content: TemplateContent) async throws -> TemplateRecord {
        let sql = backend.dialect.render(
            """
            INSERT INTO templates (code, channel, locale, subject, text_body, html_body, version, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, 1, {now}, {now})
            ON CONFLICT (code, channel, locale) DO UPDATE SET subject = excluded.subject, text_body = excluded.text_body,
                html_body = excluded.html_body, version = templates.version + 1, updated_at = excluded.updated_at
            RETURNING *
            """)
        let binds: [SQLValue] = [
            .text(content.code), .text(content.channel), .text(TemplateLocale.canonical(content.locale)), .text(content.subject),
            SQLValue(content.text), SQLValue(content.html),
        ]
        guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
            throw StoreError(.database, "the saved template was not returned")
        }
        return try row.templateRecord()
    }

    public func template(code: String, channel: String, locale: String) async throws -> TemplateRecord? {
        // Every variant of the code (a handful), matched here: tags compare in canonical form,
        // which also finds a variant saved before locales were kept canonical.
        let variants = try await templateVariants(code: code, channel: channel)
        for candidate in TemplateLocale.fallbacks(locale) {
            if let match = variants.first(where: { TemplateLocale.canonical($0.locale) == candidate }) { return match }
        }
        return nil
    }

    /// Every locale variant of a template.
    func templateVariants(code: String, channel: String) async throws -> [TemplateRecord] {
        try await backend.read { connection in
            try await connection.query("SELECT * FROM templates WHERE code = ? AND channel = ?", [.text(code), .text(channel)])
                .map { try $0.templateRecord() }
        }
    }

    public func templates() async throws -> [TemplateRecord] {
        try await backend.read {
            try await $0.query("SELECT * FROM templates ORDER BY code, channel, locale", []).map { try $0.templateRecord() }
        }
    }

    public func deleteTemplate(code: String, channel: String, locale: String?) async throws -> Int {
        guard let locale else {
            return try await backend.write {
                try await $0.query("DELETE FROM templates WHERE code = ? AND channel = ? RETURNING code", [.text(code), .text(channel)])
            }.count
        }
        let wanted = TemplateLocale.canonical(locale)
        return try await backend.write { connection in
            let stored = try await connection.query(
                "SELECT locale FROM templates WHERE code = ? AND channel = ?", [.text(code), .text(channel)])
            var deleted = 0
            for row in stored where TemplateLocale.canonical(try row.text("locale")) == wanted {
                deleted += try await connection.query(
                    "DELETE FROM templates WHERE code = ? AND channel = ? AND locale = ? RETURNING code",
                    [.text(code), .text(channel), .text(try row.text("locale"))]
                ).count
            }
            return deleted
        }
    }

    // MARK: API keys

    public func createAPIKey(name: String, prefix: String, hash: String, scopes: Set<APIKeyScope>) async throws -> APIKeyRecord {
        let sql = backend.dialect.render(
            "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, {now}) RETURNING *")
        let binds: [SQLValue] = [.text(name), .text(prefix), .text(hash), .text(scopes.map(\.rawValue).sorted().joined(separator: ","))]
        guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
            throw StoreError(.database, "the new key was not returned")
        }
        return try row.apiKeyRecord()
    }

    public func apiKey(hash: String) async throws -> APIKeyRecord? {
        try await backend.read { connection in
            try await connection.query("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", [.text(hash)]).first?
                .apiKeyRecord()
        }
    }

    public func apiKeys() async throws -> [APIKeyRecord] {
        try await backend.read { try await $0.query("SELECT * FROM api_keys ORDER BY id", []).map { try $0.apiKeyRecord() } }
    }

    public func revokeAPIKey(id: Int64, keepingAnAdmin: Bool) async throws {
        let dialect = backend.dialect
        try await backend.write { connection in
            if keepingAnAdmin {
                // The live keys are locked first (PostgreSQL), so that two revocations at once
                // cannot each leave the other's key as the last admin and revoke both.
                let live = try await connection.query(
                    dialect.render("SELECT id, scopes FROM api_keys WHERE revoked_at IS NULL ORDER BY id{for_update}"), [])
                let admins = try live.filter { try $0.text("scopes").split(separator: ",").contains("admin") }.map { try $0.int("id") }
                if admins == [id] {
                    throw StoreError(
                        .invalidState,
                        "API key \(id) is the last admin key; create another admin key first "
                            + "(POST /api/v1/keys, or herald keys create --scope admin on the server)")
                }
            }
            let rows = try await connection.query(
                dialect.render("UPDATE api_keys SET revoked_at = {now} WHERE id = ? AND revoked_at IS NULL RETURNING id"), [.integer(id)])
            if rows.isEmpty { throw StoreError(.notFound, "there is no live API key \(id)") }
        }
    }

    // MARK: Events

    public func appendEvent(kind: String, messageID: Int64?, accountID: Int64?, data: [String: String]) async throws -> EventRecord {
        let sql = backend.dialect.render(
            "INSERT INTO events (kind, message_id, account_id, data, created_at) VALUES (?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, {now}) RETURNING *"
        )
        let binds: [SQLValue] = [.text(kind), SQLValue(messageID), SQLValue(accountID), .text(JSONText.encode(data))]
        guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
            throw StoreError(.database, "the new event was not returned")
        }
        return try row.eventRecord()
    }

    public func events(after id: Int64, limit: Int) async throws -> [EventRecord] {
        try await backend.read { connection in
            try await connection.query(
                "SELECT * FROM events WHERE id > ? ORDER BY id \(Queries.limitParameter)", [.integer(id), .integer(Int64(max(1, limit)))]
            )
            .map { try $0.eventRecord() }
        }
    }

    // MARK: Suppressions

    @discardableResult public func suppress(address: String, reason: String, source: String?) async throws -> SuppressionRecord {
        let sql = backend.dialect.render(
            """
            INSERT INTO suppressions (address, reason, source, created_at) VALUES (?, ?, ?, {now})
            ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, source = excluded.source
            RETURNING *
            """)
        let binds: [SQLValue] = [.text(address.lowercased()), .text(reason), SQLValue(source)]
        let rows = try await backend.write { try await $0.query(sql, binds) }
        guard let row = rows.first else { throw StoreError(.database, "the suppression of \(address) returned no row") }
        return try row.suppressionRecord()
    }

    @discardableResult public func unsuppress(address: String) async throws -> Bool {
        let binds: [SQLValue] = [.text(address.lowercased())]
        return try await backend.write { try await $0.query("DELETE FROM suppressions WHERE address = ? RETURNING address", binds) }
            .count > 0
    }

    public func suppressions(after address: String?, limit: Int) async throws -> [SuppressionRecord] {
        let binds: [SQLValue] = [.text(address?.lowercased() ?? ""), .integer(Int64(max(1, limit)))]
        return try await backend.read { connection in
            try await connection.query("SELECT * FROM suppressions WHERE address > ? ORDER BY address \(Queries.limitParameter)", binds)
                .map { try $0.suppressionRecord() }
        }
    }

    public func suppressions(among addresses: [String]) async throws -> [SuppressionRecord] {
        guard !addresses.isEmpty else { return [] }
        let binds = addresses.map { SQLValue.text($0.lowercased()) }
        return try await backend.read { connection in
            try await connection.query(
                "SELECT * FROM suppressions WHERE address IN (\(Queries.placeholders(binds.count))) ORDER BY address", binds
            ).map { try $0.suppressionRecord() }
        }
    }
}
