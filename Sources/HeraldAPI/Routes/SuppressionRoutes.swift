import Foundation
import HeraldMIME
import HeraldStore
import Hummingbird

/// `/api/v1/suppressions`: addresses Herald never sends to. Delivery leaves a suppressed address
/// out of every message and records it as refused ("suppressed: <reason>"); a message whose
/// every recipient is suppressed fails with `delivery.all_suppressed`. Reading takes the `read`
/// scope, changing the list `admin`.
struct SuppressionRoutes {
    let store: any Store

    func register(read: RouterGroup<HeraldRequestContext>, admin: RouterGroup<HeraldRequestContext>) {
        read.get("suppressions", use: list)
        read.get("suppressions/:address", use: show)
        admin.put("suppressions/:address", use: save)
        admin.delete("suppressions/:address", use: remove)
    }

    struct View: Encodable {
        var address, reason: String
        var source: String?
        var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case address, reason, source
            case createdAt = "created_at"
        }

        init(_ record: SuppressionRecord) {
            address = record.address
            reason = record.reason
            source = record.source
            createdAt = record.createdAt
        }
    }

    struct Page: Encodable {
        var suppressions: [View]
        var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case suppressions
            case nextCursor = "next_cursor"
        }
    }

    struct Input: Decodable {
        var reason: String
        var source: String?
    }

    /// The query parameters of `GET /suppressions`; any other is refused, as for messages.
    static let listParameters = ["limit", "cursor"]

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var problems = ListQuery.unknownParameters(query, known: Self.listParameters, noun: "a parameter")
        let limit = ListQuery.limit(query, range: 1...500, fallback: 100, problems: &problems)
        if !problems.isEmpty { throw APIError.validation(problems) }
        // The cursor is the last address of the previous page: the list is in address order.
        let page = try await store.suppressions(after: query.get("cursor"), limit: limit + 1)
        let shown = page.prefix(limit)
        return JSONResponse.success(
            Page(suppressions: shown.map(View.init), nextCursor: page.count > limit ? shown.last?.address : nil),
            requestID: context.requestID)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let address = try Self.address(context)
        guard let record = try await store.suppressions(among: [address]).first else {
            throw APIError(.notFound, "\(address) is not on the suppression list")
        }
        return JSONResponse.success(View(record), requestID: context.requestID)
    }

    @Sendable func save(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let address = try Self.address(context)
        let input = try await request.json(Input.self, context: context).value
        var problems: [APIError.FieldError] = []
        let reason = input.reason.trimmingCharacters(in: .whitespaces)
        if reason.isEmpty || reason.count > 200 || !reason.isHeaderSafe {
            problems.append(.init(field: "reason", reason: "must be 1 to 200 characters on one line"))
        }
        if let source = input.source, source.count > 200 || !source.isHeaderSafe {
            problems.append(.init(field: "source", reason: "must be at most 200 characters on one line"))
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        let existed = try await !store.suppressions(among: [address]).isEmpty
        let saved = try await store.suppress(address: address, reason: reason, source: input.source)
        return JSONResponse.success(
            View(saved), message: existed ? "Suppression updated" : "Address suppressed", status: existed ? .ok : .created,
            requestID: context.requestID)
    }

    @Sendable func remove(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let address = try Self.address(context)
        guard try await store.unsuppress(address: address) else {
            throw APIError(.notFound, "\(address) is not on the suppression list")
        }
        return JSONResponse.success(Optional<String>.none, message: "Suppression removed", requestID: context.requestID)
    }

    /// The address in the path (percent-decoded), validated and lower-cased as the list keeps it.
    static func address(_ context: HeraldRequestContext) throws -> String {
        let raw = try context.parameters.require("address")
        let text = raw.removingPercentEncoding ?? raw
        do {
            return try EmailAddress(text).description.lowercased()
        } catch {
            throw APIError.validation([.init(field: "address", reason: "is not a valid email address: \(error.rule ?? error.message)")])
        }
    }
}
