import Foundation
import HeraldDelivery
import HeraldStore
import Hummingbird
import Metrics
import Prometheus

/// Outside `/api/v1`: `/healthz` (the process answers), `/readyz` (the store is reachable and
/// migrated) and `/metrics` (Prometheus text format). No key is needed.
struct HealthRoutes {
    let store: any Store
    let metrics: PrometheusCollectorRegistry?

    func register(_ router: Router<HeraldRequestContext>) {
        router.get("healthz") { _, context in JSONResponse.success(["status": "ok"], requestID: context.requestID) }
        router.get("readyz", use: ready)
        router.get("metrics", use: self.metrics)
        router.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.json)))
        }
    }

    @Sendable func ready(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let applied: [Int]
        do {
            applied = try await store.appliedMigrations()
        } catch {
            throw APIError(.unavailable, "the database is not reachable")
        }
        guard applied.last == StoreSchema.latestVersion else {
            throw APIError(
                .unavailable, "the database schema is at version \(applied.last ?? 0), not \(StoreSchema.latestVersion); run herald migrate"
            )
        }
        return JSONResponse.success(["status": "ready", "schema_version": "\(StoreSchema.latestVersion)"], requestID: context.requestID)
    }

    @Sendable func metrics(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        guard let metrics else { throw APIError(.notFound, "metrics are not enabled in this process") }
        // Gauges that are cheapest read at scrape time.
        let day = try await store.stats(window: .seconds(86_400))
        Gauge(label: "herald_queue_depth").record(day.queueDepth)
        for status in MessageStatus.allCases {
            Gauge(label: "herald_messages_24h", dimensions: [("status", status.rawValue)]).record(day.countsByStatus[status] ?? 0)
        }
        for account in try await store.accounts() { AccountAlerts.publishBreakerState(account) }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
    }
}
