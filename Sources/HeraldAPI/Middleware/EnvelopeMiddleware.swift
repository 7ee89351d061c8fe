import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// The outermost middleware: gives the request its id (`X-Request-Id`, echoed in the header, the
/// body and every log line), turns every error into the envelope, and counts requests.
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    /// Turns "no such endpoint" into 405 when the path exists under other methods.
    let methods: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.requestID].flatMap(Self.acceptable) ?? RequestID.generate()
        context.requestID = id
        context.logger[metadataKey: LogKey.requestID] = .string(id)
        let started = DispatchTime.now()
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let allowed = (error as? HTTPError)?.status == .notFound ? methods.allowed(forPath: request.uri.path) : []
            if !allowed.isEmpty {
                let list = allowed.joined(separator: ", ")
                response = JSONResponse.failure(
                    APIError(.methodNotAllowed, "\(request.uri.path) does not take \(request.method.rawValue); it takes \(list)"),
                    requestID: id)
                response.headers[.allow] = list
            } else if let apiError = APIError.from(error) {
                response = JSONResponse.failure(apiError, requestID: id)
            } else {
                context.logger.error("request failed: \(String(reflecting: error))")
                response = JSONResponse.failure(
                    APIError(.internalError, "internal error; quote the request_id when reporting it"), requestID: id)
            }
        }
        response.headers[.requestID] = id
        let route = context.endpointPath ?? "unmatched"
        Counter(
            label: "herald_http_requests_total",
            dimensions: [("method", request.method.rawValue), ("route", route), ("status", "\(response.status.code)")]
        )
        .increment()
        Timer(label: "herald_http_request_duration_seconds", dimensions: [("route", route)]).recordInterval(since: started)
        return response
    }

    /// A client's request id is kept when it is short printable ASCII (it goes into logs and headers).
    static func acceptable(_ id: String) -> String? {
        guard !id.isEmpty, id.utf8.count <= 128, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return id
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
