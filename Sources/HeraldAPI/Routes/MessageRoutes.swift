import Foundation
import HeraldStore
import Hummingbird

/// `/api/v1/messages`: send, batch, status, list, raw bytes, cancel and retry.
struct MessageRoutes {
    let store: any Store
    let factory: MessageFactory
    let maxBatch = 500

    func register(send: RouterGroup<HeraldRequestContext>, read: RouterGroup<HeraldRequestContext>) {
        send.post("messages/email/send", use: self.send)
        send.post("messages/email/batch", use: self.batch)
        send.post("messages/:id/cancel", use: self.cancel)
        send.post("messages/:id/retry", use: self.retry)
        read.get("messages", use: self.list)
        read.get("messages/:id", use: self.show)
        read.get("messages/:id/raw", use: self.raw)
    }

    @Sendable func send(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let (body, bytes) = try await request.sendRequest(context: context)
        let key = try Self.idempotencyKey(request)
        let origin = MessageFactory.Origin(requestID: context.requestID, apiKeyID: context.apiKey?.id, idempotencyKey: key, body: bytes)
        let result = try await factory.send(body, origin: origin)
        let message = result.message
        context.logger.debug("message queued", metadata: [LogKey.messageID: "\(message.id)"])
        let duplicate: Bool? = if case .duplicate = result { true } else { nil }
        return JSONResponse.sendAccepted(
            SendResult(messageID: message.id, status: message.status.rawValue, requestID: context.requestID, duplicate: duplicate),
            message: "Message queued for sending", requestID: context.requestID)
    }

    struct BatchRequest: Decodable {
        var messages: [SendRequest]
    }

    struct BatchItem: Encodable {
        var index: Int
        var code: Int
        var message: String
        var messageID: Int64?
        var status: String?
        var duplicate: Bool?
        var error: String?
        var fields: [APIError.FieldError]?

        enum CodingKeys: String, CodingKey {
            case index, code, message, status, duplicate, error, fields
            case messageID = "message_id"
        }
    }

