// ModelFileInspector.swift: a readable summary of a GGUF or safetensors file (`longreward inspect`).

import Foundation

/// Summaries of model files.
public enum ModelFileInspector {
    /// Describes a GGUF (metadata and tensor table) or safetensors (header) file.
    ///
    /// The format is chosen by the file's first bytes (`GGUF` magic), not its extension.
    /// Long arrays (vocabularies, merges) are summarised by type, length and first entries.
    /// - Throws: `FormatError` for unreadable or corrupt files.
    public static func describe(path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw FormatError.io(file: path, reason: "cannot open for reading") }
        let magic = (try? h.read(upToCount: 4)) ?? Data()
        try? h.close()
        if magic == Data("GGUF".utf8) { return try describeGGUF(try GGUFFile(path: path)) }
        return try describeSafeTensors(try SafeTensorsFile(path: path))
    }

    static func describeGGUF(_ f: GGUFFile) throws -> String {
        var lines = [
            "GGUF v\(f.version): \(f.path)",
            "size \(f.fileSize) bytes, alignment \(f.alignment), data offset \(f.dataOffset)",
            "", "metadata (\(f.metadataKeys.count) keys):",
        ]
        for key in f.metadataKeys {
            let v = try f.value(key)
            lines.append("  \(key) [\(v.typeName)] = \(summary(v))")
        }
        lines.append("")
        lines.append("tensors (\(f.tensors.count)):")
        var byType: [String: Int] = [:]
        for t in f.tensors {
            lines.append("  \(t.name)  \(t.type)  \(t.shape)  \(t.byteCount) bytes  @\(t.offset)")
            byType[t.type.description, default: 0] += 1
        }
        lines.append("")
        lines.append("tensor types: " + byType.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        lines.append("parameters: \(f.tensors.reduce(0) { $0 + $1.elementCount })")
        return lines.joined(separator: "\n")
    }

    static func summary(_ v: GGUFValue) -> String {
        if let a = v.array {
            let head = a.prefix(5).map { summary($0) }.joined(separator: ", ")
            return "[\(a.count) items: \(head)\(a.count > 5 ? ", ..." : "")]"
        }
        if let s = v.string {
            let oneLine = s.replacingOccurrences(of: "\n", with: "\\n")
            return "\"" + (oneLine.count > 120 ? String(oneLine.prefix(120)) + "..." : oneLine) + "\""
        }
        return v.description
    }

    static func describeSafeTensors(_ f: SafeTensorsFile) throws -> String {
        var lines = ["safetensors: \(f.path)", "header \(f.dataOffset) bytes, \(f.tensors.count) tensors"]
        if !f.metadata.isEmpty {
            lines.append("metadata:")
            for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) { lines.append("  \(k) = \(v)") }
        }
        lines.append("tensors:")
        for t in f.tensors { lines.append("  \(t.name)  \(t.dtype.rawValue)  \(t.shape)  \(t.byteCount) bytes") }
        lines.append("parameters: \(f.tensors.reduce(0) { $0 + $1.elementCount })")
        return lines.joined(separator: "\n")
    }
}
