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
            .text(content.code), .text(content.channel), .text(content.locale), .text(content.subject), SQLValue(content.text),
            SQLValue(content.html),
        ]
        guard let row = try await backend.write({ try await $0.query(sql, binds) }).first else {
            throw StoreError(.database, "the saved template was not returned")
        }
        return try row.templateRecord()
    }

    public func template(code: String, channel: String, locale: String) async throws -> TemplateRecord? {
        // zh-Hant-TW -> zh-Hant-TW, zh-Hant, zh, "" (the default).
        var candidates: [String] = []
        var parts = locale.split(whereSeparator: { $0 == "-" || $0 == "_" }).map(String.init)
        while !parts.isEmpty {
            candidates.append(parts.joined(separator: "-"))
            parts.removeLast()
        }
        candidates.append("")
        let binds: [SQLValue] = [.text(code), .text(channel)] + candidates.map { .text($0) }
        let placeholders = Queries.placeholders(candidates.count)
        let rows = try await backend.read { connection in
            try await connection.query(
                "SELECT * FROM templates WHERE code = ? AND channel = ? AND locale IN (\(placeholders))", binds)
        }
        let records = try rows.map { try $0.templateRecord() }
        for candidate in candidates {
            if let match = records.first(where: { $0.locale.lowercased() == candidate.lowercased() }) { return match }
        }
        return nil
    }

    public func templates() async throws -> [TemplateRecord] {
        try await backend.read {
            try await $0.query("SELECT * FROM templates ORDER BY code, channel, locale", []).map { try $0.templateRecord() }
        }
    }

    public func deleteTemplate(code: String, channel: String, locale: String?) async throws -> Int {
        var sql = "DELETE FROM templates WHERE code = ? AND channel = ?"
        var binds: [SQLValue] = [.text(code), .text(channel)]
        if let locale {
            sql += " AND locale = ?"
            binds.append(.text(locale))
        }
        let finalSQL = sql + " RETURNING code"
        let finalBinds = binds
        return try await backend.write { try await $0.query(finalSQL, finalBinds) }.count
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

    public func revokeAPIKey(id: Int64) async throws {
        let sql = backend.dialect.render("UPDATE api_keys SET revoked_at = {now} WHERE id = ? AND revoked_at IS NULL RETURNING id")
        let rows = try await backend.write { try await $0.query(sql, [.integer(id)]) }
        if rows.isEmpty { throw StoreError(.notFound, "there is no live API key \(id)") }
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

    public func suppress(address: String, reason: String, source: String?) async throws {
        let sql = backend.dialect.render(
            """
            INSERT INTO suppressions (address, reason, source, created_at) VALUES (?, ?, ?, {now})
            ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, source = excluded.source
            """)
        let binds: [SQLValue] = [.text(address.lowercased()), .text(reason), SQLValue(source)]
        try await backend.write { try await $0.query(sql, binds) }
    }

    public func unsuppress(address: String) async throws {
        let binds: [SQLValue] = [.text(address.lowercased())]
        try await backend.write { try await $0.query("DELETE FROM suppressions WHERE address = ?", binds) }
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
