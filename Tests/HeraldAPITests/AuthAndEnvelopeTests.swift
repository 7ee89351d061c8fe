import Foundation
import HTTPTypes
import HeraldAPI
import HeraldStore
import HeraldTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// Keys, scopes, rate limits, request ids and the envelope on every path.
@Suite struct AuthAndEnvelopeTests {
    @Test func keysAndScopesDecideWhoMayDoWhat() async throws {
        try await APIHarness.withAPI { api, store in
            let (send, _) = try await APIKeyIssuer.create(name: "sender", scopes: [.send], in: store)
            let (read, _) = try await APIKeyIssuer.create(name: "reader", scopes: [.read], in: store)
            let missing = try await api.call(.get, "/api/v1/messages", anonymous: true)
            #expect(missing.status == .unauthorized && missing.code == 40100)
            #expect(try await api.call(.get, "/api/v1/messages", key: "hk_wrong").status == .unauthorized)
            #expect(
                try await api.call(.get, "/api/v1/messages", anonymous: true, headers: [.authorization: "Basic abc"]).status
                    == .unauthorized)
            let body = #"{"to": ["a@example.com"], "subject": "s", "text": "t"}"#
            #expect(try await api.call(.post, "/api/v1/messages/email/send", body: body, key: send).status == .accepted)
            let forbidden = try await api.call(.post, "/api/v1/messages/email/send", body: body, key: read)
            #expect(
                forbidden.status == .forbidden && forbidden.code == 40300
                    && forbidden.json["message"] as? String == "this API key lacks the send scope")
            #expect(try await api.call(.get, "/api/v1/messages", key: read).status == .ok)
            #expect(try await api.call(.get, "/api/v1/messages", key: send).status == .forbidden)
            #expect(try await api.call(.get, "/api/v1/accounts", key: read).status == .forbidden, "accounts are admin only")
            #expect(try await api.call(.get, "/api/v1/messages").status == .ok, "admin may do everything")
        }
    }

    @Test func aKeyOverItsRateLimitGets429WithRetryAfter() async throws {
        var configuration = APIConfiguration()
        // A token every 100 s: however slowly the four requests run, the fourth finds none.
        configuration.rateLimitPerSecond = 0.01
        configuration.rateLimitBurst = 3
        try await APIHarness.withAPI(configuration: configuration) { api, _ in
            for _ in 0..<3 { #expect(try await api.call(.get, "/api/v1/messages").status == .ok) }
            let limited = try await api.call(.get, "/api/v1/messages")
            #expect(limited.status == .tooManyRequests && limited.code == 42900)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }

    @Test func requestIDsAreEchoedOrMadeAndEveryErrorIsAnEnvelope() async throws {
        try await APIHarness.withAPI { api, _ in
            let made = try await api.call(.get, "/healthz", anonymous: true)
            let id = try #require(made.headers[.init("X-Request-Id")!])
            #expect(made.json["request_id"] as? String == id && id.count == 36)
            let refused = try await api.call(.get, "/healthz", anonymous: true, headers: [.init("X-Request-Id")!: "bad id\u{7F}"])
            #expect(refused.headers[.init("X-Request-Id")!] != "bad id\u{7F}", "a malformed id is replaced")
            let unknown = try await api.call(.get, "/api/v2/anything", anonymous: true)
            #expect(unknown.status == .notFound && unknown.code == 40400 && unknown.error == "not_found")
            let keys = Set(unknown.json.keys)
            #expect(keys == ["code", "message", "data", "request_id"])
            // A path that exists, asked with a method it does not take: 405 with the methods it does.
            let wrongMethod = try await api.call(.put, "/api/v1/messages/email/send", body: "{}")
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.code == 40500, "\(wrongMethod.text)")
            #expect(wrongMethod.headers[.allow] == "POST" && wrongMethod.error == "method_not_allowed")
            let patched = try await api.call(.patch, "/api/v1/accounts/1", body: "{}", anonymous: true)
            #expect(patched.status == .methodNotAllowed && patched.headers[.allow] == "DELETE, GET, HEAD, PUT", "\(patched.text)")
            #expect(try await api.call(.get, "/api/v1/messages/7/cancel").headers[.allow] == "POST")
            #expect(try await api.call(.delete, "/api/v1/messages/7/cancel/extra").status == .notFound, "no such path")
            let huge = String(repeating: "a", count: 33 * 1024 * 1024)
            let tooLarge = try await api.call(.post, "/api/v1/messages/email/send", body: huge)
            #expect(tooLarge.status == .contentTooLarge && tooLarge.code == 41300, "\(tooLarge.text.prefix(200))")
            #expect(
                tooLarge.json["message"] as? String == "the request body is larger than 32 MB, the most Herald takes", "the limit is said")
        }
    }

    @Test func healthAndReadiness() async throws {
        try await APIHarness.withAPI { api, _ in
            let health = try await api.call(.get, "/healthz", anonymous: true)
            #expect(health.status == .ok && health.code == 0)
            let head = try await api.call(.head, "/healthz", anonymous: true)
            #expect(head.status == .ok && head.text.isEmpty, "HEAD answers as GET, without the body")
            let ready = try await api.call(.get, "/readyz", anonymous: true)
            #expect(ready.status == .ok && ready.data["schema_version"] as? String == "\(StoreSchema.latestVersion)")
        }
    }

    @Test func keysAreCreatedShownOnceListedByPrefixAndRevoked() async throws {
        try await APIHarness.withAPI { api, _ in
            let created = try await api.call(.post, "/api/v1/keys", body: #"{"name": "ci", "scopes": ["send"]}"#)
            #expect(created.status == .created)
            let key = try #require(created.data["key"] as? String)
            #expect(key.hasPrefix("hk_") && created.data["scopes"] as? [String] == ["send"])
            let listed = try await api.call(.get, "/api/v1/keys")
            #expect(!listed.text.contains(key), "a key is never shown again")
            #expect(listed.text.contains(String(key.prefix(10))))
            let bad = try await api.call(.post, "/api/v1/keys", body: #"{"name": "x", "scopes": ["root"]}"#)
            #expect(bad.status == .unprocessableContent && bad.fields == ["scopes[0]"])
            let id = try #require(created.data["id"] as? Int)
            let body = #"{"to": ["a@example.com"], "subject": "s", "text": "t"}"#
            #expect(try await api.call(.post, "/api/v1/messages/email/send", body: body, key: key).status == .accepted)
            #expect(try await api.call(.delete, "/api/v1/keys/\(id)").status == .ok)
            #expect(
                try await api.call(.post, "/api/v1/messages/email/send", body: body, key: key).status == .unauthorized, "revoked at once")
        }
    }

    /// Revoking the last admin key over the API would leave nobody able to administer Herald
    /// through it: refused, until another admin key exists. The server's command line may still.
    @Test func theLastAdminKeyIsNotRevokedOverTheAPI() async throws {
        try await APIHarness.withAPI { api, store in
            let own = try #require(try await store.apiKeys().first { $0.scopes.contains(.admin) })
            let refused = try await api.call(.delete, "/api/v1/keys/\(own.id)")
            #expect(refused.status == .conflict && refused.code == 40902, "\(refused.text)")
            #expect(refused.text.contains("last admin key"), "\(refused.text)")
            #expect(try await api.call(.get, "/api/v1/keys").status == .ok, "the key still works")

            let other = try await api.call(.post, "/api/v1/keys", body: #"{"name": "second admin", "scopes": ["admin", "read"]}"#)
            let otherKey = try #require(other.data["key"] as? String)
            #expect(try await api.call(.delete, "/api/v1/keys/\(own.id)").status == .ok, "another admin key exists now")
            let otherID = try #require(other.data["id"] as? Int)
            #expect(try await api.call(.delete, "/api/v1/keys/\(otherID)", key: otherKey).status == .conflict, "and is the last one now")
            try await store.revokeAPIKey(id: Int64(otherID))
            #expect(
                try await store.apiKeys().filter { $0.revokedAt == nil }.isEmpty, "the command line (herald keys revoke) may revoke it")
        }
    }
}
