// Buffer.swift: owned, 64-byte aligned Float32 storage for weights, activations and gradients.
//
// Kernels themselves take raw pointers plus explicit shapes (llm.c style); `FloatBuffer` is the
// owner those pointers come from. Layout everywhere is row-major with a contiguous last dimension.

/// A fixed-size, 64-byte aligned, heap-allocated array of `Float`.
///
/// Kernels read and write through ``pointer``; the buffer owns the memory and frees it on deinit.
/// It is a reference type so large tensors are never copied by accident.
///
/// ```swift
/// let x = FloatBuffer(count: 4 * 576)          // zero-filled
/// let y = FloatBuffer([1, 2, 3])
/// RMSNorm.forward(x: x.pointer, ...)
/// ```
///
/// Thread safety: none is provided; a buffer is `@unchecked Sendable` so that parallel kernels
/// can hand disjoint regions of it to worker threads, which is the only way it is shared.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of `Float` elements.
    public let count: Int
    /// Start of the storage (64-byte aligned, `count` elements, never null).
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` floats, filled with zeros.
    /// - Parameter count: the number of elements; must not be negative.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }

    /// A copy of the contents as an array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// The element at `index` (bounds-checked; for tests and tools, not hot loops).
    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            return pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            pointer[index] = newValue
        }
    }
}

/// A fixed-size, 64-byte aligned, zero-filled array of `Int8` (8-bit key/value caches and
/// quantised activations). Same ownership rules as ``FloatBuffer``.
public final class Int8Buffer: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    /// Start of the storage (64-byte aligned, `count` elements, never null).
    public let pointer: UnsafeMutablePointer<Int8>

    /// Allocates `count` bytes, filled with zeros.
    public init(count: Int) {
        precondition(count >= 0, "Int8Buffer: negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer = raw.bindMemory(to: Int8.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
