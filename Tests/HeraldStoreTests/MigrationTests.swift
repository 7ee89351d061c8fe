import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Migrations")
struct MigrationTests {
    @Test(arguments: StoreBackendKind.allCases)
    func migrationsApplyOnceAndAreRecorded(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            #expect(try await store.appliedMigrations() == Migrations.all.map(\.version))
            #expect(try await store.migrate() == [])
            // A second process migrating the same database finds nothing to do.
            let other = try await database.openStore()
            try await withRunningStore(other) { (other: any Store) async throws in
                #expect(try await other.migrate() == [])
                #expect(try await other.appliedMigrations() == Migrations.all.map(\.version))
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func concurrentMigratorsTakeTurns(kind: StoreBackendKind) async throws {
        let database = try await TestDatabase.make(kind)
        let first = try await database.openStore()
        let second = try await database.openStore()
        let ran = try await withRunningStore(first) { first in
            try await withRunningStore(second) { second in
                async let a = first.migrate()
                async let b = second.migrate()
                return try await (a + b).sorted()
            }
        }
        #expect(ran == Migrations.all.map(\.version), "each migration ran exactly once")
        await database.drop()
    }
}

/// Opening PostgreSQL with a login or database the server refuses fails at once, in the
/// server's words. Before, the pool retried for about a minute, then said "could not be reached".
@Suite("PostgreSQL login")
struct PostgresLoginTests {
    /// The test server's URL with another user or database.
    static func url(user: String? = nil, database: String? = nil) throws -> String {
        var components = try #require(URLComponents(string: try TestDatabase.postgresURL()))
        if let user { components.user = user }
        if let database { components.path = "/" + database }
        return try #require(components.string)
    }

    @Test func aRefusedLoginOrAMissingDatabaseIsSaidAtOnce() async throws {
        let cases = [
            (try Self.url(user: "no_such_role_h"), #"refused the login: role "no_such_role_h" does not exist"#),
            (try Self.url(database: "no_such_db_h"), #"database "no_such_db_h" does not exist; create it"#),
        ]
        for (url, expected) in cases {
            do {
                _ = try await StoreLocation(url).open(secretKey: TestDatabase.secretKey, logger: TestDatabase.logger)
                Issue.record("opening \(url) should fail")
            } catch let error as StoreError {
                #expect(error.code == .configuration && error.message.contains(expected), "\(error.message)")
            }
        }
        // The right login opens as before.
        let store = try await StoreLocation(try TestDatabase.postgresURL()).open(
            secretKey: TestDatabase.secretKey, logger: TestDatabase.logger)
        #expect(store is PostgresStore)
    }
}
