import Foundation
import HeraldStore
import Logging
import Metrics

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What is said when an account's breaker opens.
public struct AccountAlert: Sendable, Hashable, Codable {
    /// What happened: `account.opened`.
    public var kind = "account.opened"
    public var accountID: Int64
    public var accountName: String
    public var errorCode: String
    /// Safe to show: the error and its diagnosis, never a password.
    public var error: String
    public var failureCount: Int
    /// When a probe will be let through.
    public var probeAfter: Date?

    enum CodingKeys: String, CodingKey {
        case kind
        case accountID = "account_id"
        case accountName = "account_name"
        case errorCode = "error_code"
        case error
        case failureCount = "failure_count"
        case probeAfter = "probe_after"
    }
}

/// Raises the alarm when an account's breaker opens: a warning log line, an `account.opened`
/// event row, the `herald_account_breaker_opened_total` metric and, when configured, a JSON POST
/// to an alert webhook.
public struct AccountAlerts: Sendable {
    /// Where to POST each alert as JSON (`{"kind":"account.opened", ...}`), if anywhere.
    public var webhook: URL?
    private let store: any Store
    private let logger: Logger

    public init(store: any Store, webhook: URL? = nil, logger: Logger = Logger(label: "herald.delivery.alerts")) {
        self.store = store
        self.webhook = webhook
        self.logger = logger
    }

    /// Publishes an account's breaker as `herald_account_breaker_state{account}`: 0 closed,
    /// 1 half-open, 2 open.
    public static func publishBreakerState(_ account: AccountRecord) {
        let state: Int =
            switch account.health {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        Gauge(label: "herald_account_breaker_state", dimensions: [("account", account.name)]).record(state)
    }

    /// Raises the alarm for one opened breaker. Failures to alert are logged, never thrown.
    public func accountOpened(_ alert: AccountAlert) async {
        logger.warning(
            "account breaker opened: the account is skipped until a probe succeeds",
            metadata: [
                LogKey.accountID: "\(alert.accountID)", LogKey.accountName: "\(alert.accountName)", LogKey.errorCode: "\(alert.errorCode)",
                "account.failure_count": "\(alert.failureCount)", "error.message": "\(alert.error)",
            ])
        Counter(label: "herald_account_breaker_opened_total", dimensions: [("account", alert.accountName)]).increment()
        do {
            try await store.appendEvent(
                kind: "account.opened", messageID: nil, accountID: alert.accountID,
                data: ["error_code": alert.errorCode, "error": alert.error, "failure_count": "\(alert.failureCount)"])
        } catch {
            logger.error("could not record the account.opened event", metadata: [LogKey.accountID: "\(alert.accountID)"])
        }
        if let webhook { await post(alert, to: webhook) }
    }

    private func post(_ alert: AccountAlert, to url: URL) async {
        var request = URLRequest(url: url, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        do {
            request.httpBody = try encoder.encode(alert)
            let (_, response) = try await URLSession.shared.data(for: request)
            if let status = (response as? HTTPURLResponse)?.statusCode, !(200..<300).contains(status) {
                logger.warning("the alert webhook answered \(status)", metadata: [LogKey.accountID: "\(alert.accountID)"])
            }
        } catch {
            // The URL may carry a token: name only its host.
            logger.warning("the alert webhook at \(url.host ?? "?") failed", metadata: [LogKey.accountID: "\(alert.accountID)"])
        }
    }
}
