import Foundation
import HeraldMIME
import HeraldStore
import Hummingbird

/// `/api/v1/templates`: create, read, replace, delete by `code` (and `locale`), and preview.
struct TemplateRoutes {
    let store: any Store
    let renderer: TemplateRenderer
    let catalog: CatalogCache

    func register(read: RouterGroup<HeraldRequestContext>, admin: RouterGroup<HeraldRequestContext>) {
        read.get("templates", use: list)
        read.get("templates/:code", use: show)
        read.post("templates/:code/preview", use: preview)
        admin.post("templates", use: create)
        admin.put("templates/:code", use: replace)
        admin.delete("templates/:code", use: delete)
    }

    struct TemplateInput: Decodable {
        var code: String?
        var locale: String?
        var subject: String
        var text: String?
        var html: String?
    }

    struct TemplateView: Encodable {
        var code, locale, subject: String
        var text, html: String?
        var version: Int
        var createdAt, updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case code, locale, subject, text, html, version
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ record: TemplateRecord) {
            code = record.code
            locale = record.locale
            subject = record.subject
            text = record.text
            html = record.html
            version = record.version
            createdAt = record.createdAt
            updatedAt = record.updatedAt
        }
    }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let input = try await request.json(TemplateInput.self, context: context).value
        guard let code = input.code else { throw APIError.validation([.init(field: "code", reason: "is required")]) }
        let content = try validated(input, code: code)
        if try await store.templates().contains(where: {
            $0.code == code && $0.channel == "email" && TemplateLocale.canonical($0.locale) == content.locale
        }) {
            throw APIError(
                .conflict, "the template \(code) already exists for this locale; use PUT /api/v1/templates/\(code) to replace it")
        }
        let saved = try await store.saveTemplate(content)
        catalog.forget()
        return JSONResponse.success(TemplateView(saved), message: "Template created", status: .created, requestID: context.requestID)
    }

    @Sendable func replace(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let code = try context.parameters.require("code")
        let input = try await request.json(TemplateInput.self, context: context).value
        if let other = input.code, other != code {
            throw APIError.validation([.init(field: "code", reason: "differs from the code in the path")])
        }
        let saved = try await store.saveTemplate(try validated(input, code: code))
        catalog.forget()
        // A PUT to a code (and locale) that had no template creates it, and says so as POST does.
        if saved.version == 1 {
            return JSONResponse.success(TemplateView(saved), message: "Template created", status: .created, requestID: context.requestID)
        }
        return JSONResponse.success(TemplateView(saved), message: "Template saved", requestID: context.requestID)
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let templates = try await store.templates().filter { $0.channel == "email" }.map(TemplateView.init)
        return JSONResponse.success(["templates": templates], requestID: context.requestID)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let code = try context.parameters.require("code")
        let locale = request.uri.queryParameters.get("locale") ?? ""
        guard let template = try await store.template(code: code, channel: "email", locale: locale) else {
            throw try await notFound(code, locale: locale)
        }
        return JSONResponse.success(TemplateView(template), requestID: context.requestID)
    }

    @Sendable func delete(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let code = try context.parameters.require("code")
        let deleted = try await store.deleteTemplate(code: code, channel: "email", locale: request.uri.queryParameters.get("locale"))
        catalog.forget()
        guard deleted > 0 else { throw APIError.notFound("template \(code)") }
        return JSONResponse.success(["deleted": deleted], message: "Template deleted", requestID: context.requestID)
    }

    struct PreviewInput: Decodable {
        var templateVariables: [String: JSONValue]?
        var locale: String?

        enum CodingKeys: String, CodingKey {
            case locale
            case templateVariables = "template_variables"
        }
    }

    @Sendable func preview(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let code = try context.parameters.require("code")
        let input = try await request.json(PreviewInput.self, context: context).value
        guard let template = try await store.template(code: code, channel: "email", locale: input.locale ?? "") else {
            throw try await notFound(code, locale: input.locale ?? "")
        }
        let rendered = try renderer.render(template, variables: input.templateVariables ?? [:])
        return JSONResponse.success(
            ["subject": rendered.subject, "text": rendered.text, "html": rendered.html, "locale": template.locale],
            requestID: context.requestID)
    }

    /// A 404 that says whether the template is missing or only the variant for `locale`.
    private func notFound(_ code: String, locale: String) async throws -> APIError {
        let missing = try await catalog.missingTemplate(code: code, locale: locale)
        return missing.field == "locale" ? APIError(.notFound, "locale \(missing.reason)") : APIError.notFound("template \(code)")
    }

    private func validated(_ input: TemplateInput, code: String) throws -> TemplateContent {
        var problems: [APIError.FieldError] = []
        if code.isEmpty || code.count > 128 || code.contains(where: { $0.isWhitespace || $0 == "/" }) {
            problems.append(.init(field: "code", reason: "must be 1 to 128 characters without spaces or /"))
        }
        if let locale = input.locale, !TemplateLocale.isWellFormed(locale) {
            problems.append(.init(field: "locale", reason: "must be a language tag such as zh-CN (letters, digits and -, at most 35)"))
        }
        if input.subject.isEmpty { problems.append(.init(field: "subject", reason: "must not be empty")) }
        // Refused here, not at every send, where it would read as the variables' fault.
        if !input.subject.isHeaderSafe {
            problems.append(.init(field: "subject", reason: "must be one line: CR, LF and NUL are not allowed"))
        }
        if input.text == nil && input.html == nil { problems.append(.init(field: "text", reason: "is required (or html)")) }
        if !problems.isEmpty { throw APIError.validation(problems) }
        try TemplateRenderer.validate(subject: input.subject, text: input.text, html: input.html)
        return TemplateContent(
            code: code, locale: TemplateLocale.canonical(input.locale ?? ""), subject: input.subject, text: input.text, html: input.html)
    }
}
