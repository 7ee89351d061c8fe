import Foundation
import Testing

@testable import HeraldStore

@Suite("JSON text columns")
struct JSONTextTests {
    static let samples: [[String]] = [
        [], [""], ["a@example.com", "b@example.com"], ["quote \" backslash \\ slash /"], ["line\nbreak\r\ttab"],
        ["\u{01}\u{1F}"], ["系统通知", "😀 emoji", "e\u{301}"], ["=?UTF-8?B?abc?=", "{\"not\": \"json\"}"],
    ]

    @Test(arguments: samples)
    func arraysRoundTripAndAgreeWithFoundation(strings: [String]) throws {
        let text = JSONText.encode(strings)
        #expect(JSONText.strings(text) == strings)
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
        #expect(foundation == strings, "the text is valid JSON")
    }

    @Test func mapsRoundTrip() throws {
        let map = ["order": "42", "quote\"d": "line\nbreak", "中文": "值", "": "empty"]
        let text = JSONText.encode(map)
        #expect(JSONText.map(text) == map)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] == map)
    }

    @Test func recipientOutcomesAreReadBackByTheDecoderThatReadsAttempts() throws {
        let outcomes = [
            RecipientOutcome(address: "a@example.com", accepted: true, code: 250, enhancedCode: "2.1.5", reply: "Ok \"quoted\"\nline"),
            RecipientOutcome(address: "用户@例子.广告", accepted: false, code: 550, enhancedCode: nil, reply: "no such user \u{01}"),
            RecipientOutcome(address: "c@example.com", accepted: false),
        ]
        for list in [[], outcomes, Array(outcomes.prefix(1))] {
            let text = JSONText.encode(list)
            #expect(try JSONDecoder().decode([RecipientOutcome].self, from: Data(text.utf8)) == list, "\(text)")
        }
        #expect(!JSONText.encode([outcomes[2]]).contains("code"), "absent fields are left out")
    }

    @Test func foreignJSONIsReadToo() {
        #expect(JSONText.strings(#" [ "a" , "\u00e9\ud83d\ude00" ] "#) == ["a", "é😀"])
        #expect(JSONText.map(#"{ "k" : "v" }"#) == ["k": "v"])
        #expect(JSONText.strings("not json") == [])
        #expect(JSONText.strings(#"["a", 1]"#) == [])
        #expect(JSONText.map(nil) == [:])
    }
}
