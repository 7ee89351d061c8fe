import Foundation

/// How a sender account's connection is secured (DESIGN.md section 6): one value, never two flags.
public enum AccountSecurity: String, Sendable, Hashable, Codable, CaseIterable {
    case tls, starttls, none
}

/// An account's circuit-breaker state (DESIGN.md section 5).
public enum AccountHealth: String, Sendable, Hashable, Codable, CaseIterable {
    case closed
    case open
    case halfOpen = "half_open"
}

/// Which messages an account is meant for: sender domains and tags. Empty means any.
public struct AccountRouting: Sendable, Hashable, Codable {
    public var fromDomains: [String]
    public var tags: [String]

    public init(fromDomains: [String] = [], tags: [String] = []) {
        self.fromDomains = fromDomains
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case fromDomains = "from_domains"
        case tags
    }

    /// A list left out is empty: `{"tags": ["billing"]}` routes by tag alone.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        fromDomains = try container.decodeIfPresent([String].self, forKey: .fromDomains) ?? []
        tags = try container.decodeIfPresent([String].self, forKey: .tags) ?? []
    }
}

/// A sender account as stored (the original system's `email_accounts`).
///
/// The password is not here: it is sealed at rest and only the delivery code can open it
/// (`Store.accountPassword(id:)`, SPI `Delivery`). `hasPassword` says whether one is set.
public struct AccountRecord: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var name: String
    public var email: String
    public var displayName: String?
    public var smtpHost: String
    public var smtpPort: Int
    public var security: AccountSecurity
    /// The login; defaults to `email`.
    public var username: String?
    public var hasPassword: Bool
    /// Changes whenever the password is set or removed, and only then (a hash, valid in this
    /// process, of the sealed bytes, whose nonce is new each time): the delivery code sees a new
    /// password without reading it. Nil without a password.
    public var passwordVersion: Int?
    public var tlsVerify: Bool
    /// A PEM bundle of extra trusted CAs, if any.
    public var tlsCAPEM: String?
    /// `sandbox` captures instead of sending; `smtp` sends.
    public var channel: String
    public var isActive: Bool
    public var health: AccountHealth
    public var failureCount: Int
    /// While open: when a probe may go through. While half-open: when the probe's turn lapses.
    public var openedUntil: Date?
    /// How many times the breaker opened since it last closed.
    public var breakerTrips: Int = 0
    public var lastErrorCode: String?
    public var lastError: String?
    public var lastSuccessAt: Date?
    /// A provider's rate-limit reply pauses the account until then.
    public var throttledUntil: Date?
    /// Lower is tried first, like MX preference.
    public var priority: Int
    public var weight: Int
    public var perMinuteLimit: Int?
    public var perDayLimit: Int?
    public var routing: AccountRouting
    /// The provider preset it was made from (`qq`, `gmail`, ...), if any.
    public var provider: String?
    public var createdAt: Date
    public var updatedAt: Date

    /// An account as the store would return it after creating it from `settings`; for tests and
    /// for code that plans before it stores.
    public init(id: Int64, settings: AccountSettings, hasPassword: Bool = false, createdAt: Date = Date()) {
        self.id = id
        name = settings.name
        email = settings.email
        displayName = settings.displayName
        smtpHost = settings.smtpHost
        smtpPort = settings.smtpPort
        security = settings.security
        username = settings.username
        self.hasPassword = hasPassword
        tlsVerify = settings.tlsVerify
        tlsCAPEM = settings.tlsCAPEM
        channel = settings.channel
        isActive = settings.isActive
        health = .closed
        failureCount = 0
        priority = settings.priority
        weight = settings.weight
        perMinuteLimit = settings.perMinuteLimit
        perDayLimit = settings.perDayLimit
        routing = settings.routing
        provider = settings.provider
        self.createdAt = createdAt
        updatedAt = createdAt
    }

    /// The settings it was made from (the password aside).
    public var settings: AccountSettings {
        AccountSettings(
            name: name, email: email, displayName: displayName, smtpHost: smtpHost, smtpPort: smtpPort, security: security,
            username: username, tlsVerify: tlsVerify, tlsCAPEM: tlsCAPEM, channel: channel, isActive: isActive,
            priority: priority, weight: weight, perMinuteLimit: perMinuteLimit, perDayLimit: perDayLimit, routing: routing,
            provider: provider)
    }

    /// The name the server logs in with: `username`, else `email`.
    public var login: String { username ?? email }
}

/// The fields of a new account; also used, whole, to replace an account's settings.
public struct AccountSettings: Sendable, Hashable {
    public var name: String
    public var email: String
    public var displayName: String?
    public var smtpHost: String
    public var smtpPort: Int
    public var security: AccountSecurity
    public var username: String?
    public var tlsVerify: Bool
    public var tlsCAPEM: String?
    public var channel: String
    public var isActive: Bool
    public var priority: Int
    public var weight: Int
    public var perMinuteLimit: Int?
    public var perDayLimit: Int?
    public var routing: AccountRouting
    public var provider: String?

    public init(
        name: String, email: String, displayName: String? = nil, smtpHost: String, smtpPort: Int,
        security: AccountSecurity, username: String? = nil, tlsVerify: Bool = true, tlsCAPEM: String? = nil,
        channel: String = "smtp", isActive: Bool = true, priority: Int = 10, weight: Int = 1,
        perMinuteLimit: Int? = nil, perDayLimit: Int? = nil, routing: AccountRouting = AccountRouting(),
        provider: String? = nil
    ) {
        self.name = name
        self.email = email
        self.displayName = displayName
        self.smtpHost = smtpHost
        self.smtpPort = smtpPort
        self.security = security
        self.username = username
        self.tlsVerify = tlsVerify
        self.tlsCAPEM = tlsCAPEM
        self.channel = channel
        self.isActive = isActive
        self.priority = priority
        self.weight = weight
        self.perMinuteLimit = perMinuteLimit
        self.perDayLimit = perDayLimit
        self.routing = routing
        self.provider = provider
    }
}

/// What to do with an account's password when its settings are written.
public enum PasswordChange: Sendable, Hashable {
    /// Leave it as it is.
    case keep
    /// Remove it: the account then sends without AUTH.
    case clear
    /// Seal and store this one.
    case set(String)
}

extension PasswordChange: CustomStringConvertible {
    /// Never the password itself.
    public var description: String {
        switch self {
        case .keep: "keep"
        case .clear: "clear"
        case .set: "set(<redacted>)"
        }
    }
}

/// The breaker and error fields the delivery code writes after an attempt.
public struct AccountHealthUpdate: Sendable, Hashable {
    public var health: AccountHealth
    public var failureCount: Int
    public var openedUntil: Date?
    public var breakerTrips: Int
    public var lastErrorCode: String?
    public var lastError: String?
    public var lastSuccessAt: Date?

    public init(
        health: AccountHealth, failureCount: Int, openedUntil: Date? = nil, breakerTrips: Int = 0, lastErrorCode: String? = nil,
        lastError: String? = nil, lastSuccessAt: Date? = nil
    ) {
        self.health = health
        self.failureCount = failureCount
        self.openedUntil = openedUntil
        self.breakerTrips = breakerTrips
        self.lastErrorCode = lastErrorCode
        self.lastError = lastError
        self.lastSuccessAt = lastSuccessAt
    }
}
