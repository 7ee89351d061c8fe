import Foundation
import HTTPTypes
import HeraldAPI
import HeraldTestSupport
import Testing

/// `/openapi.json` describes the routes that exist (schemathesis, run by `scripts/test`, checks
/// the answers against it).
@Suite struct OpenAPIDocumentTests {
    @Test func everyDocumentedOperationIsRoutedAndEveryRouteDocumented() async throws {
        try await APIHarness.withAPI { api, _ in
            let answer = try await api.call(.get, "/openapi.json", anonymous: true)
            #expect(answer.status == .ok && answer.json["openapi"] as? String == "3.1.0")
            let paths = try #require(answer.json["paths"] as? [String: [String: Any]])
            var documented: Set<String> = []
            for (path, operations) in paths {
                for method in operations.keys {
                    documented.insert("\(method.uppercased()) \(path)")
                    let concrete = path.replacingOccurrences(of: "{id}", with: "987654").replacingOccurrences(of: "{code}", with: "nope")
                        .replacingOccurrences(of: "{address}", with: "nobody@example.com")
                    let response = try await api.call(
                        HTTPRequest.Method(method.uppercased())!, concrete, body: method == "get" ? nil : "{}")
                    #expect(response.json["message"] as? String != "no such endpoint", "\(method) \(path) is documented but not routed")
                }
            }
            // The endpoints of the README's table; a new route must be added to both.
            let expected: Set<String> = [
                "GET /", "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
                "POST /api/v1/messages/email/send", "POST /api/v1/messages/email/batch", "GET /api/v1/messages",
                "GET /api/v1/messages/{id}",
                "GET /api/v1/messages/{id}/raw", "POST /api/v1/messages/{id}/cancel", "POST /api/v1/messages/{id}/retry",
                "GET /api/v1/templates", "POST /api/v1/templates", "GET /api/v1/templates/{code}", "PUT /api/v1/templates/{code}",
                "DELETE /api/v1/templates/{code}", "POST /api/v1/templates/{code}/preview", "GET /api/v1/accounts", "POST /api/v1/accounts",
                "GET /api/v1/accounts/{id}", "PUT /api/v1/accounts/{id}", "DELETE /api/v1/accounts/{id}",
                "POST /api/v1/accounts/{id}/enable",
                "POST /api/v1/accounts/{id}/test", "GET /api/v1/stats", "GET /api/v1/keys", "POST /api/v1/keys", "DELETE /api/v1/keys/{id}",
                "GET /api/v1/suppressions", "GET /api/v1/suppressions/{address}", "PUT /api/v1/suppressions/{address}",
                "DELETE /api/v1/suppressions/{address}",
            ]
            #expect(documented == expected)

            // Every link names an operation of this document, and each creation links onward.
            var operationIDs: Set<String> = []
            var linked: [String: Set<String>] = [:]
            for (path, operations) in paths {
                for (method, operation) in operations {
                    let operation = try #require(operation as? [String: Any])
                    operationIDs.insert(try #require(operation["operationId"] as? String))
                    for case let response as [String: Any] in (operation["responses"] as? [String: Any] ?? [:]).values {
                        for case let link as [String: Any] in (response["links"] as? [String: Any] ?? [:]).values {
                            linked["\(method.uppercased()) \(path)", default: []].insert(try #require(link["operationId"] as? String))
                        }
                    }
                }
            }
            #expect(linked.values.allSatisfy { $0.isSubset(of: operationIDs) }, "\(linked)")
            #expect(linked["POST /api/v1/messages/email/send"]?.contains("Show_a_message") == true)
            #expect(linked["POST /api/v1/templates"]?.contains("Preview_a_template") == true)
            #expect(linked["POST /api/v1/accounts"]?.contains("Enable_an_account") == true)
        }
    }
}
