import Kernels
import TestSupport
import Testing

@Suite struct MatmulTests {
    /// BLAS threads: 1 when pinned, else the request capped at the environment's budget; and in
    /// a process started with `OPENBLAS_NUM_THREADS` (as `make test` starts this one), asking
    /// for more threads than it allows leaves OpenBLAS within it.
    @Test func blasThreadsStayWithinTheEnvironmentBudget() {
        #expect(GEMM.cappedThreads(4, singleThreaded: true, limit: nil) == 1)
        #expect(GEMM.cappedThreads(4, singleThreaded: false, limit: nil) == 4)
        #expect(GEMM.cappedThreads(4, singleThreaded: false, limit: 1) == 1)
        #expect(GEMM.cappedThreads(2, singleThreaded: false, limit: 3) == 2)
        #expect(GEMM.cappedThreads(0, singleThreaded: false, limit: 3) == 1)
        if let limit = GEMM.environmentLimit {
            let saved = GEMM.threadCount
            defer { GEMM.threadCount = saved }
            GEMM.threadCount = limit + 1
            #expect(GEMM.threadCount <= limit)
        }
    }

    /// The wrapper matches the naive loop for every transpose combination, padded leading
    /// dimensions, and beta accumulation.
    @Test(arguments: [(Transpose.none, Transpose.none), (.transposed, .none), (.none, .transposed), (.transposed, .transposed)])
    func gemmMatchesReference(_ ta: Transpose, _ tb: Transpose) {
        let (m, n, k) = (5, 7, 9)
        let lda = (ta == .none ? k : m) + 3, ldb = (tb == .none ? n : k) + 2, ldc = n + 1
        let a = randomFloats((ta == .none ? m : k) * lda, seed: 1)
        let b = randomFloats((tb == .none ? k : n) * ldb, seed: 2)
        let c0 = randomFloats(m * ldc, seed: 3)
        let fast = FloatBuffer(c0), ref = FloatBuffer(c0)
        GEMM.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: fast.pointer, ldc: ldc, alpha: 0.5, beta: 2)
        GEMM.referenceMultiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: ref.pointer, ldc: ldc, alpha: 0.5, beta: 2)
        #expect(compareClose(fast.array, ref.array, rtol: 1e-5, atol: 1e-5).ok)
    }

    @Test func fastExpIsAccurate() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let e = Double(VectorMath.exp(x)), r = Foundation.exp(Double(x))
            worst = max(worst, abs(e - r) / r)
            x += 0.0137
        }
        #expect(worst < 3e-7, "max relative error \(worst)")
        #expect(VectorMath.exp(-.infinity) == 0)
        #expect(VectorMath.exp(0) == 1)
    }

    @Test func rowHelpers() {
        let x = randomFloats(37, seed: 8, scale: 3)
        #expect(VectorMath.max(x, 37) == x.max()!)
        let dot = x.withUnsafeBufferPointer { VectorMath.dot($0.baseAddress!, $0.baseAddress!, 37) }
        #expect(abs(Double(dot) - x.reduce(0.0) { $0 + Double($1 * $1) }) < 1e-4)
        let buf = FloatBuffer(x)
        let s = VectorMath.expShiftSum(buf.pointer, 37, shift: 1)
        let ref = x.map { Foundation.exp(Double($0) - 1) }
        #expect(compareClose(buf.array, ref, rtol: 1e-6, atol: 0).ok)
        #expect(abs(Double(s) - ref.reduce(0, +)) < 1e-4)
    }
}

import Foundation
