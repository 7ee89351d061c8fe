import HeraldDelivery
import Hummingbird

/// Notes each send request for the delivery worker in the same process, which then holds fewer
/// messages in flight (see `RequestPressure`).
struct RequestPressureMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let pressure: RequestPressure

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        pressure.noteRequest()
        return try await next(request, context)
    }
}
