import Foundation
import HTTPTypes
import HeraldAPI
import HeraldTestSupport
import Testing

/// `POST /api/v1/accounts/{id}/test`: the `herald check` diagnosis with the account's own settings.
@Suite struct AccountTestRouteTests {
    @Test func anAccountIsDiagnosedAndCanSendATestMessage() async throws {
        let certificates = try TestCertificates()
        var configuration = SMTPTestServer.Configuration()
        configuration.certificates = certificates
        configuration.users = ["app@example.com": "app-password"]
        let server = try await SMTPTestServer.start(configuration)
        var implicit = configuration
        implicit.implicitTLS = true
        let implicitServer = try await SMTPTestServer.start(implicit)
        defer {
            Task {
                await server.stop()
                await implicitServer.stop()
            }
        }
        try await APIHarness.withAPI { api, _ in
            func create(_ name: String, port: Int, security: String) async throws -> Int {
                let body = try JSONSerialization.data(withJSONObject: [
                    "name": name, "email": "app@example.com", "smtp_host": "localhost", "smtp_port": port, "security": security,
                    "password": "app-password", "tls_ca_pem": certificates.caPEM,
                ])
                let created = try await api.call(.post, "/api/v1/accounts", body: String(decoding: body, as: UTF8.self))
                return try #require(created.data["id"] as? Int)
            }
            let good = try await create("good", port: server.port, security: "starttls")
            let checked = try await api.call(.post, "/api/v1/accounts/\(good)/test", body: #"{"to": "ops@example.com"}"#)
            #expect(checked.status == .ok && checked.data["ok"] as? Bool == true, "\(checked.text)")
            #expect(server.received.count == 1 && server.received.first?.recipients == ["ops@example.com"])
            #expect(!checked.text.contains("app-password"))
            #expect(checked.data["auth_mechanisms"] as? [String] == ["PLAIN", "LOGIN"], "keys are snake_case: \(checked.text)")

            // The original incident, diagnosed: STARTTLS configured against an implicit-TLS port.
            let wrong = try await create("wrong", port: implicitServer.port, security: "starttls")
            let diagnosed = try await api.call(.post, "/api/v1/accounts/\(wrong)/test")
            #expect(diagnosed.status == .ok && diagnosed.data["ok"] as? Bool == false)
            #expect(diagnosed.data["working_security"] as? String == "tls", "\(diagnosed.text)")
            #expect(diagnosed.text.contains("security=tls"), "\(diagnosed.text)")
            #expect(try await api.call(.post, "/api/v1/accounts/424242/test").status == .notFound)
            let sandbox = try await api.call(.post, "/api/v1/accounts/1/test")
            #expect(sandbox.status == .unprocessableContent)
        }
    }
}
