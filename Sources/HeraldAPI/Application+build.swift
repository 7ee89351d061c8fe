import Foundation
import HeraldDelivery
import HeraldStore
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// How the HTTP API runs.
public struct APIConfiguration: Sendable {
    /// Where to listen; loopback by default.
    public var host = "127.0.0.1"
    public var port = 8080
    /// Requests per second per API key on average, and the burst allowed above it.
    public var rateLimitPerSecond: Double = 100
    public var rateLimitBurst: Double = 200
    public var limits = MessageFactory.Limits()
    /// A template variable the template uses and the request lacks is a 422 (otherwise it renders empty).
    public var strictTemplates = true

    public init() {}
}

/// The API's router: every route, middleware and error mapping. The executable and the tests share it.
/// `requestPressure`: told of every request of the `send` scope (the delivery worker in the same process).
public func buildRouter(
    store: any Store, configuration: APIConfiguration, metrics: PrometheusCollectorRegistry? = nil,
    requestPressure: RequestPressure? = nil
) -> Router<HeraldRequestContext> {
    // HEAD answers as GET without the body (RFC 9110 section 9.3.2), so a load balancer's health check may use either.
    let router = Router(context: HeraldRequestContext.self, options: .autoGenerateHeadEndpoints)
    let methods = RouteMethods()
    router.add(middleware: EnvelopeMiddleware(methods: methods))
    HealthRoutes(store: store, metrics: metrics).register(router)
    DashboardRoutes().register(router)

    let keys = APIKeyCache(store: store)
    let limiter = RateLimiter(perSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst)
    func group(_ scope: APIKeyScope) -> RouterGroup<HeraldRequestContext> {
        let api = router.group("api/v1")
        // Sends are what comes in at a high rate; reads (a dashboard's polling) must not slow delivery.
        if scope == .send, let requestPressure { api.add(middleware: RequestPressureMiddleware(pressure: requestPressure)) }
        return api.add(middleware: AuthMiddleware(scope: scope, keys: keys, limiter: limiter))
    }
    let send = group(.send)
    let read = group(.read)
    let admin = group(.admin)
    let renderer = TemplateRenderer(strict: configuration.strictTemplates)
    let catalog = CatalogCache(store: store)
    let factory = MessageFactory(store: store, limits: configuration.limits, renderer: renderer, catalog: catalog)
    MessageRoutes(store: store, factory: factory).register(send: send, read: read)
    TemplateRoutes(store: store, renderer: renderer, catalog: catalog).register(read: read, admin: admin)
    AccountRoutes(store: store, catalog: catalog).register(admin: admin)
    AdminRoutes(store: store, keyCache: keys).register(read: read, admin: admin)
    SuppressionRoutes(store: store).register(read: read, admin: admin)
    methods.record(router.routes)
    return router
}

/// The whole application: the API, the store's service and, when given, the delivery workers,
/// in one service group. The store is prepared (`prepareStore`) before the server accepts
/// requests, then `beforeServing` runs (for instance the first admin key).
public func buildApplication(
    store: any Store, worker: DeliveryWorker?, configuration: APIConfiguration, metrics: PrometheusCollectorRegistry? = nil,
    migrate: Bool = true, logger: Logger, beforeServing: @escaping @Sendable (any Store) async throws -> Void = { _ in },
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    var services: [any Service] = [store]
    if let worker { services.append(MigratingService(store: store, migrate: migrate, then: worker)) }
    var application = Application(
        router: buildRouter(store: store, configuration: configuration, metrics: metrics, requestPressure: worker?.requestPressure),
        configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "Herald"),
        services: services,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
    application.beforeServerStarts {
        // Shut down while waiting for the database: the server is not started at all.
        guard try await prepareStore(store, migrate: migrate) else { throw CancellationError() }
        try await beforeServing(store)
    }
    return application
}

/// Prepares the store (`prepareStore`), then runs `then`: the store's service must already be running.
public struct MigratingService: Service {
    let store: any Store
    let migrate: Bool
    let then: any Service

    public init(store: any Store, migrate: Bool, then: any Service) {
        self.store = store
        self.migrate = migrate
        self.then = then
    }

    public func run() async throws {
        guard try await prepareStore(store, migrate: migrate) else { return }
        try await then.run()
    }
}

/// Readies the store for the API or the workers: applies the migrations (when asked), then checks
/// that the master key opens the passwords already stored. A process with another key would fail
/// every send through them, or seal new ones nobody else can open: it stops here, in one line,
/// instead. Returns false when a graceful shutdown (SIGTERM) came first.
func prepareStore(_ store: any Store, migrate: Bool) async throws -> Bool {
    if migrate { guard try await migrateUnlessShutDown(store) else { return false } }
    try await store.checkSecretKey()
    return true
}

/// Applies the migrations, or returns false when a graceful shutdown (SIGTERM) comes first: a
/// start that waits for a database that is down gives way at once instead of holding the
/// process until the pool gives up.
func migrateUnlessShutDown(_ store: any Store) async throws -> Bool {
    do {
        _ = try await cancelWhenGracefulShutdown { try await store.migrate() }
        return true
    } catch  where Task.isShuttingDownGracefully {
        return false
    }
}
