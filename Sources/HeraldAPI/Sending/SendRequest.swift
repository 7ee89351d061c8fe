import Foundation

/// `POST /api/v1/messages/email/send`: the original system's body (`to`, `template_code`,
/// `template_variables`) and everything Herald adds. Unknown fields are ignored, as before.
public struct SendRequest: Sendable, Hashable, Decodable {
    public var to: AddressList
    public var cc: AddressList?
    public var bcc: AddressList?
    public var replyTo: AddressList?
    public var templateCode: String?
    public var templateVariables: [String: JSONValue]?
    /// A template locale such as `zh-CN`; falls back to `zh`, then the default.
    public var locale: String?
    public var subject: String?
    public var text: String?
    public var html: String?
    /// The From mailbox; by default the chosen account's display name and address.
    public var from: String?
    public var fromAccount: String?
    public var headers: [String: String]?
    public var attachments: [AttachmentInput]?
    public var priority: Int?
    public var sendAt: String?
    public var expiresAt: String?
    public var maxAttempts: Int?
    public var tags: [String]?
    public var metadata: [String: String]?

    enum CodingKeys: String, CodingKey {
        case to, cc, bcc, subject, text, html, from, headers, attachments, priority, tags, metadata, locale
        case replyTo = "reply_to"
        case templateCode = "template_code"
        case templateVariables = "template_variables"
        case fromAccount = "from_account"
        case sendAt = "send_at"
        case expiresAt = "expires_at"
        case maxAttempts = "max_attempts"
    }

    public init(
        to: [String], templateCode: String? = nil, templateVariables: [String: JSONValue]? = nil, subject: String? = nil,
        text: String? = nil
    ) {
        self.to = AddressList(to)
        self.templateCode = templateCode
        self.templateVariables = templateVariables
        self.subject = subject
        self.text = text
    }
}

/// Addresses as a JSON array of strings, or one string.
public struct AddressList: Sendable, Decodable, Hashable {
    public var addresses: [String]

    public init(_ addresses: [String]) {
        self.addresses = addresses
    }

    public init(from decoder: any Decoder) throws {
        // The list first: the original clients send one, and a failed attempt costs a thrown error.
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode([String].self) {
            addresses = list
        } else if let address = try? container.decode(String.self) {
            addresses = [address]
        } else {
            let context = DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "not an address or a list of them")
            if container.decodeNil() { throw DecodingError.valueNotFound(AddressList.self, context) }
            throw DecodingError.typeMismatch(AddressList.self, context)
        }
    }
}

/// An attachment in a send request: the content in base64.
public struct AttachmentInput: Sendable, Decodable, Hashable {
    public var filename: String
    public var content: String
    public var contentType: String?
    /// Set for an inline image referenced from the HTML as `cid:<content_id>`.
    public var contentID: String?

    enum CodingKeys: String, CodingKey {
        case filename, content
        case contentType = "content_type"
        case contentID = "content_id"
    }
}
