// LayerNormTests.swift: LayerNorm forward against a Double reference, backward by finite differences.

import Kernels
import TestSupport
import Testing

/// Runs LayerNorm.forward on arrays; returns (out, mean, rstd).
private func layerNorm(
    _ x: [Float], _ weight: [Float], _ bias: [Float], N: Int, C: Int, epsilon: Float
) -> ([Float], [Float], [Float]) {
    let xb = FloatBuffer(x), wb = FloatBuffer(weight), bb = FloatBuffer(bias)
    let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
    LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, x: xb.pointer,
                      weight: wb.pointer, bias: bb.pointer, N: N, C: C, epsilon: epsilon)
    return (out.array, mean.array, rstd.array)
}

@Suite struct LayerNormTests {
    @Test func forwardMatchesReference() {
        // C = 37 runs two full SIMD16 blocks and a tail; BERT's epsilon.
        let N = 5, C = 37, eps: Float = 1e-12
        let x = randomFloats(N * C, seed: 1, scale: 3)
        let w = randomFloats(C, seed: 2, scale: 2)
        let b = randomFloats(C, seed: 3)
        let (out, mean, rstd) = layerNorm(x, w, b, N: N, C: C, epsilon: eps)
        let ref = LayerNorm.reference(x: x, weight: w, bias: b, N: N, C: C, epsilon: eps)
        // Float32 vs Double: a few ulps of accumulated rounding.
        let rOut = compareClose(out, ref.out, rtol: 1e-5, atol: 1e-5)
        let rMean = compareClose(mean, ref.mean, rtol: 1e-5, atol: 1e-6)
        let rRstd = compareClose(rstd, ref.rstd, rtol: 1e-5, atol: 0)
        #expect(rOut.ok, "out: \(rOut)")
        #expect(rMean.ok, "mean: \(rMean)")
        #expect(rRstd.ok, "rstd: \(rRstd)")
    }

    @Test func largeOffsetDoesNotCancel() {
        // A row mean of 1000 with spread 1: a one-pass E[x^2] - E[x]^2 in Float32 would lose
        // most digits of the variance; the two-pass forward keeps them.
        let N = 2, C = 24, eps: Float = 1e-12
        let x = randomFloats(N * C, seed: 4).map { $0 + 1000 }
        let w = [Float](repeating: 1, count: C), b = [Float](repeating: 0, count: C)
        let (out, _, rstd) = layerNorm(x, w, b, N: N, C: C, epsilon: eps)
        let ref = LayerNorm.reference(x: x, weight: w, bias: b, N: N, C: C, epsilon: eps)
        // Inputs near 1000 carry ~6e-5 absolute rounding, i.e. ~1e-4 relative to the spread.
        let rOut = compareClose(out, ref.out, rtol: 1e-3, atol: 1e-3)
        let rRstd = compareClose(rstd, ref.rstd, rtol: 1e-3, atol: 0)
        #expect(rOut.ok, "out: \(rOut)")
        #expect(rRstd.ok, "rstd: \(rRstd)")
    }

    @Test func backwardMatchesFiniteDifferences() {
        // C = 20: one SIMD16 block plus a 4-element tail in the backward reductions.
        let N = 3, C = 20, eps: Float = 1e-5
        let x = randomFloats(N * C, seed: 10)
        let w = randomFloats(C, seed: 11, scale: 2)
        let b = randomFloats(C, seed: 12)
        let proj = randomFloats(N * C, seed: 13)  // dL/dout
        // Prior contents prove the backward accumulates (+=) instead of overwriting.
        let dxPrior = randomFloats(N * C, seed: 14)
        let dwPrior = randomFloats(C, seed: 15), dbPrior = randomFloats(C, seed: 16)

        let (_, mean, rstd) = layerNorm(x, w, b, N: N, C: C, epsilon: eps)
        let dx = FloatBuffer(dxPrior), dw = FloatBuffer(dwPrior), db = FloatBuffer(dbPrior)
        let dout = FloatBuffer(proj), xb = FloatBuffer(x), wb = FloatBuffer(w)
        let mb = FloatBuffer(mean), rb = FloatBuffer(rstd)
        LayerNorm.backward(dx: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dout: dout.pointer,
                           x: xb.pointer, weight: wb.pointer, mean: mb.pointer, rstd: rb.pointer, N: N, C: C)
        let dxAnalytic = zip(dx.array, dxPrior).map { $0 - $1 }
        let dwAnalytic = zip(dw.array, dwPrior).map { $0 - $1 }
        let dbAnalytic = zip(db.array, dbPrior).map { $0 - $1 }

        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
            weightedSum(layerNorm(x, w, b, N: N, C: C, epsilon: eps).0, proj)
        }
        let dxNumeric = numericalGradient(at: x) { loss($0, w, b) }
        let dwNumeric = numericalGradient(at: w) { loss(x, $0, b) }
        let dbNumeric = numericalGradient(at: b) { loss(x, w, $0) }
        // Tolerance: the 4-point stencil (h = 1e-2) has O(h^4) ~ 1e-8 truncation error; what is
        // left is Float32 rounding of the loss amplified by ~1/h, measured up to 6e-5 absolute
        // here. rtol 5e-3, atol 5e-4 leave a >= 5x margin (the check still passes at 1e-3 / 1e-4).
        let rx = compareClose(dxAnalytic, dxNumeric, rtol: 5e-3, atol: 5e-4)
        let rw = compareClose(dwAnalytic, dwNumeric, rtol: 5e-3, atol: 5e-4)
        let rb2 = compareClose(dbAnalytic, dbNumeric, rtol: 5e-3, atol: 5e-4)
        #expect(rx.ok, "dx: \(rx)")
        #expect(rw.ok, "dWeight: \(rw)")
        #expect(rb2.ok, "dBias: \(rb2)")
    }
}
