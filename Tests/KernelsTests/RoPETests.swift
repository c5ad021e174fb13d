// RoPETests.swift: RoPE against a Double-trig reference, its invariants, and its backward.

import Kernels
import TestSupport
import Testing

/// Runs RoPE.forward on a copy of `x`; returns the rotated copy.
private func rope(
    _ x: [Float], _ positions: [Int32], _ table: RoPE.Table, N: Int, H: Int, D: Int,
    _ convention: RoPE.Convention
) -> [Float] {
    let xb = FloatBuffer(x)
    positions.withUnsafeBufferPointer { p in
        RoPE.forward(x: xb.pointer, positions: p.baseAddress!, table: table, N: N, H: H, D: D,
                     convention: convention)
    }
    return xb.array
}

/// Runs RoPE.backward on a copy of `dout`; returns dL/dx.
private func ropeBackward(
    _ dout: [Float], _ positions: [Int32], _ table: RoPE.Table, N: Int, H: Int, D: Int,
    _ convention: RoPE.Convention
) -> [Float] {
    let db = FloatBuffer(dout)
    positions.withUnsafeBufferPointer { p in
        RoPE.backward(dx: db.pointer, positions: p.baseAddress!, table: table, N: N, H: H, D: D,
                      convention: convention)
    }
    return db.array
}

private let conventions: [RoPE.Convention] = [.adjacentPairs, .halves]

@Suite struct RoPETests {
    @Test(arguments: conventions)
    func forwardMatchesReference(convention: RoPE.Convention) {
        // Small case with the brief's positions, and a SmolLM2-like case (D = 64, base 1e5)
        // with large positions where angle accuracy matters.
        for (N, H, D, base, positions) in [
            (3, 2, 8, 10000.0, [Int32(0), 5, 17]),
            (4, 3, 64, 100000.0, [Int32(1), 777, 4095, 8191]),
        ] {
            let table = RoPE.Table(maxPositions: 8192, headDim: D, base: base)
            let x = randomFloats(N * H * D, seed: 1, scale: 2)
            let out = rope(x, positions, table, N: N, H: H, D: D, convention)
            let ref = RoPE.reference(x: x, positions: positions, N: N, H: H, D: D, base: base,
                                     convention: convention)
            // Table cos/sin are rounded to Float once (~6e-8 relative) and the rotation adds
            // two Float roundings: 1e-6 absolute on O(1) values leaves a wide margin.
            let r = compareClose(out, ref, rtol: 1e-5, atol: 1e-6)
            #expect(r.ok, "D=\(D): \(r)")
        }
    }

    @Test(arguments: conventions)
    func positionZeroIsIdentity(convention: RoPE.Convention) {
        let N = 2, H = 2, D = 8
        let table = RoPE.Table(maxPositions: 4, headDim: D)
        let x = randomFloats(N * H * D, seed: 2)
        #expect(rope(x, [0, 0], table, N: N, H: H, D: D, convention) == x)
    }

    @Test(arguments: conventions)
    func preservesEachPairNorm(convention: RoPE.Convention) {
        let N = 3, H = 2, D = 8, half = D / 2
        let table = RoPE.Table(maxPositions: 32, headDim: D)
        let x = randomFloats(N * H * D, seed: 3, scale: 2)
        let out = rope(x, [0, 5, 17], table, N: N, H: H, D: D, convention)
        for head in 0..<(N * H) {
            for i in 0..<half {
                let (a, b) = convention == .adjacentPairs ? (2 * i, 2 * i + 1) : (i, i + half)
                func norm(_ v: [Float]) -> Float {
                    (v[head * D + a] * v[head * D + a] + v[head * D + b] * v[head * D + b]).squareRoot()
                }
                #expect(abs(norm(out) - norm(x)) <= 1e-6 * max(1, norm(x)), "head \(head) pair \(i)")
            }
        }
    }

    @Test func conventionsDifferByHeadDimPermutation() {
        // perm = [0, 2, 4, .., 1, 3, 5, ..]: halves(x[perm]) == adjacentPairs(x)[perm], since
        // halves pair i = (perm[i], perm[i + D/2]) = (2i, 2i + 1), the adjacent pair i.
        let N = 3, H = 2, D = 8, half = D / 2
        let perm = (0..<half).map { 2 * $0 } + (0..<half).map { 2 * $0 + 1 }
        func permute(_ v: [Float]) -> [Float] {
            var out = v
            for head in 0..<(N * H) {
                for j in 0..<D { out[head * D + j] = v[head * D + perm[j]] }
            }
            return out
        }
        let table = RoPE.Table(maxPositions: 32, headDim: D)
        let positions: [Int32] = [0, 5, 17]
        let x = randomFloats(N * H * D, seed: 4)
        let viaHalves = rope(permute(x), positions, table, N: N, H: H, D: D, .halves)
        let viaAdjacent = permute(rope(x, positions, table, N: N, H: H, D: D, .adjacentPairs))
        // The same Float operations on the same pairs: bit-identical.
        #expect(viaHalves == viaAdjacent)
    }

    @Test(arguments: conventions)
    func backwardMatchesFiniteDifferences(convention: RoPE.Convention) {
        let N = 3, H = 2, D = 8
        let positions: [Int32] = [0, 5, 17]
        let table = RoPE.Table(maxPositions: 32, headDim: D, base: 10000)
        let x = randomFloats(N * H * D, seed: 5)
        let proj = randomFloats(N * H * D, seed: 6)  // dL/dout
        let dxAnalytic = ropeBackward(proj, positions, table, N: N, H: H, D: D, convention)
        let dxNumeric = numericalGradient(at: x) {
            weightedSum(rope($0, positions, table, N: N, H: H, D: D, convention), proj)
        }
        // Tolerance: the forward is linear in x, so the stencil has no truncation error; Float32
        // rounding of the loss amplified by ~1/h was measured at 3e-6 absolute. rtol 1e-3,
        // atol 1e-4 leave a >= 10x margin (the check still passes at 1e-4 / 1e-5).
        let r = compareClose(dxAnalytic, dxNumeric, rtol: 1e-3, atol: 1e-4)
        #expect(r.ok, "dx: \(r)")
    }

    @Test(arguments: conventions)
    func backwardUndoesForward(convention: RoPE.Convention) {
        // The rotation is orthogonal, so its transpose (the backward) is its inverse.
        let N = 3, H = 2, D = 8
        let positions: [Int32] = [0, 5, 17]
        let table = RoPE.Table(maxPositions: 32, headDim: D)
        let x = randomFloats(N * H * D, seed: 7)
        let back = ropeBackward(rope(x, positions, table, N: N, H: H, D: D, convention),
                                positions, table, N: N, H: H, D: D, convention)
        let r = compareClose(back, x, rtol: 0, atol: 1e-6)
        #expect(r.ok, "\(r)")
    }

    @Test func positionOutsideTableTraps() async {
        await #expect(processExitsWith: .failure) {
            let table = RoPE.Table(maxPositions: 4, headDim: 8)
            let x = FloatBuffer(count: 8)
            let positions: [Int32] = [4]
            positions.withUnsafeBufferPointer { p in
                RoPE.forward(x: x.pointer, positions: p.baseAddress!, table: table, N: 1, H: 1, D: 8,
                             convention: .halves)
            }
        }
    }
}
