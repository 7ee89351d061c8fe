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

    @Option(help: "SQLite's synchronous setting: full (every commit fsynced, the default) or normal (HERALD_SQLITE_SYNCHRONOUS).")
    var sqliteSynchronous: String = ProcessInfo.processInfo.environment["HERALD_SQLITE_SYNCHRONOUS"] ?? "full"

    @Option(help: "A file of HERALD_* settings, KEY=VALUE lines (default: $HERALD_CONFIG, else ./herald.env if present).")
    var config: String?

    func validate() throws {
        _ = try synchronous()
    }

    private func synchronous() throws -> SQLiteBackend.Synchronous {
        guard let synchronous = SQLiteBackend.Synchronous(rawValue: sqliteSynchronous.uppercased()) else {
            throw ValidationError("--sqlite-synchronous (HERALD_SQLITE_SYNCHRONOUS) must be full or normal")
        }
        return synchronous
    }

    func location() throws -> StoreLocation {
        let synchronous = try synchronous()
        let text = database ?? ProcessInfo.processInfo.environment["HERALD_DATABASE_URL"] ?? "herald.sqlite"
        return StoreLocation(text.isEmpty ? "herald.sqlite" : text, synchronous: synchronous)
    }
}

extension DatabaseOptions {
    /// The master key that seals account passwords: `HERALD_SECRET_KEY` (base64, 32 bytes), else
    /// for SQLite a key file beside the database, made (mode 0600) on first use and announced once.
    /// PostgreSQL needs `HERALD_SECRET_KEY`: every machine sharing the database needs the same key.
    func secretKey() throws -> SecretKey {
        if let text = ProcessInfo.processInfo.environment["HERALD_SECRET_KEY"], !text.isEmpty {
            do {
                return try SecretKey(base64: text)
            } catch {
                throw ConfigFile.Problem(
                    description: "HERALD_SECRET_KEY must be 32 bytes in base64 (make one with: openssl rand -base64 32)")
            }
        }
        switch try location() {
        case .postgres:
            throw ConfigFile.Problem(
                description:
                    "HERALD_SECRET_KEY is required with PostgreSQL, the same on every machine (make one with: openssl rand -base64 32)")
        case .sqlite(let path, _):
            let keyPath = path + ".key"
            let (key, created) = try SecretKey.loadOrCreate(at: keyPath)
            if created {
                FileHandle.standardError.write(
                    Data(
                        ("herald: generated the master key for stored passwords at \(keyPath) (mode 0600); keep it with the "
                            + "database and back it up, or set HERALD_SECRET_KEY\n").utf8))
            }
            return key
        }
    }
}

/// Logging for commands that run services: to standard error, at `HERALD_LOG_LEVEL` (default info).
enum CommandLogging {
    static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["HERALD_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
    }
}

extension StoreLocation {
    /// Opens the store for a long-running command; a store that cannot be opened is said as
    /// `herald COMMAND: ...` (see `StoreError.reported(by:)`).
    func open(for command: String, secretKey: SecretKey, logger: Logger) async throws -> any Store {
        do {
            return try await open(secretKey: secretKey, logger: logger)
        } catch let error as StoreError {
            throw error.reported(by: command)
        }
    }
}

extension StoreError {
    /// Says the error on standard error as `herald COMMAND: message (code)` and returns the exit
    /// status to throw: a store that cannot be used ends a command with one line, not a trace.
    func reported(by command: String) -> ExitCode {
        FileHandle.standardError.write(Data("herald \(command): \(message) (\(code.rawValue))\n".utf8))
        return ExitCode(1)
    }
}
