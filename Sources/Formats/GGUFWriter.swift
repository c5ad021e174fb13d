// GGUFWriter.swift: writes GGUF version 3 files (spec: ggml docs/gguf.md), the inverse of
// GGUFFile, plus ggml's reference Q8_0 quantiser.
//
// Layout written (all little-endian):
//   header        "GGUF", version 3 (UInt32), tensor_count (UInt64), kv_count (UInt64)
//   metadata      kv_count x { key: string, value_type: UInt32, value } in insertion order
//   tensor infos  tensor_count x { name, n_dims: UInt32, ne: UInt64 x n_dims (fastest first),
//                 type: UInt32, offset: UInt64 relative to the data section }
//   padding       zeros up to a multiple of the alignment
//   data          each tensor's bytes, each followed by zeros up to the alignment
//
// Tensor values are encoded (F32, F16 or Q8_0) when they are added, so the writer holds each
// tensor once, at its stored size. `write(to:)` builds only the header in memory and streams
// the tensor bytes to the file with write(2), to `path.partial`, then renames it onto `path`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif

/// Builds a GGUF (version 3) file: metadata in insertion order, then tensors.
///
/// ```swift
/// var writer = GGUFWriter()
/// writer.setMetadata("general.architecture", .string("llama"))
/// try weights.withUnsafeBufferPointer {
///     try writer.addTensor(name: "token_embd.weight", shape: [49152, 576], values: $0, type: .q8_0)
/// }
/// try writer.write(to: "/tmp/model.gguf")
/// let file = try GGUFFile(path: "/tmp/model.gguf")
/// ```
///
/// Shapes are given row-major (`[rows, cols]`), as ``GGUFTensorInfo/shape`` reports them; the
/// file stores ggml's `ne`, the reverse. An alignment other than the default 32 is recorded as
/// `general.alignment` (UINT32), so readers find the tensors where they were written.
public struct GGUFWriter: Sendable {
    /// The name used in errors raised before a destination path is known.
    static let errorFileName = "<GGUF writer>"

    /// One encoded tensor waiting to be written.
    private struct PendingTensor: Sendable {
        let name: String
        /// ggml `ne`: fastest-varying dimension first.
        let dimensions: [Int]
        let type: GGMLType
        let bytes: [UInt8]
    }

    /// Alignment of the data section and of every tensor in it.
    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [PendingTensor] = []
    private var tensorNames: Set<String> = []

    /// Alignment of the data section and of each tensor (general.alignment), default 32.
    ///
    /// The alignment must be a power of two and a multiple of 8 (the spec's rule);
    /// ``write(to:)`` throws otherwise. A value other than 32 is stored as the first metadata key,
    /// `general.alignment`.
    /// - Parameter alignment: the byte alignment of the data section and of each tensor.
    public init(alignment: Int = 32) {
        self.alignment = alignment
        if alignment != GGUFFile.defaultAlignment, let a = UInt32(exactly: alignment) {
            setMetadata("general.alignment", .uint32(a))
        }
    }

    /// Metadata keys in the order they will be written.
    public var metadataKeys: [String] { keys }

    /// Names of the tensors added so far, in the order they will be written.
    public var tensorNamesInOrder: [String] { tensors.map(\.name) }

