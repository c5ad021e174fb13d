import Kernels
import TestSupport
import Testing

@Suite struct CrossEntropyTests {
    let N = 7, C = 6, V = 23

    func run(_ h: [Float], _ w: [Float], _ t: [Int32], chunk: Int) -> ([Float], [Float]) {
        let lp = FloatBuffer(count: N), lse = FloatBuffer(count: N)
        LMHeadCrossEntropy.forward(logprobs: lp.pointer, lse: lse.pointer, hidden: h, weight: w, targets: t, N: N, C: C, V: V, chunkRows: chunk)
        return (lp.array, lse.array)
    }

    /// Chunked fused forward equals a plain full-softmax reference, for chunk sizes that do and
    /// do not divide N; ignored rows (negative target) give 0.
    @Test(arguments: [1, 3, 7, 64])
    func forwardMatchesReference(_ chunk: Int) {
        let h = randomFloats(N * C, seed: 1, scale: 2), w = randomFloats(V * C, seed: 2, scale: 2)
        let t: [Int32] = [0, 5, 22, -1, 7, 7, 13]
        let (lp, lse) = run(h, w, t, chunk: chunk)
        let ref = LMHeadCrossEntropy.referenceForward(hidden: h, weight: w, targets: t, N: N, C: C, V: V)
        #expect(compareClose(lp, ref.logprobs, rtol: 1e-5, atol: 1e-5).ok)
        #expect(compareClose(lse, ref.lse, rtol: 1e-5, atol: 1e-5).ok)
        #expect(lp[3] == 0)
        #expect(lp.allSatisfy { $0 <= 0 })
    }

    /// dHidden and dWeight against finite differences of L = sum_n g_n logprob_n.
    @Test func backwardMatchesFiniteDifferences() {
        let h = randomFloats(N * C, seed: 3), w = randomFloats(V * C, seed: 4)
        let t: [Int32] = [1, 5, 22, -1, 7, 0, 13]
        let g = randomFloats(N, seed: 5)
        let (_, lse) = run(h, w, t, chunk: 3)
        let dh = FloatBuffer(count: N * C), dw = FloatBuffer(count: V * C)
        LMHeadCrossEntropy.backward(dHidden: dh.pointer, dWeight: dw.pointer, dLogprobs: g, hidden: h, weight: w, targets: t, lse: lse, N: N, C: C, V: V, chunkRows: 3)
        let nh = numericalGradient(at: h) { weightedSum(run($0, w, t, chunk: 3).0, g) }
        let nw = numericalGradient(at: w) { weightedSum(run(h, $0, t, chunk: 3).0, g) }
        let rh = compareClose(dh.array, nh, rtol: 1e-3, atol: 2e-4)
        let rw = compareClose(dw.array, nw, rtol: 1e-3, atol: 2e-4)
        #expect(rh.ok, "dHidden \(rh)")
        #expect(rw.ok, "dWeight \(rw)")
    }
}
