import Foundation

/// A value bound to, or read from, a SQL statement: the seam between `SQLStore` and a backend.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
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
        case .null, .blob: nil
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
        case .null: nil
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
