import HeraldStore

/// A send body read without `JSONDecoder`, which took about 30 µs for the original three-field
/// body (7% of a send request's CPU). Only plainly well-formed bodies are read here; anything
/// unusual (a wrong type, a repeated key, a number that is not a plain integer where one is
/// expected, a lone surrogate, deep nesting) gives nil, and the caller decodes the body with
/// `JSONDecoder` instead, which also words the errors. A test holds the two to the same
/// result on every body this reader accepts.
extension SendRequest {
    static func read(_ bytes: [UInt8]) -> SendRequest? {
        var reader = JSONReader(bytes)
        guard case .object(let fields)? = reader.document() else { return nil }
        return SendRequest(fields)
    }

    private init?(_ fields: [String: JSONReader.Node]) {
        guard let to = fields["to"].flatMap(AddressList.init) else { return nil }
        self.init(to: to.addresses)
        func optional<T>(_ key: String, _ convert: (JSONReader.Node) -> T?) -> T?? {
            switch fields[key] {
            case nil, .null?: return .some(nil)
            case let node?: return convert(node).map { .some($0) }
            }
        }
        guard let cc = optional("cc", AddressList.init), let bcc = optional("bcc", AddressList.init),
            let replyTo = optional("reply_to", AddressList.init), let templateCode = optional("template_code", \.string),
            let templateVariables = optional("template_variables", { $0.fields(\.jsonValue) }), let locale = optional("locale", \.string),
            let subject = optional("subject", \.string), let text = optional("text", \.string), let html = optional("html", \.string),
            let from = optional("from", \.string), let fromAccount = optional("from_account", \.string),
            let headers = optional("headers", { $0.fields(\.string) }),
            let attachments = optional("attachments", { $0.list(AttachmentInput.init) }),
            let priority = optional("priority", \.integer), let sendAt = optional("send_at", \.string),
            let expiresAt = optional("expires_at", \.string), let maxAttempts = optional("max_attempts", \.integer),
            let tags = optional("tags", { $0.list(\.string) }), let metadata = optional("metadata", { $0.fields(\.string) })
        else { return nil }
        (self.cc, self.bcc, self.replyTo, self.templateCode, self.templateVariables) = (cc, bcc, replyTo, templateCode, templateVariables)
        (self.locale, self.subject, self.text, self.html, self.from, self.fromAccount) = (locale, subject, text, html, from, fromAccount)
        (self.headers, self.attachments, self.priority, self.sendAt) = (headers, attachments, priority, sendAt)
        (self.expiresAt, self.maxAttempts, self.tags, self.metadata) = (expiresAt, maxAttempts, tags, metadata)
    }
}

extension AddressList {
    fileprivate init?(_ node: JSONReader.Node) {
        switch node {
        case .string(let address): self.init([address])
        case .array: guard let list = node.list(\.string) else { return nil }; self.init(list)
        default: return nil
        }
    }
}

extension AttachmentInput {
    fileprivate init?(_ node: JSONReader.Node) {
        guard case .object(let fields) = node, let filename = fields["filename"]?.string, let content = fields["content"]?.string
        else { return nil }
        self.init(filename: filename, content: content)
        for (key, keyPath) in [("content_type", \AttachmentInput.contentType), ("content_id", \AttachmentInput.contentID)] {
            switch fields[key] {
            case nil, .null?: break
            case .string(let value)?: self[keyPath: keyPath] = value
            default: return nil
            }
        }
    }
}

extension JSONReader.Node {
    var jsonValue: JSONValue? {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .number(let text):
            guard let value = Double(text), value.isFinite else { return nil }
            return .number(value)
        case .string(let value): return .string(value)
        case .array: return list(\.jsonValue).map(JSONValue.array)
        case .object: return fields(\.jsonValue).map(JSONValue.object)
        }
    }
}
