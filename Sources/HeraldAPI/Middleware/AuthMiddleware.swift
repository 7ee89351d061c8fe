import HTTPTypes
import HeraldStore
import Hummingbird
import Logging

/// `Authorization: Bearer <key>`: 401 without a valid key, 403 without the route's scope (`admin`
/// has every scope), 429 with `Retry-After` past the key's rate limit.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let scope: APIKeyScope
    let keys: APIKeyCache
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError(.unauthorized, "send the API key as Authorization: Bearer <key>")
        }
        let key = String(header.dropFirst(7)).trimmingWhitespace()
        guard let record = try await keys.lookup(key) else { throw APIError(.unauthorized, "the API key is not valid") }
        guard record.scopes.contains(scope) || record.scopes.contains(.admin) else {
            throw APIError(.forbidden, "this API key lacks the \(scope.rawValue) scope")
        }
        if let wait = limiter.take(record.id) {
            throw APIError(.rateLimited, "this API key sent too many requests; retry in \(wait) s", retryAfter: wait)
        }
        var context = context
        context.apiKey = record
        context.logger[metadataKey: LogKey.apiKey] = .string(record.prefix)
        return try await next(request, context)
    }
}
