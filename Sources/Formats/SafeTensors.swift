// SafeTensors.swift: a validating, memory-mapped reader for .safetensors files.
//
// Spec (huggingface/safetensors README, "Format"):
//   8 bytes   N, UInt64 little-endian: size of the header
//   N bytes   UTF-8 JSON object: { "<name>": { "dtype": "F32", "shape": [d0, d1, ...],
//             "data_offsets": [begin, end] }, ..., "__metadata__": { "<str>": "<str>" } }
//             (may be padded at the end with spaces)
//   rest      the byte buffer; [begin, end) are relative to its start, row-major, little-endian.
// Validation on open: N inside the file, JSON well formed, dtype known, every range inside the
// buffer, end - begin == product(shape) * dtype size, no two tensors overlapping.

import Foundation
import Kernels

/// Element types a safetensors file can declare.
public enum SafeTensorDType: String, Sendable, CaseIterable {
    /// Floating-point types.
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    /// Signed integers.
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    /// Unsigned integers and booleans (one byte each).
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
    /// 8-bit floats.
    case f8_e4m3 = "F8_E4M3", f8_e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8_e4m3, .f8_e5m2: 1
        }
    }
}

/// One tensor entry of a safetensors header.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `embeddings.word_embeddings.weight`.
    public let name: String
    /// Element type.
    public let dtype: SafeTensorDType
    /// Row-major shape (last dimension contiguous); `[]` is a scalar.
    public let shape: [Int]
    /// Byte range `[begin, end)` relative to the start of the data buffer.
    public let dataOffsets: Range<Int>
    /// Number of elements (product of the shape; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of bytes.
    public var byteCount: Int { dataOffsets.count }
}

