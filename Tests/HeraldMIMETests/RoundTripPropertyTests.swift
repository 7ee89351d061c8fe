import Foundation
import Testing

@testable import HeraldMIME

/// Generated Unicode display names, subjects and bodies must read back exactly through Python's
/// `email` package (policy.default), with no defects and no line over 998 octets.
@Suite struct RoundTripPropertyTests {
    /// Pools the generator draws from: the places where encoders go wrong.
    static let pools: [[String]] = [
        ["a", "b", "Z", "0", "7", "x", "Q"],
        [" ", " ", " "],
        ["\"", "\\", ",", "(", ")", "<", ">", "@", ";", ":", ".", "=", "?", "_", "[", "]", "'", "!", "#"],
        ["系", "统", "通", "知", "测", "试", "【", "】", "。", "日本語", "한국어"],
        ["é", "ü", "ß", "ñ", "Ω", "Ж", "д", "ا", "ע", "ไทย"],
        ["😀", "👩‍💻", "🇨🇳", "👍🏽", "e\u{301}", "\u{200B}", "\u{FEFF}", "\t", "𝔘"],
        ["=?", "?=", "=?UTF-8?B?", "=?utf-8?q?x?="],
    ]

    static func randomText(_ generator: inout SeededGenerator, maxLength: Int) -> String {
        let length = generator.int(maxLength) + 1
        var text = ""
        for _ in 0..<length {
            let pool = pools[generator.int(pools.count)]
            text += pool[generator.int(pool.count)]
        }
        return text
    }

    static func randomBody(_ generator: inout SeededGenerator) -> String {
        var lines: [String] = []
        for _ in 0..<generator.int(12) {
            switch generator.int(6) {
            case 0: lines.append(String(repeating: "long-line ", count: generator.int(150)))
            case 1: lines.append(".leading dot and trailing space ")
            case 2: lines.append("From the start of a line")
            case 3: lines.append("")
            default: lines.append(randomText(&generator, maxLength: 120))
            }
        }
        let breaks = ["\n", "\r\n", "\r"]
        return lines.reduce("") { $0 + $1 + breaks[generator.int(3)] }
    }

    @Test func generatedMessagesReadBackThroughPythonEmail() throws {
        var generator = SeededGenerator(seed: 20_251_025)
        let directory = try Python.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var cases: [[String: Any]] = []
        for index in 0..<300 {
            let from = try Mailbox(EmailAddress("sender\(index)@example.com"), displayName: Self.randomText(&generator, maxLength: 40))
            let to = try (0...generator.int(3)).map { n in
                try Mailbox(EmailAddress("r\(n)@例え.jp"), displayName: Self.randomText(&generator, maxLength: 30))
            }
            var email = Email(from: from, to: to, subject: Self.randomText(&generator, maxLength: index % 10 == 0 ? 300 : 60))
            email.bcc = [try Mailbox(parsing: "hidden@example.org")]
            email.text = generator.int(4) == 0 ? nil : Self.randomBody(&generator)
            email.html = generator.int(2) == 0 ? nil : "<p>\(Self.randomBody(&generator))</p>"
            if generator.int(4) == 0 {
                let name = Self.randomText(&generator, maxLength: 50) + ".pdf"
                email.attachments = [try Attachment(filename: name, data: Array(Self.randomBody(&generator).utf8))]
            }
            let message = try MessageComposer().compose(email, using: &generator)
            try Self.expectHeaderLinesFold(message.bytes)
            let path = directory.appendingPathComponent("\(index).eml")
            try Data(message.bytes).write(to: path)
            var expected: [String: Any] = [
                "path": path.path, "from_name": from.displayName ?? "", "from_addr": from.address.description,
                "to": to.map { ["name": $0.displayName ?? "", "addr": $0.address.description] },
                "subject": email.subject, "attachments": email.attachments.map { $0.filename },
            ]
            if email.text != nil || email.html == nil { expected["text"] = email.text ?? "" }
            if let html = email.html { expected["html"] = html }
            cases.append(expected)
        }
        let casesFile = directory.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: cases).write(to: casesFile)
        let result = try Python.run("mime_roundtrip.py", [casesFile.path])
        #expect(result.status == 0, "\(result.output)")
    }

    /// Header lines stay within 78 columns when no single token is longer (RFC 5322 2.1.1).
    static func expectHeaderLinesFold(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        let header = text.components(separatedBy: "\r\n\r\n")[0]
        for line in header.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 78, "header line over 78 columns: \(line)")
        }
    }
}
