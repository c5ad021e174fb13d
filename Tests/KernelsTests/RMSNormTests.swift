// RMSNormTests.swift: RMSNorm forward against a Double reference, backward by finite differences.

import Kernels
import TestSupport
import Testing

/// Runs RMSNorm.forward on arrays; returns (out, rstd).
private func rmsNorm(_ x: [Float], _ weight: [Float], N: Int, C: Int, epsilon: Float) -> ([Float], [Float]) {
    let xb = FloatBuffer(x), wb = FloatBuffer(weight)
    let out = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N)
    RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, x: xb.pointer, weight: wb.pointer,
                    N: N, C: C, epsilon: epsilon)
    return (out.array, rstd.array)
}

@Suite struct RMSNormTests {
    @Test func forwardMatchesReference() {
        // C = 37 runs two full SIMD16 blocks and a 5-element tail of every reduction.
        let N = 5, C = 37, eps: Float = 1e-5
        let x = randomFloats(N * C, seed: 1, scale: 3)
        let w = randomFloats(C, seed: 2, scale: 2)
        let (out, rstd) = rmsNorm(x, w, N: N, C: C, epsilon: eps)
        let ref = RMSNorm.reference(x: x, weight: w, N: N, C: C, epsilon: eps)
        // Float32 vs Double: a few ulps of accumulated rounding, well under 1e-5 relative.
        let rOut = compareClose(out, ref.out, rtol: 1e-5, atol: 1e-6)
        let rRstd = compareClose(rstd, ref.rstd, rtol: 1e-5, atol: 0)
        #expect(rOut.ok, "\(rOut)")
        #expect(rRstd.ok, "\(rRstd)")
    }

    @Test func unitWeightGivesUnitRootMeanSquare() {
        let N = 2, C = 16
        let x = randomFloats(N * C, seed: 3, scale: 5)
        let (out, _) = rmsNorm(x, [Float](repeating: 1, count: C), N: N, C: C, epsilon: 0)
        for n in 0..<N {
            let ms = out[(n * C)..<(n * C + C)].reduce(0.0) { $0 + Double($1) * Double($1) } / Double(C)
            #expect(abs(ms - 1) < 1e-5, "row \(n): mean square \(ms)")
        }
    }

    @Test func backwardMatchesFiniteDifferences() {
        // C = 20: one SIMD16 block plus a 4-element tail in the backward reduction.
        let N = 3, C = 20, eps: Float = 1e-5
        let x = randomFloats(N * C, seed: 10)
        let w = randomFloats(C, seed: 11, scale: 2)
        let proj = randomFloats(N * C, seed: 12)  // dL/dout
        // Prior contents prove the backward accumulates (+=) instead of overwriting.
        let dxPrior = randomFloats(N * C, seed: 13), dwPrior = randomFloats(C, seed: 14)

        let (_, rstd) = rmsNorm(x, w, N: N, C: C, epsilon: eps)
        let dx = FloatBuffer(dxPrior), dw = FloatBuffer(dwPrior)
        let dout = FloatBuffer(proj), xb = FloatBuffer(x), wb = FloatBuffer(w), rb = FloatBuffer(rstd)
        RMSNorm.backward(dx: dx.pointer, dWeight: dw.pointer, dout: dout.pointer, x: xb.pointer,
                         weight: wb.pointer, rstd: rb.pointer, N: N, C: C)
        let dxAnalytic = zip(dx.array, dxPrior).map { $0 - $1 }
        let dwAnalytic = zip(dw.array, dwPrior).map { $0 - $1 }

        let dxNumeric = numericalGradient(at: x) { weightedSum(rmsNorm($0, w, N: N, C: C, epsilon: eps).0, proj) }
        let dwNumeric = numericalGradient(at: w) { weightedSum(rmsNorm(x, $0, N: N, C: C, epsilon: eps).0, proj) }
        // Tolerance: the 4-point stencil (h = 1e-2) has O(h^4) ~ 1e-8 truncation error; what is
        // left is Float32 rounding of the loss amplified by ~1/h, measured up to 6e-5 absolute
        // here. rtol 5e-3, atol 5e-4 leave a >= 5x margin (the check still passes at 1e-3 / 1e-4).
        let rx = compareClose(dxAnalytic, dxNumeric, rtol: 5e-3, atol: 5e-4)
        let rw = compareClose(dwAnalytic, dwNumeric, rtol: 5e-3, atol: 5e-4)
        #expect(rx.ok, "dx: \(rx)")
        #expect(rw.ok, "dWeight: \(rw)")
    }
}
