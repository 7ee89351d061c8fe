import Foundation
import HeraldStore
import Logging
import PostgresNIO

/// The two store backends every store test runs against.
public enum StoreBackendKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }
}

/// An isolated, empty database for one test: a fresh SQLite file in a temporary folder, or a
/// fresh schema in the PostgreSQL that `scripts/test` started (`HERALD_TEST_POSTGRES_URL`).
public struct TestDatabase: Sendable {
    public let kind: StoreBackendKind
    /// The SQLite file, or the PostgreSQL URL with `search_path` set to this database's schema.
    public let location: String
    private let folder: String?
    private let schema: String?

    /// Makes a new database. Throws with a clear message when PostgreSQL is asked for and not configured.
    public static func make(_ kind: StoreBackendKind) async throws -> TestDatabase {
        switch kind {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("herald-store-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            return TestDatabase(kind: kind, location: folder + "/herald.sqlite", folder: folder, schema: nil)
        case .postgres:
            let base = try postgresURL()
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
            try await withAdminConnection(base) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: Self.logger)
            }
            let separator = base.contains("?") ? "&" : "?"
            return TestDatabase(
                kind: kind, location: base + separator + "sslmode=disable&search_path=\(schema)", folder: nil, schema: String(schema))
        }
    }

    /// The PostgreSQL server for tests, from `HERALD_TEST_POSTGRES_URL`.
    public static func postgresURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw TestDatabaseError(
                message: "HERALD_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
        }
        return url
    }

    /// Opens a new store on this database (its own connections each time) and migrates it.
    public func openStore(
        secretKey: SecretKey = TestDatabase.secretKey, options: StoreOptions = StoreOptions(), logger: Logger = TestDatabase.logger
    ) async throws -> any Store {
        let store: any Store =
            switch kind {
            case .sqlite: try await SQLiteStore(path: location, secretKey: secretKey, options: options, logger: logger)
            case .postgres: try PostgresStore(url: location, secretKey: secretKey, options: options, logger: logger)
            }
        return store
    }

    /// Removes the database.
    public func drop() async {
        if let folder { try? FileManager.default.removeItem(atPath: folder) }
        if let schema, let base = try? Self.postgresURL() {
            try? await Self.withAdminConnection(base) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: Self.logger)
            }
        }
    }

    /// One key for every test store, so stores opened twice on one database read each other's secrets.
    public static let secretKey = SecretKey.generate()
    public static let logger = Logger(label: "herald.test.store")

    private static func withAdminConnection(_ url: String, _ body: (PostgresConnection) async throws -> Void) async throws {
        guard let components = URLComponents(string: url), let host = components.host else {
            throw TestDatabaseError(message: "HERALD_TEST_POSTGRES_URL is not a postgres:// URL")
        }
        let configuration = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres", password: components.password,
            database: String(components.path.dropFirst()), tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

public struct TestDatabaseError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Runs `body` with a migrated store on a fresh database of `kind`, running the store's service
/// meanwhile, then stops it and drops the database.
public func withTestStore<T: Sendable>(
    _ kind: StoreBackendKind, options: StoreOptions = StoreOptions(),
    _ body: @Sendable (any Store, TestDatabase) async throws -> T
) async throws -> T {
    let database = try await TestDatabase.make(kind)
    do {
        let result = try await withRunningStore(try await database.openStore(options: options)) { store in
            try await store.migrate()
            return try await body(store, database)
        }
        await database.drop()
        return result
    } catch {
        await database.drop()
        throw error
    }
}
