// SQLiteConnection.swift: a small, thread-safe layer over the system SQLite C API.
//
// One connection per store, guarded by a recursive lock: SQLite serialises writers anyway, our
// statements are short, and a single connection keeps `transaction { }` simple (the lock is held
// for the whole transaction, so no other task can interleave statements into it).

import CSQLite
import Foundation

/// SQLite copies bound text and blobs when given this destructor value.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A value bound to or read from a SQL statement.
public enum SQLValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(nilLiteral: ()) { self = .null }

    /// Text, or NULL for nil.
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    /// An integer, or NULL for nil.
    public init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    /// A real, or NULL for nil.
    public init(_ value: Double?) { self = value.map { .real($0) } ?? .null }

    /// The value as a string (text as is, numbers formatted), nil for NULL and blobs.
    public var string: String? {
        switch self {
        case .text(let s): return s
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .null, .blob: return nil
        }
    }

    /// The value as an integer, nil for NULL, non-numeric text and blobs.
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(i)
        case .real(let d): return Int(d)
        case .text(let s): return Int(s)
        case .null, .blob: return nil
        }
    }

    /// The value as a double, nil for NULL, non-numeric text and blobs.
    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .real(let d): return d
        case .text(let s): return Double(s)
        case .null, .blob: return nil
        }
    }
}

/// One result row: values by column index or name.
public struct SQLRow: Sendable {
    /// Column names, in select order.
    public let columns: [String]
    /// Values, in select order.
    public let values: [SQLValue]

    /// The value of the named column (NULL if there is no such column).
    public subscript(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }

    /// The value at a column index.
    public subscript(_ index: Int) -> SQLValue { values[index] }
}

/// A connection to one SQLite database file.
public final class SQLiteConnection: @unchecked Sendable {
    /// The database file path (for messages).
    public let path: String
    private var handle: OpaquePointer?
    private let lock = NSRecursiveLock()
    private var statements: [String: OpaquePointer] = [:]
    private var transactionDepth = 0

    /// Opens (creating if needed) the database at `path`.
    /// - Parameter readOnly: open without write access (fails if the file is absent).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError.cannotOpen(path: path, message: message)
        }
        handle = db
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for (_, statement) in statements { sqlite3_finalize(statement) }
        sqlite3_close(handle)
    }

    /// Runs one or more statements that take no parameters (schema changes, pragmas).
    public func execute(_ sql: String) throws {
        try locked {
            var message: UnsafeMutablePointer<CChar>?
            let rc = sqlite3_exec(handle, sql, nil, nil, &message)
            if rc != SQLITE_OK {
                let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
                sqlite3_free(message)
                throw StoreError.sqlite(path: path, code: rc, message: text, sql: sql)
            }
        }
    }

    /// Runs a statement with parameters and returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int {
        try locked {
            let statement = try prepared(sql)
            defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
            try bind(arguments, to: statement, sql: sql)
            var rc = sqlite3_step(statement)
            while rc == SQLITE_ROW { rc = sqlite3_step(statement) }
            guard rc == SQLITE_DONE else { throw error(rc, sql) }
            return Int(sqlite3_changes(handle))
        }
    }

    /// Runs a query and returns every row.
    public func query(_ sql: String, _ arguments: [SQLValue] = []) throws -> [SQLRow] {
        try locked {
            let statement = try prepared(sql)
            defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
            try bind(arguments, to: statement, sql: sql)
            let columnCount = Int(sqlite3_column_count(statement))
            let names = (0..<columnCount).map { String(cString: sqlite3_column_name(statement, Int32($0))) }
            var rows: [SQLRow] = []
            while true {
                let rc = sqlite3_step(statement)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw error(rc, sql) }
                var values: [SQLValue] = []
                values.reserveCapacity(columnCount)
                for c in 0..<Int32(columnCount) {
                    switch sqlite3_column_type(statement, c) {
                    case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(statement, c)))
                    case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(statement, c)))
                    case SQLITE_TEXT: values.append(.text(String(cString: sqlite3_column_text(statement, c))))
                    case SQLITE_BLOB:
                        let count = Int(sqlite3_column_bytes(statement, c))
                        if let base = sqlite3_column_blob(statement, c), count > 0 {
                            values.append(.blob(Array(UnsafeRawBufferPointer(start: base, count: count))))
                        } else {
                            values.append(.blob([]))
                        }
                    default: values.append(.null)
                    }
                }
                rows.append(SQLRow(columns: names, values: values))
            }
            return rows
        }
    }

    /// The first row of a query, or nil.
    public func first(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLRow? {
        try query(sql, arguments).first
    }

    /// The row id of the last successful insert on this connection.
    public var lastInsertRowID: Int64 { locked { sqlite3_last_insert_rowid(handle) } }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it throws.
    /// Nested calls join the outer transaction through savepoints.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try locked {
            let depth = transactionDepth
            let savepoint = "sp\(depth)"
            try execute(depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT \(savepoint)")
            transactionDepth += 1
            defer { transactionDepth -= 1 }
            do {
                let value = try body()
                try execute(depth == 0 ? "COMMIT" : "RELEASE \(savepoint)")
                return value
            } catch {
                if depth == 0 {
                    try? execute("ROLLBACK")
                } else {
                    try? execute("ROLLBACK TO \(savepoint)")
                    try? execute("RELEASE \(savepoint)")
                }
                throw error
            }
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ arguments: [SQLValue], to statement: OpaquePointer, sql: String) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == arguments.count else {
            throw StoreError.sqlite(
                path: path, code: SQLITE_RANGE,
                message: "statement takes \(expected) parameters, got \(arguments.count)", sql: sql)
        }
        for (i, value) in arguments.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = sqlite3_bind_text(statement, index, v, -1, sqliteTransient)
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32(v.count), sqliteTransient) }
            }
            guard rc == SQLITE_OK else { throw error(rc, sql) }
        }
    }

    private func error(_ rc: Int32, _ sql: String) -> StoreError {
        StoreError.sqlite(path: path, code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}
