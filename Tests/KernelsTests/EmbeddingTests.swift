// EmbeddingTests.swift: Embedding gather, scatter-add backward with repeated ids, and the id check.

import Kernels
import TestSupport
import Testing

private func embed(_ table: [Float], _ ids: [Int32], V: Int, C: Int) -> [Float] {
    let tb = FloatBuffer(table), out = FloatBuffer(count: ids.count * C)
    ids.withUnsafeBufferPointer { p in
        Embedding.forward(out: out.pointer, ids: p.baseAddress!, table: tb.pointer, N: ids.count, V: V, C: C)
    }
    return out.array
}

@Suite struct EmbeddingTests {
    @Test func forwardGathersRows() {
        let V = 5, C = 3
        let table = (0..<(V * C)).map { Float($0) }  // row v = [3v, 3v+1, 3v+2]
        let out = embed(table, [4, 0, 4, 2], V: V, C: C)
        #expect(out == [12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8])
    }

    @Test func backwardAccumulatesRepeatedIds() {
        let V = 4, C = 2
        let ids: [Int32] = [1, 3, 1, 1]
        let dout: [Float] = [1, 2, 10, 20, 100, 200, 1000, 2000]
        let dTable = FloatBuffer([Float](repeating: 0.5, count: V * C))  // prior: accumulate onto it
        let db = FloatBuffer(dout)
        ids.withUnsafeBufferPointer { p in
            Embedding.backward(dTable: dTable.pointer, dout: db.pointer, ids: p.baseAddress!, N: 4, V: V, C: C)
        }
        // row 1 gets tokens 0, 2, 3; row 3 gets token 1; rows 0 and 2 keep the prior.
        #expect(dTable.array == [0.5, 0.5, 1101.5, 2202.5, 0.5, 0.5, 10.5, 20.5])
    }

    @Test func backwardMatchesFiniteDifferences() {
        let V = 5, C = 8
        let ids: [Int32] = [2, 0, 2, 4]
        let table = randomFloats(V * C, seed: 1)
        let proj = randomFloats(ids.count * C, seed: 2)
        let prior = randomFloats(V * C, seed: 3)  // proves += accumulation
        let dTable = FloatBuffer(prior), dout = FloatBuffer(proj)
        ids.withUnsafeBufferPointer { p in
            Embedding.backward(dTable: dTable.pointer, dout: dout.pointer, ids: p.baseAddress!,
                               N: ids.count, V: V, C: C)
        }
        let analytic = zip(dTable.array, prior).map { $0 - $1 }
        let numeric = numericalGradient(at: table) { weightedSum(embed($0, ids, V: V, C: C), proj) }
        // Tolerance: the loss is linear in the table, so the stencil has no truncation error;
        // Float32 rounding of the loss amplified by ~1/h was measured at 2.4e-7 absolute.
        // rtol 1e-3, atol 1e-4 as for the other kernels (>= 10x margin).
        let r = compareClose(analytic, numeric, rtol: 1e-3, atol: 1e-4)
        #expect(r.ok, "dTable: \(r)")
    }

    @Test func outOfRangeIdTraps() async {
        await #expect(processExitsWith: .failure) {
            let table = FloatBuffer(count: 4 * 2), out = FloatBuffer(count: 2)
            let ids: [Int32] = [4]
            ids.withUnsafeBufferPointer { p in
                Embedding.forward(out: out.pointer, ids: p.baseAddress!, table: table.pointer, N: 1, V: 4, C: 2)
            }
        }
        await #expect(processExitsWith: .failure) {
            let table = FloatBuffer(count: 4 * 2), out = FloatBuffer(count: 2)
            let ids: [Int32] = [-1]
            ids.withUnsafeBufferPointer { p in
                Embedding.forward(out: out.pointer, ids: p.baseAddress!, table: table.pointer, N: 1, V: 4, C: 2)
            }
        }
    }
}
