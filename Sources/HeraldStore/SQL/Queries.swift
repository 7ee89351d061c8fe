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

    let now: String
    let claim: String
    let reclaimExpired: String
    let expire: String
    let forgetIdempotencyKeys: String
    let cancel: String

    init(dialect: SQLDialect) {
        self.dialect = dialect
        now = dialect.now
        claim = dialect.render(
            """
            UPDATE messages SET status = 'sending', lease_owner = ?, lease_token = ?, lease_until = {now} + ?,
                updated_at = {now}
            WHERE id IN (
                SELECT id FROM messages{index:messages_queue}
                WHERE status IN \(Self.claimable) AND next_attempt_at <= {now}
                    AND (expires_at IS NULL OR expires_at > {now})
                ORDER BY priority, next_attempt_at, id LIMIT ?{skip_locked})
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

    /// `(?, ?, ...), (?, ?, ...)`: `rows` groups of `columns` placeholders, each wrapped by `cell`.
    static func valuesList(rows: Int, cells: [String]) -> String {
        let row = "(" + cells.joined(separator: ", ") + ")"
        return Array(repeating: row, count: rows).joined(separator: ", ")
    }

    /// `?, ?, ?`
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}
