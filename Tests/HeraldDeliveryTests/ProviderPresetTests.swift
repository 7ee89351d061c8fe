import HeraldDelivery
import HeraldStore
import Testing

@Suite struct ProviderPresetTests {
    @Test(arguments: [
        "qq", "exmail", "163", "126", "yeah", "aliyun", "feishu", "gmail", "outlook", "icloud", "yahoo", "zoho", "sendgrid", "mailgun",
    ])
    func everyNamedPresetExistsWithASecureMode(name: String) throws {
        let preset = try ProviderPreset.named(name)
        #expect(preset.security == (preset.port == 465 ? .tls : .starttls), "port and security agree")
        #expect(!preset.host.isEmpty && !preset.note.isEmpty)
    }

    @Test func chineseProvidersRequireTheLoginAsSender() throws {
        for name in ["qq", "163", "exmail"] {
            #expect(try ProviderPreset.named(name).senderRule == .mustBeLogin)
        }
        #expect(try ProviderPreset.named("gmail").senderRule == .any)
    }

    @Test func qqIsImplicitTLSOn465() throws {
        let settings = try ProviderPreset.named("QQ").settings(name: "qq-main", email: "1905985427@qq.com", displayName: "系统通知")
        #expect(settings.smtpHost == "smtp.qq.com" && settings.smtpPort == 465 && settings.security == .tls)
        #expect(settings.provider == "qq" && settings.username == nil)
    }

    @Test func sesNeedsARegion() throws {
        #expect(try ProviderPreset.named("ses", region: "eu-west-1").host == "email-smtp.eu-west-1.amazonaws.com")
        #expect(throws: DeliveryError.self) { try ProviderPreset.named("ses") }
        #expect(throws: DeliveryError.self) { try ProviderPreset.named("ses", region: "eu west/1") }
        #expect(try ProviderPreset.named("sendgrid").username == "apikey")
        do {
            _ = try ProviderPreset.named("hotmale")
            Issue.record("an unknown preset must be refused")
        } catch {
            #expect(error.code == "delivery.unknown_preset" && error.message.contains("qq"))
        }
    }
}

@Suite struct NewAccountSecurityTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var provider: String?
        var port: Int?
        var security: AccountSecurity?
        /// The port and security stored, or nil when the pair is refused.
        var expected: (port: Int, security: AccountSecurity)?
        var testDescription: String { "\(provider ?? "host") port=\(port.map(String.init) ?? "-") security=\(security?.rawValue ?? "-")" }
    }

    @Test(arguments: [
        // Nothing given: the preset's pair, or STARTTLS on 587.
        Case(provider: nil, port: nil, security: nil, expected: (587, .starttls)),
        Case(provider: "qq", port: nil, security: nil, expected: (465, .tls)),
        // A port alone brings its security, for a preset too.
        Case(provider: nil, port: 465, security: nil, expected: (465, .tls)),
        Case(provider: nil, port: 2525, security: nil, expected: (2525, .starttls)),
        Case(provider: "gmail", port: 587, security: nil, expected: (587, .starttls)),
        Case(provider: "outlook", port: 587, security: nil, expected: (587, .starttls)),
        // A security alone brings its port when the one it would get cannot carry it.
        Case(provider: nil, port: nil, security: .tls, expected: (465, .tls)),
        Case(provider: nil, port: nil, security: AccountSecurity.none, expected: (587, .none)),
        Case(provider: "gmail", port: nil, security: .starttls, expected: (587, .starttls)),
        Case(provider: "mailgun", port: nil, security: .tls, expected: (465, .tls)),
        // Both given: kept when they can work, refused on a well-known port when they cannot.
        Case(provider: nil, port: 2465, security: .tls, expected: (2465, .tls)),
        Case(provider: nil, port: 1025, security: AccountSecurity.none, expected: (1025, .none)),
        Case(provider: nil, port: 465, security: .starttls, expected: nil),
        Case(provider: nil, port: 465, security: AccountSecurity.none, expected: nil),
        Case(provider: nil, port: 587, security: .tls, expected: nil),
        Case(provider: "qq", port: 25, security: .tls, expected: nil),
    ])
    func portAndSecurityFollowEachOtherAndContradictionsAreRefused(_ example: Case) throws {
        do {
            let settings = try AccountSettings.forNewAccount(
                provider: example.provider, region: nil, host: example.provider == nil ? "smtp.example.com" : nil, port: example.port,
                security: example.security, name: "a", email: "a@example.com", displayName: nil)
            let expected = try #require(example.expected, "stored \(settings.smtpPort)/\(settings.security), expected a refusal")
            #expect(settings.smtpPort == expected.port && settings.security == expected.security)
        } catch let error as DeliveryError {
            #expect(example.expected == nil, "refused: \(error.message)")
            #expect(error.code == "delivery.security_contradicts_port" && error.message.contains("port \(example.port ?? 0)"))
        }
    }
}
