import Foundation
import Testing

@testable import HeraldAPI

/// `SendRequest.read` must give what `JSONDecoder` gives, or nil.
@Suite struct SendRequestReadingTests {
    static let accepted: [String] = [
        #"{"to": ["205672513@qq.com"], "template_code": "test_email", "template_variables": {"timestamp": "2025-10-25 17:05:00"}}"#,
        #"{"to":"one@example.com","subject":"s","text":"t"}"#,
        """
        {
          "to": ["a@example.com", "B@Example.com"], "cc": "c@example.com", "bcc": [], "reply_to": ["r@example.com"],
          "subject": "【测试】 \\"quoted\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u0000", "text": "😀 raw", "html": "<p>x</p>",
          "from": "Ops <ops@example.com>", "from_account": "main", "headers": {"X-Campaign": "spring"},
          "attachments": [{"filename": "a.txt", "content": "aGk=", "content_type": "text/plain", "content_id": null}],
          "priority": -0, "send_at": "2026-01-01T00:00:00Z", "expires_at": null, "max_attempts": 3,
          "tags": ["vip", "spring"], "metadata": {"order": "42"}, "locale": "zh-CN"
        }
        """,
        #"{"to": [], "template_code": null, "template_variables": {"n": 1, "pi": -3.25e0, "big": 1E+21, "yes": true, "no": false, "none": null, "list": [1, "two", [3], {"four": 4}], "nested": {"a": {"b": "c"}}}}"#,
        #"{"to": ["x@example.com"], "unknown": {"deep": [1, 2, {"x": null}], "s": "\u00e9"}, "priority": 9, "max_attempts": 50}"#,
        "\t{ \"to\" : [ \"x@example.com\" ] , \"tags\" : [ ] }\r\n",
    ]

    static let declined: [String] = [
        #"{"to": ["a@example.com"], "to": ["b@example.com"]}"#,
        #"{"to": ["a@example.com"], "priority": 5.0}"#,
        #"{"to": ["a@example.com"], "priority": 1e2}"#,
        #"{"to": ["a@example.com"], "priority": 99999999999999999999}"#,
        #"{"to": ["a@example.com"], "max_attempts": "3"}"#,
        #"{"to": null}"#,
        #"{"to": 5}"#,
        #"{"cc": ["a@example.com"]}"#,
        #"{"to": ["a@example.com", 7]}"#,
        #"{"to": ["a@example.com"], "subject": "\ud83d"}"#,
        #"{"to": ["a@example.com"], "subject": "\ude00\ud83d"}"#,
        #"{"to": ["a@example.com"], "subject": "\x"}"#,
        "{\"to\": [\"a@example.com\"], \"subject\": \"tab\there\"}",
        #"{"to": ["a@example.com"],}"#,
        #"{"to": ["a@example.com"]} extra"#,
        #"{"to": ["a@example.com"], "template_variables": {"n": 01}}"#,
        #"{"to": ["a@example.com"], "template_variables": {"n": 1.}}"#,
        #"{"to": ["a@example.com"], "template_variables": {"n": 1e999}}"#,
        #"{"to": ["a@example.com"], "template_variables": []}"#,
        #"{"to": ["a@example.com"], "headers": {"X-A": 1}}"#,
        #"{"to": ["a@example.com"], "attachments": [{"content": "aGk="}]}"#,
        #"{"to": ["a@example.com"], "attachments": [{"filename": "a", "content": "aGk=", "content_type": 3}]}"#,
        #"{"to": ["a@example.com"], "tags": "vip"}"#,
        #"["to"]"#, "", "nul", #"{"to": ["a@example.com"], "x": tru}"#,
        #"{"to": ["a@example.com"], "x": "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}",
    ]

    static func decoded(_ bytes: [UInt8]) -> SendRequest? {
        try? JSONDecoder().decode(SendRequest.self, from: Data(bytes))
    }

    @Test(arguments: accepted)
    func plainBodiesAreReadAsJSONDecoderReadsThem(body: String) throws {
        let read = try #require(SendRequest.read(Array(body.utf8)), "the reader declined a plain body")
        #expect(read == Self.decoded(Array(body.utf8)))
    }

    @Test(arguments: declined)
    func unusualBodiesAreLeftToJSONDecoder(body: String) {
        #expect(SendRequest.read(Array(body.utf8)) == nil)
    }

    @Test func bytesThatAreNotUTF8AreLeftToJSONDecoder() {
        let body = Array(#"{"to": [""#.utf8) + [0xC3, 0x28] + Array(#""]}"#.utf8)
        #expect(SendRequest.read(body) == nil)
    }

    /// Every body the reader accepts, among all the corruptions of plain ones by one byte (each
    /// byte deleted, or replaced by or preceded by one of the bytes JSON's syntax turns on), reads
    /// as `JSONDecoder` reads it.
    @Test func corruptedBodiesReadAsJSONDecoderReadsThemOrNotAtAll() {
        let alphabet = Array(#"{}[]":,\-.e0x"#.utf8) + [0x09, 0xC3, 0x80, 0x00]
        var accepted = 0
        for base in Self.accepted.map({ Array($0.utf8) }) {
            var corruptions: [[UInt8]] = []
            for position in base.indices {
                var deleted = base
                deleted.remove(at: position)
                corruptions.append(deleted)
                for byte in alphabet {
                    var replaced = base
                    replaced[position] = byte
                    var inserted = base
                    inserted.insert(byte, at: position)
                    corruptions += [replaced, inserted]
                }
            }
            for body in corruptions {
                guard let read = SendRequest.read(body) else { continue }
                accepted += 1
                #expect(read == Self.decoded(body), "\(String(decoding: body, as: UTF8.self))")
            }
        }
        #expect(accepted > 1_000, "many corruptions leave a readable body (inside a string, say)")
    }
}
