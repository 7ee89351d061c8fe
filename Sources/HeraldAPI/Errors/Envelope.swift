import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The body of every response: `{"code", "message", "data", "request_id"}`, as the original system
/// answered (`code` 0 on success).
struct Envelope<Payload: Encodable>: Encodable {
    var code: Int
    var message: String
    var data: Payload?
    var requestID: String

    enum CodingKeys: String, CodingKey {
        case code, message, data
        case requestID = "request_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        if let data { try container.encode(data, forKey: .data) } else { try container.encodeNil(forKey: .data) }
        try container.encode(requestID, forKey: .requestID)
    }
}

/// The `data` of an error envelope.
struct ErrorData: Encodable {
    var error: String
    var fields: [APIError.FieldError]?
}

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(APITime.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON response with the envelope around `data`.
    static func success<T: Encodable>(_ data: T?, message: String = "ok", status: HTTPResponse.Status = .ok, requestID: String) -> Response
    {
        make(Envelope(code: 0, message: message, data: data, requestID: requestID), status: status)
    }

    static func failure(_ error: APIError, requestID: String) -> Response {
        var response = make(
            Envelope(
                code: error.code.rawValue, message: error.message,
                data: ErrorData(error: error.code.name, fields: error.fields.isEmpty ? nil : error.fields), requestID: requestID),
            status: error.code.status)
        if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    static func make(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"code":50000,"message":"could not encode the response","data":null}"#.utf8)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Times in the API: ISO 8601 in UTC, `2025-10-25T09:05:00.123Z` out; with or without fractions,
/// and with any offset, in.
enum APITime {
    static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    static func parse(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

/// The send endpoints' answer written directly: the same bytes `JSONResponse.make` gives for
/// `Envelope<SendResult>` (keys sorted, no escaped slashes), without `JSONEncoder`, which took
/// about 6% of a send request's time. `EnvelopeTests` holds the two to the same output.
extension JSONResponse {
    static func sendAccepted(_ result: SendResult, message: String, requestID: String) -> Response {
        Response(
            status: .accepted, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: sendAcceptedBody(result, message: message, requestID: requestID)))
    }

    static func sendAcceptedBody(_ result: SendResult, message: String, requestID: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(192 + result.requestID.utf8.count + requestID.utf8.count + message.utf8.count)
        buffer.writeStaticString(#"{"code":0,"data":{"#)
        if let duplicate = result.duplicate { buffer.writeString(#""duplicate":\#(duplicate),"#) }
        buffer.writeString(#""message_id":\#(result.messageID),"request_id":"#)
        writeJSONString(result.requestID, into: &buffer)
        buffer.writeStaticString(#","status":"#)
        writeJSONString(result.status, into: &buffer)
        buffer.writeStaticString(#"},"message":"#)
        writeJSONString(message, into: &buffer)
        buffer.writeStaticString(#","request_id":"#)
        writeJSONString(requestID, into: &buffer)
        buffer.writeStaticString("}")
        return buffer
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string literal as `JSONEncoder` writes it: quotes, backslashes and control
    /// characters escaped; everything else, slashes and non-ASCII included, as is.
    static func writeJSONString(_ string: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
            case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
            case 0x08: buffer.writeStaticString(#"\b"#)
            case 0x0C: buffer.writeStaticString(#"\f"#)
            case 0x0A: buffer.writeStaticString(#"\n"#)
            case 0x0D: buffer.writeStaticString(#"\r"#)
            case 0x09: buffer.writeStaticString(#"\t"#)
            case 0..<0x20:
                buffer.writeStaticString(#"\u00"#)
                buffer.writeInteger(hexDigits[Int(byte >> 4)])
                buffer.writeInteger(hexDigits[Int(byte & 0xF)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
