// Measure.swift: wall-clock timing, peak resident memory and the machine's GEMM ceiling.
//
// Peak memory comes from Kernels' ProcessMemory (VmHWM; resettable, so one process can report a
// separate peak for each measured case).

import Foundation
import Kernels

/// Timing and memory probes shared by every benchmark.
public enum Measure {
    /// Seconds elapsed while running `body` (monotonic clock).
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }


    /// Measured `cblas_sgemm` throughput on an `n x n x n` product with `threads` BLAS threads:
    /// the best of `repeats` runs after one warm-up, in GFLOP/s (2 n^3 flops per product).
    public static func sgemmGFLOPS(n: Int = 2048, threads: Int, repeats: Int = 3) -> Double {
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
        let saved = GEMM.threadCount
        GEMM.threadCount = threads
        defer { GEMM.threadCount = saved }
        func run() { GEMM.multiply(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n) }
        run()
        var best = Double.infinity
        for _ in 0..<repeats { best = min(best, seconds(run)) }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}

/// Summary statistics of repeated timings.
public struct TimingStats: Codable, Sendable {
    /// Mean seconds.
    public var mean: Double
    /// Median seconds.
    public var p50: Double
    /// 95th percentile seconds (nearest rank).
    public var p95: Double

    /// Computes the statistics of `samples` (must not be empty).
    public init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "TimingStats: no samples")
        let s = samples.sorted()
        mean = s.reduce(0, +) / Double(s.count)
        p50 = s[s.count / 2]
        p95 = s[min(s.count - 1, Int((0.95 * Double(s.count)).rounded(.up)) - 1)]
    }
}
