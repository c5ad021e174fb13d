// PrefetchFeed.swift: memory a memory-bound step will read next, prefetched by the compute-bound
// products that run before it (see CQuantKernels/include/prefetch_feed.h).

import CQuantKernels

/// Byte ranges the integer product kernels prefetch a few cache lines at a time while they
/// work, so that a following memory-bound step (decode attention over key/value caches) finds
/// them in cache. Affects speed only, never a result.
///
/// Fill it (``clear()``, ``add(_:bytes:)``) while no product is using it, then pass it to
/// ``QuantizedMatrix/multiply(x:rows:y:threads:activations:prefetch:)``; the workers of a
/// product share it, each claiming the next lines. Lines left unclaimed are simply not
/// prefetched.
public final class PrefetchFeed: @unchecked Sendable {
    let raw: OpaquePointer

    /// An empty feed.
    public init() {
        guard let f = lrq_feed_create() else { fatalError("PrefetchFeed: out of memory") }
        raw = f
    }

    deinit { lrq_feed_destroy(raw) }

    /// Forgets every range.
    public func clear() { lrq_feed_clear(raw) }

    /// Appends `[pointer, pointer + bytes)` (nothing when `bytes <= 0`).
    public func add(_ pointer: UnsafeRawPointer, bytes: Int) {
        precondition(lrq_feed_add(raw, pointer, Int64(bytes)) == 0, "PrefetchFeed: out of memory")
    }

    /// Cache lines (64 bytes) not yet claimed by a kernel.
    public var remainingLines: Int { Int(lrq_feed_remaining(raw)) }

    /// Claims up to `count` lines in order and returns their addresses (for tests).
    func take(_ count: Int) -> [UInt] {
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(1, count)) { out in
            let n = Int(lrq_feed_take(raw, Int64(count), out.baseAddress!))
            return (0..<n).map { UInt(bitPattern: out[$0]) }
        }
    }
}
