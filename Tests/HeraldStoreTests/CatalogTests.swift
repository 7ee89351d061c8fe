import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Templates, API keys, events and suppressions")
struct CatalogTests {
    @Test(arguments: StoreBackendKind.allCases)
    func templatesVersionAndFallBackByLocale(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let first = try await store.saveTemplate(TemplateContent(code: "test_email", subject: "Notice - {{timestamp}}", text: "v1"))
            #expect(first.version == 1)
            let second = try await store.saveTemplate(
                TemplateContent(code: "test_email", subject: "【测试】系统通知 - {{timestamp}}", text: "v2", html: "<p>v2</p>"))
            #expect(second.version == 2 && second.text == "v2" && second.html == "<p>v2</p>")
            _ = try await store.saveTemplate(TemplateContent(code: "test_email", locale: "zh", subject: "中文"))
            #expect(try await store.template(code: "test_email", channel: "email", locale: "zh-CN")?.subject == "中文")
            #expect(try await store.template(code: "test_email", channel: "email", locale: "en-GB")?.subject == "【测试】系统通知 - {{timestamp}}")
            #expect(try await store.template(code: "test_email", channel: "email", locale: "")?.version == 2)
            #expect(try await store.template(code: "missing", channel: "email", locale: "") == nil)
            #expect(try await store.templates().count == 2)
            #expect(try await store.deleteTemplate(code: "test_email", channel: "email", locale: "zh") == 1)
            #expect(try await store.deleteTemplate(code: "test_email", channel: "email", locale: nil) == 1)
            #expect(try await store.templates().isEmpty)
        }
    }

    /// BCP 47 tags are case-insensitive, and zh_CN is a common spelling: each names one variant.
    @Test(arguments: StoreBackendKind.allCases)
    func localesCompareWithoutRegardToCaseOrUnderscore(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let saved = try await store.saveTemplate(TemplateContent(code: "t", locale: "zh_hant_tw", subject: "繁體"))
            #expect(saved.locale == "zh-Hant-TW", "kept in its canonical form")
            let again = try await store.saveTemplate(TemplateContent(code: "t", locale: "ZH-HANT-TW", subject: "繁體 2"))
            #expect(again.version == 2, "the same variant, replaced")
            _ = try await store.saveTemplate(TemplateContent(code: "t", locale: "EN", subject: "English"))
            #expect(try await store.template(code: "t", channel: "email", locale: "zh-hant-tw")?.subject == "繁體 2")
            #expect(try await store.template(code: "t", channel: "email", locale: "zh_Hant_TW_x")?.subject == "繁體 2", "falls back")
            #expect(try await store.template(code: "t", channel: "email", locale: "en_us")?.subject == "English")
            #expect(try await store.template(code: "t", channel: "email", locale: "fr") == nil, "no default variant")
            #expect(try await store.deleteTemplate(code: "t", channel: "email", locale: "Zh-Hant-Tw") == 1)
            #expect(try await store.templates().map(\.locale) == ["en"])
        }
    }

    @Test func canonicalLocalesFollowBCP47Casing() {
        #expect(TemplateLocale.canonical("ZH_cn") == "zh-CN")
        #expect(TemplateLocale.canonical("sr-latn-rs") == "sr-Latn-RS")
        #expect(TemplateLocale.canonical("es-419") == "es-419")
        #expect(TemplateLocale.canonical("") == "")
        #expect(TemplateLocale.fallbacks("zh-Hant-TW") == ["zh-Hant-TW", "zh-Hant", "zh", ""])
        #expect(TemplateLocale.isWellFormed("zh_CN") && TemplateLocale.isWellFormed(""))
        #expect(!TemplateLocale.isWellFormed("en US") && !TemplateLocale.isWellFormed("../x") && !TemplateLocale.isWellFormed("-en"))
    }

    @Test(arguments: StoreBackendKind.allCases)
    func apiKeysAreFoundByHashUntilRevoked(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let key = try await store.createAPIKey(name: "ci", prefix: "hk_ab12", hash: "sha256:abc", scopes: [.send, .read])
            #expect(key.scopes == [.send, .read])
            #expect(try await store.apiKey(hash: "sha256:abc")?.id == key.id)
            #expect(try await store.apiKey(hash: "sha256:other") == nil)
            try await store.revokeAPIKey(id: key.id)
            #expect(try await store.apiKey(hash: "sha256:abc") == nil)
            #expect(try await store.apiKeys().first?.revokedAt != nil)
            await #expect(throws: StoreError.self) { try await store.revokeAPIKey(id: key.id) }
        }
    }

    /// Two admin keys revoked at once, each keeping an admin: one revocation wins, the other
    /// sees the last admin key and is refused. Without the lock, each saw the other's key live.
    @Test(arguments: StoreBackendKind.allCases)
    func revocationsAtOnceLeaveAnAdminKey(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            for round in 0..<20 {
                let first = try await store.createAPIKey(name: "a", prefix: "hk_a\(round)", hash: "a\(round)", scopes: [.admin])
                let second = try await store.createAPIKey(name: "b", prefix: "hk_b\(round)", hash: "b\(round)", scopes: [.admin, .send])
                let outcomes = await withTaskGroup(of: StoreError.Code?.self) { group in
                    for id in [first.id, second.id] {
                        group.addTask {
                            do {
                                try await store.revokeAPIKey(id: id, keepingAnAdmin: true)
                                return nil
                            } catch {
                                return (error as? StoreError)?.code ?? .database
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 == nil }.count == 1 && outcomes.contains(.invalidState), "round \(round): \(outcomes)")
                let live = try await store.apiKeys().filter { $0.revokedAt == nil }
                #expect(live.count == 1, "round \(round)")
                try await store.revokeAPIKey(id: try #require(live.first).id)
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func eventsAreReadInOrderAfterACursor(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let first = try await store.appendEvent(kind: "account.breaker_opened", messageID: nil, accountID: 4, data: ["error": "tls"])
            let second = try await store.appendEvent(kind: "alert", messageID: 9, accountID: nil, data: [:])
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == [first.id, second.id])
            let after = try await store.events(after: first.id, limit: 10)
            #expect(after.map(\.kind) == ["alert"])
            #expect(first.data == ["error": "tls"] && first.accountID == 4)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func suppressionsMatchWithoutCase(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            try await store.suppress(address: "Bounce@Example.com", reason: "hard_bounce", source: "smtp 550")
            try await store.suppress(address: "bounce@example.com", reason: "complaint", source: nil)
            let found = try await store.suppressions(among: ["BOUNCE@example.com", "ok@example.com"])
            #expect(found.map(\.address) == ["bounce@example.com"])
            #expect(found.first?.reason == "complaint")
            try await store.suppress(address: "a@example.com", reason: "unsubscribed", source: "api")
            try await store.suppress(address: "c@example.com", reason: "complaint", source: nil)
            let first = try await store.suppressions(after: nil, limit: 2)
            #expect(first.map(\.address) == ["a@example.com", "bounce@example.com"], "address order, a page at a time")
            #expect(try await store.suppressions(after: first.last?.address, limit: 2).map(\.address) == ["c@example.com"])
            #expect(try await store.unsuppress(address: "bounce@EXAMPLE.com"))
            #expect(try await store.unsuppress(address: "bounce@example.com") == false, "already off the list")
            #expect(try await store.suppressions(among: ["bounce@example.com"]).isEmpty)
        }
    }
}
