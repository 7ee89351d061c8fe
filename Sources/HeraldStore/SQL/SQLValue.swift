import Foundation

/// A value bound to, or read from, a SQL statement: the seam between `SQLStore` and a backend.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
    /// A whole column of a batch as one parameter, which `unnest` turns back into rows: the
    /// statement's text, and so its parse and plan, stay the same whatever the batch's size.
    /// PostgreSQL only (dialects with `writableCTEs`).
    case array(SQLArray)
}

/// The values of one column, bound as a PostgreSQL array (`BIGINT[]`, `TEXT[]` or `BYTEA[]`).
public enum SQLArray: Sendable, Hashable {
    case integers([Int64?])
    case texts([String?])
    case blobs([[UInt8]?])

    /// The kind of a column, for `columns(of:kinds:)`.
    enum Kind {
        case integer, text, blob
    }

    /// Rows of values turned into columns, one array each: `rows[r][c]` becomes element `r` of
    /// column `c`. A value that does not fit its column's kind is a programming error, reported
    /// as a database error rather than bound as something else.
    static func columns(of rows: [[SQLValue]], kinds: [Kind]) throws -> [SQLValue] {
        try kinds.enumerated().map { column, kind in
            /// Element `column` of every row, as `T`; nil for NULL.
            func values<T>(_ unwrap: (SQLValue) -> T?) throws -> [T?] {
                try rows.map { row in
                    let value = row[column]
                    if case .null = value { return nil }
                    guard let unwrapped = unwrap(value) else {
                        throw StoreError(.database, "column \(column) of a batch holds \(value.kindName) where \(kind) was expected")
                    }
                    return unwrapped
                }
            }
            switch kind {
            case .integer:
                return .array(
                    .integers(
                        try values {
                            switch $0 {
                            case .integer(let value): value
                            case .bool(let value): value ? 1 : 0
                            default: nil
                            }
                        }))
            case .text: return .array(.texts(try values { if case .text(let value) = $0 { value } else { nil } }))
            case .blob: return .array(.blobs(try values { if case .blob(let value) = $0 { value } else { nil } }))
            }
        }
    }
}

extension SQLValue {
    /// What kind of value this is, for error messages (never the value itself).
    var kindName: String {
        switch self {
        case .null: "null"
        case .integer: "an integer"
        case .real: "a real"
        case .text: "text"
        case .blob: "a blob"
        case .bool: "a boolean"
        case .array: "an array"
        }
    }
}

extension SQLValue {
    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    init(_ value: Int64?) { self = value.map { .integer($0) } ?? .null }
    init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    /// Times are integer microseconds since 1970.
    init(_ value: Date?) { self = value.map { .integer(SQLTime.micros($0)) } ?? .null }
}

/// Herald stores times as integer microseconds since 1970 on both backends, so that the same
/// arithmetic (`now + lease`) runs on both.
enum SQLTime {
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
    /// The date as it reads back from the database (to the microsecond).
    static func rounded(_ date: Date) -> Date { Self.date(micros(date)) }
    static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

/// The column names of one result set, shared by all its rows.
public final class SQLColumns: Sendable {
    let positions: [String: Int]

    /// The names in the order the row's values come.
    public init(names: [String]) {
        var positions: [String: Int] = [:]
        positions.reserveCapacity(names.count)
        for (position, name) in names.enumerated() where positions[name] == nil { positions[name] = position }
        self.positions = positions
    }
}

/// One result row, read by column name.
public struct SQLRow: Sendable {
    let columns: SQLColumns
    let values: [SQLValue]

    /// A row of `values` in the order of `columns` (one `SQLColumns` serves a whole result set).
    public init(columns: SQLColumns, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    subscript(_ column: String) -> SQLValue {
        guard let position = columns.positions[column], position < values.count else { return .null }
        return values[position]
    }

    func int(_ column: String) throws -> Int64 {
        guard let value = optionalInt(column) else { throw Self.missing(column) }
        return value
    }

    func optionalInt(_ column: String) -> Int64? {
        switch self[column] {
        case .integer(let value): value
        case .real(let value): Int64(value)
        case .bool(let value): value ? 1 : 0
        case .text(let value): Int64(value)
        case .null, .blob, .array: nil
        }
    }

    func text(_ column: String) throws -> String {
        guard let value = optionalText(column) else { throw Self.missing(column) }
        return value
    }

    func optionalText(_ column: String) -> String? {
        switch self[column] {
        case .text(let value): value
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .bool(let value): String(value)
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null, .array: nil
        }
    }

    func bool(_ column: String) throws -> Bool {
        switch self[column] {
        case .bool(let value): return value
        case .integer(let value): return value != 0
        default: throw Self.missing(column)
        }
    }

    func bytes(_ column: String) -> [UInt8]? {
        switch self[column] {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: nil
        }
    }

    func date(_ column: String) throws -> Date { SQLTime.date(try int(column)) }
    func optionalDate(_ column: String) -> Date? { optionalInt(column).map(SQLTime.date) }

    private static func missing(_ column: String) -> StoreError {
        StoreError(.database, "the database returned no usable value for column \(column)")
    }
}
