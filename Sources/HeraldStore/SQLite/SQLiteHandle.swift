import NIOConcurrencyHelpers
import VaporCSQLite

/// One SQLite connection on the C API, with its prepared statements kept for reuse.
///
/// sqlite-nio (whose bundled SQLite this uses) prepares every statement afresh and hops to a
/// thread pool and back for each one: about 80 µs per statement here against well under 1 µs
/// for the statement itself. Herald's queue runs the same few statements all the time, so this
/// handle keeps them prepared and lets the caller choose the thread: the writer runs its
/// transactions on a thread of its own, readers go through the thread pool.
///
/// Every call holds the handle's lock: one thread at a time uses the connection, so SQLite's
/// own mutexes are off (`SQLITE_OPEN_NOMUTEX`).
final class SQLiteHandle: @unchecked Sendable {
    /// A prepared statement and the names of its result columns.
    private struct Prepared {
        let statement: OpaquePointer
        let columns: SQLColumns
        let columnCount: Int
        var lastUsed: UInt64
    }

    private let lock = NIOLock()
    private var database: OpaquePointer?
    private var statements: [String: Prepared] = [:]
    private var uses: UInt64 = 0
    /// Prepared statements kept. Batch statements differ by their row count (a few per batch
    /// size), so the queue's working set is up to about a hundred.
    private let cacheLimit = 128

    /// Opens (creating if needed) the database file.
    init(path: String) throws(SQLiteFailure) {
        var database: OpaquePointer?
        let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite_nio_sqlite3_open_v2(path, &database, flags, nil)
        guard code == SQLITE_OK, let database else {
            let failure = SQLiteFailure(code: code, message: database.map(Self.message) ?? "could not open the database")
            sqlite_nio_sqlite3_close_v2(database)
            throw failure
        }
        self.database = database
    }

    deinit { close() }

    var isClosed: Bool { lock.withLock { database == nil } }

    /// Whether the connection is outside any transaction (SQLite's autocommit mode).
    var isAutocommit: Bool { lock.withLock { database.map { sqlite_nio_sqlite3_get_autocommit($0) != 0 } ?? true } }

    /// How many times SQLite had to prepare the kept statements again (a schema change, or a
    /// parameter the planner depends on bound anew); the queue's statements should never need it.
    /// Read from SQLite's own counters, so running a statement costs nothing extra.
    var statementsPreparedAgain: Int {
        lock.withLock {
            statements.values.reduce(0) { $0 + Int(sqlite_nio_sqlite3_stmt_status($1.statement, SQLITE_STMTSTATUS_REPREPARE, 0)) }
        }
    }

    /// Finalizes every statement and closes the connection; later calls fail.
    func close() {
        lock.withLock {
            for prepared in statements.values { sqlite_nio_sqlite3_finalize(prepared.statement) }
            statements = [:]
            if let database { sqlite_nio_sqlite3_close_v2(database) }
            database = nil
        }
    }

    /// Runs one statement with `binds` and returns its rows. Blocks for as long as SQLite takes;
    /// throws `SQLiteFailure`.
    func execute(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        try lock.withLock {
            guard let database else { throw Self.closed }
            return try run(try cached(sql) ?? prepare(sql, on: database), binds, on: database)
        }
    }

    private static let closed = SQLiteFailure(code: SQLITE_MISUSE, message: "the connection is closed")

    /// Runs a prepared statement, under the lock.
    private func run(_ prepared: Prepared, _ binds: [SQLValue], on database: OpaquePointer) throws -> [SQLRow] {
        let statement = prepared.statement
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        for (offset, value) in binds.enumerated() {
            if case .array = value { throw SQLiteFailure(code: SQLITE_MISMATCH, message: "SQLite has no array parameters") }
            let code = Self.bind(value, at: Int32(offset + 1), to: statement)
            guard code == SQLITE_OK else { throw SQLiteFailure(code: code, message: Self.message(database)) }
        }
        var rows: [SQLRow] = []
        while true {
            let code = sqlite_nio_sqlite3_step(statement)
            if code == SQLITE_DONE { return rows }
            guard code == SQLITE_ROW else { throw SQLiteFailure(code: code, message: Self.message(database)) }
            rows.append(SQLRow(columns: prepared.columns, values: Self.values(of: statement, count: prepared.columnCount)))
        }
    }

