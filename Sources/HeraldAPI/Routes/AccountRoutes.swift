import Foundation
import HeraldDelivery
import HeraldMIME
import HeraldSMTP
@_spi(Delivery) import HeraldStore
import Hummingbird

/// `/api/v1/accounts` (admin): sender accounts; the password is write-only.
struct AccountRoutes {
    let store: any Store
    let catalog: CatalogCache

    func register(admin: RouterGroup<HeraldRequestContext>) {
        admin.post("accounts", use: create)
        admin.get("accounts", use: list)
        admin.get("accounts/:id", use: show)
        admin.put("accounts/:id", use: replace)
        admin.delete("accounts/:id", use: delete)
        admin.post("accounts/:id/enable", use: enable)
        admin.post("accounts/:id/test", use: test)
    }

    /// Whether a body says `"password": null`, which a plain optional cannot tell from no password.
    struct ExplicitNullPassword: Decodable {
        var isNull: Bool

        enum CodingKeys: String, CodingKey { case password }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            isNull = container.contains(.password) ? try container.decodeNil(forKey: .password) : false
        }
    }

    /// The fields of DESIGN.md's `email_accounts`, plus the original system's `use_tls`.
    struct AccountInput: Decodable {
        var name: String
        var email: String
        var displayName: String?
        var provider: String?
        var region: String?
        var smtpHost: String?
        var smtpPort: Int?
        var security: String?
        var useTLS: Bool?
        var username: String?
        var password: String?
        var tlsVerify: Bool?
        var tlsCAPEM: String?
        var isActive: Bool?
        var priority: Int?
        var weight: Int?
        var perMinuteLimit: Int?
        var perDayLimit: Int?
        var routing: AccountRouting?

        enum CodingKeys: String, CodingKey {
            case name, email, provider, region, security, username, password, priority, weight, routing
            case displayName = "display_name"
            case smtpHost = "smtp_host"
            case smtpPort = "smtp_port"
            case useTLS = "use_tls"
            case tlsVerify = "tls_verify"
            case tlsCAPEM = "tls_ca_pem"
            case isActive = "is_active"
            case perMinuteLimit = "per_minute_limit"
            case perDayLimit = "per_day_limit"
        }

        /// The settings, every field checked; contradictions (`use_tls` against `security` or the port) are refused, not guessed.
        func settings() throws -> AccountSettings {
            var problems: [APIError.FieldError] = []
            // The original system's flag: true meant TLS from the first byte; false never means plaintext here.
            var requested = useTLS.map { $0 ? AccountSecurity.tls : .starttls }
            if let security {
                if let value = AccountSecurity(rawValue: security.lowercased()) {
                    if let useTLS, useTLS != (value == .tls) {
                        problems.append(.init(field: "use_tls", reason: "contradicts security=\(value.rawValue); give security alone"))
                    }
                    requested = value
                } else {
                    problems.append(.init(field: "security", reason: "must be tls, starttls or none"))
                }
            }
            var resolved: AccountSettings?
            do {
                // An empty host counts as none: the preset's host, or the error that one is needed.
                let host = smtpHost?.isEmpty == true ? nil : smtpHost
                resolved = try AccountSettings.forNewAccount(
                    provider: provider, region: region, host: host, port: smtpPort, security: requested, name: name, email: email,
                    displayName: displayName)
            } catch {
                problems.append(problem(error))
            }
            if name.isEmpty || name.count > 64 { problems.append(.init(field: "name", reason: "must be 1 to 64 characters")) }
            if (try? EmailAddress(email)) == nil { problems.append(.init(field: "email", reason: "is not a valid email address")) }
            // Said even when the host is what failed, so that one answer lists every problem.
            if let port = resolved?.smtpPort ?? smtpPort, !(1...65535).contains(port) {
                problems.append(.init(field: "smtp_port", reason: "must be 1 to 65535"))
            }
            if let resolved, resolved.smtpHost.contains(where: { $0.isWhitespace || $0 == "/" }) {
                problems.append(.init(field: "smtp_host", reason: "must be a host name or address"))
            }
            if let weight, weight < 1 { problems.append(.init(field: "weight", reason: "must be at least 1")) }
            for (field, limit) in [("per_minute_limit", perMinuteLimit), ("per_day_limit", perDayLimit)] {
                if let limit, limit < 1 { problems.append(.init(field: field, reason: "must be at least 1, or left out for no limit")) }
            }
            for problem in routing?.problems ?? [] { problems.append(.init(field: "routing.\(problem.field)", reason: problem.reason)) }
            if let problem = AccountSettings.displayNameProblem(displayName) {
                problems.append(.init(field: "display_name", reason: problem))
            }
            if let tlsCAPEM, !tlsCAPEM.isEmpty, (try? SMTPClientConfiguration.checkTrustRoots(tlsCAPEM)) == nil {
                problems.append(
                    .init(field: "tls_ca_pem", reason: "is not a PEM certificate (one or more -----BEGIN CERTIFICATE----- blocks)"))
            }
            if let password, password.isEmpty || password.contains(where: \.isNewline) {
                problems.append(.init(field: "password", reason: "must be non-empty and on one line"))
            }
            guard problems.isEmpty, var settings = resolved else { throw APIError.validation(problems) }
            if let username { settings.username = username }
            if let tlsVerify { settings.tlsVerify = tlsVerify }
            if let tlsCAPEM, !tlsCAPEM.isEmpty { settings.tlsCAPEM = tlsCAPEM }
            if let isActive { settings.isActive = isActive }
            if let priority { settings.priority = priority }
            if let weight { settings.weight = weight }
            settings.perMinuteLimit = perMinuteLimit
            settings.perDayLimit = perDayLimit
            if let routing { settings.routing = routing }
            return settings
        }

        /// The field a refused host, port, security or preset is reported on, and why.
        private func problem(_ error: DeliveryError) -> APIError.FieldError {
            switch error.code {
            case "delivery.host_required":
                return .init(field: "smtp_host", reason: "is required without provider")
            case "delivery.security_contradicts_port":
                if security == nil, let useTLS {
                    return .init(
                        field: "use_tls", reason: "is \(useTLS), which means security=\(useTLS ? "tls" : "starttls") here: \(error.message)"
                    )
                }
                return .init(field: "security", reason: "does not work on this port: \(error.message)")
            case "delivery.preset_region_required":
                return .init(field: "region", reason: "is required by the ses preset (the AWS region, e.g. us-east-1)")
            case "delivery.unknown_preset":
                let known = (ProviderPreset.all.keys + ["ses"]).sorted().joined(separator: ", ")
                return .init(field: "provider", reason: "is not a known preset; known: \(known)")
            default:
                return .init(field: "provider", reason: error.message)
            }
        }
    }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let input = try await request.json(AccountInput.self, context: context).value
        let account = try await store.createAccount(try input.settings(), password: input.password.map { .set($0) } ?? .keep)
        catalog.forget()
        return JSONResponse.success(AccountView(account), message: "Account created", status: .created, requestID: context.requestID)
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        JSONResponse.success(["accounts": try await store.accounts().map(AccountView.init)], requestID: context.requestID)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let id = try context.parameters.id()
        guard let account = try await store.account(id: id) else { throw APIError.notFound("account \(id)") }
        var view = AccountView(account)
        view.quota = try await store.quotaUsage(accountID: id)
        return JSONResponse.success(view, requestID: context.requestID)
    }

    /// Replaces the settings; a missing `password` keeps the stored one, `null` removes it (the
    /// account then sends without AUTH), and `""` is refused.
    @Sendable func replace(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let id = try context.parameters.id()
        let (input, bytes) = try await request.json(AccountInput.self, context: context)
        let removesPassword = (try? JSONDecoder().decode(ExplicitNullPassword.self, from: Data(bytes)))?.isNull == true
        let change: PasswordChange = input.password.map { .set($0) } ?? (removesPassword ? .clear : .keep)
        let account = try await store.updateAccount(id: id, try input.settings(), password: change)
        catalog.forget()
        return JSONResponse.success(AccountView(account), message: "Account saved", requestID: context.requestID)
    }

    @Sendable func delete(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await store.deleteAccount(id: try context.parameters.id())
        catalog.forget()
        return JSONResponse.success(Optional<String>.none, message: "Account deleted", requestID: context.requestID)
    }

    @Sendable func enable(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let account = try await store.enableAccount(id: try context.parameters.id())
        catalog.forget()
        return JSONResponse.success(AccountView(account), message: "Account enabled", requestID: context.requestID)
    }

    struct TestInput: Decodable {
        var to: String?
    }

    /// Each phase of `POST /accounts/{id}/test` (connect, TLS, greeting, each command).
    static let testPhaseTimeout = Duration.seconds(8)

    /// The `herald check` diagnosis with the account's settings; with `to`, a test message too.
    @Sendable func test(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let id = try context.parameters.id()
        guard let account = try await store.account(id: id) else { throw APIError.notFound("account \(id)") }
        guard account.channel == "smtp" else { throw APIError(.validationFailed, "only SMTP accounts can be tested") }
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let input = buffer.readableBytes == 0 ? TestInput() : try JSONDecoder().decode(TestInput.self, from: Data(buffer.readableBytesView))
        var check = SMTPCheck.Request(
            host: account.smtpHost, port: account.smtpPort, security: SMTPSecurity(account.security))
        // An HTTP client (or a proxy in front of Herald) waits for this answer: a server that does
        // not answer within seconds is the diagnosis, and the whole check stays well under 30 s.
        check.timeouts = .uniform(Self.testPhaseTimeout)
        if account.hasPassword, let password = try await store.accountPassword(id: id) {
            check.credentials = .password(username: account.login, password: password)
        }
        check.trustRootsPEM = account.tlsCAPEM
        check.verifyCertificates = account.tlsVerify
        if let to = input.to {
            do {
                let from = try Mailbox(EmailAddress(account.email), displayName: account.displayName)
                let email = Email(
                    from: from, to: [try Mailbox(parsing: to)], subject: "Herald test message",
                    text: "This message tests the account \(account.name).")
                let composed = try MessageComposer().compose(email)
                check.testMessage = (
                    try SMTPEnvelope(sender: account.email, recipients: [composed.envelope.recipients[0].description]), composed.bytes
                )
            } catch {
                throw APIError.validation([.init(field: "to", reason: "is not a valid address (\(error))")])
            }
        }
        let report = await SMTPCheck.run(check)
        return JSONResponse.success(report, message: report.verdict, requestID: context.requestID)
    }
}

