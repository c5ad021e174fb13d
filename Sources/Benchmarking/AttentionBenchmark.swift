// AttentionBenchmark.swift: times the flash attention forward and forward+backward on causal
// grouped-query attention (SmolLM2's shape by default) and compares with the sgemm ceiling.
//
// Flop counts (the issue's convention): causal forward = 2 * N^2 * D * H (Q K^T and P V over
// the lower triangle); the backward counts 2.5x the forward, so forward+backward = 3.5x.

import Foundation
import Kernels

/// What to measure.
public struct AttentionBenchmarkConfiguration: Sendable {
    /// Sequence lengths to run.
    public var lengths: [Int]
    /// Worker threads (attention workers, and BLAS threads for the sgemm ceiling).
    public var threads: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads.
    public var kvHeads: Int
    /// Head dimension.
    public var headDim: Int
    /// Measure forward+backward as well as forward.
    public var includeBackward: Bool
    /// Stop repeating a case once this many seconds were spent on it (at least one run).
    public var secondsPerCase: Double
    /// Tile sizes.
    public var tiling: AttentionTiling

    /// Creates a configuration; defaults are SmolLM2's attention (9 / 3 heads, head dim 64).
    public init(
        lengths: [Int] = [1024, 4096, 16384, 32768], threads: Int = 1, heads: Int = 9, kvHeads: Int = 3,
        headDim: Int = 64, includeBackward: Bool = true, secondsPerCase: Double = 2,
        tiling: AttentionTiling = .default
    ) {
        self.lengths = lengths
        self.threads = threads
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.includeBackward = includeBackward
        self.secondsPerCase = secondsPerCase
        self.tiling = tiling
    }
}

/// One measured case.
public struct AttentionBenchmarkResult: Codable, Sendable {
    /// Sequence length.
    public var n: Int
    /// `forward` or `forward_backward`.
    public var mode: String
    /// Median seconds per run.
    public var seconds: Double
    /// Achieved GFLOP/s under the flop convention above.
    public var gflops: Double
    /// Peak resident memory of the process while this case ran, in bytes.
    public var peakRSSBytes: Int
    /// Runs timed.
    public var runs: Int

    enum CodingKeys: String, CodingKey {
        case n, mode, seconds, gflops, runs
        case peakRSSBytes = "peak_rss_bytes"
    }
}

/// The whole report: `{"threads", "sgemm_gflops", "results": [...]}`.
public struct AttentionBenchmarkReport: Codable, Sendable {
    /// Threads used.
    public var threads: Int
    /// `cblas_sgemm` GFLOP/s on 2048^3 with the same threads, measured in the same run.
    public var sgemmGFLOPS: Double
    /// One entry per (length, mode).
    public var results: [AttentionBenchmarkResult]

    enum CodingKeys: String, CodingKey {
        case threads, results
        case sgemmGFLOPS = "sgemm_gflops"
    }
}

/// Runs the attention benchmark.
public enum AttentionBenchmark {
    /// Measures every configured length and mode.
    /// - Parameters:
    ///   - configuration: what to run.
    ///   - progress: called with a line before each case (for a progress display on stderr).
    /// - Returns: the report.
    public static func run(
        _ configuration: AttentionBenchmarkConfiguration, progress: (String) -> Void = { _ in }
    ) -> AttentionBenchmarkReport {
        let c = configuration
        progress("sgemm 2048^3 with \(c.threads) thread(s)")
        let ceiling = Measure.sgemmGFLOPS(threads: c.threads)
        var results: [AttentionBenchmarkResult] = []
        for n in c.lengths {
            let modes = c.includeBackward ? ["forward", "forward_backward"] : ["forward"]
            for mode in modes {
                progress("attention N=\(n) \(mode)")
                results.append(measure(n: n, backward: mode == "forward_backward", c))
            }
        }
        return AttentionBenchmarkReport(threads: c.threads, sgemmGFLOPS: ceiling, results: results)
    }

    /// Causal forward flops under the issue's convention.
    public static func forwardFlops(n: Int, heads: Int, headDim: Int) -> Double {
        2 * Double(n) * Double(n) * Double(headDim) * Double(heads)
    }

    static func measure(n: Int, backward: Bool, _ c: AttentionBenchmarkConfiguration) -> AttentionBenchmarkResult {
        let shape = AttentionShape(queryLength: n, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        var samples: [Double] = []
        var peak = 0
        do {
            ProcessMemory.resetPeakResidentBytes()
            let q = FloatBuffer(count: shape.queryCount), out = FloatBuffer(count: shape.queryCount)
            let k = FloatBuffer(count: shape.keyCount), v = FloatBuffer(count: shape.keyCount)
            let lse = FloatBuffer(count: shape.lseCount)
            fill(q, seed: 1); fill(k, seed: 2); fill(v, seed: 3)
            let grads = backward
                ? (FloatBuffer(count: shape.queryCount), FloatBuffer(count: shape.queryCount),
                   FloatBuffer(count: shape.keyCount), FloatBuffer(count: shape.keyCount))
                : nil
            if let g = grads { fill(g.0, seed: 4) }
            var spent = 0.0
            repeat {
                let t = Measure.seconds {
                    Attention.forward(
                        out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                        shape: shape, mask: .causal, tiling: c.tiling, threads: c.threads)
                    if let (dout, dq, dk, dv) = grads {
                        Attention.backward(
                            dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer,
                            q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer,
                            shape: shape, mask: .causal, tiling: c.tiling, threads: c.threads)
                    }
                }
                samples.append(t)
                spent += t
            } while spent < c.secondsPerCase && samples.count < 20
            peak = ProcessMemory.peakResidentBytes() ?? 0
        }
        let median = TimingStats(samples).p50
        let flops = forwardFlops(n: n, heads: c.heads, headDim: c.headDim) * (backward ? 3.5 : 1)
        return AttentionBenchmarkResult(
            n: n, mode: backward ? "forward_backward" : "forward", seconds: median, gflops: flops / median / 1e9,
            peakRSSBytes: peak, runs: samples.count)
    }

    static func fill(_ b: FloatBuffer, seed: UInt64) {
        var s = seed &* 0x9E37_79B9_7F4A_7C15
        for i in 0..<b.count {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            b.pointer[i] = Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000
        }
    }

    /// A plain-text table of the report, with each case's share of the sgemm ceiling.
    public static func table(_ r: AttentionBenchmarkReport) -> String {
        var t = TextTable(["N", "mode", "seconds", "GFLOP/s", "% of sgemm", "peak RSS MiB"])
        for x in r.results {
            t.add([
                "\(x.n)", x.mode, String(format: "%.4f", x.seconds), String(format: "%.1f", x.gflops),
                String(format: "%.0f%%", 100 * x.gflops / r.sgemmGFLOPS),
                String(format: "%.1f", Double(x.peakRSSBytes) / 1_048_576),
            ])
        }
        return "attention, causal GQA, threads \(r.threads); "
            + "sgemm 2048^3: \(String(format: "%.1f", r.sgemmGFLOPS)) GFLOP/s\n" + t.render()
    }
}
