// Matmul.swift: the one GEMM wrapper every kernel goes through, plus a naive reference.
//
// C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C, row-major, over OpenBLAS cblas_sgemm.
// op(X) is X or X^T. Leading dimensions are the row strides of the matrices as stored, so a
// head's slice of a [N, H, D] tensor is addressed in place (lda = H * D) with no copy.
// Never call this with M = 1 (matrix-vector): OpenBLAS sgemm runs ~8x slower there than sgemv.
// Decode-time products with a few rows have their own kernels (QuantizedMatrix's integer and
// Float32 decode paths, lra_scores / lra_weighted_sum for attention).

import CBLAS
import Foundation

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// Use the matrix as stored.
    case none
    /// Use the transpose of the stored matrix.
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Single-precision matrix products over OpenBLAS.
public enum GEMM {
    /// `c[M, N] = alpha * op(a) * op(b) + beta * c`.
    ///
    /// Shapes (row-major): `op(a): [M, K]`, `op(b): [K, N]`, `c: [M, N]`. `a` is stored as
    /// `[M, K]` (`lda >= K`) when `transA == .none`, else as `[K, M]` (`lda >= M`); likewise `b`.
    /// - Parameters:
    ///   - m: rows of `op(a)` and `c`.
    ///   - n: columns of `op(b)` and `c`.
    ///   - k: the contracted dimension.
    ///   - lda, ldb, ldc: row strides of the stored matrices, in elements.
    ///   - alpha: scale of the product.
    ///   - beta: scale of the existing `c` (0 overwrites; `c` may then hold garbage, even NaN).
    @inline(__always)
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Transpose = .none,
        b: UnsafePointer<Float>, ldb: Int, transB: Transpose = .none,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative shape m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA == .none ? k : m), "GEMM: lda \(lda) too small for m=\(m) k=\(k) \(transA)")
        precondition(ldb >= max(1, transB == .none ? n : k), "GEMM: ldb \(ldb) too small for k=\(k) n=\(n) \(transB)")
        precondition(ldc >= max(1, n), "GEMM: ldc \(ldc) < n=\(n)")
        if m == 0 || n == 0 { return }
        if k == 0 {
            // Nothing to contract: c = beta * c (BLAS would do the same; spelled out for clarity).
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of threads OpenBLAS uses for one call (process-wide setting).
    ///
    /// Kernels that parallelise themselves (attention) set this to 1 while they run their own
    /// workers; a busy second core makes two BLAS threads lose more often than win.
    ///
    /// The setting is process-wide and not per thread: one component raising it (the embedder
    /// on its own calls) hands BLAS threads to every other thread's GEMMs too, where they
    /// spin-wait beside our worker pool. ``singleThreaded`` pins it to 1 for the whole process,
    /// and an `OPENBLAS_NUM_THREADS` in the environment caps it (``environmentLimit``).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(cappedThreads(newValue, singleThreaded: singleThreaded, limit: environmentLimit))) }
    }

    /// `OPENBLAS_NUM_THREADS` when the environment sets it to a positive number: the user's (and
    /// `make`'s) BLAS thread budget, which ``threadCount`` never exceeds. OpenBLAS reads the
    /// variable once at start and lets `openblas_set_num_threads` raise the count past it, and
    /// one sgemm gives different bits on 1 and 2 threads (measured on Debian's 0.3.21, M 30,
    /// N 256, K 576: every result differs). So a component raising it (the embedder) changed
    /// what another thread's decoder computed: a prompt's prefill, and with it greedy tokens at
    /// a near-tie, depended on timing.
    public static let environmentLimit: Int? = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"]
        .flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 >= 1 ? $0 : nil }

    /// The thread count ``threadCount`` sets when asked for `requested`: 1 when single-threaded,
    /// else `requested` (at least 1) capped at `limit`.
    public static func cappedThreads(_ requested: Int, singleThreaded: Bool, limit: Int?) -> Int {
        if singleThreaded { return 1 }
        return min(max(1, requested), limit ?? Int.max)
    }

    /// When true, ``threadCount`` stays 1 whatever is asked: set by the CLI (unless
    /// `OPENBLAS_NUM_THREADS` is given), where the judge's decoder, its worker pool and the
    /// embedder run at the same time. Measured in an `eval` run on 2 cores: with the embedder
    /// raising BLAS to 2 threads, 45% of the CPU went to `sched_yield` and `exec_blas_async`.
    nonisolated(unsafe) public static var singleThreaded = false {
        didSet { if singleThreaded { openblas_set_num_threads(1) } }
    }

    /// Naive triple loop with the same contract as ``multiply(m:n:k:a:lda:transA:b:ldb:transB:c:ldc:alpha:beta:)``,
    /// accumulating in Double. For tests.
    public static func referenceMultiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Transpose = .none,
        b: UnsafePointer<Float>, ldb: Int, transB: Transpose = .none,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    s += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * s + old)
            }
        }
    }
}
