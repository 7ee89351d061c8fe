import Foundation
import NIOCore
import Testing

@testable import HeraldAPI

/// The send answer written by hand gives the bytes `JSONEncoder` gives for the same envelope.
@Suite struct EnvelopeWriterTests {
    @Test(arguments: [
        ("3f1c9d2e-8b4a-4c6f-9e2d-7a5b1c3d4e6f", nil as Bool?),
        (#"client"id\with/slash"#, true),
        ("tab\there\nline\u{01}\u{1F}\u{7F}", false),
        ("中文-【测试】-\u{2028}-é", nil),
    ])
    func sendAnswerMatchesJSONEncoder(requestID: String, duplicate: Bool?) throws {
        for id in [Int64(0), 4, Int64.max] {
            let result = SendResult(messageID: id, status: "pending", requestID: requestID, duplicate: duplicate)
            let written = JSONResponse.sendAcceptedBody(result, message: "Message queued for sending", requestID: requestID)
            let encoded = try JSONResponse.encoder.encode(
                Envelope(code: 0, message: "Message queued for sending", data: result, requestID: requestID))
            #expect(String(buffer: written) == String(decoding: encoded, as: UTF8.self))
        }
    }

    @Test func everyControlCharacterIsEscapedAsJSONEncoderDoes() throws {
        let all = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self)
        var buffer = ByteBuffer()
        JSONResponse.writeJSONString(all, into: &buffer)
        let encoded = try JSONResponse.encoder.encode([all])
        #expect("[" + String(buffer: buffer) + "]" == String(decoding: encoded, as: UTF8.self))
    }
}

@Suite struct RequestIDAndTrimmingTests {
    @Test func requestIDsAreLowerCaseVersion4UUIDs() throws {
        var seen: Set<String> = []
        for _ in 0..<1000 {
            let id = RequestID.generate()
            let uuid = try #require(UUID(uuidString: id), "\(id) parses as a UUID")
            #expect(id == uuid.uuidString.lowercased())
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 4, "version 4")
            #expect(bytes.8 >> 6 == 0b10, "RFC 4122 variant")
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test(arguments: [
        (" \t【测试】系统通知 - 2025\r\n", "【测试】系统通知 - 2025"), ("\u{3000}全角\u{00A0}", "全角"), ("   ", ""), ("", ""),
        ("a b", "a b"), ("\u{85}x\u{2029}", "x"),
    ])
    func trimmingMatchesFoundation(input: String, expected: String) {
        #expect(input.trimmingWhitespace() == expected)
        #expect(input.trimmingWhitespace() == input.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

@Suite struct JSONValueTextTests {
    @Test func jsonTextReadsBackAsTheSameValue() throws {
        let value = JSONValue.object([
            "timestamp": .string("2025-10-25 17:05:00"), "quote\"d\\": .string("line\nbreak\u{01}/中文"), "n": .number(42),
            "half": .number(1.5), "big": .number(1e20), "negative": .number(-7), "yes": .bool(true), "nothing": .null,
            "list": .array([.number(1), .string("两"), .array([]), .object([:])]), "nested": .object(["a": .object(["b": .bool(false)])]),
        ])
        let text = value.jsonText
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == value)
        #expect(JSONValue.object(["b": .number(2), "a": .number(1)]).jsonText == #"{"a":1,"b":2}"#, "keys in order")
    }
}
