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
