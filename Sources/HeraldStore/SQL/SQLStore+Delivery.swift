import Foundation

/// The bookkeeping the delivery engine shares between workers: failover attempts, postponed
/// messages, breakers, throttles, quotas and sandbox captures.
extension SQLStore {
    public func recordFailover(_ lease: Lease, report: AttemptReport) async throws {
        let sql = backend.dialect.render(
            """
            INSERT INTO attempts (message_id, number, outcome, account_id, started_at, finished_at, error_class,
                error_code, error_message, smtp_code, enhanced_code, reply, recipients)
            SELECT id, attempts + 1, 'failed_over', CAST(? AS BIGINT), CAST(? AS BIGINT), {now}, ?, ?, ?, CAST(? AS BIGINT), ?, ?, ?
            FROM messages WHERE id = ? AND lease_token = ? AND status = 'sending'
            RETURNING message_id
            """)
        let binds: [SQLValue] = [
            SQLValue(report.accountID), SQLValue(report.startedAt), SQLValue(report.errorClass), SQLValue(report.errorCode),
            SQLValue(report.errorMessage), SQLValue(report.smtpCode), SQLValue(report.enhancedCode), SQLValue(report.reply),
            .text(JSONText.encode(report.recipients)), .integer(lease.messageID), .text(lease.token),
        ]
        if try await backend.writeStatement(sql, binds).isEmpty { throw QueueWriter<Backend>.leaseLost(lease.messageID) }
    }

    public func postpone(_ lease: Lease, by delay: Duration, errorCode: String, errorMessage: String) async throws -> MessageRecord {
        let sql = backend.dialect.render(
            """
            UPDATE messages SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,
                next_attempt_at = {now} + ?, lease_owner = NULL, lease_token = NULL, lease_until = NULL,
                error_code = ?, error_message = ?, updated_at = {now}
            WHERE id = ? AND lease_token = ? AND status = 'sending'
            RETURNING *
            """)
        let binds: [SQLValue] = [
            .integer(SQLTime.micros(delay)), .text(errorCode), .text(errorMessage), .integer(lease.messageID), .text(lease.token),
        ]
        guard let row = try await backend.writeStatement(sql, binds).first else { throw QueueWriter<Backend>.leaseLost(lease.messageID) }
        return try row.messageRecord()
    }

    public func changeAccountHealth(
        id: Int64, _ change: @escaping @Sendable (AccountRecord, Date) -> AccountHealthUpdate?
    ) async throws
        -> (account: AccountRecord, changed: Bool)
    {
        let select = backend.dialect.render("SELECT *, {now} AS db_now FROM email_accounts WHERE id = ?{for_update}")
        let update = backend.dialect.render(
            """
            UPDATE email_accounts SET health = ?, failure_count = ?, opened_until = CAST(? AS BIGINT), breaker_trips = ?,
                last_error_code = ?, last_error = ?, last_success_at = CAST(? AS BIGINT), updated_at = {now}
            WHERE id = ? RETURNING *
            """)
        return try await backend.write { connection in
            guard let row = try await connection.query(select, [.integer(id)]).first else {
                throw StoreError(.notFound, "there is no account \(id)")
            }
            let account = try row.accountRecord()
            guard let fields = change(account, try row.date("db_now")) else { return (account, false) }
            let binds: [SQLValue] = [
                .text(fields.health.rawValue), .integer(Int64(fields.failureCount)), SQLValue(fields.openedUntil),
                .integer(Int64(fields.breakerTrips)),
                SQLValue(fields.lastErrorCode), SQLValue(fields.lastError), SQLValue(fields.lastSuccessAt), .integer(id),
            ]
            guard let updated = try await connection.query(update, binds).first else {
                throw StoreError(.notFound, "there is no account \(id)")
            }
            return (try updated.accountRecord(), true)
        }
    }

    public func throttleAccount(id: Int64, for duration: Duration) async throws {
        let sql = backend.dialect.render(
            """
            UPDATE email_accounts SET throttled_until = CASE
                    WHEN throttled_until IS NOT NULL AND throttled_until > {now} + ? THEN throttled_until ELSE {now} + ? END,
                updated_at = {now}
            WHERE id = ? RETURNING id
            """)
        let micros = SQLValue.integer(SQLTime.micros(duration))
        if try await backend.writeStatement(sql, [micros, micros, .integer(id)]).isEmpty {
            throw StoreError(.notFound, "there is no account \(id)")
        }
    }

