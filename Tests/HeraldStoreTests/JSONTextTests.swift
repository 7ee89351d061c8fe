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

    @Test func foreignJSONIsReadToo() {
        #expect(JSONText.strings(#" [ "a" , "\u00e9\ud83d\ude00" ] "#) == ["a", "é😀"])
        #expect(JSONText.map(#"{ "k" : "v" }"#) == ["k": "v"])
        #expect(JSONText.strings("not json") == [])
        #expect(JSONText.strings(#"["a", 1]"#) == [])
        #expect(JSONText.map(nil) == [:])
    }
}
