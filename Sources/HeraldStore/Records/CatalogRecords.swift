import Foundation

/// A message template: subject, text and HTML, per channel and locale.
public struct TemplateRecord: Sendable, Hashable {
    public var code: String
    public var channel: String
    /// `""` is the default locale, the fallback for every other.
    public var locale: String
    public var subject: String
    public var text: String?
    public var html: String?
    /// Starts at 1 and grows with every update.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
}

/// The writable fields of a template.
public struct TemplateContent: Sendable, Hashable {
    public var code: String
    public var channel: String
    public var locale: String
    public var subject: String
    public var text: String?
    public var html: String?

    public init(code: String, channel: String = "email", locale: String = "", subject: String, text: String? = nil, html: String? = nil) {
        self.code = code
        self.channel = channel
        self.locale = locale
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// What an API key may do.
public enum APIKeyScope: String, Sendable, Hashable, Codable, CaseIterable {
    case send, read, admin
}

/// An API key as stored: only a hash of the key, never the key.
public struct APIKeyRecord: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var name: String
    /// The first characters of the key, to tell keys apart in a list.
    public var prefix: String
    public var scopes: Set<APIKeyScope>
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?
}

/// Something worth telling: a status change, an account's breaker opening, an alert.
public struct EventRecord: Sendable, Hashable, Identifiable {
    public var id: Int64
    /// A dotted kind: `message.failed`, `account.breaker_opened`, ...
    public var kind: String
    public var messageID: Int64?
    public var accountID: Int64?
    public var data: [String: String]
    public var createdAt: Date
}

/// An address never to send to, and why.
public struct SuppressionRecord: Sendable, Hashable {
    public var address: String
    public var reason: String
    public var source: String?
    public var createdAt: Date
}
