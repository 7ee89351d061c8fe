import Logging

/// Where the store lives: a SQLite file (the default, `herald.sqlite`) or a PostgreSQL URL.
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String, synchronous: SQLiteBackend.Synchronous)
    case postgres(url: String)

    /// `postgres://...` or `postgresql://...` is PostgreSQL; anything else is a SQLite file path
    /// (an optional `sqlite://` or `file:` prefix is dropped).
    public init(_ text: String, synchronous: SQLiteBackend.Synchronous = .full) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            var path = text
            for prefix in ["sqlite://", "file:"] where path.hasPrefix(prefix) { path.removeFirst(prefix.count) }
            self = .sqlite(path: path, synchronous: synchronous)
        }
    }

    /// Opens the store (not yet migrated; run it while it is used).
    public func open(secretKey: SecretKey, options: StoreOptions = StoreOptions(), logger: Logger) async throws -> any Store {
        switch self {
        case .sqlite(let path, let synchronous):
            try await SQLiteStore(path: path, synchronous: synchronous, secretKey: secretKey, options: options, logger: logger)
        case .postgres(let url):
            try await Self.openPostgres(url: url, secretKey: secretKey, options: options, logger: logger)
        }
    }

    private static func openPostgres(url: String, secretKey: SecretKey, options: StoreOptions, logger: Logger) async throws -> any Store {
        let store = try PostgresStore(url: url, secretKey: secretKey, options: options, logger: logger)
        try await store.backend.checkLogin()
        return store
    }

    /// For logs and messages: the SQLite path, or the PostgreSQL host and database without the password.
    public var description: String {
        switch self {
        case .sqlite(let path, _): return "SQLite \(path)"
        case .postgres(let url):
            guard let configuration = try? PostgresBackend.Configuration(url: url) else { return "PostgreSQL (invalid URL)" }
            let client = configuration.client
            return "PostgreSQL \(client.host ?? "?"):\(client.port ?? 5432)/\(client.database ?? "")"
        }
    }
}
