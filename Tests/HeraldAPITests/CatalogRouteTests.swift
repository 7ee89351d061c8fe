import Foundation
import HTTPTypes
import HeraldAPI
import HeraldTestSupport
import Logging
import NIOConcurrencyHelpers
import Prometheus
import Testing

@_spi(Delivery) @testable import HeraldStore

/// Templates, accounts and stats.
@Suite struct CatalogRouteTests {
    @Test func templatesAreCreatedReplacedPreviewedAndDeleted() async throws {
        try await APIHarness.withAPI { api, _ in
            let body = #"{"code": "welcome", "subject": "Hi {{name}}", "text": "Hello {{name}}", "html": "<p>Hello {{name}}</p>"}"#
            #expect(try await api.call(.post, "/api/v1/templates", body: body).status == .created)
            #expect(try await api.call(.post, "/api/v1/templates", body: body).status == .conflict)
            let chinese = #"{"code": "welcome", "locale": "zh", "subject": "你好 {{name}}", "text": "你好"}"#
            #expect(try await api.call(.post, "/api/v1/templates", body: chinese).status == .created)
            let preview = try await api.call(
                .post, "/api/v1/templates/welcome/preview", body: #"{"template_variables": {"name": "<Tom & Jerry>"}}"#)
            #expect(preview.data["subject"] as? String == "Hi <Tom & Jerry>", "no escaping outside HTML")
            #expect(preview.data["text"] as? String == "Hello <Tom & Jerry>")
            #expect(preview.data["html"] as? String == "<p>Hello &lt;Tom &amp; Jerry&gt;</p>", "escaped in HTML only")
            let localized = try await api.call(
                .post, "/api/v1/templates/welcome/preview", body: #"{"template_variables": {"name": "李"}, "locale": "zh-CN"}"#)
            #expect(
                localized.data["subject"] as? String == "你好 李" && localized.data["locale"] as? String == "zh", "falls back to the language")
            let missing = try await api.call(.post, "/api/v1/templates/welcome/preview", body: #"{}"#)
            #expect(missing.code == 42201 && missing.fields == ["template_variables.name"])

            let replaced = try await api.call(.put, "/api/v1/templates/welcome", body: #"{"subject": "Hey {{name}}", "text": "x"}"#)
            #expect(replaced.status == .ok && replaced.data["version"] as? Int == 2)
            // A PUT to a code that had no template creates it, and answers as a creation.
            let put = try await api.call(.put, "/api/v1/templates/put_made", body: #"{"subject": "s", "text": "x"}"#)
            #expect(put.status == .created && put.data["version"] as? Int == 1 && put.json["message"] as? String == "Template created")
            #expect(try await api.call(.delete, "/api/v1/templates/put_made").status == .ok)
            let afterUpdate = try await api.call(
                .post, "/api/v1/templates/welcome/preview", body: #"{"template_variables": {"name": "Tom"}}"#)
            #expect(afterUpdate.data["subject"] as? String == "Hey Tom", "the updated template renders, not a cached one")
            // A subject that is two lines would fail every send, blaming the variables: refused when saved.
            let twoLines = try await api.call(.put, "/api/v1/templates/welcome", body: #"{"subject": "Hi\n{{name}}", "text": "x"}"#)
            #expect(twoLines.status == .unprocessableContent && twoLines.fields == ["subject"], "\(twoLines.text)")
            #expect(twoLines.text.contains("one line"), "\(twoLines.text)")
            // A partial would render as nothing (Herald has none): refused, naming the tag and the part.
            let partial = try await api.call(
                .put, "/api/v1/templates/welcome", body: #"{"subject": "s", "html": "{{> footer }} <p>x</p>"}"#)
            #expect(partial.status == .unprocessableContent && partial.fields == ["html"], "\(partial.text)")
            #expect(partial.text.contains("uses {{> footer}}, a partial"), "\(partial.text)")
            let parent = try await api.call(.put, "/api/v1/templates/welcome", body: #"{"subject": "s", "text": "{{<layout}}{{/layout}}"}"#)
            #expect(parent.status == .unprocessableContent && parent.fields == ["text"], "\(parent.text)")
            let broken = try await api.call(.put, "/api/v1/templates/welcome", body: #"{"subject": "{{#open}}", "text": "x"}"#)
            #expect(broken.status == .unprocessableContent && broken.fields == ["subject"])
            #expect(broken.text.contains("line 1, column") && broken.text.contains("not closed"), "in words: \(broken.text)")
            #expect(!broken.text.contains("MustacheParserContext"), "not Swift's description of the error")
            #expect(try await api.call(.get, "/api/v1/templates/welcome").data["subject"] as? String == "Hey {{name}}")
            #expect(((try await api.call(.get, "/api/v1/templates")).data["templates"] as? [Any])?.count == 2)
            #expect(try await api.call(.delete, "/api/v1/templates/welcome").data["deleted"] as? Int == 2)
            #expect(try await api.call(.get, "/api/v1/templates/welcome").status == .notFound)
            // Created again under the same code, it starts at version 1 again: still its own content.
            #expect(
                try await api.call(.post, "/api/v1/templates", body: #"{"code": "welcome", "subject": "Again {{name}}", "text": "x"}"#)
                    .status == .created)
            let recreated = try await api.call(
                .post, "/api/v1/templates/welcome/preview", body: #"{"template_variables": {"name": "Tom"}}"#)
            #expect(recreated.data["subject"] as? String == "Again Tom")
        }
    }

    /// A template with locale variants and no default: a locale none answers is named as such,
    /// with the variants there are, not reported as a missing template.
    @Test func aLocaleNoVariantAnswersSaysWhichVariantsThereAre() async throws {
        try await APIHarness.withAPI { api, _ in
            for (locale, subject) in [("en", "Hi {{name}}"), ("zh-cn", "你好 {{name}}")] {
                let body = #"{"code": "w", "locale": "\#(locale)", "subject": "\#(subject)", "text": "x"}"#
                #expect(try await api.call(.post, "/api/v1/templates", body: body).status == .created)
            }
            let duplicate = #"{"code": "w", "locale": "ZH_CN", "subject": "again", "text": "x"}"#
            #expect(try await api.call(.post, "/api/v1/templates", body: duplicate).status == .conflict, "the same variant")
            let spaced = #"{"code": "w", "locale": "en US", "subject": "s", "text": "x"}"#
            #expect(try await api.call(.post, "/api/v1/templates", body: spaced).fields == ["locale"])

            let chinese = try await api.call(
                .post, "/api/v1/templates/w/preview", body: #"{"template_variables": {"name": "李"}, "locale": "ZH-CN"}"#)
            #expect(chinese.data["subject"] as? String == "你好 李" && chinese.data["locale"] as? String == "zh-CN")
            let french = try await api.call(
                .post, "/api/v1/templates/w/preview", body: #"{"template_variables": {"name": "Li"}, "locale": "fr"}"#)
            #expect(french.status == .notFound)
            #expect(
                french.json["message"] as? String
                    == "locale fr matches no variant of template w, which has no default; its variants: en, zh-CN", "\(french.text)")
            let send = try await api.call(
                .post, "/api/v1/messages/email/send",
                body: #"{"to": "a@example.com", "template_code": "w", "template_variables": {"name": "Li"}}"#)
            #expect(send.status == .unprocessableContent && send.fields == ["locale"], "\(send.text)")
            #expect(send.text.contains("locale is needed: template w has no default variant; its variants: en, zh-CN"), "\(send.text)")
            let unknown = try await api.call(
                .post, "/api/v1/messages/email/send", body: #"{"to": "a@example.com", "template_code": "nope"}"#)
            #expect(unknown.fields == ["template_code"] && unknown.text.contains("template_code is not a known template: nope"))
        }
    }

    /// Objects and arrays in template_variables: sections and dotted names read into them, and a
    /// variable tag writes one as JSON, not as Swift's description of a dictionary.
    @Test func structuredVariablesRenderThroughSectionsAndAsJSON() async throws {
        try await APIHarness.withAPI { api, _ in
            let template = #"""
                {"code": "order", "subject": "Order {{order.id}}",
                 "text": "{{#items}}{{name}} x{{qty}};{{/items}}{{^none}} none{{/none}} {{#order}}{{id}}{{/order}} {{order}} {{tags}}",
                 "html": "<p>{{order}}</p>"}
                """#
            #expect(try await api.call(.post, "/api/v1/templates", body: template).status == .created)
            let preview = try await api.call(
                .post, "/api/v1/templates/order/preview",
                body: #"""
                    {"template_variables": {"order": {"id": 42, "note": "a<b"}, "tags": ["x", "y"], "none": [],
                     "items": [{"name": "pen", "qty": 2}, {"name": "ink", "qty": 1.5}]}}
                    """#)
            #expect(preview.data["subject"] as? String == "Order 42")
            #expect(preview.data["text"] as? String == #"pen x2;ink x1.5; none 42 {"id":42,"note":"a<b"} ["x","y"]"#)
            #expect(preview.data["html"] as? String == "<p>{&quot;id&quot;:42,&quot;note&quot;:&quot;a&lt;b&quot;}</p>")
        }
    }

    /// A template stored with a partial before they were refused is refused at the send, in
    /// words, instead of sending the message with that part left out.
    @Test func aStoredTemplateWithAPartialIsRefusedAtTheSend() async throws {
        try await APIHarness.withAPI { api, store in
            _ = try await store.saveTemplate(TemplateContent(code: "legacy", subject: "Hello", text: "{{> footer}}Body"))
            let sent = try await api.call(
                .post, "/api/v1/messages/email/send", body: #"{"to": ["a@example.com"], "template_code": "legacy"}"#)
            #expect(sent.status == .unprocessableContent && sent.code == 42202, "\(sent.text)")
            #expect(sent.text.contains("the template uses {{> footer}}, a partial"), "\(sent.text)")
            #expect(try await APIHarness.messageCount(store) == 0)
        }
    }

    @Test func aPasswordGivenToAccountsNeverComesBackOrReachesALogAndIsSealed() async throws {
        let lines = NIOLockedValueBox<[String]>([])
        let password = "qq-auth-code-9d2f7"
        let registry = PrometheusCollectorRegistry()
        try await APIHarness.withAPI(logger: MemoryLogHandler.logger(lines), metrics: registry) { api, store in
            let created = try await api.call(
                .post, "/api/v1/accounts",
                body:
                    #"{"name": "qq-main", "email": "1905985427@qq.com", "display_name": "系统通知", "provider": "qq", "password": "\#(password)"}"#
            )
            #expect(created.status == .created, "\(created.text)")
            #expect(created.data["has_password"] as? Bool == true && created.data["security"] as? String == "tls")
            #expect(created.data["smtp_host"] as? String == "smtp.qq.com" && created.data["health"] as? String == "closed")
            let id = try #require(created.data["id"] as? Int)
            var everything = created.text
            everything += try await api.call(.get, "/api/v1/accounts").text
            everything += try await api.call(.get, "/api/v1/accounts/\(id)").text
            everything += try await api.call(
                .put, "/api/v1/accounts/\(id)", body: #"{"name": "qq-main", "email": "1905985427@qq.com", "provider": "qq", "priority": 3}"#
            ).text
            everything += try await api.call(.post, "/api/v1/accounts/\(id)/enable").text
            everything += try await api.call(.get, "/api/v1/stats").text
            let metrics = try await api.call(.get, "/metrics", anonymous: true)
            // The test process shares one metrics system (bootstrapped elsewhere), so this registry may be empty;
            // metric labels are account names and classes, never secrets.
            #expect(metrics.status == .ok)
            everything += metrics.text
            #expect(!everything.contains(password), "no response shows the password")
            #expect(!lines.withLockedValue { $0 }.joined().contains(password), "no log line holds it")
            let stored = try await store.accountPassword(id: Int64(id))
            #expect(stored == password, "an update without password keeps it")
            let dump = try await APIHarness.rawSecret(store, id: Int64(id))
            #expect(!dump.contains(password), "sealed at rest")

            // An explicit null removes the password: the account then sends without AUTH.
            let cleared = try await api.call(
                .put, "/api/v1/accounts/\(id)",
                body: #"{"name": "qq-main", "email": "1905985427@qq.com", "provider": "qq", "password": null}"#)
            #expect(cleared.status == .ok && cleared.data["has_password"] as? Bool == false, "\(cleared.text)")
            #expect(try await store.accountPassword(id: Int64(id)) == nil)
        }
    }

    @Test func accountFieldsAreCheckedAndTheOriginalUseTLSFlagMapped() async throws {
        try await APIHarness.withAPI { api, _ in
            let mapped = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "legacy", "email": "a@example.com", "smtp_host": "smtp.example.com", "smtp_port": 465, "use_tls": true}"#)
            #expect(mapped.data["security"] as? String == "tls" && mapped.data["has_password"] as? Bool == false)
            #expect(mapped.data["username"] as? String == "a@example.com", "the username defaults to the email")
            let contradiction = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "bad", "email": "a@example.com", "smtp_host": "smtp.example.com", "smtp_port": 465, "use_tls": false}"#)
            #expect(contradiction.status == .unprocessableContent && contradiction.fields == ["use_tls"])
            #expect((contradiction.json["message"] as? String)?.contains("security=tls") == true)
            #expect(
                contradiction.text.contains("use_tls is false, which means security=starttls here: port 465 expects TLS"),
                "the reason reads after its field: \(contradiction.text)")
            // The same contradiction given as security, and its mirror on 587, are refused too.
            for (port, security) in [(465, "starttls"), (587, "tls")] {
                let body = #"{"name": "bad", "email": "a@example.com", "smtp_host": "smtp.example.com", "smtp_port": \#(port)"#
                let refused = try await api.call(.post, "/api/v1/accounts", body: body + #", "security": "\#(security)"}"#)
                #expect(refused.status == .unprocessableContent && refused.fields == ["security"], "\(refused.text)")
            }
            // A preset's port overridden brings that port's security, not the preset's.
            let gmail = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "gmail", "email": "a@gmail.com", "provider": "gmail", "smtp_port": 587}"#)
            #expect(gmail.data["security"] as? String == "starttls" && gmail.data["smtp_port"] as? Int == 587, "\(gmail.text)")
            let invalid = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "", "email": "nope", "smtp_host": "smtp example", "smtp_port": 70000, "security": "ssl"}"#)
            #expect(
                invalid.status == .unprocessableContent && Set(invalid.fields) == ["security", "name", "email", "smtp_port", "smtp_host"])
            // A preset that cannot be resolved is one problem among the others, not the only one named.
            let unknown = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "p", "email": "nope", "provider": "nosuch", "weight": 0}"#)
            #expect(Set(unknown.fields) == ["provider", "email", "weight"], "\(unknown.text)")
            #expect(unknown.text.contains("is not a known preset; known: 126, 163"), "\(unknown.text)")
            let ses = try await api.call(.post, "/api/v1/accounts", body: #"{"name": "s", "email": "a@example.com", "provider": "ses"}"#)
            #expect(ses.status == .unprocessableContent && ses.fields == ["region"], "\(ses.text)")
            let fields = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "", "email": "nope", "smtp_host": "smtp example", "smtp_port": 70000}"#)
            #expect(Set(fields.fields) == ["name", "email", "smtp_port", "smtp_host"])
            // A missing host does not hide a bad port: one answer lists both.
            let hostless = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "p", "email": "a@example.com", "smtp_host": "", "smtp_port": 70000}"#)
            #expect(Set(hostless.fields) == ["smtp_host", "smtp_port"], "\(hostless.text)")
            // Routing rules that could match nothing are refused; a list left out is empty.
            let rules = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "r", "email": "a@example.com", "smtp_host": "h", "#
                    + #""routing": {"from_domains": ["not a domain", "shop.example"], "tags": [""]}}"#)
            #expect(Set(rules.fields) == ["routing.from_domains[0]", "routing.tags[0]"], "\(rules.text)")
            let tagsOnly = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "r", "email": "a@example.com", "smtp_host": "h", "routing": {"tags": ["billing"]}}"#)
            #expect(tagsOnly.status == .created, "\(tagsOnly.text)")
            #expect((tagsOnly.data["routing"] as? [String: Any])?["from_domains"] as? [String] == [], "\(tagsOnly.text)")
            let fraction = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "p", "email": "a@example.com", "smtp_host": "h", "smtp_port": 465.5}"#)
            #expect(fraction.status == .unprocessableContent && fraction.fields == ["smtp_port"], "\(fraction.text)")
            #expect(
                try await api.call(.post, "/api/v1/accounts", body: #"{"name": "legacy", "email": "a@example.com", "smtp_host": "h"}"#)
                    .status == .conflict)
            #expect(try await api.call(.get, "/api/v1/accounts/424242").status == .notFound)
            // An empty host with a provider is no host: the preset's, not an account that cannot connect.
            let preset = try await api.call(
                .post, "/api/v1/accounts", body: #"{"name": "qq", "email": "1905985427@qq.com", "provider": "qq", "smtp_host": ""}"#)
            #expect(preset.data["smtp_host"] as? String == "smtp.qq.com" && preset.data["smtp_port"] as? Int == 465, "\(preset.text)")
            // A display name goes into every From header: a line break there is refused with the
            // other problems, and so is a CA that is not a certificate, before the first send finds them.
            let header = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "h", "email": "a@example.com", "display_name": "Shop\r\nBcc: x@example.net", "smtp_host": "h", "#
                    + #""tls_ca_pem": "not a certificate", "weight": 0}"#)
            #expect(Set(header.fields) == ["display_name", "tls_ca_pem", "weight"], "\(header.text)")
            #expect(try await api.call(.get, "/api/v1/accounts").text.contains(#""name":"h""#) == false, "nothing was stored")
            let ca = try TestCertificates().caPEM
            let trusted = try await api.call(
                .post, "/api/v1/accounts",
                body: String(
                    decoding: try JSONSerialization.data(
                        withJSONObject: ["name": "private-ca", "email": "a@example.com", "smtp_host": "h", "tls_ca_pem": ca]),
                    as: UTF8.self))
            #expect(trusted.status == .created && trusted.data["tls_ca_pem"] as? String == ca, "\(trusted.text)")
            let id = try #require(mapped.data["id"] as? Int)
            #expect(try await api.call(.delete, "/api/v1/accounts/\(id)").status == .ok)
            #expect(try await api.call(.delete, "/api/v1/accounts/\(id)").status == .notFound)
        }
    }

    @Test func anOpenedAccountIsEnabledThroughTheAPIAndStatsShowIt() async throws {
        try await APIHarness.withAPI { api, store in
            let created = try await api.call(
                .post, "/api/v1/accounts",
                body: #"{"name": "main", "email": "a@example.com", "smtp_host": "smtp.example.com", "per_minute_limit": 60}"#)
            let id = Int64(try #require(created.data["id"] as? Int))
            _ = try await store.changeAccountHealth(id: id) { current, now in
                AccountHealthUpdate(
                    health: .open, failureCount: 5, openedUntil: now.addingTimeInterval(600), breakerTrips: 1,
                    lastErrorCode: "smtp.tls_expected", lastError: "expects TLS")
            }
            let stats = try await api.call(.get, "/api/v1/stats")
            let accounts = stats.data["accounts"] as? [[String: Any]] ?? []
            let main = try #require(accounts.first { $0["name"] as? String == "main" })
            #expect(main["health"] as? String == "open" && main["failure_count"] as? Int == 5 && main["per_minute_limit"] as? Int == 60)
            #expect((stats.data["windows"] as? [String: Any])?.keys.sorted() == ["1h", "24h", "7d"])
            let enabled = try await api.call(.post, "/api/v1/accounts/\(id)/enable")
            #expect(enabled.data["health"] as? String == "closed" && enabled.data["failure_count"] as? Int == 0)
            #expect(enabled.data["last_error_code"] as? String == "smtp.tls_expected", "kept for the record")
        }
    }
}

extension APIHarness {
    /// The sealed secret column as text, to prove the password is not stored in the clear.
    static func rawSecret(_ store: any Store, id: Int64) async throws -> String {
        guard let store = store as? SQLiteStore else { return "" }
        let row = try await store.backend.read { try await $0.query("SELECT secret FROM email_accounts WHERE id = ?", [.integer(id)]) }
            .first
        return String(decoding: row?.bytes("secret") ?? [], as: UTF8.self)
    }
}
