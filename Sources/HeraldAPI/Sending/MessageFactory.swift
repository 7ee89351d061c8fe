import Crypto
import Foundation
import HeraldDelivery
import HeraldMIME
import HeraldStore

/// Turns a send request into a stored message: validates every field (collecting every mistake),
/// renders the template, composes the MIME bytes (the Message-ID is fixed here, so a retry sends the
/// same one) and enqueues it. The HTTP API and `herald send` both go through it.
public struct MessageFactory: Sendable {
    /// What one message may carry.
    public struct Limits: Sendable {
        public var maxRecipients = 50
        public var maxAttachmentBytes = 10 * 1024 * 1024
        public var maxTotalAttachmentBytes = 20 * 1024 * 1024
        public var maxBodyCharacters = 5 * 1024 * 1024
        public var maxTags = 20
        public var maxMetadataEntries = 50
        public var defaultMaxAttempts = 8

        public init() {}
    }

    public let store: any Store
    public var limits: Limits
    public var renderer: TemplateRenderer
    let catalog: CatalogCache

    public init(store: any Store, limits: Limits = Limits(), renderer: TemplateRenderer = TemplateRenderer()) {
        self.init(store: store, limits: limits, renderer: renderer, catalog: CatalogCache(store: store))
    }

    init(store: any Store, limits: Limits, renderer: TemplateRenderer, catalog: CatalogCache) {
        self.store = store
        self.limits = limits
        self.renderer = renderer
        self.catalog = catalog
    }

    /// Who asked, for idempotency and tracing.
    public struct Origin: Sendable {
        public var requestID: String?
        public var apiKeyID: Int64?
        public var idempotencyKey: String?
        /// The raw request, hashed to tell a retried request from a different one under the same key.
        public var body: [UInt8]

        public init(requestID: String? = nil, apiKeyID: Int64? = nil, idempotencyKey: String? = nil, body: [UInt8] = []) {
            self.requestID = requestID
            self.apiKeyID = apiKeyID
            self.idempotencyKey = idempotencyKey
            self.body = body
        }
    }

    /// Validates, renders, composes and enqueues. Throws `APIError` for anything the client must fix.
    public func send(_ request: SendRequest, origin: Origin) async throws -> EnqueueResult {
        let message = try await make(request, origin: origin)
        return try await store.enqueue(message)
    }