    /// Appends (or replaces, keeping position) a metadata key.
    ///
    /// Values are checked when the file is written: an array's elements must all have its
    /// declared element type, and `general.alignment` must be the UINT32 ``alignment``.
    /// - Parameters:
    ///   - key: the key, e.g. `tokenizer.ggml.tokens`.
    ///   - value: its value.
    public mutating func setMetadata(_ key: String, _ value: GGUFValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Adds a tensor given row-major `shape` (e.g. [rows, cols]; written to the file as ggml
    /// ne = reversed) and Float32 values, stored as `type` (.f32, .f16 or .q8_0; q8_0 requires
    /// the last dim % 32 == 0, else throw).
    ///
    /// The values are encoded and copied now; the buffer need not outlive the call.
    /// - Parameters:
    ///   - name: a unique tensor name of at most 63 UTF-8 bytes (ggml's `GGML_MAX_NAME` - 1).
    ///   - shape: row-major sizes, 1 to 4 dimensions, none negative; their product is the
    ///     number of values.
    ///   - values: the values in row-major order.
    ///   - type: the stored type: `.f32`, `.f16` (round to nearest even) or `.q8_0`
    ///     (see ``Q8_0/quantize(_:)``).
    /// - Throws: ``FormatError/invalidArgument(file:reason:)`` for an empty, over-long or
    ///   duplicate name, an unsupported type, or a value count that disagrees with the shape;
    ///   ``FormatError/invalidDimensionCount(file:tensor:count:max:)`` for 0 or more than 4
    ///   dimensions; ``FormatError/invalidShape(file:tensor:reason:)`` for a negative size or a
    ///   Q8_0 row length that is not a multiple of 32.
    public mutating func addTensor(
        name: String, shape: [Int], values: UnsafeBufferPointer<Float>, type: GGMLType
    ) throws {
        let file = Self.errorFileName
        guard !name.isEmpty, name.utf8.count < 64 else {
            throw FormatError.invalidArgument(
                file: file, reason: "tensor name '\(name)' must have 1 to 63 UTF-8 bytes")
        }
        guard !tensorNames.contains(name) else {
            throw FormatError.invalidArgument(file: file, reason: "duplicate tensor name '\(name)'")
        }
        guard (1...GGUFFile.maxDimensions).contains(shape.count) else {
            throw FormatError.invalidDimensionCount(
                file: file, tensor: name, count: shape.count, max: GGUFFile.maxDimensions)
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalidShape(file: file, tensor: name, reason: "negative size in \(shape)")
        }
        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw FormatError.invalidShape(file: file, tensor: name, reason: "element count overflows")
            }
            elements = product
        }
        guard elements == values.count else {
            throw FormatError.invalidArgument(
                file: file, reason: "tensor '\(name)': shape \(shape) holds \(elements) values, got \(values.count)")
        }

        let bytes: [UInt8]
        switch type {
        case .f32:
            bytes = Self.encodeF32(values)
        case .f16:
            bytes = Self.encodeF16(values)
        case .q8_0:
            guard shape[shape.count - 1] % 32 == 0 else {
                throw FormatError.invalidShape(
                    file: file, tensor: name,
                    reason: "Q8_0 needs a last dimension that is a multiple of 32, got \(shape[shape.count - 1])")
            }
            // Rows are contiguous and a whole number of blocks, so the row set quantises as one run.
            bytes = Q8_0.quantize(values)
        default:
            throw FormatError.invalidArgument(
                file: file, reason: "tensor '\(name)': cannot write type \(type) (F32, F16 and Q8_0 only)")
        }
        tensors.append(PendingTensor(name: name, dimensions: shape.reversed(), type: type, bytes: bytes))
        tensorNames.insert(name)
    }

