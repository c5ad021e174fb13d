// DocumentText.swift: reading and normalising documents (txt, md, jsonl).

import Formats
import Foundation

/// Normalised document text: valid UTF-8, `\n` newlines, no byte-order mark, no NUL or other
/// C0 control characters except tab and newline, trailing whitespace trimmed.
public enum DocumentText {
    /// Normalises raw bytes from `source` (a path or a label for messages).
    /// - Throws: `RetrievalError.binaryDocument` for invalid UTF-8 or control-heavy data,
    ///   `.emptyDocument` when nothing but whitespace remains.
    public static func normalise(bytes: [UInt8], source: String) throws -> String {
        var bytes = bytes[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RetrievalError.binaryDocument(source: source, reason: "invalid UTF-8")
        }
        return try normalise(text: decoded, source: source)
    }

    /// Normalises a string (newlines, control characters, trailing whitespace).
    public static func normalise(text: String, source: String) throws -> String {
        var scalars = String.UnicodeScalarView()
        var controls = 0
        var previousCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\r" {
                scalars.append("\n")
                previousCR = true
                continue
            }
            defer { previousCR = false }
            if scalar == "\n" {
                if !previousCR { scalars.append(scalar) }
            } else if scalar == "\t" {
                scalars.append(scalar)
            } else if scalar.value < 0x20 || scalar.value == 0x7F {
                controls += 1
            } else {
                scalars.append(scalar)
            }
        }
        let total = text.unicodeScalars.count
        if controls > 0, controls * 100 >= max(total, 1) || text.unicodeScalars.contains("\u{0}") {
            throw RetrievalError.binaryDocument(source: source, reason: "\(controls) control characters")
        }
        var result = String(scalars)
        while let last = result.unicodeScalars.last, last.properties.isWhitespace { result.unicodeScalars.removeLast() }
        while let first = result.unicodeScalars.first, first == "\n" { result.unicodeScalars.removeFirst() }
        guard !result.isEmpty else { throw RetrievalError.emptyDocument(source: source) }
        return result
    }

    /// Reads documents from a file: one for txt and md (id: the file name without extension),
    /// one per line for jsonl (field `text`, `context` or `document`; id from `id`, `doc_id`, else
    /// `<file name>-<line>`).
    public static func read(path: String) throws -> [(id: String, text: String)] {
        if path.lowercased().hasSuffix(".jsonl") {
            let lines: [(line: Int, object: [String: Any])]
            do { lines = try JSONLines.readObjects(path: path) } catch let error as JSONLinesError {
                switch error {
                case .malformedLine(let file, let line, let reason): throw RetrievalError.unreadableDocument(path: "\(file):\(line)", reason: reason)
                default: throw RetrievalError.unreadableDocument(path: path, reason: error.description)
                }
            }
            let out = try lines.map { line, object -> (id: String, text: String) in
                let label = "\(path):\(line)"
                guard let text = (object["text"] ?? object["context"] ?? object["document"]) as? String else {
                    throw RetrievalError.unreadableDocument(path: label, reason: "no string field 'text', 'context' or 'document'")
                }
                let id = (object["id"] ?? object["doc_id"]).map { "\($0)" }
                return (id ?? "\(baseName(path))-\(line)", try normalise(text: text, source: label))
            }
            guard !out.isEmpty else { throw RetrievalError.emptyDocument(source: path) }
            return out
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw RetrievalError.unreadableDocument(path: path, reason: exists ? "permission denied or a folder" : "no such file")
        }
        return [(baseName(path), try normalise(bytes: Array(data), source: path))]
    }

    /// The file name without folder and extension.
    public static func baseName(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