    public func make(_ request: SendRequest, origin: Origin) async throws -> NewMessage {
        var problems: [APIError.FieldError] = []
        func check(_ condition: Bool, _ field: String, _ reason: String) {
            if !condition { problems.append(.init(field: field, reason: reason)) }
        }

        let to = mailboxes(request.to.addresses, field: "to", problems: &problems)
        let cc = mailboxes(request.cc?.addresses ?? [], field: "cc", problems: &problems)
        let bcc = mailboxes(request.bcc?.addresses ?? [], field: "bcc", problems: &problems)
        let replyTo = mailboxes(request.replyTo?.addresses ?? [], field: "reply_to", problems: &problems)
        check(!request.to.addresses.isEmpty, "to", "needs at least one recipient")
        let recipientCount = request.to.addresses.count + (request.cc?.addresses.count ?? 0) + (request.bcc?.addresses.count ?? 0)
        check(
            recipientCount <= limits.maxRecipients, "to",
            "must hold at most \(limits.maxRecipients) recipients, counting to, cc and bcc together")

        let usesTemplate = request.templateCode != nil
        if usesTemplate {
            check(
                request.subject == nil && request.text == nil && request.html == nil, "template_code",
                "cannot be given with subject, text or html: give one or the other")
        } else {
            check(!(request.subject ?? "").isEmpty, "subject", "is required without template_code")
            check((request.subject ?? "").isHeaderSafe, "subject", "must be one line: CR, LF and NUL are not allowed")
            check(request.text != nil || request.html != nil, "text", "is required (or html) without template_code")
        }
        check(
            (request.text?.count ?? 0) + (request.html?.count ?? 0) <= limits.maxBodyCharacters, "text",
            "is too large: text and html together take at most \(limits.maxBodyCharacters) characters")
        if let priority = request.priority { check((0...9).contains(priority), "priority", "must be 0 (first) to 9") }
        if let attempts = request.maxAttempts { check((1...50).contains(attempts), "max_attempts", "must be 1 to 50") }
        let sendAt = time(request.sendAt, field: "send_at", problems: &problems)
        let expiresAt = time(request.expiresAt, field: "expires_at", problems: &problems)
        if let sendAt, let expiresAt { check(expiresAt > sendAt, "expires_at", "must be after send_at") }
        if let expiresAt { check(expiresAt > Date(), "expires_at", "is in the past") }
        let tags = request.tags ?? []
        check(tags.count <= limits.maxTags, "tags", "must hold at most \(limits.maxTags)")
        for (index, tag) in tags.enumerated() {
            check(
                !tag.isEmpty && tag.count <= 64 && tag.allSatisfy { !$0.isNewline }, "tags[\(index)]",
                "must be 1 to 64 characters on one line")
        }
        let metadata = request.metadata ?? [:]
        check(metadata.count <= limits.maxMetadataEntries, "metadata", "must hold at most \(limits.maxMetadataEntries) entries")
        for (key, value) in metadata where key.isEmpty || key.count > 64 || value.count > 1024 {
            problems.append(.init(field: "metadata.\(key)", reason: "must have a key of 1 to 64 characters and a value of at most 1024"))
        }
        var headers: [Header] = []
        for (name, value) in (request.headers ?? [:]).sorted(by: { $0.key < $1.key }) {
            do {
                headers.append(try Header(name: name, value: value))
            } catch {
                problems.append(.init(field: "headers.\(name)", reason: "cannot be sent: \(error.message)"))
            }
        }
        let attachments = self.attachments(request.attachments ?? [], problems: &problems)
        if !problems.isEmpty { throw APIError.validation(problems) }

        // The sender: an explicit From, else the account the message is meant for.
        var account: AccountRecord?
        if let name = request.fromAccount {
            guard let named = try await catalog.accounts().first(where: { $0.name == name }) else {
                throw APIError.validation([.init(field: "from_account", reason: "is not a known account: \(name)")])
            }
            account = named
        } else if request.from == nil {
            account = try await catalog.likelyAccount(tags: tags)
        }
        let from: Mailbox
        if let text = request.from {
            do {
                from = try Mailbox(parsing: text)
            } catch {
                throw APIError.validation([.init(field: "from", reason: "is not a valid mailbox: \(error.rule ?? error.message)")])
            }
        } else if let account {
            do {
                from = try Mailbox(EmailAddress(account.email), displayName: account.displayName)
            } catch {
                throw APIError(.validationFailed, "the account \(account.name) has an invalid address; give from")
            }
        } else {
            throw APIError.validation([.init(field: "from", reason: "is required: there is no active account to send from")])
        }

        // The content: a template rendered with its variables, or inline.
        var rendered: RenderedContent
        if let code = request.templateCode {
            guard let template = try await catalog.template(code: code, locale: request.locale ?? "") else {
                throw APIError.validation([try await catalog.missingTemplate(code: code, locale: request.locale ?? "")])
            }
            rendered = try renderer.render(template, variables: request.templateVariables ?? [:])
            if !rendered.subject.isHeaderSafe {
                throw APIError.validation([
                    .init(field: "template_variables", reason: "put CR, LF or NUL into the subject, which must be one line")
                ])
            }
        } else {
            rendered = RenderedContent(subject: request.subject ?? "", text: request.text, html: request.html)
        }

        var email = Email(from: from, to: to, cc: cc, bcc: bcc, subject: rendered.subject, text: rendered.text, html: rendered.html)
        email.replyTo = replyTo
        email.headers = headers
        email.attachments = attachments
        let composed: ComposedMessage
        do {
            composed = try MessageComposer().compose(email)
        } catch {
            throw APIError(.validationFailed, "the message cannot be composed: \(error.message)")
        }

        let variables = request.templateVariables.map { JSONValue.object($0).jsonText }
        return NewMessage(
            requestID: origin.requestID, apiKeyID: origin.apiKeyID,
            idempotency: origin.idempotencyKey.map { Idempotency(key: $0, requestHash: Self.hash(origin.body)) },
            from: "\(from)", to: to.map { "\($0.address)" }, cc: cc.map { "\($0.address)" }, bcc: bcc.map { "\($0.address)" },
            subject: rendered.subject, templateCode: request.templateCode, templateVariables: variables, mime: composed.bytes,
            messageIDHeader: Self.withoutAngleBrackets(composed.messageID), fromAccount: request.fromAccount,
            priority: request.priority ?? 5, sendAt: sendAt,
            expiresAt: expiresAt, maxAttempts: request.maxAttempts ?? limits.defaultMaxAttempts, tags: tags, metadata: metadata)
    }

