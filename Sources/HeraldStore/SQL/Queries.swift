/// The store's SQL, spelled once for the backend's dialect when the store is made.
struct Queries: Sendable {
    let dialect: SQLDialect

    /// The columns of a `MessageRecord`, in `SELECT` order.
    static let messageColumnNames = [
        "id", "request_id", "api_key_id", "idempotency_key", "channel", "from_address", "to_addresses",
        "cc_addresses", "bcc_addresses", "subject", "template_code", "template_variables", "message_id_header",
        "from_account", "status", "priority", "send_at", "expires_at", "attempts", "max_attempts",
        "next_attempt_at", "lease_owner", "lease_until", "account_id", "error_code", "error_message",
        "smtp_reply", "tags", "metadata", "created_at", "updated_at", "sent_at",
    ]
    static let messageColumns = messageColumnNames.joined(separator: ", ")
    /// The same columns qualified by the table, for statements that join another source.
    static let qualifiedMessageColumns = messageColumnNames.map { "messages.\($0)" }.joined(separator: ", ")
    static let claimable = "('pending', 'scheduled', 'retrying')"
    /// A lease's message, matched to the rows `c` (`id`, `token`) of a batch: still held by that
    /// lease. The status is compared through `||` so that no index on `status` can serve it, and
    /// each message is found by its id. PostgreSQL plans a prepared batch once for every size (its
    /// generic plan), and that plan read the 'sending' entries of `messages_status` (or of the
    /// partial `messages_leases`) and joined them to the batch; an update leaves the old entry
    /// behind until a vacuum, so it read an entry for every message sent since. Over a
    /// PostgreSQL e2e run the settlement took 473 µs of the server per message so, about 105 by id.
    static let heldBy = "messages.lease_token = c.token AND (messages.status || '') = 'sending'"
    /// `LIMIT` with a bound row count. Not a bare `LIMIT ?`: SQLite's planner reads a bare
    /// parameter's value there and marks the statement to be prepared again whenever the value is
    /// bound anew, so the claim (a different count each time) was parsed and planned on every run
    /// instead of reusing its prepared statement. A cast is an expression the planner leaves alone.
    static let limitParameter = "LIMIT CAST(? AS BIGINT)"

    let now: String
    let claim: String
    let reclaimExpired: String
    let expire: String
    let forgetIdempotencyKeys: String
    let cancel: String
    // Batch statements, filled with one row per message.
    let insertMessages: SQLTemplate
    let insertMessageRow: String
    /// Where RETURNING is not cheap (`SQLDialect.cheapReturning`), the rows an insert made are read
    /// back afterwards: those numbered above the table's AUTOINCREMENT mark from before it.
    let messagesMark = "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
    let messagesAboveMark = "SELECT \(insertedColumns) FROM messages WHERE id > ?"
    let settle: SQLTemplate
    let settleRow =
        "(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT))"
    let insertAttempts: SQLTemplate
    let attemptRow: String
    let insertEvents: SQLTemplate
    let eventRow: String
    let extendLeases: SQLTemplate
    let release: SQLTemplate
    let leaseRow = "(CAST(? AS BIGINT), CAST(? AS TEXT))"
    // Single-statement batches, for dialects whose CTEs may write (see QueueWriter+SingleStatement).
    let oneStatementEnqueue: String
    let oneStatementSettle: String

    /// The message rows of a batch, `v`, with the database's clock read once, `n`.
    static let insertSources = """
        WITH n (now) AS (SELECT {now}),
        \(insertSourceColumns) AS (VALUES {values})
        """
    static let insertSourceColumns = """
        v (uid, request_id, api_key_id, idempotency_key, channel, from_address, to_addresses, cc_addresses,
            bcc_addresses, subject, template_code, template_variables, mime, message_id_header, from_account,
            priority, send_at, expires_at, max_attempts, tags, metadata)
        """
    /// Inserts `v` as new messages and returns what the database decided for each.
    static let insertFromSources = """
        INSERT INTO messages (\(insertColumns))
        SELECT v.uid, v.request_id, v.api_key_id, v.idempotency_key, v.channel, v.from_address, v.to_addresses,
            v.cc_addresses, v.bcc_addresses, v.subject, v.template_code, v.template_variables, v.mime,
            v.message_id_header, v.from_account, CASE WHEN v.send_at > n.now THEN 'scheduled' ELSE 'pending' END,
            v.priority, v.send_at, v.expires_at, 0, v.max_attempts, COALESCE(v.send_at, n.now), v.tags, v.metadata,
            n.now, n.now
        FROM v, n
        """
    /// What an enqueue needs back of each inserted row; the rest it already has.
    static let insertedColumns = "uid, id, status, next_attempt_at, created_at"
    /// The settlements `c` applied to the messages whose lease they hold; returns the new rows.
    static let settleFromSources = """
        UPDATE messages SET status = c.new_status, attempts = messages.attempts + 1,
            next_attempt_at = CASE WHEN c.delay IS NULL THEN messages.next_attempt_at ELSE {now} + c.delay END,
            lease_owner = NULL, lease_token = NULL, lease_until = NULL,
            account_id = COALESCE(c.account_id, messages.account_id),
            error_code = c.error_code, error_message = c.error_message, smtp_reply = c.smtp_reply,
            sent_at = CASE WHEN c.new_status = 'success' THEN {now} ELSE messages.sent_at END, updated_at = {now}
        FROM c
        WHERE messages.id = c.id AND \(Self.heldBy)
        RETURNING \(qualifiedMessageColumns)
        """
    static let settleSources = "c (\(settleColumns)) AS (VALUES {values})"
    static let settleColumns = "id, token, new_status, delay, account_id, error_code, error_message, smtp_reply"