    /// Writes the file to `path` + ".partial" then renames it onto `path` (atomic); on any I/O
    /// error (e.g. disk full) removes the partial file and throws FormatError naming the path
    /// and errno text.
    ///
    /// An existing file at `path` is replaced only once the new one is complete and flushed.
    /// - Parameter path: the destination; its folder must exist.
    /// - Throws: ``FormatError/io(file:reason:)`` when creating, writing, flushing or renaming
    ///   fails (`file` is `path`, `reason` names the step and the OS error text);
    ///   ``FormatError/invalidArgument(file:reason:)`` for a bad alignment or an inconsistent
    ///   metadata value (nothing is written then).
    public func write(to path: String) throws {
        let header = try headerBytes(path: path)
        let partial = path + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw FormatError.io(file: path, reason: "cannot create \(partial): \(errnoText())")
        }
        var failure: String?
        let zeros = [UInt8](repeating: 0, count: alignment)
        // Header (already padded), then each tensor followed by its padding.
        failure = header.withUnsafeBytes { Self.writeAll(fd, $0, partial) }
        for t in tensors where failure == nil {
            failure = t.bytes.withUnsafeBytes { Self.writeAll(fd, $0, partial) }
            let padding = paddedSize(t.bytes.count) - t.bytes.count
            if failure == nil, padding > 0 {
                failure = zeros.withUnsafeBytes { Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<padding]), partial) }
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "fsync \(partial): \(errnoText())" }
        if close(fd) != 0, failure == nil { failure = "close \(partial): \(errnoText())" }
        if failure == nil, rename(partial, path) != 0 {
            failure = "rename \(partial) -> \(path): \(errnoText())"
        }
        if let failure {
            unlink(partial)
            throw FormatError.io(file: path, reason: failure)
        }
    }

    // MARK: - Layout

    /// `count` rounded up to a multiple of ``alignment``.
    private func paddedSize(_ count: Int) -> Int {
        (count + alignment - 1) / alignment * alignment
    }

    /// Header, metadata and tensor table, zero-padded to the alignment (the data section follows).
    private func headerBytes(path: String) throws -> [UInt8] {
        guard alignment >= 8, alignment <= Int(UInt32.max), alignment & (alignment - 1) == 0 else {
            throw FormatError.invalidArgument(
                file: path, reason: "alignment \(alignment) is not a power of two and a multiple of 8")
        }
        if let a = values["general.alignment"], a != .uint32(UInt32(alignment)) {
            throw FormatError.invalidArgument(
                file: path, reason: "general.alignment is \(a.typeName) \(a), but the writer aligns to \(alignment)")
        }
        var out = ByteWriter()
        out.bytes.reserveCapacity(1 << 16)
        out.bytes += Array("GGUF".utf8)
        out.put(UInt32(3))
        out.put(UInt64(tensors.count))
        out.put(UInt64(keys.count))
        for key in keys {
            guard !key.isEmpty else {
                throw FormatError.invalidArgument(file: path, reason: "empty metadata key")
            }
            let value = values[key]!
            try Self.validate(value, key: key, path: path)
            out.putString(key)
            out.put(value.type.rawValue)
            out.putValue(value)
        }
        var offset = 0
        for t in tensors {
            out.putString(t.name)
            out.put(UInt32(t.dimensions.count))
            for d in t.dimensions { out.put(UInt64(d)) }
            out.put(t.type.rawValue)
            out.put(UInt64(offset))
            offset += paddedSize(t.bytes.count)
        }
        out.bytes += repeatElement(0, count: paddedSize(out.bytes.count) - out.bytes.count)
        return out.bytes
    }

    /// Checks that every array element has the array's declared type (recursively).
    private static func validate(_ value: GGUFValue, key: String, path: String) throws {
        guard case .array(let elementType, let elements) = value else { return }
        for (index, element) in elements.enumerated() {
            guard element.type == elementType else {
                throw FormatError.invalidArgument(
                    file: path,
                    reason: "metadata '\(key)': element \(index) is \(element.typeName) in an ARRAY[\(elementType)]")
            }
            try validate(element, key: key, path: path)
        }
    }

    // MARK: - Encoding

    /// Float32 values as little-endian bytes.
    private static func encodeF32(_ x: UnsafeBufferPointer<Float>) -> [UInt8] {
        if x.isEmpty { return [] }
        return [UInt8](unsafeUninitializedCapacity: 4 * x.count) { raw, initialized in
            let dst = UnsafeMutableRawPointer(raw.baseAddress!)
            for i in 0..<x.count {
                dst.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
            initialized = 4 * x.count
        }
    }

    /// Float32 values as little-endian IEEE binary16 (round to nearest even).
    private static func encodeF16(_ x: UnsafeBufferPointer<Float>) -> [UInt8] {
        if x.isEmpty { return [] }
        return [UInt8](unsafeUninitializedCapacity: 2 * x.count) { raw, initialized in
            let dst = UnsafeMutableRawPointer(raw.baseAddress!)
            for i in 0..<x.count {
                dst.storeBytes(of: HalfPrecision.half(from: x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
            initialized = 2 * x.count
        }
    }

    // MARK: - I/O

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    /// - Returns: nil on success, else a message naming the step and the OS error.
    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, _ name: String) -> String? {
        var done = 0
        while done < raw.count {
            let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return "write \(name): \(errnoText())"
            }
            if n == 0 { return "write \(name): no progress" }
            done += n
        }
        return nil
    }
}

/// Little-endian serialisation of GGUF header fields into a growing byte array.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A GGUF string: UInt64 byte length, then UTF-8 (no terminator).
    mutating func putString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            put(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A value's payload (its type id is written by the caller, or by the enclosing array).
    mutating func putValue(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): put(v)
        case .int8(let v): put(v)
        case .uint16(let v): put(v)
        case .int16(let v): put(v)
        case .uint32(let v): put(v)
        case .int32(let v): put(v)
        case .float32(let v): put(v.bitPattern)
        case .bool(let v): put(UInt8(v ? 1 : 0))
        case .string(let v): putString(v)
        case .uint64(let v): put(v)
        case .int64(let v): put(v)
        case .float64(let v): put(v.bitPattern)
        case .array(let elementType, let elements):
            put(elementType.rawValue)
            put(UInt64(elements.count))
            for e in elements { putValue(e) }
        }
    }
}