    /// The request's `Idempotency-Key`, if any: 1 to 255 characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        let key = request.headers[.idempotencyKey]
        if let key, key.isEmpty || key.count > 255 {
            throw APIError.validation([.init(field: "Idempotency-Key", reason: "must be 1 to 255 characters")])
        }
        return key
    }

    /// Each message of a batch body as JSON of its own, for its idempotency fingerprint (which
    /// `MessageFactory.hash` takes over the canonical form).
    static func messageBodies(_ bytes: [UInt8]) -> [[UInt8]] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
            let messages = object["messages"] as? [Any]
        else { return [] }
        return messages.map { (try? JSONSerialization.data(withJSONObject: $0)).map(Array.init) ?? [] }
    }

    /// Up to 500 messages; each is validated and queued on its own, with its own result: 202 when
    /// at least one was queued, 200 when none was (each result says why). With an
    /// `Idempotency-Key` K, message i is remembered under `K/i`, so that a retried batch returns
    /// each message queued before (`duplicate`) and queues only the rest.
    @Sendable func batch(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let (batch, bytes) = try await request.json(BatchRequest.self, context: context)
        guard !batch.messages.isEmpty, batch.messages.count <= maxBatch else {
            throw APIError.validation([.init(field: "messages", reason: "must hold 1 to \(maxBatch) messages")])
        }
        let key = try Self.idempotencyKey(request)
        let bodies = key == nil ? [] : Self.messageBodies(bytes)
        let (requestID, apiKeyID) = (context.requestID, context.apiKey?.id)
        let factory = self.factory
        let items = try await withThrowingTaskGroup(of: BatchItem.self) { group in
            for (index, message) in batch.messages.enumerated() {
                let origin = MessageFactory.Origin(
                    requestID: requestID, apiKeyID: apiKeyID, idempotencyKey: key.map { "\($0)/\(index)" },
                    body: index < bodies.count ? bodies[index] : [])
                group.addTask {
                    do {
                        let result = try await factory.send(message, origin: origin)
                        let stored = result.message
                        let duplicate: Bool? = if case .duplicate = result { true } else { nil }
                        return BatchItem(
                            index: index, code: 0, message: "Message queued for sending", messageID: stored.id,
                            status: stored.status.rawValue, duplicate: duplicate)
                    } catch {
                        guard let apiError = APIError.from(error) else { throw error }
                        return BatchItem(
                            index: index, code: apiError.code.rawValue, message: apiError.message, error: apiError.code.name,
                            fields: apiError.fields.isEmpty ? nil : apiError.fields)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
        }
        let queued = items.filter { $0.code == 0 }.count
        return JSONResponse.success(
            ["results": items], message: "\(queued) of \(items.count) messages queued",
            status: queued > 0 ? .accepted : .ok,
            requestID: context.requestID)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let id = try context.parameters.id()
        guard let message = try await store.message(id: id) else { throw APIError.notFound("message \(id)") }
        let attempts = try await store.attempts(messageID: id)
        return JSONResponse.success(
            MessageView(message, attempts: attempts, accountNames: try await accountNames()), requestID: context.requestID)
    }

    @Sendable func raw(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let id = try context.parameters.id()
        guard let bytes = try await store.messageBytes(id: id) else { throw APIError.notFound("message \(id)") }
        return Response(
            status: .ok, headers: [.contentType: "message/rfc822", .requestID: context.requestID],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    @Sendable func cancel(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let message = try await store.cancel(messageID: try context.parameters.id())
        return JSONResponse.success(
            MessageView(message, accountNames: try await accountNames()), message: "Message cancelled", requestID: context.requestID)
    }

    @Sendable func retry(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let message = try await store.requeue(messageID: try context.parameters.id(), extraAttempts: 3)
        return JSONResponse.success(
            MessageView(message, accountNames: try await accountNames()), message: "Message queued again", status: .accepted,
            requestID: context.requestID)
    }

    struct Page: Encodable {
        var messages: [MessageView]
        var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case messages
            case nextCursor = "next_cursor"
        }
    }

    /// The query parameters of `GET /messages`. Any other is refused: a misspelt filter would
    /// otherwise list every message as if it matched.
    static let listParameters = [
        "status", "recipient", "template_code", "account_id", "tag", "created_from", "created_before", "limit", "cursor",
    ]

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var problems = ListQuery.unknownParameters(query, known: Self.listParameters, noun: "a filter")
        var filter = MessageFilter()
        if let statuses = query.get("status") {
            for name in statuses.split(separator: ",") {
                if let status = MessageStatus(rawValue: String(name)) {
                    filter.statuses.insert(status)
                } else {
                    problems.append(
                        .init(
                            field: "status",
                            reason: "has \(name), which is not one of \(MessageStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
            }
        }
        filter.recipient = query.get("recipient")
        filter.templateCode = query.get("template_code")
        filter.tag = query.get("tag")
        if let account = query.get("account_id") {
            if let id = Int64(account) {
                filter.accountID = id
            } else {
                problems.append(.init(field: "account_id", reason: "must be an integer"))
            }
        }
        for (field, keyPath) in [("created_from", \MessageFilter.createdFrom), ("created_before", \MessageFilter.createdBefore)] {
            guard let text = query.get(field) else { continue }
            if let date = APITime.parse(text) {
                filter[keyPath: keyPath] = date
            } else {
                problems.append(.init(field: field, reason: "must be an ISO 8601 time"))
            }
        }
        let limit = ListQuery.limit(query, range: 1...200, fallback: 50, problems: &problems)
        if !problems.isEmpty { throw APIError.validation(problems) }
        let page: MessagePage
        do {
            page = try await store.messages(matching: filter, limit: limit, cursor: query.get("cursor"))
        } catch let error as StoreError where error.code == .invalidArgument {
            throw APIError.validation([.init(field: "cursor", reason: "is not a cursor from a previous page")])
        }
        let names = try await accountNames()
        return JSONResponse.success(
            Page(messages: page.messages.map { MessageView($0, accountNames: names) }, nextCursor: page.nextCursor),
            requestID: context.requestID)
    }

    /// Account names by id, from the accounts the API keeps for a moment (see `CatalogCache`).
    private func accountNames() async throws -> [Int64: String] {
        MessageView.names(of: try await factory.catalog.accounts())
    }
}