/// An account as the API (and `herald accounts list --json`) shows it: everything but the
/// password, which is never readable.
public struct AccountView: Encodable, Sendable {
    var id: Int64
    var name, email: String
    var displayName: String?
    var smtpHost: String
    var smtpPort: Int
    var security: String
    var username: String
    var hasPassword: Bool
    var tlsVerify: Bool
    /// Shown: a CA certificate is public, and a client that reads an account and writes it back
    /// (a PUT without it removes it) must be able to keep it.
    var tlsCAPEM: String?
    var channel: String
    var provider: String?
    var isActive: Bool
    var health: String
    var failureCount: Int
    var lastErrorCode, lastError: String?
    var lastSuccessAt, openedUntil, throttledUntil: Date?
    var priority, weight: Int
    var perMinuteLimit, perDayLimit: Int?
    var routing: AccountRouting
    var quota: QuotaUsage?
    var createdAt, updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, email, security, username, channel, provider, health, priority, weight, routing, quota
        case displayName = "display_name"
        case smtpHost = "smtp_host"
        case smtpPort = "smtp_port"
        case hasPassword = "has_password"
        case tlsVerify = "tls_verify"
        case tlsCAPEM = "tls_ca_pem"
        case isActive = "is_active"
        case failureCount = "failure_count"
        case lastErrorCode = "last_error_code"
        case lastError = "last_error"
        case lastSuccessAt = "last_success_at"
        case openedUntil = "opened_until"
        case throttledUntil = "throttled_until"
        case perMinuteLimit = "per_minute_limit"
        case perDayLimit = "per_day_limit"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public init(_ account: AccountRecord) {
        id = account.id
        name = account.name
        email = account.email
        displayName = account.displayName
        smtpHost = account.smtpHost
        smtpPort = account.smtpPort
        security = account.security.rawValue
        username = account.login
        hasPassword = account.hasPassword
        tlsVerify = account.tlsVerify
        tlsCAPEM = account.tlsCAPEM
        channel = account.channel
        provider = account.provider
        isActive = account.isActive
        health = account.health.rawValue
        failureCount = account.failureCount
        lastErrorCode = account.lastErrorCode
        lastError = account.lastError
        lastSuccessAt = account.lastSuccessAt
        openedUntil = account.openedUntil
        throttledUntil = account.throttledUntil
        priority = account.priority
        weight = account.weight
        perMinuteLimit = account.perMinuteLimit
        perDayLimit = account.perDayLimit
        routing = account.routing
        createdAt = account.createdAt
        updatedAt = account.updatedAt
    }
}

extension AccountView {
    /// The view as one line of JSON, keys sorted, as the API encodes it.
    public var jsonText: String {
        (try? JSONResponse.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