    static let insertColumns = """
        uid, request_id, api_key_id, idempotency_key, channel, from_address, to_addresses, cc_addresses,
        bcc_addresses, subject, template_code, template_variables, mime, message_id_header, from_account, status,
        priority, send_at, expires_at, attempts, max_attempts, next_attempt_at, tags, metadata, created_at, updated_at
        """

    init(dialect: SQLDialect) {
        self.dialect = dialect
        // The database's clock is read once per statement (n), not four times per row.
        insertMessages = SQLTemplate(
            Self.insertSources + "\n" + Self.insertFromSources + (dialect.cheapReturning ? "\nRETURNING \(Self.insertedColumns)" : ""),
            dialect: dialect)
        // PostgreSQL needs a type for parameters that may be NULL in a VALUES list.
        insertMessageRow = "(?, ?, CAST(? AS BIGINT), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?, ?)"
        settle = SQLTemplate("WITH " + Self.settleSources + "\n" + Self.settleFromSources, dialect: dialect)
        // One array parameter per column (see QueueWriter+SingleStatement): constant texts.
        oneStatementEnqueue = dialect.render(
            """
            WITH n (now) AS (SELECT {now}),
            \(Self.insertSourceColumns) AS (SELECT * FROM unnest(\(Self.placeholders(21)))),
            m AS (\(Self.insertFromSources) RETURNING \(Self.insertedColumns)),
            r AS (
                INSERT INTO message_recipients (address, message_id, kind)
                SELECT x.address, m.id, x.kind FROM m JOIN unnest(?, ?, ?) AS x (uid, kind, address) ON x.uid = m.uid
                ON CONFLICT DO NOTHING),
            t AS (
                INSERT INTO message_tags (tag, message_id)
                SELECT y.tag, m.id FROM m JOIN unnest(?, ?) AS y (uid, tag) ON y.uid = m.uid
                ON CONFLICT DO NOTHING)
            SELECT m.uid, m.id, m.status, m.next_attempt_at, m.created_at FROM m
            """)
        oneStatementSettle = dialect.render(
            """
            WITH c (\(Self.settleColumns), outcome, started_at, error_class, attempt_error_code, attempt_error_message,
                smtp_code, enhanced_code, recipients, event_data)
                AS (SELECT * FROM unnest(\(Self.placeholders(17)))),
            u AS (\(Self.settleFromSources)),
            a AS (
                INSERT INTO attempts (message_id, number, outcome, account_id, started_at, finished_at, error_class,
                    error_code, error_message, smtp_code, enhanced_code, reply, recipients)
                SELECT u.id, u.attempts, c.outcome, c.account_id, c.started_at, {now}, c.error_class, c.attempt_error_code,
                    c.attempt_error_message, c.smtp_code, c.enhanced_code, c.smtp_reply, c.recipients
                FROM u JOIN c ON c.id = u.id),
            e AS (
                INSERT INTO events (kind, message_id, account_id, data, created_at)
                SELECT 'message.failed', u.id, c.account_id, c.event_data, {now} FROM u JOIN c ON c.id = u.id
                WHERE u.status = 'failed')
            SELECT * FROM u
            """)
        insertAttempts = SQLTemplate(
            """
            INSERT INTO attempts (message_id, number, outcome, account_id, started_at, finished_at, error_class,
                error_code, error_message, smtp_code, enhanced_code, reply, recipients)
            VALUES {values}
            """, dialect: dialect)
        attemptRow = dialect.render("(?, ?, ?, CAST(? AS BIGINT), ?, {now}, ?, ?, ?, CAST(? AS BIGINT), ?, ?, ?)")
        insertEvents = SQLTemplate("INSERT INTO events (kind, message_id, account_id, data, created_at) VALUES {values}", dialect: dialect)
        eventRow = dialect.render("(?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, {now})")
        extendLeases = SQLTemplate(
            """
            WITH c (id, token) AS (VALUES {values})
            UPDATE messages SET lease_until = {now} + ?
            FROM c WHERE messages.id = c.id AND \(Self.heldBy)
            RETURNING messages.id
            """, dialect: dialect)
        release = SQLTemplate(
            """
            WITH c (id, token) AS (VALUES {values})
            UPDATE messages SET status = CASE WHEN messages.attempts > 0 THEN 'retrying' ELSE 'pending' END,
                lease_owner = NULL, lease_token = NULL, lease_until = NULL, updated_at = {now}
            FROM c WHERE messages.id = c.id AND \(Self.heldBy)
            RETURNING messages.id
            """, dialect: dialect)
        now = dialect.now
        claim = dialect.render(
            """
            UPDATE messages SET status = 'sending', lease_owner = ?, lease_token = ?, lease_until = {now} + ?,
                updated_at = {now}
            WHERE id IN (
                SELECT id FROM messages{index:messages_queue}
                WHERE status IN \(Self.claimable) AND next_attempt_at <= {now}
                    AND (expires_at IS NULL OR expires_at > {now})
                ORDER BY priority, next_attempt_at, id \(Self.limitParameter){skip_locked})
            RETURNING \(Self.messageColumns), mime, lease_token
            """)
        // A lease that ran out means the worker died or hung, maybe after sending: the attempt
        // counts, so a message that crashes every worker that takes it still ends.
        reclaimExpired = dialect.render(
            """
            UPDATE messages SET
                status = CASE WHEN attempts + 1 >= max_attempts THEN 'failed' ELSE 'retrying' END,
                attempts = attempts + 1, next_attempt_at = {now}, lease_owner = NULL, lease_token = NULL,
                lease_until = NULL, error_code = 'store.lease_expired',
                error_message = 'the worker holding the message stopped before reporting; it may have been sent',
                updated_at = {now}
            WHERE id IN (
                SELECT id FROM messages{index:messages_leases}
                WHERE status = 'sending' AND lease_until <= {now} LIMIT 1000{skip_locked})
            RETURNING id, attempts, status, account_id
            """)
        expire = dialect.render(
            """
            UPDATE messages SET status = 'failed', error_code = 'message.expired',
                error_message = 'the message expired before it could be sent', updated_at = {now}
            WHERE id IN (
                SELECT id FROM messages{index:messages_expiry}
                WHERE expires_at IS NOT NULL AND expires_at <= {now} AND status IN \(Self.claimable)
                LIMIT 1000{skip_locked})
            RETURNING id
            """)
        forgetIdempotencyKeys = dialect.render("DELETE FROM idempotency_keys WHERE created_at < {now} - ? RETURNING scope")
        cancel = dialect.render(
            """
            UPDATE messages SET status = 'cancelled', updated_at = {now}
            WHERE id = ? AND status IN \(Self.claimable)
            RETURNING \(Self.messageColumns)
            """)
    }

    /// `(?, ?, ...), (?, ?, ...)`: `rows` copies of one row of `cells`.
    static func valuesList(rows: Int, cells: [String]) -> String {
        repeated("(" + cells.joined(separator: ", ") + ")", rows)
    }

    /// `row, row, row`: built by appending, since a batch statement can be tens of kilobytes.
    static func repeated(_ row: String, _ count: Int) -> String {
        var out = ""
        out.reserveCapacity((row.utf8.count + 2) * count)
        for index in 0..<count {
            if index > 0 { out += ", " }
            out += row
        }
        return out
    }

    /// `?, ?, ?`
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}

/// A statement spelled for the dialect once, with `{values}` slots filled per batch: rendering
/// (a search and replace) would otherwise scan every large batch statement again.
struct SQLTemplate: Sendable {
    private let pieces: [String]

    init(_ sql: String, dialect: SQLDialect) {
        pieces = dialect.render(sql).components(separatedBy: "{values}")
    }

    /// The statement with `fills` in its slots, in order.
    func with(_ fills: String...) -> String {
        var out = pieces[0]
        for (index, piece) in pieces.dropFirst().enumerated() {
            out += index < fills.count ? fills[index] : ""
            out += piece
        }
        return out
    }
}
