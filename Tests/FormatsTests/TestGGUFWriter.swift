// TestGGUFWriter.swift: a minimal GGUF writer for tests (spec: ggml docs/gguf.md), plus helpers
// shared by the Formats tests (temporary files, fixture lookup, model-file location).
//
// The writer emits exactly the layout GGUFFile reads: header, metadata, tensor infos, padding to
// the alignment, then each tensor's bytes at an aligned offset relative to the data section.

import Foundation
import Formats
import Testing

/// Builds GGUF files in memory.
struct TestGGUFWriter {
    /// A tensor to store: name, ne (fastest dimension first), ggml type id and raw bytes.
    struct Tensor {
        var name: String
        var dimensions: [Int]
        var type: UInt32
        var bytes: [UInt8]
    }

    var version: UInt32 = 3
    var alignment = 32
    var metadata: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []

    /// The offsets (relative to the data section) `bytes()` assigns to each tensor.
    var offsets: [Int] {
        var out = [Int](), at = 0
        for t in tensors {
            out.append(at)
            at += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        return out
    }

    /// The file image.
    func bytes() -> [UInt8] {
        var out = [UInt8]()
        out += Array("GGUF".utf8)
        put(&out, version)
        put(&out, UInt64(tensors.count))
        put(&out, UInt64(metadata.count))
        for (key, value) in metadata {
            putString(&out, key)
            put(&out, value.type.rawValue)
            putValue(&out, value)
        }
        for (t, offset) in zip(tensors, offsets) {
            putString(&out, t.name)
            put(&out, UInt32(t.dimensions.count))
            for d in t.dimensions { put(&out, UInt64(d)) }
            put(&out, t.type)
            put(&out, UInt64(offset))
        }
        pad(&out)
        for t in tensors {
            out += t.bytes
            pad(&out)
        }
        return out
    }

    private func pad(_ out: inout [UInt8]) {
        while out.count % alignment != 0 { out.append(0) }
    }

    private func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    private func putString(_ out: inout [UInt8], _ s: String) {
        put(&out, UInt64(s.utf8.count))
        out += Array(s.utf8)
    }

    private func putValue(_ out: inout [UInt8], _ value: GGUFValue) {
        switch value {
        case .uint8(let v): put(&out, v)
        case .int8(let v): put(&out, v)
        case .uint16(let v): put(&out, v)
        case .int16(let v): put(&out, v)
        case .uint32(let v): put(&out, v)
        case .int32(let v): put(&out, v)
        case .float32(let v): put(&out, v.bitPattern)
        case .bool(let v): put(&out, UInt8(v ? 1 : 0))
        case .string(let v): putString(&out, v)
        case .uint64(let v): put(&out, v)
        case .int64(let v): put(&out, v)
        case .float64(let v): put(&out, v.bitPattern)
        case .array(let t, let values):
            put(&out, t.rawValue)
            put(&out, UInt64(values.count))
            for v in values { putValue(&out, v) }
        }
    }
}

// MARK: - Shared helpers

/// A fresh temporary directory for one test.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("formats-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes `bytes` to `name` inside `dir` and returns the path.
func writeFile(_ bytes: [UInt8], named name: String, in dir: URL) throws -> String {
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// Path of a committed fixture (Tests/FormatsTests/Fixtures, made by scripts/make-format-fixtures.py).
func fixturePath(_ name: String) throws -> String {
    let dir = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil),
                           "Fixtures folder missing from the test bundle")
    return dir.appendingPathComponent(name).path
}

/// `$LONGREWARD_HOME/models` (default `~/.cache/longreward/models`).
func modelsDirectory() -> URL {
    let env = ProcessInfo.processInfo.environment
    let home = env["LONGREWARD_HOME"].map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/longreward")
    return home.appendingPathComponent("models")
}

/// The path of a downloaded model file, or nil after recording a failure that says how to get it.
func requireModelFile(_ relativePath: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let path = modelsDirectory().appendingPathComponent(relativePath).path
    if FileManager.default.fileExists(atPath: path) { return path }
    Issue.record("model file \(path) is missing: run `make setup` to download the models",
                 sourceLocation: sourceLocation)
    return nil
}

/// The case name of a FormatError (e.g. "truncated"), for asserting which case was thrown.
func caseName(_ error: any Error) -> String {
    guard let e = error as? FormatError else { return "not a FormatError: \(error)" }
    return Mirror(reflecting: e).children.first?.label ?? "\(e)"
}

/// Runs `body`, expecting a FormatError of case `expected`; returns the error for further checks.
@discardableResult
func expectFormatError(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        Issue.record("expected FormatError.\(expected), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(caseName(error) == expected, "thrown: \(error)", sourceLocation: sourceLocation)
        return error as? FormatError
    }
}

/// Little-endian bytes of a sequence of fixed-width integers.
func leBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out = [UInt8]()
    for v in values { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    return out
}

/// Little-endian bytes of floats.
func leBytes(_ values: [Float]) -> [UInt8] { leBytes(values.map(\.bitPattern)) }
