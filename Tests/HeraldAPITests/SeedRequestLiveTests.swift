import Foundation
import HTTPTypes
import HeraldAPI
import HeraldDelivery
import HeraldStore
import HeraldTestSupport
import Logging
import Testing

/// The original system's request, end to end against a real server: aiosmtpd with implicit TLS
/// and AUTH (started by `scripts/test`), and the received message read back by Python's `email`.
@Suite struct SeedRequestLiveTests {
    struct Spooled: Decodable {
        let rcpt_tos: [String]
        let data: String
        let tls: Bool
        let auth: String?
    }

    struct Read: Decodable {
        let from_name: String
        let from_address: String
        let subject: String
        let text: String?
        let html: String?
        let message_id: String
        let defects: [String]
    }

    @Test(arguments: StoreBackendKind.allCases)
    func theOriginalRequestIsDeliveredOverImplicitTLSAndReadsRight(kind: StoreBackendKind) async throws {
        let peers = try AiosmtpdPeers.load()
        let ca = try String(contentsOfFile: peers.ca, encoding: .utf8)
        try await APIHarness.withAPI(kind) { api, store in
            let account = try JSONSerialization.data(
                withJSONObject: [
                    "name": "qq-main", "email": peers.user, "display_name": "系统通知", "smtp_host": "localhost",
                    "smtp_port": peers.ports["implicit_tls"]!, "security": "tls", "password": peers.password, "tls_ca_pem": ca,
                ])
            #expect(try await api.call(.post, "/api/v1/accounts", body: String(decoding: account, as: UTF8.self)).status == .created)
            #expect(try await api.call(.post, "/api/v1/templates", body: APIHarness.template).status == .created)

            let worker = DeliveryWorker(
                store: store, channels: [SMTPChannel(store: store), SandboxChannel(store: store)],
                configuration: DeliveryConfiguration(pollInterval: .milliseconds(100)),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                defer { worker.stop() }
                let answer = try await api.call(.post, "/api/v1/messages/email/send", body: APIHarness.seed)
                #expect(answer.status == .accepted)
                let id = try #require(answer.data["message_id"] as? Int)
                let status = try await eventually(timeout: .seconds(30)) { () -> [String: Any]? in
                    let shown = try await api.call(.get, "/api/v1/messages/\(id)").data
                    return ["success", "failed"].contains(shown["status"] as? String ?? "") ? shown : nil
                }
                #expect(status["status"] as? String == "success", "\(status)")
                let attempts = status["attempts"] as? [[String: Any]] ?? []
                #expect(attempts.count == 1 && attempts.first?.keys.contains("error_code") == false)

                let header = try #require(status["message_id_header"] as? String)
                let spooled = try #require(try Self.spooled(peers.spool, containing: "Message-ID: <\(header)>"))
                #expect(spooled.tls && spooled.auth == peers.user && spooled.rcpt_tos == ["205672513@qq.com"])
                let read = try Self.read(Data(base64Encoded: spooled.data) ?? Data())
                #expect(read.from_name == "系统通知" && read.from_address == peers.user)
                #expect(read.subject == "【测试】系统通知 - 2025-10-25 17:05:00")
                #expect(read.text?.contains("Sent at 2025-10-25 17:05:00.") == true)
                #expect(read.html?.contains("<p>Sent at 2025-10-25 17:05:00</p>") == true)
                #expect(read.defects.isEmpty)
            }
        }
    }

    static func spooled(_ spool: String, containing marker: String) throws -> Spooled? {
        for file in try FileManager.default.contentsOfDirectory(atPath: spool) where file.hasSuffix(".json") {
            let spooled = try JSONDecoder().decode(Spooled.self, from: Data(contentsOf: URL(fileURLWithPath: "\(spool)/\(file)")))
            if let data = Data(base64Encoded: spooled.data), String(decoding: data, as: UTF8.self).contains(marker) { return spooled }
        }
        return nil
    }

    /// Python's `email` package reads the message (`Tests/python/read_message.py`).
    static func read(_ message: Data) throws -> Read {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString).eml")
        try message.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/read_message.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [ProcessInfo.processInfo.environment["HERALD_PYTHON"] ?? "python3", script.path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONDecoder().decode(Read.self, from: output)
    }
}