// MARK: - Q8_0

/// Q8_0 quantisation of one row set exactly as ggml does it (blocks of 32: d = max|x|/127
/// stored as F16, q = round(x/d) as Int8; d = 0 gives q = 0).
///
/// This is ggml's `quantize_row_q8_0_ref`: per block, `amax = max |x|`, `d = amax / 127`,
/// `id = d != 0 ? 1 / d : 0`, stored `d` = F16(d) (round to nearest even) and
/// `q[j] = roundf(x[j] * id)` (halves away from zero), computed with the Float32 `d`, not the
/// rounded F16 one. Each block is 34 bytes: the F16 `d` (little-endian), then 32 Int8.
public enum Q8_0 {
    /// Elements per block.
    public static let blockSize = 32
    /// Bytes per block (F16 scale + 32 Int8).
    public static let bytesPerBlock = 34

    /// Quantises `x` (a multiple of 32 values; rows back to back) into Q8_0 blocks.
    ///
    /// ```swift
    /// let blocks = row.withUnsafeBufferPointer { Q8_0.quantize($0) }  // 34 bytes per 32 values
    /// ```
    /// - Parameter x: the values; `x.count % 32 == 0` (precondition).
    /// - Returns: `x.count / 32 * 34` bytes. Non-finite inputs give q = 0 where ggml's result
    ///   would be undefined (NaN) and saturate at ±127 otherwise.
    public static func quantize(_ x: UnsafeBufferPointer<Float>) -> [UInt8] {
        precondition(x.count % blockSize == 0, "Q8_0.quantize: \(x.count) values is not a whole number of blocks")
        let blocks = x.count / blockSize
        if blocks == 0 { return [] }
        return [UInt8](unsafeUninitializedCapacity: blocks * bytesPerBlock) { raw, initialized in
            let out = UnsafeMutableRawPointer(raw.baseAddress!)
            for b in 0..<blocks {
                let src = x.baseAddress! + b * blockSize
                let dst = out + b * bytesPerBlock
                var amax: Float = 0
                for j in 0..<blockSize {
                    let a = abs(src[j])
                    amax = amax > a ? amax : a  // ggml's MAX(amax, fabsf(v))
                }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                dst.storeBytes(of: HalfPrecision.half(from: d).littleEndian, as: UInt16.self)
                for j in 0..<blockSize {
                    let q = (src[j] * id).rounded(.toNearestOrAwayFromZero)
                    let clamped: Int8 = q.isNaN ? 0 : Int8(max(-127, min(127, q)))
                    dst.storeBytes(of: clamped, toByteOffset: 2 + j, as: Int8.self)
                }
            }
            initialized = blocks * bytesPerBlock
        }
    }
}
