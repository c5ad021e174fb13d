// GGUFFile.swift: a validating, memory-mapped reader for GGUF model files (versions 2 and 3).
//
// Spec: ggml docs/gguf.md. Layout (all little-endian):
//   header        magic "GGUF" (4 bytes), version UInt32, tensor_count UInt64, kv_count UInt64
//   metadata      kv_count x { key: string, value_type: UInt32, value }
//                 string = UInt64 byte length + UTF-8 bytes; array = element type UInt32,
//                 count UInt64, elements (arrays may nest)
//   tensor infos  tensor_count x { name: string, n_dims: UInt32, ne: UInt64 x n_dims,
//                 type: UInt32 (ggml type), offset: UInt64 (relative to the data section) }
//   padding       to `general.alignment` (default 32)
//   data          tensor bytes, each tensor at an aligned offset
// Version 3 only added big-endian files (whose version field then reads as 0x03000000 here and
// is rejected); versions 2 and 3 are otherwise identical. Version 1 (UInt32 counts) is rejected.
//
// Dimension order: GGUF stores `ne` like ggml, FASTEST-varying dimension first. A matrix with
// 49152 rows of 576 contiguous floats is stored as ne = [576, 49152]. ``GGUFTensorInfo/dimensions``
// is that stored order; ``GGUFTensorInfo/shape`` is the reverse, the usual row-major shape
// ([49152, 576]), which is also the layout ``GGUFFile/dequantizeTensor(named:)`` returns.

import Kernels

/// One entry of a GGUF file's tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Sizes as stored in the file (ggml `ne`): the FASTEST-varying (contiguous) dimension first.
    public let dimensions: [Int]
    /// Element type.
    public let type: GGMLType
    /// Byte offset of the tensor's data relative to the start of the data section.
    public let offset: Int
    /// Number of elements (product of the dimensions).
    public let elementCount: Int
    /// Number of bytes the data occupies.
    public let byteCount: Int

    /// Row-major shape: ``dimensions`` reversed, so the LAST entry is the contiguous one.
    public var shape: [Int] { dimensions.reversed() }
}

/// A GGUF file, memory-mapped and fully validated on open.
///
/// ```swift
/// let gguf = try GGUFFile(path: path)
/// let layers = try gguf.int("llama.block_count")          // 30
/// let embed = try gguf.dequantizeTensor(named: "token_embd.weight")  // [49152, 576] floats
/// ```
///
/// After `init` returns every tensor is known to lie inside the file at an aligned offset with a
/// byte size matching its type and shape, so ``tensorData(named:)`` never reads out of bounds.
///
/// `@unchecked Sendable`: all stored properties are immutable after `init` and the mapping is
/// read-only, so concurrent reads from several threads are safe.
public final class GGUFFile: @unchecked Sendable {
    /// The largest number of dimensions a tensor may have (GGML_MAX_DIMS).
    public static let maxDimensions = 4
    /// Alignment used when `general.alignment` is absent (GGUF_DEFAULT_ALIGNMENT).
    public static let defaultAlignment = 32

    /// The path the file was opened with.
    public var path: String { mapping.path }
    /// The format version (2 or 3).
    public let version: UInt32
    /// Metadata values by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor table in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data-section alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Absolute byte offset of the data section (start of tensor data).
    public let dataOffset: Int
    /// Size of the whole file in bytes.
    public var fileSize: Int { mapping.size }

    private let mapping: MappedFile
    private let tensorIndex: [String: Int]

    /// Opens, maps and validates a GGUF file.
    /// - Parameter path: the file to read.
    /// - Throws: a ``FormatError`` naming the file and the first problem found.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        mapping = file
        var cursor = ByteCursor(file: file)

        // MARK: Header
        try cursor.require(4)
        let magic = Array(file.bytes(at: 0, count: 4))
        guard magic == Array("GGUF".utf8) else {
            throw FormatError.badMagic(file: path, found: describeMagic(magic))
        }
        _ = try cursor.read(UInt32.self)
        version = try cursor.read(UInt32.self)
        guard version == 2 || version == 3 else {
            throw FormatError.unsupportedVersion(file: path, version: version)
        }
        let countsOffset = cursor.offset
        let tensorCount = try cursor.read(UInt64.self)
        let kvCount = try cursor.read(UInt64.self)
        // Each kv takes at least 13 bytes, each tensor info at least 24: reject counts the file
        // cannot possibly hold before reserving memory for them.
        guard kvCount <= UInt64(file.size / 13) else {
            throw FormatError.absurdLength(file: path, offset: countsOffset + 8, what: "kv_count",
                                           length: kvCount, size: file.size)
        }
        guard tensorCount <= UInt64(file.size / 24) else {
            throw FormatError.absurdLength(file: path, offset: countsOffset, what: "tensor_count",
                                           length: tensorCount, size: file.size)
        }

