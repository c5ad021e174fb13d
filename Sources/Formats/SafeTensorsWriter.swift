// SafeTensorsWriter.swift: writes Float tensors to a .safetensors file (F32, F16 or BF16).
//
// Spec: huggingface/safetensors README. Tensors are laid out in name order, back to back; the
// JSON header lists them in the same order (after `__metadata__`, written only when non-empty)
// and is padded with spaces so the data buffer starts at a multiple of 8 bytes. The file is
// written to a temporary file in the destination folder and renamed over the destination, so a
// reader never sees a half-written file.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Kernels

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif

/// Writes safetensors files.
public enum SafeTensorsWriter {
    /// One tensor to write: a name, a row-major shape, Float values and the stored dtype.
    public struct Tensor {
        /// The tensor's name (non-empty, not `__metadata__`, unique within a file).
        public let name: String
        /// Row-major shape; its product must equal the number of values.
        public let shape: [Int]
        /// The stored element type: `.f32`, `.f16` or `.bf16`.
        public let dtype: SafeTensorDType
        private let storage: Storage

        private enum Storage {
            case array([Float])
            case buffer(FloatBuffer)
        }

        /// A tensor whose values come from an array.
        public init(name: String, shape: [Int], values: [Float], dtype: SafeTensorDType = .f32) {
            self.name = name
            self.shape = shape
            self.dtype = dtype
            storage = .array(values)
        }

        /// A tensor whose values come from a buffer (not copied until written).
        public init(name: String, shape: [Int], buffer: FloatBuffer, dtype: SafeTensorDType = .f32) {
            self.name = name
            self.shape = shape
            self.dtype = dtype
            storage = .buffer(buffer)
        }

        /// Number of values supplied.
        var count: Int {
            switch storage {
            case .array(let a): a.count
            case .buffer(let b): b.count
            }
        }

        /// Calls `body` with a pointer to the values.
        func withValues<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
            switch storage {
            case .array(let a):
                if a.isEmpty {
                    let dummy: Float = 0
                    return try withUnsafePointer(to: dummy) { try body($0) }
                }
                return try a.withUnsafeBufferPointer { try body($0.baseAddress!) }
            case .buffer(let b):
                return try body(UnsafePointer(b.pointer))
            }
        }
    }

    /// Writes `tensors` and `metadata` to `url` atomically (temporary file + rename).
    /// - Parameters:
    ///   - tensors: the tensors; they are stored sorted by name.
    ///   - metadata: the `__metadata__` string map (omitted from the header when empty).
    ///   - url: the destination file URL; its folder must exist.
    /// - Throws: ``FormatError/invalidArgument(file:reason:)`` for inconsistent input,
    ///   ``FormatError/io(file:reason:)`` when writing or renaming fails.
    public static func write(tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let path = url.path
        let sorted = tensors.sorted { $0.name < $1.name }
        var seen = Set<String>()
        for t in sorted {
            guard !t.name.isEmpty, t.name != "__metadata__" else {
                throw FormatError.invalidArgument(file: path, reason: "tensor name '\(t.name)' is not allowed")
            }
            guard seen.insert(t.name).inserted else {
                throw FormatError.invalidArgument(file: path, reason: "duplicate tensor name '\(t.name)'")
            }
            guard [.f32, .f16, .bf16].contains(t.dtype) else {
                throw FormatError.invalidArgument(file: path, reason: "tensor '\(t.name)': cannot write dtype \(t.dtype.rawValue)")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.shape.reduce(1, *) == t.count else {
                throw FormatError.invalidArgument(
                    file: path, reason: "tensor '\(t.name)': shape \(t.shape) does not hold \(t.count) values")
            }
        }

        // MARK: Header
        var header = "{"
        var entries = [String]()
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for t in sorted {
            let bytes = t.count * t.dtype.byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],"
                           + "\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        // MARK: File image
        var image = [UInt8]()
        image.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { image.append(contentsOf: $0) }
        image.append(contentsOf: headerBytes)
        let dataStart = image.count
        image.append(contentsOf: repeatElement(0, count: offset))
        image.withUnsafeMutableBytes { raw in
            var at = dataStart
            for t in sorted {
                t.withValues { src in
                    encode(src, count: t.count, dtype: t.dtype, into: raw.baseAddress! + at)
                }
                at += t.count * t.dtype.byteSize
            }
        }
        try writeAtomically(image, to: path)
    }

    /// Stores `count` floats as `dtype` (little-endian) at `dst`.
    private static func encode(_ src: UnsafePointer<Float>, count: Int, dtype: SafeTensorDType,
                               into dst: UnsafeMutableRawPointer) {
        switch dtype {
        case .f32:
            for i in 0..<count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0..<count { dst.storeBytes(of: HalfPrecision.half(from: src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { dst.storeBytes(of: HalfPrecision.bfloat16(from: src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        default:
            preconditionFailure("encode: dtype \(dtype) was rejected by write()")
        }
    }

    /// A JSON string literal for `s` (see ``JSONText/string(_:)``).
    private static func jsonString(_ s: String) -> String { JSONText.string(s) }

    /// Writes `bytes` to a temporary file next to `path`, flushes it and renames it to `path`.
    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw FormatError.io(file: path, reason: "create \(tmp): \(errnoText())") }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write \(tmp): \(errnoText())"
                    return
                }
                done += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "fsync \(tmp): \(errnoText())" }
        close(fd)
        if failure == nil, rename(tmp, path) != 0 { failure = "rename \(tmp) -> \(path): \(errnoText())" }
        if let failure {
            unlink(tmp)
            throw FormatError.io(file: path, reason: failure)
        }
    }
}
