import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// The body decoded as JSON, with its raw bytes (for idempotency hashes). Malformed JSON is a
    /// 400, a field of the wrong type a 422 naming it.
    mutating func json<T: Decodable>(_ type: T.Type, context: HeraldRequestContext) async throws -> (value: T, bytes: [UInt8]) {
        let bytes = try await jsonBytes(context: context)
        return (try Self.decode(T.self, from: bytes), bytes)
    }

    /// `json(SendRequest.self, context:)`, read by `SendRequest.read` when it can (the send
    /// path's hot spot) and by `JSONDecoder` otherwise.
    mutating func sendRequest(context: HeraldRequestContext) async throws -> (value: SendRequest, bytes: [UInt8]) {
        let bytes = try await jsonBytes(context: context)
        return (try SendRequest.read(bytes) ?? Self.decode(SendRequest.self, from: bytes), bytes)
    }

    private mutating func jsonBytes(context: HeraldRequestContext) async throws -> [UInt8] {
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        guard !bytes.isEmpty else { throw APIError(.badRequest, "the body is empty; send a JSON object") }
        return bytes
    }

    private static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError.decodingError(error)
        }
    }
}

extension Parameters {
    /// A numeric path parameter; anything else is a 404 (no such thing).
    func id(_ name: String = "id") throws -> Int64 {
        guard let text = get(name), let id = Int64(text), id > 0 else {
            throw APIError(.notFound, "there is no such \(name == "id" ? "item" : name)")
        }
        return id
    }
}

/// The query checks the list endpoints share.
enum ListQuery {
    /// A problem for each parameter not in `known` (once each): a misspelt filter would otherwise
    /// be ignored and the answer list everything as if it matched.
    static func unknownParameters(_ query: Parameters, known: [String], noun: String) -> [APIError.FieldError] {
        var seen: Set<String> = []
        return query.compactMap { name, _ in
            let name = String(name)
            guard !known.contains(name), seen.insert(name).inserted else { return nil }
            return APIError.FieldError(field: name, reason: "is not \(noun); use \(known.joined(separator: ", "))")
        }
    }

    /// `limit` within `range`, `fallback` when absent; out of range or not a number is a problem.
    static func limit(_ query: Parameters, range: ClosedRange<Int>, fallback: Int, problems: inout [APIError.FieldError]) -> Int {
        guard let text = query.get("limit") else { return fallback }
        if let value = Int(text), range.contains(value) { return value }
        problems.append(.init(field: "limit", reason: "must be \(range.lowerBound) to \(range.upperBound)"))
        return fallback
    }
}
