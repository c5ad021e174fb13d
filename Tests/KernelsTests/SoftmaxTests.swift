// SoftmaxTests.swift: Softmax and LogSoftmax against Double references, invariants, stability
// and finite-difference gradients.

import Foundation
import Kernels
import TestSupport
import Testing

private func softmax(_ x: [Float], N: Int, C: Int) -> [Float] {
    let xb = FloatBuffer(x), out = FloatBuffer(count: N * C)
    Softmax.forward(out: out.pointer, x: xb.pointer, N: N, C: C)
    return out.array
}

private func logSoftmax(_ x: [Float], N: Int, C: Int) -> [Float] {
    let xb = FloatBuffer(x), out = FloatBuffer(count: N * C)
    LogSoftmax.forward(out: out.pointer, x: xb.pointer, N: N, C: C)
    return out.array
}

@Suite struct SoftmaxTests {
    @Test func forwardsMatchReferences() {
        // C = 37: two SIMD16 blocks and a tail in the max and sum reductions.
        let N = 4, C = 37
        let x = randomFloats(N * C, seed: 1, scale: 6)
        // exp in Float32 is accurate to ~1 ulp; sums add a few more.
        let rs = compareClose(softmax(x, N: N, C: C), Softmax.reference(x: x, N: N, C: C), rtol: 1e-5, atol: 1e-7)
        let rl = compareClose(logSoftmax(x, N: N, C: C), LogSoftmax.reference(x: x, N: N, C: C), rtol: 1e-5, atol: 1e-5)
        #expect(rs.ok, "softmax: \(rs)")
        #expect(rl.ok, "logSoftmax: \(rl)")
    }

    @Test func rowsSumToOneAndMatchExpOfLogSoftmax() {
        let N = 3, C = 50
        let x = randomFloats(N * C, seed: 2, scale: 10)
        let p = softmax(x, N: N, C: C)
        for n in 0..<N {
            let s = p[(n * C)..<(n * C + C)].reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - 1) < 1e-6, "row \(n) sums to \(s)")
        }
        let expLog = logSoftmax(x, N: N, C: C).map { Foundation.exp($0) }
        let r = compareClose(expLog, p, rtol: 1e-5, atol: 1e-7)
        #expect(r.ok, "\(r)")
    }

    @Test func largeLogitsAreStable() {
        // Without the max shift exp(1000) overflows to inf and the row becomes NaN.
        let x: [Float] = [1000, 1001, 1002, -1000]
        let p = softmax(x, N: 1, C: 4)
        let l = logSoftmax(x, N: 1, C: 4)
        let rp = compareClose(p, Softmax.reference(x: x, N: 1, C: 4), rtol: 1e-6, atol: 1e-7)
        // log-probabilities near 0..2 computed next to 1000: Float spacing there is 6e-5.
        let rl = compareClose(l, LogSoftmax.reference(x: x, N: 1, C: 4), rtol: 1e-6, atol: 1e-4)
        #expect(rp.ok, "softmax: \(rp)")
        #expect(rl.ok, "logSoftmax: \(rl)")
    }

    @Test func softmaxBackwardMatchesFiniteDifferences() {
        // C = 20: one SIMD16 block plus a tail in the backward dot product.
        let N = 3, C = 20
        let x = randomFloats(N * C, seed: 10, scale: 3)
        let proj = randomFloats(N * C, seed: 11)
        let prior = randomFloats(N * C, seed: 12)  // proves += accumulation
        let y = FloatBuffer(softmax(x, N: N, C: C))
        let dx = FloatBuffer(prior), dout = FloatBuffer(proj)
        Softmax.backward(dx: dx.pointer, dout: dout.pointer, out: y.pointer, N: N, C: C)
        let analytic = zip(dx.array, prior).map { $0 - $1 }
        let numeric = numericalGradient(at: x) { weightedSum(softmax($0, N: N, C: C), proj) }
        // Tolerance: the 4-point stencil (h = 1e-2) has O(h^4) ~ 1e-8 truncation error; Float32
        // rounding of the loss amplified by ~1/h was measured at 4e-6 absolute (outputs are
        // probabilities). rtol 1e-3, atol 1e-4 leave a >= 5x margin (passes at 2e-4 / 2e-5).
        let r = compareClose(analytic, numeric, rtol: 1e-3, atol: 1e-4)
        #expect(r.ok, "dx: \(r)")
    }

    @Test func logSoftmaxBackwardMatchesFiniteDifferences() {
        let N = 3, C = 20
        let x = randomFloats(N * C, seed: 20, scale: 3)
        let proj = randomFloats(N * C, seed: 21)
        let prior = randomFloats(N * C, seed: 22)  // proves += accumulation
        let y = FloatBuffer(logSoftmax(x, N: N, C: C))
        let dx = FloatBuffer(prior), dout = FloatBuffer(proj)
        LogSoftmax.backward(dx: dx.pointer, dout: dout.pointer, out: y.pointer, N: N, C: C)
        let analytic = zip(dx.array, prior).map { $0 - $1 }
        let numeric = numericalGradient(at: x) { weightedSum(logSoftmax($0, N: N, C: C), proj) }
        // Tolerance: log-probabilities are O(3), so their Float32 rounding is coarser than the
        // probabilities'; the difference was measured up to 1.8e-4 absolute. rtol 5e-3,
        // atol 5e-4 leave a >= 5x margin (the check still passes at 1e-3 / 1e-4).
        let r = compareClose(analytic, numeric, rtol: 5e-3, atol: 5e-4)
        #expect(r.ok, "dx: \(r)")
    }
}
