// ActivationsTests.swift: SiLU, GELU and SwiGLU against known values, Double references and
// finite-difference gradients.

import Kernels
import TestSupport
import Testing

private func silu(_ x: [Float]) -> [Float] {
    let xb = FloatBuffer(x), out = FloatBuffer(count: x.count)
    SiLU.forward(out: out.pointer, x: xb.pointer, count: x.count)
    return out.array
}

private func gelu(_ x: [Float]) -> [Float] {
    let xb = FloatBuffer(x), out = FloatBuffer(count: x.count)
    GELU.forward(out: out.pointer, x: xb.pointer, count: x.count)
    return out.array
}

private func swiglu(_ gate: [Float], _ up: [Float], N: Int, F: Int) -> [Float] {
    let gb = FloatBuffer(gate), ub = FloatBuffer(up), out = FloatBuffer(count: N * F)
    SwiGLU.forward(out: out.pointer, gate: gb.pointer, up: ub.pointer, N: N, F: F)
    return out.array
}

// Gradient tolerance for all three: the 4-point stencil (h = 1e-2) has O(h^4) ~ 1e-8
// truncation error; Float32 rounding of the loss amplified by ~1/h was measured up to 1.4e-5
// absolute. rtol 1e-3, atol 1e-4 leave a >= 5x margin (the checks pass at 2e-4 / 2e-5).
private let gradRtol = 1e-3, gradAtol = 1e-4

@Suite struct ActivationsTests {
    @Test func knownValues() {
        let s = silu([1, 0, -1])
        let g = gelu([1, 0, -1])
        // Float32 results of the closed forms: a couple of ulps.
        let rs = compareClose(s, [0.7310585786300049, 0, -0.2689414213699951], rtol: 1e-6, atol: 1e-7)
        let rg = compareClose(g, [0.8413447460685429, 0, -0.15865525393145707], rtol: 1e-6, atol: 1e-7)
        #expect(rs.ok, "silu: \(rs)")
        #expect(rg.ok, "gelu: \(rg)")
    }

    @Test func forwardsMatchReferences() {
        // scale 8 reaches the saturated tails of sigmoid and erf.
        let x = randomFloats(101, seed: 1, scale: 8)
        let up = randomFloats(101, seed: 2, scale: 2)
        let rs = compareClose(silu(x), SiLU.reference(x), rtol: 1e-5, atol: 1e-6)
        let rg = compareClose(gelu(x), GELU.reference(x), rtol: 1e-5, atol: 1e-6)
        let rw = compareClose(swiglu(x, up, N: 1, F: 101), SwiGLU.reference(gate: x, up: up), rtol: 1e-5, atol: 1e-6)
        #expect(rs.ok, "silu: \(rs)")
        #expect(rg.ok, "gelu: \(rg)")
        #expect(rw.ok, "swiglu: \(rw)")
    }

    /// The fused-rows form (rows of [gate, up], split across workers) equals the plain
    /// forward row by row, bit for bit, whatever the thread count.
    @Test(arguments: [1, 2, 3]) func fusedRowsMatchThePlainForward(_ threads: Int) {
        let (N, F) = (7, 45)
        let gateUp = randomFloats(N * 2 * F, seed: 3, scale: 6)
        var want: [Float] = []
        for i in 0..<N {
            want += swiglu(Array(gateUp[(i * 2 * F)..<(i * 2 * F + F)]), Array(gateUp[(i * 2 * F + F)..<((i + 1) * 2 * F)]), N: 1, F: F)
        }
        let x = FloatBuffer(gateUp), out = FloatBuffer(count: N * F)
        SwiGLU.forward(out: out.pointer, gateUp: x.pointer, N: N, F: F, threads: threads)
        #expect(out.array.map(\.bitPattern) == want.map(\.bitPattern))
    }

