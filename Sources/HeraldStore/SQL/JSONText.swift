import Foundation

/// The JSON text kept in list and map columns (recipients, tags, metadata), written by hand: it
/// runs for every enqueued message, where `JSONEncoder` would cost more than the insert.
enum JSONText {
    static func encode(_ strings: [String]) -> String {
        var out = "["
        for (index, string) in strings.enumerated() {
            if index > 0 { out += "," }
            appendQuoted(string, to: &out)
        }
        return out + "]"
    }

    static func encode(_ map: [String: String]) -> String {
        var out = "{"
        for (index, key) in map.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            appendQuoted(key, to: &out)
            out += ":"
            appendQuoted(map[key] ?? "", to: &out)
        }
        return out + "}"
    }

    /// An attempt's recipients, as `JSONDecoder` reads them back into `[RecipientOutcome]`
    /// (absent fields left out). Written for every settled message.
    static func encode(_ recipients: [RecipientOutcome]) -> String {
        var out = "["
        for (index, recipient) in recipients.enumerated() {
            if index > 0 { out += "," }
            out += "{\"address\":"
            appendQuoted(recipient.address, to: &out)
            out += recipient.accepted ? ",\"accepted\":true" : ",\"accepted\":false"
            if let code = recipient.code { out += ",\"code\":\(code)" }
            if let enhancedCode = recipient.enhancedCode {
                out += ",\"enhancedCode\":"
                appendQuoted(enhancedCode, to: &out)
            }
            if let reply = recipient.reply {
                out += ",\"reply\":"
                appendQuoted(reply, to: &out)
            }
            out += "}"
        }
        return out + "]"
    }

    /// A JSON array of strings; `[]` for anything else. Read with `JSONReader`: it runs for every
    /// message a worker claims, where Foundation's parser costs tens of microseconds.
    static func strings(_ text: String?) -> [String] {
        guard let text else { return [] }
        var reader = JSONReader(Array(text.utf8))
        if let strings = reader.document()?.list(\.string) { return strings }
        guard let data = text.data(using: .utf8) else { return [] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String] ?? []
    }

    /// A JSON object of strings; `[:]` for anything else.
    static func map(_ text: String?) -> [String: String] {
        guard let text else { return [:] }
        var reader = JSONReader(Array(text.utf8))
        if let map = reader.document()?.fields(\.string) { return map }
        guard let data = text.data(using: .utf8) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [:]
    }

    private static func appendQuoted(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
