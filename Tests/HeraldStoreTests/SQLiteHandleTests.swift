import Foundation
import HeraldTestSupport
import NIOConcurrencyHelpers
import Testing

@testable import HeraldStore

/// Herald's own SQLite connection: values go in and come back exactly, cached statements stay
/// correct when the cache turns over, and SQLite's errors keep their meaning.
@Suite("SQLite connection")
struct SQLiteHandleTests {
    static func withHandle(_ body: (SQLiteHandle) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("handle-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try SQLiteHandle(path: path)
        defer { handle.close() }
        try body(handle)
    }

    @Test func valuesRoundTripExactly() throws {
        try Self.withHandle { handle in
            _ = try handle.execute("CREATE TABLE t (n INTEGER, r REAL, s TEXT, b BLOB, z)", [])
            let rows: [[SQLValue]] = [
                [.integer(Int64.min), .real(-0.5), .text(""), .blob([]), .null],
                [.integer(Int64.max), .real(1e300), .text("nul\u{0}inside 系统 😀"), .blob([0, 255, 0]), .bool(true)],
            ]
            for row in rows { _ = try handle.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", row) }
            let read = try handle.execute("SELECT n, r, s, b, z FROM t ORDER BY rowid", [])
            #expect(read.map(\.values) == [rows[0], [rows[1][0], rows[1][1], rows[1][2], rows[1][3], .integer(1)]])
            #expect(try handle.execute("SELECT typeof(b) AS kind FROM t", []).map { $0["kind"] } == [.text("blob"), .text("blob")])
        }
    }

    @Test func cachedStatementsStayCorrectWhenTheCacheTurnsOver() throws {
        try Self.withHandle { handle in
            // More distinct statements than the cache keeps, then the first ones again: each must
            // still answer for its own SQL and its own binds.
            for round in 0..<2 {
                for number in 0..<300 {
                    let rows = try handle.execute("SELECT ? + \(number) AS total", [.integer(Int64(round))])
                    #expect(rows.first?["total"] == .integer(Int64(number + round)))
                }
            }
        }
    }

    @Test func errorsKeepTheirMeaningAndLeaveTheStatementUsable() throws {
        try Self.withHandle { handle in
            _ = try handle.execute("CREATE TABLE u (k TEXT PRIMARY KEY)", [])
            let insert = "INSERT INTO u VALUES (?)"
            _ = try handle.execute(insert, [.text("a")])
            #expect {
                try handle.execute(insert, [.text("a")])
            } throws: { error in
                (error as? SQLiteFailure)?.isUniqueViolation == true
            }
            _ = try handle.execute(insert, [.text("b")])
            #expect(try handle.execute("SELECT count(*) AS n FROM u", []).first?["n"] == .integer(2))
            #expect(throws: SQLiteFailure.self) { try handle.execute("SELEKT 1", []) }
            handle.close()
            #expect(throws: SQLiteFailure.self) { try handle.execute("SELECT 1", []) }
        }
    }
}

/// A batch's rows as columns (PostgreSQL binds each as one array); only PostgreSQL takes arrays.
@Suite("Batch columns")
struct SQLArrayTests {
    @Test func rowsBecomeTypedColumnsWithNulls() throws {
        let rows: [[SQLValue]] = [[.integer(1), .text("a"), .blob([1])], [.null, .null, .null], [.bool(true), .text("c"), .blob([])]]
        let columns = try SQLArray.columns(of: rows, kinds: [.integer, .text, .blob])
        #expect(columns == [.array(.integers([1, nil, 1])), .array(.texts(["a", nil, "c"])), .array(.blobs([[1], nil, []]))])
    }

    @Test func aValueOfTheWrongKindIsRefusedNotConverted() {
        #expect(throws: StoreError.self) { try SQLArray.columns(of: [[.text("1")]], kinds: [.integer]) }
        #expect(throws: StoreError.self) { try SQLArray.columns(of: [[.integer(1)]], kinds: [.text]) }
    }

    @Test func sqliteRefusesAnArrayParameter() throws {
        try SQLiteHandleTests.withHandle { handle in
            #expect(throws: SQLiteFailure.self) { _ = try handle.execute("SELECT ?", [.array(.integers([1]))]) }
            let after = try handle.execute("SELECT 1 AS one", [])
            #expect(after.first?["one"] == .integer(1), "the connection stays usable")
        }
    }
}

/// A write transaction always ends, even when its task is cancelled: NIOThreadPool skips the
/// work of a cancelled task, and a skipped COMMIT or ROLLBACK left the writer inside its
/// transaction ("cannot start a transaction within a transaction" on every later write).
@Suite("SQLite writes under cancellation")
struct SQLiteCancelledWriteTests {
    @Test func aWriteWhoseTaskIsCancelledCommitsAndTheNextWriteWorks() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cancel-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(SQLiteBackend.Configuration(path: path), logger: TestDatabase.logger)
        try await backend.write { _ = try await $0.query("CREATE TABLE t (n INTEGER)", []) }
        for n in 1...3 {
            // The body completes, then its task is cancelled before the COMMIT.
            let cancelled = Task {
                try await backend.write { connection in
                    _ = try await connection.query("INSERT INTO t (n) VALUES (?)", [.integer(Int64(n))])
                    withUnsafeCurrentTask { $0?.cancel() }
                }
            }
            _ = await cancelled.result
            // A body that fails in a cancelled task is rolled back, and the writer is free again.
            let failed = Task {
                try await backend.write { connection in
                    _ = try await connection.query("INSERT INTO t (n) VALUES (?)", [.integer(-1)])
                    withUnsafeCurrentTask { $0?.cancel() }
                    throw CancellationError()
                }
            }
            _ = await failed.result
            try await backend.write { _ = try await $0.query("INSERT INTO t (n) VALUES (?)", [.integer(Int64(n * 10))]) }
        }
        let rows = try await backend.read { try await $0.query("SELECT n FROM t ORDER BY n", []) }
        #expect(try rows.map { try $0.int("n") } == [1, 2, 3, 10, 20, 30], "completed bodies committed, the failed ones not")
        try await backend.close()
    }

    /// A write runs on the writer's thread from its first statement to its last, with no
    /// suspension that would let the thread's other tasks in; the caller is back on its own
    /// threads afterwards.
    @Test func aWriteRunsOnTheWriterThreadFromBeginToCommit() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(SQLiteBackend.Configuration(path: path), logger: TestDatabase.logger)
        try await backend.write { _ = try await $0.query("CREATE TABLE t (n INTEGER)", []) }
        let log = NIOLockedValueBox([String]())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    try await backend.write { connection in
                        for step in 0..<5 {
                            _ = try await connection.query("INSERT INTO t (n) VALUES (?)", [.integer(Int64(writer * 10 + step))])
                            log.withLockedValue { $0.append("\(writer) \(backend.onWriterThread)") }
                        }
                    }
                    #expect(!backend.onWriterThread)
                }
            }
            try await group.waitForAll()
        }
        let entries = log.withLockedValue { $0 }
        #expect(entries.count == 40)
        #expect(entries.allSatisfy { $0.hasSuffix("true") }, "every statement ran on the writer's thread")
        let order = entries.map { $0.prefix { $0 != " " } }
        for start in stride(from: 0, to: order.count, by: 5) {
            #expect(Set(order[start..<start + 5]).count == 1, "one write's statements ran together")
        }
        let rows = try await backend.writeStatement("SELECT count(*) AS n FROM t", [])
        #expect(try rows.first?.int("n") == 40)
        try await backend.close()
    }
}