    @Test func extremeInputsStayFinite() {
        let x: [Float] = [-200, -100, -30, 30, 100, 200]
        let s = silu(x), g = gelu(x)
        #expect(s.allSatisfy { $0.isFinite }, "\(s)")
        #expect(g.allSatisfy { $0.isFinite }, "\(g)")
        #expect(abs(s[0]) == 0 && s[5] == 200 && g[0] == 0 && g[5] == 200)
        // backward at the extremes is finite too
        let dx = FloatBuffer(count: x.count), xb = FloatBuffer(x)
        let ones = FloatBuffer([Float](repeating: 1, count: x.count))
        SiLU.backward(dx: dx.pointer, dout: ones.pointer, x: xb.pointer, count: x.count)
        GELU.backward(dx: dx.pointer, dout: ones.pointer, x: xb.pointer, count: x.count)
        #expect(dx.array.allSatisfy { $0.isFinite }, "\(dx.array)")
    }

    @Test func siluBackwardMatchesFiniteDifferences() {
        let N = 3, C = 8
        let x = randomFloats(N * C, seed: 10, scale: 4)
        let proj = randomFloats(N * C, seed: 11)
        let prior = randomFloats(N * C, seed: 12)  // proves += accumulation
        let dx = FloatBuffer(prior), dout = FloatBuffer(proj), xb = FloatBuffer(x)
        SiLU.backward(dx: dx.pointer, dout: dout.pointer, x: xb.pointer, count: N * C)
        let analytic = zip(dx.array, prior).map { $0 - $1 }
        let numeric = numericalGradient(at: x) { weightedSum(silu($0), proj) }
        let r = compareClose(analytic, numeric, rtol: gradRtol, atol: gradAtol)
        #expect(r.ok, "dx: \(r)")
    }

    @Test func geluBackwardMatchesFiniteDifferences() {
        let N = 3, C = 8
        let x = randomFloats(N * C, seed: 20, scale: 4)
        let proj = randomFloats(N * C, seed: 21)
        let prior = randomFloats(N * C, seed: 22)  // proves += accumulation
        let dx = FloatBuffer(prior), dout = FloatBuffer(proj), xb = FloatBuffer(x)
        GELU.backward(dx: dx.pointer, dout: dout.pointer, x: xb.pointer, count: N * C)
        let analytic = zip(dx.array, prior).map { $0 - $1 }
        let numeric = numericalGradient(at: x) { weightedSum(gelu($0), proj) }
        let r = compareClose(analytic, numeric, rtol: gradRtol, atol: gradAtol)
        #expect(r.ok, "dx: \(r)")
    }

    @Test func swigluBackwardMatchesFiniteDifferences() {
        let N = 3, F = 8
        let gate = randomFloats(N * F, seed: 30, scale: 4)
        let up = randomFloats(N * F, seed: 31, scale: 2)
        let proj = randomFloats(N * F, seed: 32)
        // Priors prove += accumulation into both gradients.
        let gPrior = randomFloats(N * F, seed: 33), uPrior = randomFloats(N * F, seed: 34)
        let dGate = FloatBuffer(gPrior), dUp = FloatBuffer(uPrior)
        let dout = FloatBuffer(proj), gb = FloatBuffer(gate), ub = FloatBuffer(up)
        SwiGLU.backward(dGate: dGate.pointer, dUp: dUp.pointer, dout: dout.pointer,
                        gate: gb.pointer, up: ub.pointer, N: N, F: F)
        let dGateAnalytic = zip(dGate.array, gPrior).map { $0 - $1 }
        let dUpAnalytic = zip(dUp.array, uPrior).map { $0 - $1 }
        let dGateNumeric = numericalGradient(at: gate) { weightedSum(swiglu($0, up, N: N, F: F), proj) }
        let dUpNumeric = numericalGradient(at: up) { weightedSum(swiglu(gate, $0, N: N, F: F), proj) }
        let rg = compareClose(dGateAnalytic, dGateNumeric, rtol: gradRtol, atol: gradAtol)
        let ru = compareClose(dUpAnalytic, dUpNumeric, rtol: gradRtol, atol: gradAtol)
        #expect(rg.ok, "dGate: \(rg)")
        #expect(ru.ok, "dUp: \(ru)")
    }
}
