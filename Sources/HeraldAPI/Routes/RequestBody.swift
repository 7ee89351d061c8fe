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
        // A compressed body would otherwise be reported as JSON that does not parse.
        if let encoding = headers[.contentEncoding], encoding.lowercased() != "identity" {
            throw APIError(.badRequest, "Content-Encoding \(encoding) is not supported; send the JSON body uncompressed")
        }
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        guard !bytes.isEmpty else { throw APIError(.badRequest, "the body is empty; send a JSON object") }
        return bytes
    }

    private static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            // Foundation's decoder says "not valid JSON", with no field, for a number that does not
            // fit its field (1.5 or 1e20 for an integer); the body may be valid JSON all the same.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let body = try? JSONSerialization.jsonObject(with: Data(bytes))
            {
                let misfits = Self.fractionalOrHugeNumbers(in: body, at: "")
                throw APIError.validation(
                    misfits.isEmpty
                        ? [.init(field: "body", reason: "holds a value of the wrong type")]
                        : misfits.map { .init(field: $0, reason: "must be an integer") })
            }
            throw APIError.decodingError(error)
        }
    }

    /// The paths of numbers in `value` that no integer field takes: with a fraction, or beyond
    /// 64 bits. Template variables are free-form (any number), so they are not looked into.
    static func fractionalOrHugeNumbers(in value: Any, at path: String) -> [String] {
        switch value {
        case let object as [String: Any]:
            return object.keys.sorted().filter { $0 != "template_variables" }.flatMap { key in
                fractionalOrHugeNumbers(in: object[key] as Any, at: path.isEmpty ? key : "\(path).\(key)")
            }
        case let array as [Any]:
            return array.enumerated().flatMap { fractionalOrHugeNumbers(in: $1, at: "\(path)[\($0)]") }
        case let number as NSNumber:
            let double = number.doubleValue
            return double.rounded() == double && abs(double) < 9.2e18 ? [] : [path]
        default:
            return []
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