    /// The cached statement for `sql`, marked as just used; nil when it is not prepared. Batch
    /// statements run to kilobytes, so `sql` is hashed once here, not once per step.
    private func cached(_ sql: String) -> Prepared? {
        guard let index = statements.index(forKey: sql) else { return nil }
        uses += 1
        statements.values[index].lastUsed = uses
        return statements.values[index]
    }

    /// Prepares `sql` and keeps it; the least recently used statement makes room when the cache
    /// is full.
    private func prepare(_ sql: String, on database: OpaquePointer) throws(SQLiteFailure) -> Prepared {
        uses += 1
        var statement: OpaquePointer?
        let code = sqlite_nio_sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw SQLiteFailure(code: code, message: Self.message(database)) }
        let count = Int(sqlite_nio_sqlite3_column_count(statement))
        let names = (0..<count).map { String(cString: sqlite_nio_sqlite3_column_name(statement, Int32($0))) }
        let prepared = Prepared(statement: statement, columns: SQLColumns(names: names), columnCount: count, lastUsed: uses)
        if statements.count >= cacheLimit, let oldest = statements.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            sqlite_nio_sqlite3_finalize(oldest.value.statement)
            statements[oldest.key] = nil
        }
        statements[sql] = prepared
        return prepared
    }

    private static func bind(_ value: SQLValue, at index: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .null:
            return sqlite_nio_sqlite3_bind_null(statement, index)
        case .integer(let value):
            return sqlite_nio_sqlite3_bind_int64(statement, index, value)
        case .real(let value):
            return sqlite_nio_sqlite3_bind_double(statement, index, value)
        case .bool(let value):
            return sqlite_nio_sqlite3_bind_int64(statement, index, value ? 1 : 0)
        case .text(let value):
            // withCString, not withUTF8: it never hands over a null pointer (which binds NULL).
            return value.withCString { text in
                sqlite_nio_sqlite3_bind_text64(statement, index, text, UInt64(value.utf8.count), transient, UInt8(SQLITE_UTF8))
            }
        case .blob(let bytes):
            // An empty array may have no storage; a null pointer would bind NULL, not an empty blob.
            guard !bytes.isEmpty else { return sqlite_nio_sqlite3_bind_zeroblob(statement, index, 0) }
            return bytes.withUnsafeBytes { sqlite_nio_sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), transient) }
        case .array:
            return SQLITE_MISMATCH  // refused before binding, in execute
        }
    }

    private static func values(of statement: OpaquePointer, count: Int) -> [SQLValue] {
        (0..<Int32(count)).map { column in
            switch sqlite_nio_sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER:
                return .integer(sqlite_nio_sqlite3_column_int64(statement, column))
            case SQLITE_FLOAT:
                return .real(sqlite_nio_sqlite3_column_double(statement, column))
            case SQLITE_TEXT:
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
                return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
            case SQLITE_BLOB:
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                guard let blob = sqlite_nio_sqlite3_column_blob(statement, column), length > 0 else { return .blob([]) }
                return .blob(Array(UnsafeRawBufferPointer(start: blob, count: length)))
            default:
                return .null
            }
        }
    }

    private static func message(_ database: OpaquePointer) -> String {
        String(cString: sqlite_nio_sqlite3_errmsg(database))
    }
}

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A failed SQLite call: the extended result code and SQLite's message.
struct SQLiteFailure: Error, CustomStringConvertible {
    let code: Int32
    let message: String

    /// The primary result code (the low byte of the extended one).
    var primary: Int32 { code & 0xff }

    /// Another connection holds the lock this statement needs.
    var isBusy: Bool { primary == SQLITE_BUSY || primary == SQLITE_LOCKED }

    /// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY (extended codes of SQLITE_CONSTRAINT).
    var isUniqueViolation: Bool { code == SQLITE_CONSTRAINT | (8 << 8) || code == SQLITE_CONSTRAINT | (6 << 8) }

    /// The disk, the file or its permissions: nothing a retry of the statement would fix.
    var isStorageFailure: Bool { [SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN].contains(primary) }

    var description: String { "SQLite error \(code): \(message)" }
}
