// Console.swift: stderr status lines and JSON printing shared by the subcommands.

import Foundation

enum Console {
    /// Writes a transient status line to stderr (overwritten by the next one when on a terminal).
    static func status(_ text: String) {
        let line = isatty(STDERR_FILENO) != 0 ? "\r\u{1B}[K" + text : text + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends a run of status lines.
    static func clearStatus() {
        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Compact JSON with stable key order.
    static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }
}
