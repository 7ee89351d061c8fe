import Crypto
import Foundation
import HTTPTypes
import HeraldTestSupport
import Testing

/// `GET /`: the dashboard page, and a policy that lets exactly its own script and style run.
@Suite struct DashboardTests {
    /// The text of the first `<tag>...</tag>` in `html`.
    static func inline(_ tag: String, in html: String) throws -> String {
        let start = try #require(html.range(of: "<\(tag)>"))
        let end = try #require(html.range(of: "</\(tag)>", range: start.upperBound..<html.endIndex))
        return String(html[start.upperBound..<end.lowerBound])
    }

    @Test func thePageIsServedWithAPolicyThatAllowsOnlyItsOwnScriptAndStyle() async throws {
        try await APIHarness.withAPI { api, _ in
            let page = try await api.call(.get, "/", anonymous: true)
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.hasPrefix("<!doctype html>") && page.text.contains("<title>Herald</title>"))
            let policy = try #require(page.headers[.contentSecurityPolicy])
            for tag in ["script", "style"] {
                let digest = Data(SHA256.hash(data: Data(try Self.inline(tag, in: page.text).utf8))).base64EncodedString()
                #expect(policy.contains("\(tag)-src 'sha256-\(digest)'"), "the browser would refuse the page's \(tag): \(policy)")
            }
            #expect(policy.hasPrefix("default-src 'none';") && policy.contains("connect-src 'self'"), "\(policy)")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")

            // What the script reads exists, and answers with the page's key.
            let script = try Self.inline("script", in: page.text)
            for path in ["/stats", "/messages?limit=50", "/messages/"] { #expect(script.contains("\"\(path)"), "\(path)") }
            #expect(!script.contains("innerHTML"), "data is set as text, never as HTML")
            #expect(script.contains("fetch(\"api/v1\" + path"), "a relative path, so a proxy's prefix is kept")
            #expect(try await api.call(.get, "/api/v1/stats").status == .ok)
            #expect(try await api.call(.get, "/api/v1/messages?limit=50&status=failed").status == .ok)
            #expect(try await api.call(.head, "/", anonymous: true).status == .ok)
        }
    }
}