    /// `<id@host>` as `id@host`.
    static func withoutAngleBrackets(_ messageID: String) -> String {
        guard messageID.hasPrefix("<"), messageID.hasSuffix(">"), messageID.utf8.count >= 2 else { return messageID }
        return String(messageID.dropFirst().dropLast())
    }

    /// The account a message without `from_account` will most likely go through: the router's
    /// first choice ignoring health (a breaker that is open now may be closed by then).
    static func likelyAccount(_ accounts: [AccountRecord], tags: [String]) -> AccountRecord? {
        var healthy = accounts
        for index in healthy.indices {
            healthy[index].health = .closed
            healthy[index].throttledUntil = nil
        }
        return AccountRouter().plan(RoutingRequest(tags: tags), accounts: healthy, now: Date(), random: { 0.5 }).candidates.first
    }

    /// The fingerprint an Idempotency-Key is held to: SHA-256 of the body as canonical JSON (keys
    /// sorted, no spacing, escapes resolved), so that a retry which encodes the same request anew
    /// is still the same request. A body that does not parse is fingerprinted as it came.
    static func hash(_ body: [UInt8]) -> String {
        let canonical = (try? JSONSerialization.jsonObject(with: Data(body))).flatMap {
            try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes])
        }
        return APIKeyIssuer.hex(SHA256.hash(data: canonical ?? Data(body)))
    }

    private func mailboxes(_ texts: [String], field: String, problems: inout [APIError.FieldError]) -> [Mailbox] {
        var result: [Mailbox] = []
        for (index, text) in texts.enumerated() {
            do {
                result.append(try Mailbox(parsing: text))
            } catch {
                // The field names the address; the parser's sentence would repeat it, so its rule is used.
                problems.append(.init(field: "\(field)[\(index)]", reason: "is not a valid email address: \(error.rule ?? error.message)"))
            }
        }
        return result
    }

    private func time(_ text: String?, field: String, problems: inout [APIError.FieldError]) -> Date? {
        guard let text else { return nil }
        guard let date = APITime.parse(text) else {
            problems.append(.init(field: field, reason: "must be an ISO 8601 time such as 2025-10-25T17:05:00+08:00"))
            return nil
        }
        return date
    }

    private func attachments(_ inputs: [AttachmentInput], problems: inout [APIError.FieldError]) -> [Attachment] {
        var total = 0
        var result: [Attachment] = []
        for (index, input) in inputs.enumerated() {
            let field = "attachments[\(index)]"
            guard let data = Data(base64Encoded: input.content, options: .ignoreUnknownCharacters) else {
                problems.append(.init(field: "\(field).content", reason: "must be base64"))
                continue
            }
            total += data.count
            if data.count > limits.maxAttachmentBytes {
                problems.append(.init(field: field, reason: "is larger than \(limits.maxAttachmentBytes / 1_048_576) MB"))
                continue
            }
            do {
                result.append(
                    try Attachment(
                        filename: input.filename, contentType: input.contentType, data: Array(data),
                        disposition: input.contentID.map { .inline(contentID: $0) } ?? .attachment))
            } catch {
                problems.append(.init(field: field, reason: "cannot be attached: \(error.message)"))
            }
        }
        if total > limits.maxTotalAttachmentBytes {
            problems.append(
                .init(field: "attachments", reason: "are larger than \(limits.maxTotalAttachmentBytes / 1_048_576) MB together"))
        }
        return result
    }
}
