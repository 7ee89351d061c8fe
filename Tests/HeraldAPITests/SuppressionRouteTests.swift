import Foundation
import HeraldAPI
import HeraldStore
import HeraldTestSupport
import Testing

/// `/api/v1/suppressions`: the list delivery honours, managed without SQL.
@Suite struct SuppressionRouteTests {
    @Test func addressesAreSuppressedListedAndLetGo() async throws {
        try await APIHarness.withAPI { api, store in
            let created = try await api.call(
                .put, "/api/v1/suppressions/Ann@Example.COM", body: #"{"reason": "unsubscribed", "source": "footer link"}"#)
            #expect(created.status == .created && created.data["address"] as? String == "ann@example.com", "\(created.text)")
            #expect(created.data["reason"] as? String == "unsubscribed" && created.data["source"] as? String == "footer link")
            #expect(try await store.suppressions(among: ["ann@example.com"]).first?.reason == "unsubscribed", "what delivery reads")

            let replaced = try await api.call(.put, "/api/v1/suppressions/ann%40example.com", body: #"{"reason": "complaint"}"#)
            #expect(replaced.status == .ok && replaced.data["reason"] as? String == "complaint", "\(replaced.text)")
            for address in ["bob@example.com", "cat@example.com"] {
                #expect(try await api.call(.put, "/api/v1/suppressions/\(address)", body: #"{"reason": "hard bounce"}"#).status == .created)
            }

            let first = try await api.call(.get, "/api/v1/suppressions?limit=2")
            let page = try #require(first.data["suppressions"] as? [[String: Any]])
            #expect(page.compactMap { $0["address"] as? String } == ["ann@example.com", "bob@example.com"], "\(first.text)")
            let cursor = try #require(first.data["next_cursor"] as? String)
            let rest = try await api.call(.get, "/api/v1/suppressions?limit=2&cursor=\(cursor)")
            #expect((rest.data["suppressions"] as? [[String: Any]])?.compactMap { $0["address"] as? String } == ["cat@example.com"])
            #expect(rest.data["next_cursor"] == nil, "the last page has no cursor: \(rest.text)")

            #expect(try await api.call(.get, "/api/v1/suppressions/BOB@example.com").data["reason"] as? String == "hard bounce")
            #expect(try await api.call(.delete, "/api/v1/suppressions/bob@example.com").status == .ok)
            let gone = try await api.call(.get, "/api/v1/suppressions/bob@example.com")
            #expect(gone.status == .notFound && gone.text.contains("bob@example.com is not on the suppression list"), "\(gone.text)")
            #expect(try await api.call(.delete, "/api/v1/suppressions/bob@example.com").status == .notFound)
            #expect(try await store.suppressions(among: ["bob@example.com"]).isEmpty)
        }
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        try await APIHarness.withAPI { api, store in
            let (reader, _) = try await APIKeyIssuer.create(name: "reader", scopes: [.read], in: store)
            let cases: [(String, String, String)] = [
                ("/api/v1/suppressions/not-an-address", #"{"reason": "x"}"#, "address"),
                ("/api/v1/suppressions/a@example.com", #"{"reason": ""}"#, "reason"),
                ("/api/v1/suppressions/a@example.com", #"{"reason": "two\nlines"}"#, "reason"),
                ("/api/v1/suppressions/a@example.com", #"{"source": "no reason"}"#, "reason"),
            ]
            for (path, body, field) in cases {
                let answer = try await api.call(.put, path, body: body)
                #expect(answer.status == .unprocessableContent && answer.fields.contains(field), "\(path) \(body): \(answer.text)")
            }
            let list = try await api.call(.get, "/api/v1/suppressions?limit=0&page=2")
            #expect(list.status == .unprocessableContent && Set(list.fields) == ["limit", "page"], "\(list.text)")
            let forbidden = try await api.call(.put, "/api/v1/suppressions/a@example.com", body: #"{"reason": "x"}"#, key: reader)
            #expect(forbidden.status == .forbidden, "changing the list takes the admin scope")
            #expect(try await api.call(.get, "/api/v1/suppressions", key: reader).status == .ok, "reading it takes read")
            #expect(try await store.suppressions(after: nil, limit: 10).isEmpty)
        }
    }
}
