// StoreError.swift: the Store target's one error enum; every case names the database file.

/// Errors raised by the SQLite store.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The database could not be opened or created.
    case cannotOpen(path: String, message: String)
    /// SQLite rejected a statement.
    case sqlite(path: String, code: Int32, message: String, sql: String)
    /// The file was written by a newer build whose schema this build does not know.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// A migration failed; the transaction was rolled back and the schema stays at `version - 1`.
    case migrationFailed(path: String, version: Int, message: String)
    /// A row the caller referenced does not exist.
    case notFound(path: String, what: String)
    /// The store holds data that contradicts the request (for example, another embedder).
    case conflict(path: String, message: String)
    /// A stored value could not be decoded.
    case corruptValue(path: String, what: String, message: String)
    /// Another live process is running a job on this store.
    case busy(path: String, runID: Int64, pid: Int, command: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let message):
            return "\(path): cannot open the store: \(message)"
        case .sqlite(let path, let code, let message, let sql):
            let head = sql.split(separator: "\n").first.map(String.init) ?? sql
            // SQLITE_IOERR (10, and its extended codes) and SQLITE_FULL (13) are how a full disk
            // or a file-size limit shows; SQLite has rolled the transaction back.
            let hint = [10, 13].contains(code & 0xFF)
                ? "; the disk may be full or a file-size limit reached: the failed transaction was rolled back, so free some space and rerun to resume"
                : ""
            return "\(path): SQLite error \(code): \(message) (in: \(head.prefix(80)))\(hint)"
        case .schemaTooNew(let path, let found, let supported):
            return "\(path): schema version \(found) is newer than this build supports (\(supported)); upgrade longreward"
        case .migrationFailed(let path, let version, let message):
            return "\(path): migration to schema version \(version) failed and was rolled back: \(message)"
        case .notFound(let path, let what):
            return "\(path): \(what) not found"
        case .conflict(let path, let message):
            return "\(path): \(message)"
        case .corruptValue(let path, let what, let message):
            return "\(path): stored \(what) is unreadable: \(message)"
        case .busy(let path, let runID, let pid, let command):
            return "\(path): in use by run \(runID) (`\(command)`, process \(pid)); wait for it to finish, stop it, or use another store"
        }
    }
}
