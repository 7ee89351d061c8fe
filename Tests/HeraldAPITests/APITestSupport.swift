import Foundation
import HTTPTypes
import HeraldAPI
import HeraldDelivery
import HeraldStore
import HeraldTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// One answer from the API, with the envelope parsed.
struct APIAnswer: @unchecked Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String
    /// The whole body as JSON (the envelope), or empty when it is not JSON.
    var json: [String: Any]

    var code: Int? { json["code"] as? Int }
    var data: [String: Any] { json["data"] as? [String: Any] ?? [:] }
    var error: String? { data["error"] as? String }
    var fields: [String] { (data["fields"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
}

/// Calls the API in process, as a client would, with the admin key unless told otherwise.
struct APIClient: Sendable {
    let client: any TestClientProtocol
    let adminKey: String

    func call(
        _ method: HTTPRequest.Method, _ path: String, body: String? = nil, key: String? = nil, anonymous: Bool = false,
        headers: HTTPFields = [:]
    ) async throws -> APIAnswer {
        var headers = headers
        if !anonymous { headers[.authorization] = "Bearer \(key ?? adminKey)" }
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let text = String(buffer: response.body)
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return APIAnswer(status: response.status, headers: response.headers, text: text, json: json)
    }
}

enum APIHarness {
    /// Runs `body` against the API on a fresh store, with an admin key, through the router (no socket).
    static func withAPI(
        _ kind: StoreBackendKind = .sqlite, configuration: APIConfiguration = APIConfiguration(), logger: Logger? = nil,
        metrics: PrometheusCollectorRegistry? = nil, requestPressure: RequestPressure? = nil,
        _ body: @Sendable (APIClient, any Store) async throws -> Void
    ) async throws {
        try await withTestStore(kind) { store, _ in
            let (key, _) = try await APIKeyIssuer.create(name: "test admin", scopes: [.admin], in: store)
            let application = Application(
                router: buildRouter(store: store, configuration: configuration, metrics: metrics, requestPressure: requestPressure),
                logger: logger ?? Logger(label: "herald.test.api", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await application.test(.router) { client in
                try await body(APIClient(client: client, adminKey: key), store)
            }
        }
    }

    static let template =
        #"{"code":"test_email","subject":"【测试】系统通知 - {{timestamp}}","text":"Sent at {{timestamp}}.","html":"<p>Sent at {{timestamp}}</p>"}"#
    static let seed =
        #"{"to": ["205672513@qq.com"], "template_code": "test_email", "template_variables": {"timestamp": "2025-10-25 17:05:00"}}"#

    /// How many messages the store holds: bad requests must leave it unchanged.
    static func messageCount(_ store: any Store) async throws -> Int {
        try await store.messages(matching: MessageFilter(), limit: 200, cursor: nil).messages.count
    }
}
