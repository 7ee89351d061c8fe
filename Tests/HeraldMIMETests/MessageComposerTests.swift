import Foundation
import Testing

@testable import HeraldMIME

@Suite struct MessageComposerTests {
    static func seedEmail() throws -> Email {
        Email(
            from: try Fixtures.mailbox("系统通知 <1905985427@qq.com>"), to: [try Fixtures.mailbox("205672513@qq.com")],
            subject: "【测试】系统通知 - 2025-10-25 17:05:00", text: "This is a test email.\n")
    }

    @Test func qqNotificationKeepsItsDisplayName() throws {
        let message = try Fixtures.compose(Self.seedEmail())
        #expect(
            message
                == "Date: Sat, 25 Oct 2025 09:05:00 +0000\r\n"
                + "From: =?UTF-8?B?57O757uf6YCa55+l?= <1905985427@qq.com>\r\n"
                + "To: 205672513@qq.com\r\n"
                + "Subject: =?UTF-8?B?44CQ5rWL6K+V44CR57O757uf6YCa55+lIC0gMjAyNS0xMC0yNSA=?=\r\n"
                + " =?UTF-8?B?MTc6MDU6MDA=?=\r\n"
                + "Message-ID: <fixed-id@qq.com>\r\n"
                + "MIME-Version: 1.0\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Transfer-Encoding: 7bit\r\n"
                + "\r\n"
                + "This is a test email.\r\n")
    }

    @Test func displayNamesWithSpecialsAreQuotedAndEscaped() throws {
        var email = try Self.seedEmail()
        email.to = [
            try Fixtures.mailbox("\"Doe, John\" <j@x.com>"),
            try Mailbox(EmailAddress("a@x.com"), displayName: "A \"B\" C\\D"),
            try Mailbox(EmailAddress("r@x.com"), displayName: "Résumé for the position of engineer"),
        ]
        let headers = Fixtures.headers(try Fixtures.compose(email))
        #expect(
            headers.contains(
                "To: \"Doe, John\" <j@x.com>, \"A \\\"B\\\" C\\\\D\" <a@x.com>,\r\n"
                    + " =?UTF-8?Q?R=C3=A9sum=C3=A9_for_the_position_of_engineer?= <r@x.com>\r\n"))
    }

    @Test func longASCIISubjectFoldsAtSpaces() throws {
        var email = try Self.seedEmail()
        email.subject = "A plain ASCII subject that is long enough to need folding at the seventy-eighth column"
        #expect(
            Fixtures.headers(try Fixtures.compose(email)).contains(
                "Subject: A plain ASCII subject that is long enough to need folding at the\r\n seventy-eighth column\r\n"))
    }

    @Test func subjectThatLooksEncodedIsEncoded() throws {
        var email = try Self.seedEmail()
        email.subject = "literal =?utf-8?q?x?= text"
        #expect(Fixtures.headers(try Fixtures.compose(email)).contains("Subject: =?UTF-8?B?bGl0ZXJhbCA9P3V0Zi04P3E/eD89IHRleHQ=?=\r\n"))
    }

    @Test func threeHundredCharacterChineseSubjectIsSplitIntoWholeCharacterWords() throws {
        var email = try Self.seedEmail()
        email.subject = String(repeating: "系统通知测试邮件", count: 37) + "系统通知"
        #expect(email.subject.count == 300)
        let headers = Fixtures.headers(try Fixtures.compose(email))
        let subjectLines = headers.components(separatedBy: "\r\n").drop(while: { !$0.hasPrefix("Subject:") })
            .prefix(while: { $0.hasPrefix("Subject:") || $0.hasPrefix(" ") })
        #expect(subjectLines.first == "Subject: =?UTF-8?B?57O757uf6YCa55+l5rWL6K+V6YKu5Lu257O757uf6YCa55+l5rWL6K+V?=")
        var decoded = ""
        for line in subjectLines {
            #expect(line.utf8.count <= 78)
            let word = line.replacingOccurrences(of: "Subject: ", with: "").trimmingCharacters(in: .whitespaces)
            #expect(word.utf8.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let payload = Data(base64Encoded: String(word.dropFirst(10).dropLast(2)))!
            // Each word decodes on its own: no character is split between two words.
            let text = try #require(String(data: payload, encoding: .utf8))
            decoded += text
        }
        #expect(decoded == email.subject)
    }

    @Test func multipartMessageNestsMixedRelatedAlternative() throws {
        var email = try Self.seedEmail()
        email.html = "<p>Hi <img src=\"cid:logo@herald\"></p>"
        email.attachments = [
            try Attachment(filename: "报告.pdf", data: Array("PDF".utf8)),
            try Attachment(filename: "logo.png", data: [1, 2, 3], disposition: .inline(contentID: "logo@herald")),
        ]
        let message = try Fixtures.compose(email)
        let contentTypes = message.components(separatedBy: "\r\n").filter { $0.hasPrefix("Content-Type:") }
        #expect(
            contentTypes.map { $0.components(separatedBy: ";")[0] } == [
                "Content-Type: multipart/mixed", "Content-Type: multipart/related", "Content-Type: multipart/alternative",
                "Content-Type: text/plain", "Content-Type: text/html", "Content-Type: image/png", "Content-Type: application/pdf",
            ])
        #expect(
            message.contains(
                "Content-Type: application/pdf; name*=utf-8''%E6%8A%A5%E5%91%8A.pdf\r\n"
                    + "Content-Transfer-Encoding: base64\r\n"
                    + "Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E5%91%8A.pdf\r\n\r\nUERG\r\n"))
        #expect(
            message.contains(
                "Content-Type: image/png; name=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n"
                    + "Content-Disposition: inline; filename=\"logo.png\"\r\nContent-ID: <logo@herald>\r\n\r\nAQID\r\n"))
    }

    @Test func longFileNamesUseRFC2231Continuations() throws {
        var email = try Self.seedEmail()
        email.attachments = [try Attachment(filename: String(repeating: "季度报告", count: 6) + ".xlsx", data: [0])]
        let message = try Fixtures.compose(email)
        #expect(
            message.contains("Content-Disposition: attachment;\r\n filename*0*=utf-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A%E5%AD%A3;\r\n"))
        #expect(message.contains(" filename*4*=%E5%91%8A.xlsx\r\n"))
        #expect(message.contains("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\r\n name*0*="))
    }

    @Test func bccIsNeverWrittenButIsInTheEnvelope() throws {
        var email = try Self.seedEmail()
        email.bcc = [try Fixtures.mailbox("Secret <secret@example.com>")]
        var generator = SeededGenerator(seed: 1)
        let message = try MessageComposer().compose(email, using: &generator)
        let text = String(decoding: message.bytes, as: UTF8.self)
        #expect(!text.lowercased().contains("bcc"))
        #expect(!text.contains("secret@example.com"))
        #expect(message.envelope.recipients.map(\.description) == ["205672513@qq.com", "secret@example.com"])
        #expect(message.envelope.sender.description == "1905985427@qq.com")
    }

    @Test func dateMessageIDAndMIMEVersionAreAlwaysPresentAndIDsAreUnique() throws {
        var email = try Self.seedEmail()
        email.date = nil
        let first = try MessageComposer().compose(email)
        let second = try MessageComposer().compose(email)
        for message in [first, second] {
            let headers = String(decoding: message.bytes, as: UTF8.self)
            #expect(headers.hasPrefix("Date: "))
            #expect(headers.contains("\r\nMessage-ID: \(message.messageID)\r\n"))
            #expect(headers.contains("\r\nMIME-Version: 1.0\r\n"))
            #expect(message.messageID.hasPrefix("<") && message.messageID.hasSuffix("@qq.com>"))
        }
        #expect(first.messageID != second.messageID)
    }

    @Test func givenMessageIDIsReusedForRetries() throws {
        var email = try Self.seedEmail()
        email.messageID = "retry-4@herald.example"
        let message = try MessageComposer().compose(email)
        #expect(message.messageID == "<retry-4@herald.example>")
        email.messageID = "no at sign"
        #expect(throws: MIMEError.self) { try MessageComposer().compose(email) }
    }

    @Test func customHeadersAreWrittenAndReservedOnesRefused() throws {
        var email = try Self.seedEmail()
        email.headers = [
            try Header(name: "List-Unsubscribe", value: "<mailto:unsubscribe@example.com>, <https://example.com/unsubscribe?id=12345>"),
            try Header(parsing: "X-Campaign: 双十一"),
        ]
        let headers = Fixtures.headers(try Fixtures.compose(email))
        #expect(headers.contains("List-Unsubscribe: <mailto:unsubscribe@example.com>,\r\n <https://example.com/unsubscribe?id=12345>\r\n"))
        #expect(headers.contains("X-Campaign: =?UTF-8?B?5Y+M5Y2B5LiA?=\r\n"))
        for name in ["From", "bcc", "Content-Type", "Message-ID", "DKIM-Signature"] {
            #expect(throws: MIMEError.self) { try Header(name: name, value: "x") }
        }
        #expect(throws: MIMEError.self) { try Header(name: "X Bad", value: "x") }
        #expect(throws: MIMEError.self) { try Header(name: "X:Bad", value: "x") }
    }

    @Test(arguments: [
        "Hello\r\nBcc: victim@example.com", "Hello\nX-Injected: 1", "Hello\rX: 1", "Hello\0",
    ])
    func headerInjectionIsRefusedEverywhere(attack: String) throws {
        var email = try Self.seedEmail()
        email.subject = attack
        #expect(throws: MIMEError.self) { try MessageComposer().compose(email) }
        let address = try EmailAddress("a@example.com")
        #expect(throws: MIMEError.self) { try Mailbox(address, displayName: attack) }
        #expect(throws: MIMEError.self) { try Header(name: "X-Note", value: attack) }
        #expect(throws: MIMEError.self) { try Header(name: attack, value: "x") }
        #expect(throws: MIMEError.self) { try Attachment(filename: attack, data: []) }
        #expect(throws: MIMEError.self) { try Attachment(filename: "a.png", contentType: "image/\(attack)", data: []) }
        #expect(throws: MIMEError.self) { try Attachment(filename: "a.png", data: [], disposition: .inline(contentID: attack)) }
        do {
            _ = try Header(name: "X-Note", value: attack)
        } catch {
            #expect(error.code == .headerInjection)
        }
    }

    @Test func messageWithoutRecipientsIsRefused() throws {
        var email = try Self.seedEmail()
        email.to = []
        #expect(throws: MIMEError(.missingRecipient, "a message needs at least one recipient")) {
            try MessageComposer().compose(email)
        }
    }

    @Test func boundaryNeverCollidesWithSevenBitContent() throws {
        var email = try Self.seedEmail()
        email.html = "<p>x</p>"
        let first = try Fixtures.compose(email, seed: 9)
        let boundary = try #require(first.components(separatedBy: "boundary=\"").last?.components(separatedBy: "\"").first)
        email.text = "A line that quotes the boundary:\n--\(boundary)\nand goes on."
        let second = try Fixtures.compose(email, seed: 9)
        #expect(!second.contains("boundary=\"\(boundary)\""))
        #expect(second.contains("--\(boundary)\r\nand goes on."))
    }

    @Test func internationalisedAddressInHeadersNeedsSMTPUTF8() throws {
        var email = try Self.seedEmail()
        email.to = [try Fixtures.mailbox("用户 <用户@例子.测试>")]
        var generator = SeededGenerator(seed: 1)
        let message = try MessageComposer().compose(email, using: &generator)
        #expect(message.requiresSMTPUTF8)
        #expect(String(decoding: message.bytes, as: UTF8.self).contains("To: =?UTF-8?B?55So5oi3?= <用户@xn--fsqu00a.xn--0zwm56d>\r\n"))
    }
}
