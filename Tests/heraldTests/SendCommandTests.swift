import Foundation
import HeraldStore
import HeraldTestSupport
import Testing

/// `herald send`: one message from the command line, through the API's validation and composition.
@Suite struct SendCommandTests {
    @Test func aTemplatedMessageIsQueuedAndBadInputRefused() async throws {
        try await withTestStore(.sqlite) { store, database in
            _ = try await store.saveTemplate(
                TemplateContent(code: "test_email", subject: "【测试】系统通知 - {{timestamp}}", text: "at {{timestamp}}"))
            let sent = try AccountsCommandTests.herald([
                "send", "--to", "205672513@qq.com", "--template-code", "test_email", "--var", "timestamp=2025-10-25 17:05:00",
                "--database", database.location,
            ])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(sent.stdout.hasPrefix("message ") && sent.stdout.contains("queued (pending)"))
            let page = try await store.messages(matching: MessageFilter(), limit: 10, cursor: nil)
            #expect(page.messages.count == 1)
            #expect(page.messages.first?.subject == "【测试】系统通知 - 2025-10-25 17:05:00")
            #expect(page.messages.first?.requestID?.hasPrefix("cli-") == true)

            let missing = try AccountsCommandTests.herald([
                "send", "--to", "205672513@qq.com", "--template-code", "test_email", "--database", database.location,
            ])
            #expect(missing.status == 1 && missing.stderr.contains("timestamp"))
            let invalid = try AccountsCommandTests.herald([
                "send", "--to", "nobody", "--subject", "s", "--text", "t", "--database", database.location,
            ])
            #expect(invalid.status == 1 && invalid.stderr.contains("to[0]"))
            let unpaired = try AccountsCommandTests.herald([
                "send", "--to", "a@example.com", "--template-code", "test_email", "--var", "timestamp", "--database", database.location,
            ])
            #expect(unpaired.status == 64 && unpaired.stderr.contains("--var takes NAME=VALUE, got timestamp"), "\(unpaired.stderr)")
            #expect(unpaired.stderr.contains("Usage: herald send"), "this command's usage: \(unpaired.stderr)")
            #expect(try await store.messages(matching: MessageFilter(), limit: 10, cursor: nil).messages.count == 1, "nothing else stored")
        }
    }

    /// The message's other fields, as the API takes them: Bcc, Reply-To, locale, priority,
    /// schedule, tags and headers, each validated by the same code.
    @Test func theOtherFieldsGoThroughTheAPIsValidation() async throws {
        try await withTestStore(.sqlite) { store, database in
            let sent = try AccountsCommandTests.herald([
                "send", "--to", "a@example.com", "--bcc", "audit@example.com", "--reply-to", "Help <help@example.com>", "--subject", "s",
                "--text", "t", "--priority", "1", "--send-at", "2099-01-01T00:00:00+08:00", "--tag", "billing", "--tag", "eu",
                "--header", "X-Campaign=spring", "--database", database.location,
            ])
            #expect(sent.status == 0 && sent.stdout.contains("queued (scheduled)"), "\(sent.stdout)\(sent.stderr)")
            let message = try #require(try await store.messages(matching: MessageFilter(), limit: 10, cursor: nil).messages.first)
            #expect(message.bcc == ["audit@example.com"] && message.priority == 1 && message.tags == ["billing", "eu"])
            let raw = String(decoding: try await store.messageBytes(id: message.id) ?? [], as: UTF8.self)
            #expect(raw.contains("Reply-To: Help <help@example.com>\r\n") && raw.contains("X-Campaign: spring\r\n"), "\(raw)")
            #expect(!raw.contains("audit@example.com"), "Bcc is never a header")

            let refused = try AccountsCommandTests.herald([
                "send", "--to", "a@example.com", "--subject", "s", "--text", "t", "--priority", "-1", "--header", "From=x@example.com",
                "--database", database.location,
            ])
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("priority") && refused.stderr.contains("headers.From"), "\(refused.stderr)")
            let unpaired = try AccountsCommandTests.herald([
                "send", "--to", "a@example.com", "--header", "X-A", "--database", database.location,
            ])
            #expect(unpaired.status == 64 && unpaired.stderr.contains("--header takes NAME=VALUE, got X-A"), "\(unpaired.stderr)")
            #expect(try await store.messages(matching: MessageFilter(), limit: 10, cursor: nil).messages.count == 1, "nothing else stored")
        }
    }

    /// A store error is printed after the command that met it, not under another's name.
    @Test func storeErrorsNameTheCommandThatMetThem() async throws {
        try await withTestStore(.sqlite) { _, database in
            let key = ["HERALD_SECRET_KEY": TestDatabase.secretKey.base64]
            let send = try ComposeCommandTests.herald(
                ["send", "--to", "a@example.com", "--subject", "s", "--text", "t", "--database", "/nonexistent-dir/h.sqlite"],
                environment: key)
            #expect(send.status == 1 && send.stderr.hasPrefix("herald send: could not open the SQLite database"), "\(send.stderr)")
            let revoke = try ComposeCommandTests.herald(["keys", "revoke", "999", "--database", database.location], environment: key)
            #expect(revoke.status == 1 && revoke.stderr == "herald keys revoke: there is no live API key 999\n", "\(revoke.stderr)")
            let enable = try ComposeCommandTests.herald(["accounts", "enable", "nope", "--database", database.location], environment: key)
            #expect(enable.status == 1 && enable.stderr == "herald accounts enable: there is no account named nope\n", "\(enable.stderr)")
        }
    }
}
