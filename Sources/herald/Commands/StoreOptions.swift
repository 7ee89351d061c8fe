import ArgumentParser
import Foundation
import HeraldStore
import Logging

/// Where the store is: `--database`, else `HERALD_DATABASE_URL`, else `herald.sqlite` here.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database"),
        help: "A SQLite file path or a postgres:// URL (default: $HERALD_DATABASE_URL, else herald.sqlite).")
    var database: String?

    @Option(help: "SQLite's synchronous setting: full (every commit fsynced, the default) or normal.")
    var sqliteSynchronous: String = "full"

    func location() throws -> StoreLocation {
        guard let synchronous = SQLiteBackend.Synchronous(rawValue: sqliteSynchronous.uppercased()) else {
            throw ValidationError("--sqlite-synchronous must be full or normal")
        }
        let text = database ?? ProcessInfo.processInfo.environment["HERALD_DATABASE_URL"] ?? "herald.sqlite"
        return StoreLocation(text.isEmpty ? "herald.sqlite" : text, synchronous: synchronous)
    }
}
