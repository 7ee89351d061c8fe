/// A strict JSON (RFC 8259) reader for the few places where `JSONDecoder` or
/// `JSONSerialization` cost more than the work around them: the list columns a worker reads for
/// every claimed message (`JSONText`) and the send body (`SendRequest.read` in HeraldAPI). It gives
/// nil at anything it does not accept (a repeated key, nesting deeper than 32, a lone surrogate,
/// bytes that are not UTF-8), so that a caller can fall back to Foundation.
public struct JSONReader {
    public enum Node: Equatable, Sendable {
        case null
        case bool(Bool)
        /// The number's text as sent.
        case number(String)
        case string(String)
        case array([Node])
        case object([String: Node])

        public var string: String? { if case .string(let value) = self { value } else { nil } }

        /// A plain integer (no fraction or exponent) that fits an `Int`.
        public var integer: Int? {
            guard case .number(let text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
            return Int(text)
        }

        public func list<T>(_ element: (Node) -> T?) -> [T]? {
            guard case .array(let nodes) = self else { return nil }
            var result: [T] = []
            result.reserveCapacity(nodes.count)
            for node in nodes {
                guard let value = element(node) else { return nil }
                result.append(value)
            }
            return result
        }

        /// An object's fields, each converted by `value`; nil when this is not an object or a
        /// field does not convert.
        public func fields<T>(_ value: (Node) -> T?) -> [String: T]? {
            guard case .object(let nodes) = self else { return nil }
            var result: [String: T] = [:]
            result.reserveCapacity(nodes.count)
            for (key, node) in nodes {
                guard let converted = value(node) else { return nil }
                result[key] = converted
            }
            return result
        }
    }

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The one value of the whole text, or nil.
    public mutating func document() -> Node? {
        guard let node = value() else { return nil }
        skipSpace()
        return index == bytes.count ? node : nil
    }

    private mutating func value() -> Node? {
        skipSpace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string().map(Node.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func object() -> Node? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        index += 1
        var fields: [String: Node] = [:]
        skipSpace()
        if take(UInt8(ascii: "}")) { return .object(fields) }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipSpace()
            guard take(UInt8(ascii: ":")), let node = value() else { return nil }
            // A repeated key: JSONDecoder's choice between the two is left to JSONDecoder.
            guard fields.updateValue(node, forKey: key) == nil else { return nil }
            skipSpace()
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}")) ? .object(fields) : nil
        }
    }

    private mutating func array() -> Node? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        index += 1
        var nodes: [Node] = []
        skipSpace()
        if take(UInt8(ascii: "]")) { return .array(nodes) }
        while true {
            guard let node = value() else { return nil }
            nodes.append(node)
            skipSpace()
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]")) ? .array(nodes) : nil
        }
    }

    private mutating func enter() -> Bool {
        depth += 1
        return depth <= 32
    }

    /// A string starting at the opening quote; its bytes must be valid UTF-8.
    private mutating func string() -> String? {
        index += 1
        let start = index
        // Most strings have no escape: their bytes are taken as they are.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
            guard bytes[index] >= 0x20 else { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "\"") {
            index += 1
            return String(validating: bytes[start..<index - 1], as: UTF8.self)
        }
        var utf8 = Array(bytes[start..<index])
        while bytes[index] == UInt8(ascii: "\\") {
            index += 1
            guard index < bytes.count else { return nil }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                guard let scalar = unicodeEscape() else { return nil }
                utf8.append(contentsOf: String(Character(scalar)).utf8)
            default: return nil
            }
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                guard bytes[index] >= 0x20 else { return nil }
                utf8.append(bytes[index])
                index += 1
            }
            guard index < bytes.count else { return nil }
        }
        index += 1  // the closing quote
        return String(validating: utf8, as: UTF8.self)
    }

    /// After `\u`: four hex digits, and a second escape for a surrogate pair.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let first = hex4() else { return nil }
        switch first {
        case 0xD800...0xDBFF:
            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let second = hex4(), (0xDC00...0xDFFF).contains(second) else {
                return nil
            }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(first)
        }
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            guard let digit = Self.hexDigit(byte) else { return nil }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, at most 32 bytes.
    private mutating func number() -> Node? {
        let start = index
        _ = take(UInt8(ascii: "-"))
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { return nil }
        }
        if take(UInt8(ascii: ".")) { guard digits() > 0 else { return nil } }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            _ = take(UInt8(ascii: "+")) || take(UInt8(ascii: "-"))
            guard digits() > 0 else { return nil }
        }
        guard index - start <= 32 else { return nil }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: String, _ node: Node) -> Node? {
        let count = word.utf8.count
        guard index + count <= bytes.count, word.utf8.elementsEqual(bytes[index..<index + count]) else { return nil }
        index += count
        return node
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}
