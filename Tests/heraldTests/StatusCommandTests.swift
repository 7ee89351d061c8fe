import Foundation
@_spi(Delivery) import HeraldStore
import HeraldTestSupport
import Testing

/// `herald status`: a message's story from the command line, as the API tells it.
@Suite struct StatusCommandTests {
    /// Without the master key too: the command opens no secret (PostgreSQL would otherwise
    /// demand HERALD_SECRET_KEY, SQLite make a key file).
    @Test(arguments: StoreBackendKind.allCases)
    func aMessageIsDescribedForPeopleAndAsTheAPIsJSON(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            let message = NewMessage(
                from: "App <app@example.com>", to: ["ann@example.com"], cc: ["bob@example.com"], subject: "Your code",
                mime: Array("From: App <app@example.com>\r\nSubject: Your code\r\n\r\nhello\r\n".utf8), maxAttempts: 3)
            let id = try await store.enqueue(message).message.id
            let key = ["HERALD_SECRET_KEY": TestDatabase.secretKey.base64]

            let shown = try ComposeCommandTests.herald(["status", "\(id)", "--database", database.location], unset: ["HERALD_SECRET_KEY"])
            #expect(shown.status == 0, "\(shown.stderr)")
            let lines = shown.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "message \(id): pending (attempts: 0 of 3)", "\(shown.stdout)")
            #expect(lines.contains("  to:       ann@example.com"), "\(shown.stdout)")
            #expect(lines.contains("  subject:  Your code"), "\(shown.stdout)")
            #expect(lines.contains("  ann@example.com (to): pending"), "\(shown.stdout)")
            #expect(lines.contains("  bob@example.com (cc): pending"), "\(shown.stdout)")

            let json = try ComposeCommandTests.herald(["status", "\(id)", "--json", "--database", database.location], environment: key)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(object["id"] as? Int == Int(id) && object["status"] as? String == "pending")
            #expect(object["to"] as? [String] == ["ann@example.com"] && object["max_attempts"] as? Int == 3)

            // Once sent, the account is named, not only numbered: an operator knows accounts by name.
            let sandbox = try #require(try await store.account(named: "sandbox"))
            let claimed = try #require(try await store.claim(limit: 1, owner: "test", lease: .seconds(60)).first)
            _ = try await store.settle(
                Settlement(
                    lease: claimed.lease, kind: .delivered,
                    report: AttemptReport(
                        accountID: sandbox.id, reply: "250 captured",
                        recipients: [RecipientOutcome(address: "ann@example.com", accepted: true, code: 250)])))
            let sent = try ComposeCommandTests.herald(["status", "\(id)", "--database", database.location], environment: key)
            let sentLines = sent.stdout.split(separator: "\n").map(String.init)
            #expect(sentLines.contains("  account:  sandbox (\(sandbox.id))"), "\(sent.stdout)")
            #expect(
                sentLines.contains { $0.hasPrefix("  1  ") && $0.contains("success  account sandbox (\(sandbox.id))") }, "\(sent.stdout)")
            let sentJSON = try ComposeCommandTests.herald(["status", "\(id)", "--json", "--database", database.location], environment: key)
            let sentObject = try #require(try JSONSerialization.jsonObject(with: Data(sentJSON.stdout.utf8)) as? [String: Any])
            #expect(sentObject["account_name"] as? String == "sandbox", "\(sentJSON.stdout)")
            let attempts = try #require(sentObject["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["account_name"] as? String } == ["sandbox"], "\(sentJSON.stdout)")

            let missing = try ComposeCommandTests.herald(["status", "\(id + 1)", "--database", database.location], environment: key)
            #expect(missing.status == 1 && missing.stderr == "herald status: there is no message \(id + 1)\n", "\(missing.stderr)")
            let invalid = try ComposeCommandTests.herald(["status", "0", "--database", database.location], environment: key)
            #expect(invalid.status == 64 && invalid.stderr.contains("the message id must be a positive whole number"))
        }
    }

    /// A mistyped database path is said, not made: commands that read what is there create no
    /// database or key file.
    @Test func aPathWithNoDatabaseIsSaidNotCreated() throws {
        let folder = try ComposeCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let typo = folder.appendingPathComponent("herlad.sqlite").path
        for arguments in [
            ["status", "4"], ["accounts", "list"], ["accounts", "enable", "qq"], ["keys", "list"], ["keys", "revoke", "1"],
        ] {
            let run = try ComposeCommandTests.herald(arguments + ["--database", typo], unset: ["HERALD_SECRET_KEY"])
            let command = arguments.prefix(arguments[0] == "status" ? 1 : 2).joined(separator: " ")
            #expect(run.status == 1, "\(arguments): \(run.stderr)")
            #expect(
                run.stderr == "herald \(command): there is no database at \(typo); give --database (or HERALD_DATABASE_URL), "
                    + "or run this where herald serve keeps it\n", "\(run.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "no database or key file was made")
    }
}
