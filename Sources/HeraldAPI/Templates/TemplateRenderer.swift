import Foundation
import HeraldStore
import Mustache
import NIOConcurrencyHelpers

/// A template rendered for one message.
public struct RenderedContent: Sendable, Hashable {
    public var subject: String
    public var text: String?
    public var html: String?
}

/// Renders templates with Mustache: variables are HTML-escaped in the HTML body only; the subject
/// and the text body get them as they are. Strict by default: a variable the template uses
/// outside any section and the request does not give is an error naming it.
public struct TemplateRenderer: Sendable {
    public var strict: Bool
    private let cache = Cache()

    public init(strict: Bool = true) {
        self.strict = strict
    }

    /// A parse error in words, with where it is: "line 1, column 10: a section is not closed".
    static func describe(_ error: any Error) -> String {
        guard let parse = error as? MustacheTemplate.ParserError else { return "it could not be parsed" }
        let what: String
        switch parse.error as? MustacheTemplate.Error {
        case .sectionCloseNameIncorrect: what = "a section is closed with another name than it was opened with"
        case .unfinishedName: what = "a tag is not finished (a name, then }})"
        case .expectedSectionEnd: what = "a section is not closed ({{/name}})"
        case .invalidSetDelimiter: what = "a set-delimiter tag is malformed"
        case .transformAppliedToInheritanceSection: what = "a transform is applied to an inheritance section"
        case .illegalTokenInsideInheritSection, .textInsideInheritSection: what = "an inheritance section holds something it may not"
        case .invalidConfigVariableSyntax, .unrecognisedConfigVariable: what = "a configuration tag is not understood"
        case nil: what = "it could not be parsed"
        }
        return "line \(parse.context.lineNumber), column \(parse.context.columnNumber): \(what)"
    }

    /// Checks that every part of a template parses; the error names the part.
    public static func validate(subject: String, text: String?, html: String?) throws(APIError) {
        for (field, source) in [("subject", subject), ("text", text), ("html", html)] {
            guard let source else { continue }
            do {
                _ = try MustacheTemplate(string: source)
            } catch {
                throw APIError.validation([.init(field: field, reason: "is not a valid Mustache template: \(Self.describe(error))")])
            }
            if let problem = unsupported(source) { throw APIError.validation([.init(field: field, reason: problem)]) }
        }
    }

    public func render(_ template: TemplateRecord, variables: [String: JSONValue]) throws(APIError) -> RenderedContent {
        let key = Cache.Key.stored(
            code: template.code, channel: template.channel, locale: template.locale, version: template.version,
            createdAt: template.createdAt)
        return try render(subject: template.subject, text: template.text, html: template.html, key: key, variables: variables)
    }

    public func render(subject: String, text: String?, html: String?, variables: [String: JSONValue]) throws(APIError) -> RenderedContent {
        try render(subject: subject, text: text, html: html, key: .inline(subject: subject, text: text, html: html), variables: variables)
    }

    private func render(
        subject: String, text: String?, html: String?, key: Cache.Key, variables: [String: JSONValue]
    ) throws(APIError) -> RenderedContent {
        let compiled: Compiled
        do {
            compiled = try cache.compiled(subject: subject, text: text, html: html, key: key)
        } catch let error as Unsupported {
            throw APIError(.templateInvalid, "the template \(error.description)")
        } catch {
            throw APIError(.templateInvalid, "the template could not be parsed: \(error)")
        }
        if strict {
            let missing = compiled.variables.filter { !Self.resolves($0, in: variables) }
            if !missing.isEmpty {
                throw APIError(
                    .templateVariableMissing,
                    "the template needs \(missing.count == 1 ? "the variable" : "the variables") \(missing.joined(separator: ", ")), "
                        + "missing from template_variables",
                    fields: missing.map { .init(field: "template_variables.\($0)", reason: "is required by the template") })
            }
        }
        let values = variables.mapValues(\.mustacheValue)
        return RenderedContent(
            subject: compiled.subject.render(values).trimmingWhitespace(),
            text: compiled.text?.render(values), html: compiled.html?.render(values))
    }

    /// A template that parses but cannot be rendered as written (`TemplateRenderer.unsupported`).
    struct Unsupported: Error, CustomStringConvertible {
        var description: String
    }

