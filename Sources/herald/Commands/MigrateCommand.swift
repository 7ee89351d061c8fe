import ArgumentParser
import Foundation
import HeraldStore
import Logging

/// `herald migrate`: applies the store's numbered migrations that are not applied yet.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the database schema (safe to run again, and from several machines at once).",
        discussion: "Example: HERALD_DATABASE_URL=postgres://herald@db:5432/herald herald migrate"
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    func run() async throws {
        let location = try databaseOptions.location()
        let logger = Logger(label: "herald.migrate")
        do {
            // Migrations never read or write secrets, so any key will do here.
            let store = try await location.open(secretKey: .generate(), logger: logger)
            let (ran, applied) = try await withRunningStore(store) { store in
                let ran = try await store.migrate()
                return (ran, try await store.appliedMigrations())
            }
            if ran.isEmpty {
                print("\(location): schema is up to date (version \(applied.last ?? 0))")
            } else {
                print(
                    "\(location): applied migrations \(ran.map(String.init).joined(separator: ", ")); schema version \(applied.last ?? 0)")
            }
        } catch let error as StoreError {
            throw error.reported(by: "migrate")
        }
    }
}
