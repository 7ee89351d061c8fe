import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// Which methods each route takes, so that a known path asked with another method is answered
/// 405 with `Allow` (RFC 9110 section 15.5.6) instead of 404, which would say the path does not exist.
///
/// Filled once the router has every route; read only for requests no route matched.
final class RouteMethods: Sendable {
    private struct Route {
        /// The path's segments; nil stands for a captured parameter such as `{id}`.
        var segments: [String?]
        var method: HTTPRequest.Method
    }

    private let routes = NIOLockedValueBox<[Route]>([])

    /// Takes the routes of a router that has all of them.
    func record(_ descriptions: [Router<HeraldRequestContext>.RouteDescription]) {
        let recorded = descriptions.map { description in
            Route(
                segments: description.path.components.map { element in
                    let text = element.description
                    return text.hasPrefix("{") && text.hasSuffix("}") ? nil : text
                },
                method: description.method)
        }
        routes.withLockedValue { $0 = recorded }
    }

    /// The methods that `path` takes, sorted; empty when no route has that path.
    func allowed(forPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let methods = routes.withLockedValue { routes in
            routes.filter { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { expected, given in expected.map { $0 == given } ?? true }
            }
            .map(\.method)
        }
        // The router answers HEAD wherever it answers GET; those HEAD routes are made after this list.
        let withHead = methods.contains(.get) ? methods + [.head] : methods
        return Set(withHead.map(\.rawValue)).sorted()
    }
}