        // MARK: Metadata
        var metadata = [String: GGUFValue](minimumCapacity: Int(kvCount))
        var keys = [String]()
        keys.reserveCapacity(Int(kvCount))
        for _ in 0..<Int(kvCount) {
            let key = try cursor.readString(what: "metadata key")
            let rawType = try cursor.read(UInt32.self)
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw FormatError.unknownValueType(file: path, key: key, type: rawType)
            }
            let value = try GGUFFile.readValue(&cursor, type: type, key: key, depth: 0, path: path)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw FormatError.duplicateKey(file: path, key: key)
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = GGUFFile.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else {
                throw FormatError.typeMismatch(file: path, key: "general.alignment", expected: "UINT32",
                                               found: value.typeName)
            }
            guard a > 0, a & (a - 1) == 0 else {
                throw FormatError.invalidHeader(file: path, reason: "general.alignment \(a) is not a power of two")
            }
            alignment = Int(a)
        }
        self.alignment = alignment

        // MARK: Tensor table
        var infos = [GGUFTensorInfo]()
        infos.reserveCapacity(Int(tensorCount))
        var index = [String: Int](minimumCapacity: Int(tensorCount))
        for _ in 0..<Int(tensorCount) {
            let name = try cursor.readString(what: "tensor name")
            let nDims = try cursor.read(UInt32.self)
            guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDimensions) else {
                throw FormatError.invalidDimensionCount(file: path, tensor: name, count: Int(nDims),
                                                        max: GGUFFile.maxDimensions)
            }
            var dims = [Int]()
            var elements = 1
            for _ in 0..<Int(nDims) {
                let ne = try cursor.read(UInt64.self)
                guard ne <= UInt64(Int64.max), let n = Int(exactly: ne) else {
                    throw FormatError.invalidShape(file: path, tensor: name, reason: "dimension \(ne) is too large")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow else {
                    throw FormatError.invalidShape(file: path, tensor: name, reason: "element count overflows")
                }
                elements = product
                dims.append(n)
            }
            let rawType = try cursor.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw FormatError.unknownTensorType(file: path, tensor: name, type: rawType)
            }
            let rawOffset = try cursor.read(UInt64.self)
            guard dims[0] % type.blockSize == 0, let bytes = type.byteCount(elements: elements) else {
                throw FormatError.invalidShape(
                    file: path, tensor: name,
                    reason: "row length \(dims[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            guard rawOffset <= UInt64(file.size), let offset = Int(exactly: rawOffset) else {
                throw FormatError.tensorOutOfBounds(file: path, tensor: name, begin: Int(clamping: rawOffset),
                                                    end: Int.max, available: file.size)
            }
            guard offset % alignment == 0 else {
                throw FormatError.misaligned(file: path, tensor: name, offset: offset, alignment: alignment)
            }
            guard index.updateValue(infos.count, forKey: name) == nil else {
                throw FormatError.duplicateTensor(file: path, tensor: name)
            }
            infos.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: offset,
                                        elementCount: elements, byteCount: bytes))
        }

        // MARK: Data section
        cursor.align(to: alignment)
        dataOffset = cursor.offset
        let available = max(0, file.size - dataOffset)
        for info in infos {
            let (end, overflow) = info.offset.addingReportingOverflow(info.byteCount)
            guard !overflow, end <= available else {
                throw FormatError.tensorOutOfBounds(file: path, tensor: info.name, begin: info.offset,
                                                    end: overflow ? Int.max : end, available: available)
            }
        }
        tensors = infos
        tensorIndex = index
    }

    // MARK: - Metadata accessors

    /// The value stored under `key`.
    /// - Throws: ``FormatError/missingKey(file:key:)`` when absent.
    public func value(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw FormatError.missingKey(file: path, key: key) }
        return v
    }

    /// A STRING value.
    /// - Throws: `missingKey` or `typeMismatch`.
    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.string else { throw mismatch(key, "STRING", v) }
        return s
    }

    /// Any integer value (UINT8 ... INT64) as `Int`.
    /// - Throws: `missingKey` or `typeMismatch`.
    public func int(_ key: String) throws -> Int {
        let v = try value(key)
        guard let i = v.int else { throw mismatch(key, "an integer", v) }
        return i
    }

    /// A FLOAT32 or FLOAT64 value as `Float`.
    /// - Throws: `missingKey` or `typeMismatch`.
    public func float(_ key: String) throws -> Float {
        let v = try value(key)
        guard let f = v.float else { throw mismatch(key, "FLOAT32", v) }
        return f
    }

    /// A BOOL value.
    /// - Throws: `missingKey` or `typeMismatch`.
    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard let b = v.bool else { throw mismatch(key, "BOOL", v) }
        return b
    }

    /// An ARRAY of STRING value (e.g. `tokenizer.ggml.tokens`).
    /// - Throws: `missingKey` or `typeMismatch`.
    public func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard let a = v.stringArray else { throw mismatch(key, "ARRAY[STRING]", v) }
        return a
    }

    /// An ARRAY of INT32 value (e.g. `tokenizer.ggml.token_type`).
    /// - Throws: `missingKey` or `typeMismatch`.
    public func int32Array(_ key: String) throws -> [Int32] {
        let v = try value(key)
        guard let a = v.int32Array else { throw mismatch(key, "ARRAY[INT32]", v) }
        return a
    }

    /// An ARRAY of FLOAT32 (or FLOAT64) value (e.g. `tokenizer.ggml.scores`).
    /// - Throws: `missingKey` or `typeMismatch`.
    public func floatArray(_ key: String) throws -> [Float] {
        let v = try value(key)
        guard let a = v.floatArray else { throw mismatch(key, "ARRAY[FLOAT32]", v) }
        return a
    }

    private func mismatch(_ key: String, _ expected: String, _ found: GGUFValue) -> FormatError {
        .typeMismatch(file: path, key: key, expected: expected, found: found.typeName)
    }

    // MARK: - Tensor accessors

    /// The tensor-table entry for `name`.
    /// - Throws: ``FormatError/tensorNotFound(file:tensor:)``.
    public func tensor(named name: String) throws -> GGUFTensorInfo {
        guard let i = tensorIndex[name] else { throw FormatError.tensorNotFound(file: path, tensor: name) }
        return tensors[i]
    }

    /// The raw bytes of a tensor, pointing into the mapping (no copy).
    ///
    /// The buffer is valid only while this `GGUFFile` is alive; keep a reference to the file for
    /// as long as the pointer is used.
    /// - Throws: ``FormatError/tensorNotFound(file:tensor:)``.
    public func tensorData(named name: String) throws -> UnsafeRawBufferPointer {
        tensorData(try tensor(named: name))
    }

    /// The raw bytes of a tensor from this file's table (see ``tensorData(named:)``).
    public func tensorData(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        mapping.bytes(at: dataOffset + info.offset, count: info.byteCount)
    }

    /// Converts a tensor to Float32, row-major with shape ``GGUFTensorInfo/shape``.
    /// - Returns: a new buffer of ``GGUFTensorInfo/elementCount`` floats.
    /// - Throws: `tensorNotFound`, or `unsupportedConversion` for types without a dequantiser.
    public func dequantizeTensor(named name: String) throws -> FloatBuffer {
        try dequantizeTensor(try tensor(named: name))
    }

    /// Converts a tensor from this file's table to Float32 (see ``dequantizeTensor(named:)``).
    /// - Throws: `unsupportedConversion` for types without a dequantiser.
    public func dequantizeTensor(_ info: GGUFTensorInfo) throws -> FloatBuffer {
        guard info.type.canDequantize else {
            throw FormatError.unsupportedConversion(file: path, tensor: info.name, type: info.type.description)
        }
        let out = FloatBuffer(count: info.elementCount)
        let bytes = tensorData(info)
        if let base = bytes.baseAddress {
            dequantize(type: info.type, from: base, count: info.elementCount, into: out.pointer)
        }
        return out
    }

    // MARK: - Value parsing

    /// Deepest array nesting accepted (the spec allows nesting; real files use at most 1).
    private static let maxArrayDepth = 8

    /// Reads one value of `type` for metadata key `key`.
    private static func readValue(_ c: inout ByteCursor, type: GGUFValueType, key: String, depth: Int,
                                  path: String) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try c.read(UInt8.self))
        case .int8: return .int8(try c.read(Int8.self))
        case .uint16: return .uint16(try c.read(UInt16.self))
        case .int16: return .int16(try c.read(Int16.self))
        case .uint32: return .uint32(try c.read(UInt32.self))
        case .int32: return .int32(try c.read(Int32.self))
        case .float32: return .float32(try c.readFloat())
        case .uint64: return .uint64(try c.read(UInt64.self))
        case .int64: return .int64(try c.read(Int64.self))
        case .float64: return .float64(try c.readDouble())
        case .bool:
            let offset = c.offset
            let b = try c.read(UInt8.self)
            guard b <= 1 else {
                throw FormatError.invalidHeader(file: path, reason: "key '\(key)': BOOL byte \(b) at offset \(offset) is not 0 or 1")
            }
            return .bool(b == 1)
        case .string:
            return .string(try c.readString(what: "string value of '\(key)'"))
        case .array:
            guard depth < GGUFFile.maxArrayDepth else {
                throw FormatError.invalidHeader(file: path, reason: "key '\(key)': arrays nested deeper than \(GGUFFile.maxArrayDepth)")
            }
            let rawType = try c.read(UInt32.self)
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw FormatError.unknownValueType(file: path, key: key, type: rawType)
            }
            let countOffset = c.offset
            let count = try c.read(UInt64.self)
            guard count <= UInt64(c.file.size / elementType.minimumEncodedSize) else {
                throw FormatError.absurdLength(file: path, offset: countOffset, what: "array length of '\(key)'",
                                               length: count, size: c.file.size)
            }
            let n = Int(count)
            var values = [GGUFValue]()
            values.reserveCapacity(n)
            for _ in 0..<n {
                values.append(try readValue(&c, type: elementType, key: key, depth: depth + 1, path: path))
            }
            return .array(elementType: elementType, values: values)
        }
    }
}

/// Renders 4 magic bytes for an error message: as text when printable, else as hex.
private func describeMagic(_ bytes: [UInt8]) -> String {
    if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "'" + String(decoding: bytes, as: UTF8.self) + "'" }
    let digits = Array("0123456789abcdef")
    return "0x" + String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