    public func reserveQuota(accountID: Int64, perMinute: Int?, perDay: Int?) async throws -> QuotaReservation {
        let limits: [QuotaPeriod: Int] = [.minute: perMinute, .day: perDay].compactMapValues { $0 }
        guard !limits.isEmpty else { return .granted(QuotaTicket(accountID: accountID, windowStarts: [:])) }
        let dialect = backend.dialect
        return try await backend.write { connection -> QuotaReservation in
            // Both windows' rows exist and are locked before either is read, so the check and the
            // count are one step for every worker on every machine.
            try await connection.query(
                """
                INSERT INTO account_usage (account_id, period, period_start, used) VALUES (?, 'minute', 0, 0), (?, 'day', 0, 0)
                ON CONFLICT (account_id, period) DO NOTHING
                """, [.integer(accountID), .integer(accountID)])
            let rows = try await connection.query(
                dialect.render("SELECT period, period_start, used, {now} AS db_now FROM account_usage WHERE account_id = ?{for_update}"),
                [.integer(accountID)])
            var windows: [(period: QuotaPeriod, start: Int64, used: Int64)] = []
            var refusedUntil: Int64?
            for row in rows {
                guard let period = QuotaPeriod(rawValue: try row.text("period")) else { continue }
                let now = try row.int("db_now")
                let start = now - now % period.micros
                let used = try row.int("period_start") == start ? try row.int("used") : 0
                if let limit = limits[period], used >= Int64(limit) { refusedUntil = max(refusedUntil ?? 0, start + period.micros) }
                windows.append((period, start, used))
            }
            if let refusedUntil { return .exhausted(until: SQLTime.date(refusedUntil)) }
            for window in windows {
                try await connection.query(
                    "UPDATE account_usage SET period_start = ?, used = ? WHERE account_id = ? AND period = ?",
                    [.integer(window.start), .integer(window.used + 1), .integer(accountID), .text(window.period.rawValue)])
            }
            let starts = Dictionary(uniqueKeysWithValues: windows.map { ($0.period, $0.start) })
            return .granted(QuotaTicket(accountID: accountID, windowStarts: starts))
        }
    }

    public func returnQuota(_ ticket: QuotaTicket) async throws {
        guard !ticket.windowStarts.isEmpty else { return }
        // A window's row whose start moved on belongs to a later window: nothing of this send is in it.
        let sql = """
            UPDATE account_usage SET used = used - 1
            WHERE account_id = ? AND used > 0
                AND ((period = 'minute' AND period_start = CAST(? AS BIGINT)) OR (period = 'day' AND period_start = CAST(? AS BIGINT)))
            """
        let binds: [SQLValue] = [
            .integer(ticket.accountID), SQLValue(ticket.windowStarts[.minute]),
            SQLValue(ticket.windowStarts[.day]),
        ]
        _ = try await backend.writeStatement(sql, binds)
    }

    public func quotaUsage(accountID: Int64) async throws -> QuotaUsage {
        let sql = backend.dialect.render(
            """
            SELECT period, used, period_start,
                ({now} - ({now} % \(QuotaPeriod.minute.micros))) AS minute_start,
                ({now} - ({now} % \(QuotaPeriod.day.micros))) AS day_start
            FROM account_usage WHERE account_id = ?
            """)
        let rows = try await backend.read { try await $0.query(sql, [.integer(accountID)]) }
        var usage = QuotaUsage()
        for row in rows {
            let start = try row.int("period_start")
            switch QuotaPeriod(rawValue: try row.text("period")) {
            case .minute where start == (try row.int("minute_start")): usage.minute = Int(try row.int("used"))
            case .day where start == (try row.int("day_start")): usage.day = Int(try row.int("used"))
            default: break
            }
        }
        return usage
    }

    // MARK: Sandbox captures

    public func saveCapture(_ capture: NewCapture) async throws -> CaptureRecord {
        let sql = backend.dialect.render(
            """
            INSERT INTO sandbox_captures (message_id, account_id, sender, recipients, data, created_at)
            VALUES (?, CAST(? AS BIGINT), ?, ?, ?, {now}) RETURNING *
            """)
        let binds: [SQLValue] = [
            .integer(capture.messageID), SQLValue(capture.accountID), .text(capture.sender),
            .text(JSONText.encode(capture.recipients)), .blob(capture.data),
        ]
        guard let row = try await backend.writeStatement(sql, binds).first else {
            throw StoreError(.database, "the capture was not returned")
        }
        return try row.captureRecord()
    }

    public func captures(messageID: Int64) async throws -> [CaptureRecord] {
        try await backend.read {
            try await $0.query("SELECT * FROM sandbox_captures WHERE message_id = ? ORDER BY id", [.integer(messageID)])
                .map { try $0.captureRecord() }
        }
    }
}

/// The fixed windows that account limits are counted in (UTC, on the database's clock).
enum QuotaPeriod: String {
    case minute, day

    var micros: Int64 {
        switch self {
        case .minute: 60_000_000
        case .day: 86_400_000_000
        }
    }
}

extension SQLRow {
    func captureRecord() throws -> CaptureRecord {
        CaptureRecord(
            id: try int("id"), messageID: try int("message_id"), accountID: optionalInt("account_id"), sender: try text("sender"),
            recipients: JSONText.strings(optionalText("recipients")), data: bytes("data") ?? [],
            createdAt: try date("created_at"))
    }
}
