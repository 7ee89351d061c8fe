/// A numbered schema change. Applied once, in order, in one transaction with its bookkeeping row.
struct Migration: Sendable {
    var version: Int
    var name: String
    /// Statements with `{serial}`, `{blob}`, `{bool}` and `{without_rowid}` left for the dialect to spell.
    var statements: [String]
}

/// Herald's schema, oldest first. Append new migrations; never edit one that has shipped.
///
/// Times are BIGINT microseconds since 1970 (see HeraldStore.swift). There are no foreign keys
/// on the hot tables: on PostgreSQL each would be a trigger per inserted row, and every write to
/// these tables goes through the store's own transactions, which keep them consistent.
enum Migrations {
    static let bookkeeping = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)
        """

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "initial schema",
            statements: [
                """
                CREATE TABLE email_accounts (
                    id {serial}, name TEXT NOT NULL UNIQUE, email TEXT NOT NULL, display_name TEXT,
                    smtp_host TEXT NOT NULL, smtp_port BIGINT NOT NULL, security TEXT NOT NULL, username TEXT,
                    secret {blob}, tls_verify {bool} NOT NULL, tls_ca_pem TEXT, channel TEXT NOT NULL,
                    is_active {bool} NOT NULL, failure_count BIGINT NOT NULL DEFAULT 0,
                    health TEXT NOT NULL DEFAULT 'closed', opened_until BIGINT, last_error_code TEXT,
                    last_error TEXT, last_success_at BIGINT, priority BIGINT NOT NULL, weight BIGINT NOT NULL,
                    per_minute_limit BIGINT, per_day_limit BIGINT, routing TEXT NOT NULL, provider TEXT,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE templates (
                    code TEXT NOT NULL, channel TEXT NOT NULL, locale TEXT NOT NULL, subject TEXT NOT NULL,
                    text_body TEXT, html_body TEXT, version BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (code, channel, locale))
                """,
                """
                CREATE TABLE messages (
                    id {serial}, uid TEXT NOT NULL, request_id TEXT, api_key_id BIGINT, idempotency_key TEXT,
                    channel TEXT NOT NULL, from_address TEXT NOT NULL, to_addresses TEXT NOT NULL,
                    cc_addresses TEXT NOT NULL, bcc_addresses TEXT NOT NULL, subject TEXT, template_code TEXT,
                    template_variables TEXT, mime {blob} NOT NULL, message_id_header TEXT, from_account TEXT,
                    status TEXT NOT NULL, priority BIGINT NOT NULL, send_at BIGINT, expires_at BIGINT,
                    attempts BIGINT NOT NULL DEFAULT 0, max_attempts BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL,
                    lease_owner TEXT, lease_token TEXT, lease_until BIGINT, account_id BIGINT, error_code TEXT,
                    error_message TEXT, smtp_reply TEXT, tags TEXT NOT NULL, metadata TEXT NOT NULL,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, sent_at BIGINT)
                """,
                // The claim reads this index in order and stops after its batch, however long the queue.
                """
                CREATE INDEX messages_queue ON messages (priority, next_attempt_at, id)
                    WHERE status IN ('pending', 'scheduled', 'retrying')
                """,
                "CREATE INDEX messages_leases ON messages (lease_until) WHERE status = 'sending'",
                """
                CREATE INDEX messages_expiry ON messages (expires_at)
                    WHERE expires_at IS NOT NULL AND status IN ('pending', 'scheduled', 'retrying')
                """,
                "CREATE INDEX messages_status ON messages (status, id)",
                "CREATE INDEX messages_template ON messages (template_code, id)",
                "CREATE INDEX messages_account ON messages (account_id, id)",
                "CREATE INDEX messages_created ON messages (created_at, status)",
                // Lookup tables for filtering by recipient and tag: the key is the index, so on
                // SQLite each row is one b-tree entry (WITHOUT ROWID).
                """
                CREATE TABLE message_recipients (
                    address TEXT NOT NULL, message_id BIGINT NOT NULL, kind TEXT NOT NULL,
                    PRIMARY KEY (address, message_id, kind)){without_rowid}
                """,
                """
                CREATE TABLE message_tags (
                    tag TEXT NOT NULL, message_id BIGINT NOT NULL, PRIMARY KEY (tag, message_id)){without_rowid}
                """,
                """
                CREATE TABLE idempotency_keys (
                    scope BIGINT NOT NULL, idem_key TEXT NOT NULL, request_hash TEXT NOT NULL,
                    message_id BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (scope, idem_key))
                """,
                "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
                """
                CREATE TABLE attempts (
                    id {serial}, message_id BIGINT NOT NULL, number BIGINT NOT NULL, outcome TEXT NOT NULL,
                    account_id BIGINT, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL, error_class TEXT,
                    error_code TEXT, error_message TEXT, smtp_code BIGINT, enhanced_code TEXT, reply TEXT,
                    recipients TEXT NOT NULL)
                """,
                "CREATE INDEX attempts_message ON attempts (message_id, number)",
                "CREATE INDEX attempts_finished ON attempts (finished_at, account_id, outcome, error_class)",
                """
                CREATE TABLE api_keys (
                    id {serial}, name TEXT NOT NULL, prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
                    scopes TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT, revoked_at BIGINT)
                """,
                """
                CREATE TABLE events (
                    id {serial}, kind TEXT NOT NULL, message_id BIGINT, account_id BIGINT, data TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX events_message ON events (message_id)",
                """
                CREATE TABLE suppressions (
                    address TEXT PRIMARY KEY, reason TEXT NOT NULL, source TEXT, created_at BIGINT NOT NULL)
                """,
            ]
        ),
        Migration(
            version: 2,
            name: "delivery: throttles, quotas, sandbox captures and the sandbox account",
            statements: [
                // A provider's rate-limit reply pauses the account until then (database clock).
                "ALTER TABLE email_accounts ADD COLUMN throttled_until BIGINT",
                // How many times the breaker opened since it last closed: the cool-down grows with it.
                "ALTER TABLE email_accounts ADD COLUMN breaker_trips BIGINT NOT NULL DEFAULT 0",
                // Sends counted per account in fixed windows ('minute', 'day'), shared by every worker.
                """
                CREATE TABLE account_usage (
                    account_id BIGINT NOT NULL, period TEXT NOT NULL, period_start BIGINT NOT NULL,
                    used BIGINT NOT NULL, PRIMARY KEY (account_id, period))
                """,
                """
                CREATE TABLE sandbox_captures (
                    id {serial}, message_id BIGINT NOT NULL, account_id BIGINT, sender TEXT NOT NULL,
                    recipients TEXT NOT NULL, data {blob} NOT NULL, created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX sandbox_captures_message ON sandbox_captures (message_id, id)",
                // A fresh install can send at once: the sandbox captures instead of sending, and the
                // router picks it only while no other active account exists (HeraldDelivery).
                """
                INSERT INTO email_accounts (name, email, display_name, smtp_host, smtp_port, security, tls_verify,
                    channel, is_active, priority, weight, routing, created_at, updated_at)
                SELECT 'sandbox', 'sandbox@herald.localhost', 'Herald sandbox', 'sandbox.invalid', 0, 'none',
                    CAST(1 AS {bool}), 'sandbox', CAST(1 AS {bool}), 1000, 1, '{"from_domains":[],"tags":[]}', {now}, {now}
                WHERE NOT EXISTS (SELECT 1 FROM email_accounts WHERE name = 'sandbox')
                """,
            ]
        ),
    ]
}

/// The schema this build of Herald expects, for readiness checks.
public enum StoreSchema {
    /// The newest migration's version: a database at this version is ready.
    public static var latestVersion: Int { Migrations.all.last?.version ?? 0 }
}
