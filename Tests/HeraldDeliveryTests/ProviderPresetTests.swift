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
