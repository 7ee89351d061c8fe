import Foundation
import HeraldStore
import Hummingbird

/// `/api/v1/stats` (read) and `/api/v1/keys` (admin).
struct AdminRoutes {
    let store: any Store
    let keyCache: APIKeyCache

    func register(read: RouterGroup<HeraldRequestContext>, admin: RouterGroup<HeraldRequestContext>) {
        read.get("stats", use: stats)
        admin.post("keys", use: createKey)
        admin.get("keys", use: listKeys)
        admin.delete("keys/:id", use: revokeKey)
    }

    struct Window: Encodable {
        var countsByStatus: [String: Int]
        var successRate: Double?
        var errorClasses: [String: Int]

        enum CodingKeys: String, CodingKey {
            case countsByStatus = "counts_by_status"
            case successRate = "success_rate"
            case errorClasses = "error_classes"
        }
    }

    struct AccountStats: Encodable {
        var id: Int64
        var name, health: String
        var isActive: Bool
        var failureCount: Int
        var lastErrorCode: String?
        var perMinuteLimit, perDayLimit: Int?
        var quota: QuotaUsage
        var succeeded24h, failed24h: Int

        enum CodingKeys: String, CodingKey {
            case id, name, health, quota
            case isActive = "is_active"
            case failureCount = "failure_count"
            case lastErrorCode = "last_error_code"
            case perMinuteLimit = "per_minute_limit"
            case perDayLimit = "per_day_limit"
            case succeeded24h = "succeeded_24h"
            case failed24h = "failed_24h"
        }
    }

    struct Stats: Encodable {
        var windows: [String: Window]
        var queueDepth: Int
        var accounts: [AccountStats]

        enum CodingKeys: String, CodingKey {
            case windows, accounts
            case queueDepth = "queue_depth"
        }
    }

    @Sendable func stats(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var windows: [String: Window] = [:]
        var day: DeliveryStats?
        var depth = 0
        for (name, span) in [("1h", 3600), ("24h", 86_400), ("7d", 604_800)] {
            let stats = try await store.stats(window: .seconds(span))
            windows[name] = Window(
                countsByStatus: Dictionary(
                    uniqueKeysWithValues: MessageStatus.allCases.map { ($0.rawValue, stats.countsByStatus[$0] ?? 0) }),
                successRate: stats.successRate, errorClasses: stats.errorClasses)
            if name == "24h" { day = stats }
            depth = stats.queueDepth
        }
        var accounts: [AccountStats] = []
        for account in try await store.accounts() {
            let counts = day?.accounts[account.id]
            accounts.append(
                AccountStats(
                    id: account.id, name: account.name, health: account.health.rawValue, isActive: account.isActive,
                    failureCount: account.failureCount, lastErrorCode: account.lastErrorCode, perMinuteLimit: account.perMinuteLimit,
                    perDayLimit: account.perDayLimit, quota: try await store.quotaUsage(accountID: account.id),
                    succeeded24h: counts?.succeeded ?? 0, failed24h: counts?.failed ?? 0))
        }
        return JSONResponse.success(Stats(windows: windows, queueDepth: depth, accounts: accounts), requestID: context.requestID)
    }

    struct KeyInput: Decodable {
        var name: String
        var scopes: [String]
    }

    struct KeyView: Encodable {
        var id: Int64
        var name, prefix: String
        var scopes: [String]
        var createdAt: Date
        var lastUsedAt, revokedAt: Date?
        /// Only in the answer to the creation: the key itself, shown once.
        var key: String?

        enum CodingKeys: String, CodingKey {
            case id, name, prefix, scopes, key
            case createdAt = "created_at"
            case lastUsedAt = "last_used_at"
            case revokedAt = "revoked_at"
        }

        init(_ record: APIKeyRecord, key: String? = nil) {
            id = record.id
            name = record.name
            prefix = record.prefix
            scopes = record.scopes.map(\.rawValue).sorted()
            createdAt = record.createdAt
            lastUsedAt = record.lastUsedAt
            revokedAt = record.revokedAt
            self.key = key
        }
    }

    @Sendable func createKey(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let input = try await request.json(KeyInput.self, context: context).value
        var problems: [APIError.FieldError] = []
        if input.name.isEmpty || input.name.count > 64 { problems.append(.init(field: "name", reason: "must be 1 to 64 characters")) }
        var scopes = Set<APIKeyScope>()
        for (index, scope) in input.scopes.enumerated() {
            if let value = APIKeyScope(rawValue: scope) {
                scopes.insert(value)
            } else {
                problems.append(.init(field: "scopes[\(index)]", reason: "must be send, read or admin"))
            }
        }
        if input.scopes.isEmpty { problems.append(.init(field: "scopes", reason: "needs at least one of send, read, admin")) }
        if !problems.isEmpty { throw APIError.validation(problems) }
        let (key, record) = try await APIKeyIssuer.create(name: input.name, scopes: scopes, in: store)
        return JSONResponse.success(
            KeyView(record, key: key), message: "API key created; this is the only time the key is shown", status: .created,
            requestID: context.requestID)
    }

    @Sendable func listKeys(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        JSONResponse.success(["keys": try await store.apiKeys().map { KeyView($0) }], requestID: context.requestID)
    }

    @Sendable func revokeKey(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await store.revokeAPIKey(id: try context.parameters.id(), keepingAnAdmin: true)
        keyCache.forget()
        return JSONResponse.success(Optional<String>.none, message: "API key revoked", requestID: context.requestID)
    }
}
