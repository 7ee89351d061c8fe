import Foundation
import Mustache
import NIOCore

/// Any JSON value, as a client sent it (template variables, for instance).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Strings first: they are most template variables, and each failed attempt costs a thrown error.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value as JSON text (object keys sorted), written without `JSONEncoder`, which cost about
    /// 2.5% of a send request for the stored `template_variables`.
    var jsonText: String {
        var buffer = ByteBuffer()
        write(into: &buffer)
        return String(buffer: buffer)
    }

    private func write(into buffer: inout ByteBuffer) {
        switch self {
        case .null: buffer.writeStaticString("null")
        case .bool(let value): buffer.writeString(value ? "true" : "false")
        case .number(let value):
            buffer.writeString(value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value))
        case .string(let value): JSONResponse.writeJSONString(value, into: &buffer)
        case .array(let values):
            buffer.writeStaticString("[")
            for (index, value) in values.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                value.write(into: &buffer)
            }
            buffer.writeStaticString("]")
        case .object(let values):
            buffer.writeStaticString("{")
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                JSONResponse.writeJSONString(key, into: &buffer)
                buffer.writeStaticString(":")
                values[key]?.write(into: &buffer)
            }
            buffer.writeStaticString("}")
        }
    }

    /// The value as Mustache sees it: strings, numbers without a needless `.0`, booleans; objects
    /// and arrays that sections and dotted names look into, and that a variable tag writes as JSON
    /// (not as Swift's description of a dictionary).
    var mustacheValue: Any {
        switch self {
        case .null: return ""
        case .bool(let value): return value
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
            return String(value)
        case .string(let value): return value
        case .array(let values): return MustacheJSONArray(json: self, elements: values.map(\.mustacheValue))
        case .object(let values): return MustacheJSONObject(json: self, members: values.mapValues(\.mustacheValue))
        }
    }
}

/// A JSON object in a template: `{{#order}}{{id}}{{/order}}` and `{{order.id}}` read its members,
/// `{{order}}` writes it as JSON.
struct MustacheJSONObject: MustacheParent, MustacheCustomRenderable {
    let json: JSONValue
    let members: [String: Any]

    func child(named name: String) -> Any? { members[name] }
    var renderText: String { json.jsonText }
    var isNull: Bool { false }
}

/// A JSON array in a template: a section repeats for each element (none when empty), a variable
/// tag writes it as JSON.
struct MustacheJSONArray: MustacheSequence, MustacheCustomRenderable {
    let json: JSONValue
    let elements: [Any]

    func makeIterator() -> IndexingIterator<[Any]> { elements.makeIterator() }
    var renderText: String { json.jsonText }
    var isNull: Bool { false }
}
