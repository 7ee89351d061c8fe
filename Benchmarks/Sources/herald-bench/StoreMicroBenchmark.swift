import Foundation
import HeraldStore
import Logging
import PostgresNIO
import SQLiteNIO
import VaporCSQLite

/// Round-trip costs of the two drivers, to see where a store operation's time goes.
struct StoreMicroBenchmark {
    func run() async throws {
        let clock = ContinuousClock()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("micro-\(getpid()).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: Logger(label: "m"))
        let n = 2000
        var elapsed = try await clock.measure { for _ in 0..<n { _ = try await connection.query("SELECT 1", []) } }
        print("sqlite-nio SELECT 1: \(elapsed.seconds / Double(n) * 1e6) us")
        var raw: OpaquePointer?
        _ = sqlite_nio_sqlite3_open_v2(path, &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        var statement: OpaquePointer?
        _ = sqlite_nio_sqlite3_prepare_v2(raw, "SELECT 1", -1, &statement, nil)
        elapsed = clock.measure {
            for _ in 0..<n {
                _ = sqlite_nio_sqlite3_step(statement)
                _ = sqlite_nio_sqlite3_reset(statement)
            }
        }
        print("raw cached SELECT 1: \(elapsed.seconds / Double(n) * 1e6) us")
        sqlite_nio_sqlite3_finalize(statement)
        sqlite_nio_sqlite3_close(raw)
        _ = try await connection.query("PRAGMA journal_mode=WAL", [])
        _ = try await connection.query("PRAGMA synchronous=FULL", [])
        _ = try await connection.query("CREATE TABLE t (a INTEGER, b TEXT)", [])
        elapsed = try await clock.measure {
            for _ in 0..<n {
                _ = try await connection.query("BEGIN IMMEDIATE", [])
                _ = try await connection.query("INSERT INTO t VALUES (1, 'x')", [])
                _ = try await connection.query("COMMIT", [])
            }
        }
        print("sqlite-nio BEGIN/INSERT/COMMIT: \(elapsed.seconds / Double(n) * 1e6) us")
        try await connection.close()

        guard let url = ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"] else { return }
        let configuration = try PostgresBackend.Configuration(url: url + "?sslmode=disable")
        let client = PostgresClient(configuration: configuration.client)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            _ = try await client.query("SELECT 1")
            elapsed = try await clock.measure { for _ in 0..<n { _ = try await client.query("SELECT 1").collect() } }
            print("postgres-nio client SELECT 1: \(elapsed.seconds / Double(n) * 1e6) us")
            elapsed = try await clock.measure {
                try await client.withConnection { connection in
                    for _ in 0..<n { _ = try await connection.query("SELECT 1", logger: Logger(label: "m")).collect() }
                }
            }
            print("postgres-nio connection SELECT 1: \(elapsed.seconds / Double(n) * 1e6) us")
            _ = try await client.query("CREATE TEMP TABLE IF NOT EXISTS micro (a BIGINT)")
            _ = try await client.query("CREATE TABLE IF NOT EXISTS micro_t (a BIGINT)")
            elapsed = try await clock.measure {
                for _ in 0..<500 {
                    try await client.withTransaction(logger: Logger(label: "m")) { connection in
                        _ = try await connection.query("INSERT INTO micro_t VALUES (1)", logger: Logger(label: "m"))
                    }
                }
            }
            print("postgres-nio transaction INSERT: \(elapsed.seconds / 500 * 1e6) us")
            group.cancelAll()
        }
    }
}
