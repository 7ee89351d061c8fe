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