    /// A template's parts parsed once, with the variables strict mode checks.
    struct Compiled: Sendable {
        var subject: MustacheTemplate
        var text: MustacheTemplate?
        var html: MustacheTemplate?
        var variables: [String]
    }

    /// Parsed templates by their source, so that a busy template is parsed once, not per message.
    final class Cache: Sendable {
        /// A stored template by its identity and version (cheap to hash, unlike its text, which
        /// may need Unicode normalisation for every lookup); inline content by its text.
        enum Key: Hashable {
            case stored(code: String, channel: String, locale: String, version: Int, createdAt: Date)
            case inline(subject: String, text: String?, html: String?)
        }

        private let entries = NIOLockedValueBox<[Key: Compiled]>([:])

        func compiled(subject: String, text: String?, html: String?, key: Key) throws -> Compiled {
            if let hit = entries.withLockedValue({ $0[key] }) { return hit }
            // A template saved before partials were refused says so at the send.
            if let problem = [subject, text ?? "", html ?? ""].lazy.compactMap(TemplateRenderer.unsupported).first {
                throw Unsupported(description: problem)
            }
            var seen = Set<String>()
            let variables = [subject, text ?? "", html ?? ""].flatMap(TemplateRenderer.topLevelVariables).filter {
                seen.insert($0).inserted
            }
            let compiled = Compiled(
                subject: try TemplateRenderer.compile(subject, html: false),
                text: try text.map { try TemplateRenderer.compile($0, html: false) },
                html: try html.map { try TemplateRenderer.compile($0, html: true) }, variables: variables)
            entries.withLockedValue { entries in
                if entries.count > 1_000 { entries.removeAll() }
                entries[key] = compiled
            }
            return compiled
        }
    }

    static func compile(_ source: String, html: Bool) throws -> MustacheTemplate {
        try MustacheTemplate(string: (html ? "" : "{{% CONTENT_TYPE: TEXT}}") + source)
    }

    /// The insides of a template's tags, trimmed (`#items`, `name`, `> header`; a triple
    /// mustache's without its braces), in order; nil when the template changes its delimiters.
    static func tags(_ source: String) -> [String]? {
        var tags: [String] = []
        var rest = Substring(source)
        while let open = rest.range(of: "{{") {
            rest = rest[open.upperBound...]
            let triple = rest.first == "{"
            if triple { rest = rest.dropFirst() }
            guard let close = rest.range(of: triple ? "}}}" : "}}") else { break }
            let tag = rest[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            if tag.first == "=" { return nil }
            tags.append(tag)
        }
        return tags
    }

    /// Names of variable tags (`{{x}}`, `{{{x}}}`, `{{&x}}`) outside every section: the ones whose
    /// absence is a mistake rather than a falsy section. Templates that change delimiters are not checked.
    static func topLevelVariables(_ source: String) -> [String] {
        var names: [String] = []
        var depth = 0
        for var tag in tags(source) ?? [] {
            guard let sigil = tag.first else { continue }
            switch sigil {
            case "#", "^", "$", "<": depth += 1
            case "/": depth = max(0, depth - 1)
            case "!", ">", "%": continue
            default:
                if sigil == "&" { tag = tag.dropFirst().trimmingCharacters(in: .whitespaces) }
                if depth == 0 && tag != "." && !tag.isEmpty { names.append(tag) }
            }
        }
        return names
    }

    /// Why a template cannot be used as written, beyond parsing: a partial or a parent
    /// (`{{> name}}`, `{{< name}}`), which Mustache would render as nothing, since Herald has no
    /// library of partials. Nil when there is nothing to say.
    static func unsupported(_ source: String) -> String? {
        guard let tag = tags(source)?.first(where: { $0.first == ">" || $0.first == "<" }) else { return nil }
        return "uses {{\(tag)}}, a partial, and Herald has none: it would render as nothing; put that text in the template itself"
    }

    static func resolves(_ name: String, in variables: [String: JSONValue]) -> Bool {
        var current: JSONValue = .object(variables)
        for part in name.split(separator: ".") {
            guard case .object(let object) = current, let next = object[String(part)] else { return false }
            current = next
        }
        return true
    }
}
