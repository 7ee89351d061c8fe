import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

/// A small message to `to`, with recognisable bytes.
func sampleMessage(
    to: [String] = ["205672513@qq.com"], subject: String = "hello", priority: Int = 5, sendAt: Date? = nil, expiresAt: Date? = nil,
    maxAttempts: Int = 8, tags: [String] = [], templateCode: String? = nil, idempotency: Idempotency? = nil, apiKeyID: Int64? = nil
) -> NewMessage {
    NewMessage(
        apiKeyID: apiKeyID, idempotency: idempotency, from: "系统通知 <1905985427@qq.com>", to: to, cc: ["cc@example.com"],
        bcc: ["hidden@example.com"], subject: subject, templateCode: templateCode,
        templateVariables: #"{"timestamp":"2025-10-25 17:05:00"}"#,
        mime: Array("Subject: \(subject)\r\nMessage-ID: <\(UUID().uuidString)@herald>\r\n\r\nbody \(subject)\r\n".utf8),
        messageIDHeader: "\(subject)@herald", priority: priority, sendAt: sendAt, expiresAt: expiresAt, maxAttempts: maxAttempts,
        tags: tags, metadata: ["order": "42", "quote\"d": "line\nbreak"])
}

/// Rows of a raw statement on the store's own database, for checking what is really stored.
func rawRows(_ store: any Store, _ sql: String, _ binds: [SQLValue] = []) async throws -> [SQLRow] {
    if let store = store as? SQLiteStore { return try await store.backend.read { try await $0.query(sql, binds) } }
    if let store = store as? PostgresStore { return try await store.backend.read { try await $0.query(sql, binds) } }
    Issue.record("unknown store type \(type(of: store))")
    return []
}

/// A report for a successful attempt through `account`.
func deliveredReport(account: Int64? = nil) -> AttemptReport {
    AttemptReport(
        accountID: account, reply: "250 2.0.0 Ok: queued",
        recipients: [RecipientOutcome(address: "205672513@qq.com", accepted: true, code: 250, enhancedCode: "2.1.5")])
}

/// Returns once at least `margin` is left in the current wall-clock minute, waiting for the next
/// minute when it is not. Quota windows are those minutes, so a check of their counts that ran
/// across a minute's end would see a window roll over under it. This waits for a time of day, at
/// most `margin`, never for a condition.
func clearOfTheMinutesEnd(margin: Duration = .seconds(5)) async throws {
    let intoMinute = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
    let left = 60 - intoMinute
    let marginSeconds = Double(margin.components.seconds)
    if left < marginSeconds { try await Task.sleep(for: .milliseconds(Int64(left * 1000) + 50)) }
}
