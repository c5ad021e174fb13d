// MappedFile.swift: a read-only memory mapping of a whole file, plus a bounds-checked
// little-endian cursor over it. Both readers (GGUF, safetensors) are built on these two.
//
// POSIX mmap(2) with PROT_READ and MAP_PRIVATE; munmap(2) on deinit. All multi-byte reads are
// little-endian and unaligned-safe (loadUnaligned), and every read is checked against the size.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory.
///
/// `@unchecked Sendable`: the mapping is created in `init`, never written (PROT_READ) and only
/// unmapped in `deinit`, so sharing it across threads is safe; the compiler cannot see that
/// because it holds a raw pointer.
final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with (used in error messages).
    let path: String
    /// Size of the file in bytes.
    let size: Int
    /// The first byte of the mapping (nil only for an empty file, which has no mapping).
    let base: UnsafeRawPointer?

    /// Maps `path` read-only.
    /// - Parameter path: the file to map.
    /// - Throws: ``FormatError/io(file:reason:)`` when the file cannot be opened, sized or mapped.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError.io(file: path, reason: "open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError.io(file: path, reason: "fstat: \(errnoText())") }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw FormatError.io(file: path, reason: "mmap: \(errnoText())") }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The bytes `[offset, offset + count)`; the caller has already checked the range.
    func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset,
                     "MappedFile.bytes: range [\(offset), +\(count)) outside \(size) bytes")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}

/// The text of the current `errno`.
func errnoText() -> String {
    String(cString: strerror(errno))
}

// MARK: - Cursor

/// A forward-only, bounds-checked little-endian reader over a ``MappedFile``.
///
/// Every read checks that its bytes lie inside the file and throws
/// ``FormatError/truncated(file:offset:needed:size:)`` otherwise, so a corrupt file can never
/// cause an out-of-bounds read.
struct ByteCursor {
    let file: MappedFile
    /// Offset of the next byte to read.
    private(set) var offset: Int

    init(file: MappedFile, offset: Int = 0) {
        self.file = file
        self.offset = offset
    }

    /// Bytes left between the cursor and the end of the file.
    var remaining: Int { file.size - offset }

    /// Throws `truncated` unless `count` more bytes are available.
    func require(_ count: Int) throws {
        guard count >= 0, count <= remaining else {
            throw FormatError.truncated(file: file.path, offset: offset, needed: count, size: file.size)
        }
    }

    /// Reads a fixed-width little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let n = MemoryLayout<T>.size
        try require(n)
        let v = file.base!.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += n
        return T(littleEndian: v)
    }

    /// Reads an IEEE float32.
    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }

    /// Reads an IEEE float64.
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// Reads a GGUF string: UInt64 byte length then that many UTF-8 bytes (no terminator).
    /// Invalid UTF-8 is repaired with U+FFFD rather than rejected (ggml does not validate it).
    mutating func readString(what: String) throws -> String {
        let lengthOffset = offset
        let length = try read(UInt64.self)
        guard length <= UInt64(file.size) else {
            throw FormatError.absurdLength(file: file.path, offset: lengthOffset, what: "\(what) length",
                                           length: length, size: file.size)
        }
        let n = Int(length)
        try require(n)
        let s = String(decoding: file.bytes(at: offset, count: n), as: UTF8.self)
        offset += n
        return s
    }

    /// Advances to the next multiple of `alignment` (a power of two).
    mutating func align(to alignment: Int) {
        offset = (offset + alignment - 1) / alignment * alignment
    }
}