/// A safetensors file, memory-mapped and fully validated on open.
///
/// ```swift
/// let st = try SafeTensorsFile(path: path)
/// let emb = try st.floats(named: "embeddings.word_embeddings.weight")  // [30522, 384]
/// ```
///
/// `@unchecked Sendable`: all stored properties are immutable after `init` and the mapping is
/// read-only, so concurrent reads are safe.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest header accepted (the reference implementation's limit, 100 MB).
    public static let maxHeaderSize = 100_000_000

    /// The path the file was opened with.
    public var path: String { mapping.path }
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// All tensors, sorted by name.
    public let tensors: [SafeTensorInfo]
    /// Absolute byte offset of the data buffer (8 + header length).
    public let dataOffset: Int

    private let mapping: MappedFile
    private let index: [String: Int]

    /// Opens, maps and validates a safetensors file.
    /// - Parameter path: the file to read.
    /// - Throws: a ``FormatError`` naming the file and the first problem found.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        mapping = file
        var cursor = ByteCursor(file: file)
        let headerLength = try cursor.read(UInt64.self)
        guard headerLength <= UInt64(min(file.size, SafeTensorsFile.maxHeaderSize)) else {
            throw FormatError.absurdLength(file: path, offset: 0, what: "header length", length: headerLength,
                                           size: file.size)
        }
        let n = Int(headerLength)
        try cursor.require(n)
        dataOffset = 8 + n
        let headerBytes = file.bytes(at: 8, count: n)
        guard n >= 2, headerBytes[0] == UInt8(ascii: "{") else {
            throw FormatError.invalidHeader(file: path, reason: "header does not start with '{'")
        }

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw FormatError.invalidHeader(file: path, reason: "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw FormatError.invalidHeader(file: path, reason: "header is not a JSON object")
        }

        var metadata = [String: String]()
        var infos = [SafeTensorInfo]()
        let bufferSize = file.size - dataOffset
        for (name, entry) in object {
            if name == "__metadata__" {
                guard let map = entry as? [String: Any] else {
                    throw FormatError.invalidHeader(file: path, reason: "__metadata__ is not an object")
                }
                for (k, v) in map {
                    guard let s = v as? String else {
                        throw FormatError.invalidHeader(file: path, reason: "__metadata__ value for '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            infos.append(try SafeTensorsFile.parseEntry(name: name, entry: entry, bufferSize: bufferSize, path: path))
        }

        // No two non-empty tensors may share bytes.
        let byOffset = infos.filter { !$0.dataOffsets.isEmpty }.sorted { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where b.dataOffsets.lowerBound < a.dataOffsets.upperBound {
            throw FormatError.overlappingTensors(file: path, first: a.name, second: b.name)
        }

        infos.sort { $0.name < $1.name }
        tensors = infos
        self.metadata = metadata
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    /// Validates one `"name": {dtype, shape, data_offsets}` entry.
    private static func parseEntry(name: String, entry: Any, bufferSize: Int, path: String) throws -> SafeTensorInfo {
        guard let dict = entry as? [String: Any] else {
            throw FormatError.invalidHeader(file: path, reason: "entry '\(name)' is not an object")
        }
        guard let dtypeName = dict["dtype"] as? String else {
            throw FormatError.invalidHeader(file: path, reason: "entry '\(name)' has no string 'dtype'")
        }
        guard let dtype = SafeTensorDType(rawValue: dtypeName) else {
            throw FormatError.unknownDType(file: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeList = dict["shape"] as? [Any] else {
            throw FormatError.invalidHeader(file: path, reason: "entry '\(name)' has no 'shape' list")
        }
        var shape = [Int]()
        var elements = 1
        for d in shapeList {
            guard let v = d as? Int, v >= 0 else {
                throw FormatError.invalidShape(file: path, tensor: name, reason: "dimension \(d) is not a non-negative integer")
            }
            let (p, overflow) = elements.multipliedReportingOverflow(by: v)
            guard !overflow else { throw FormatError.invalidShape(file: path, tensor: name, reason: "element count overflows") }
            elements = p
            shape.append(v)
        }
        guard let offsets = dict["data_offsets"] as? [Any], offsets.count == 2,
              let begin = offsets[0] as? Int, let end = offsets[1] as? Int, begin >= 0, end >= begin else {
            throw FormatError.invalidHeader(file: path, reason: "entry '\(name)' has no valid 'data_offsets' [begin, end]")
        }
        guard end <= bufferSize else {
            throw FormatError.tensorOutOfBounds(file: path, tensor: name, begin: begin, end: end, available: bufferSize)
        }
        let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, expected == end - begin else {
            throw FormatError.sizeMismatch(file: path, tensor: name, expectedBytes: overflow ? Int.max : expected,
                                           actualBytes: end - begin)
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    // MARK: - Tensor access

    /// The header entry for `name`.
    /// - Throws: ``FormatError/tensorNotFound(file:tensor:)``.
    public func tensor(named name: String) throws -> SafeTensorInfo {
        guard let i = index[name] else { throw FormatError.tensorNotFound(file: path, tensor: name) }
        return tensors[i]
    }

    /// The raw bytes of a tensor, pointing into the mapping (valid while this file is alive).
    /// - Throws: ``FormatError/tensorNotFound(file:tensor:)``.
    public func tensorData(named name: String) throws -> UnsafeRawBufferPointer {
        let info = try tensor(named: name)
        return mapping.bytes(at: dataOffset + info.dataOffsets.lowerBound, count: info.byteCount)
    }

    /// A tensor converted to Float32 (row-major, ``SafeTensorInfo/shape``).
    /// - Returns: a new buffer of ``SafeTensorInfo/elementCount`` floats.
    /// - Throws: `tensorNotFound`, or `unsupportedConversion` unless the dtype is F32, F16, BF16 or F64.
    public func floats(named name: String) throws -> FloatBuffer {
        let info = try tensor(named: name)
        let bytes = try tensorData(named: name)
        let count = info.elementCount
        let out = FloatBuffer(count: count)
        guard let src = bytes.baseAddress, count > 0 else {
            if [.f32, .f16, .bf16, .f64].contains(info.dtype) { return out }
            throw FormatError.unsupportedConversion(file: path, tensor: name, type: info.dtype.rawValue)
        }
        switch info.dtype {
        case .f32:
            UnsafeMutableRawPointer(out.pointer).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            HalfPrecision.convertHalfRow(from: src, count: count, into: out.pointer)
        case .bf16:
            HalfPrecision.convertBFloat16Row(from: src, count: count, into: out.pointer)
        case .f64:
            for i in 0..<count {
                out.pointer[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        default:
            throw FormatError.unsupportedConversion(file: path, tensor: name, type: info.dtype.rawValue)
        }
        return out
    }
}
