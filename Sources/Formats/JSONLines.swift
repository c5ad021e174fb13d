// JSONLines.swift: reading JSONL files line by line with errors that name the file and line.

import Foundation

/// Errors reading JSON Lines input.
public enum JSONLinesError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// A line is not a JSON object.
    case malformedLine(file: String, line: Int, reason: String)
    /// A required field is missing or has the wrong type.
    case missingField(file: String, line: Int, field: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): "\(f): cannot read: \(r)"
        case .malformedLine(let f, let l, let r): "\(f):\(l): not a JSON object: \(r)"
        case .missingField(let f, let l, let field): "\(f):\(l): missing or non-string field '\(field)'"
        }
    }
}

/// JSON Lines input: one JSON object per line; blank lines are skipped.
public enum JSONLines {
    /// Parses every non-blank line of `path` as a JSON object.
    /// - Returns: `(line number, object)` pairs in file order (line numbers start at 1).
    /// - Throws: ``JSONLinesError`` naming the file and the first bad line.
    public static func readObjects(path: String) throws -> [(line: Int, object: [String: Any])] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JSONLinesError.unreadable(file: path, reason: "no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JSONLinesError.unreadable(file: path, reason: "not UTF-8 text")
        }
        var out: [(Int, [String: Any])] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let obj: Any
            do { obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) } catch {
                throw JSONLinesError.malformedLine(file: path, line: i + 1, reason: (error as NSError).localizedDescription)
            }
            guard let dict = obj as? [String: Any] else {
                throw JSONLinesError.malformedLine(file: path, line: i + 1, reason: "a JSON value that is not an object")
            }
            out.append((i + 1, dict))
        }
        return out
    }

    /// The string field `field` of every line.
    /// - Throws: ``JSONLinesError`` for unreadable files, malformed lines or a missing field.
    public static func readStrings(path: String, field: String) throws -> [String] {
        try readObjects(path: path).map { line, obj in
            guard let s = obj[field] as? String else { throw JSONLinesError.missingField(file: path, line: line, field: field) }
            return s
        }
    }
}
