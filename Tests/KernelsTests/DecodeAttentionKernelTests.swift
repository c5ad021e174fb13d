// The decode attention kernels (lra_scores, lra_weighted_sum) against their scalar references,
// over the shapes their SIMD paths split on: query rows in and out of the 3-row tiles, key counts
// in and out of the 8- and 16-row blocks, one or several KV heads per cache row, head widths with
// and without a 32-column tail, and widths that are not a multiple of 8 (the reference path).
// The 8-bit cache kernels (lra_quantize_heads, lra_scores_q8, lra_weighted_sum_q8) likewise, plus
// the rounding bound of the quantisation. The softmax between them (lra_softmax_rows) bitwise
// against VectorMath, whose arithmetic it takes over.

import CQuantKernels
import Kernels
import TestSupport
import Testing

@Suite struct DecodeAttentionKernelTests {
    struct Shape: Sendable, CustomStringConvertible {
        let heads: Int, rows: Int, n: Int, D: Int, stride: Int
        var description: String { "heads \(heads) rows \(rows) n \(n) D \(D) stride \(stride)" }
    }

    static let shapes: [Shape] = [
        Shape(heads: 1, rows: 1, n: 1, D: 64, stride: 64), Shape(heads: 3, rows: 3, n: 256, D: 64, stride: 192),
        Shape(heads: 3, rows: 12, n: 37, D: 64, stride: 192), Shape(heads: 1, rows: 5, n: 8, D: 40, stride: 40),
        Shape(heads: 2, rows: 2, n: 129, D: 8, stride: 24), Shape(heads: 3, rows: 4, n: 17, D: 12, stride: 36),
        Shape(heads: 2, rows: 7, n: 300, D: 128, stride: 256),
    ]

    @Test(arguments: shapes)
    func scoresMatchReference(_ s: Shape) {
        let hr = s.heads * s.rows
        let q = randomFloats(hr * s.D, seed: 1), k = randomFloats(s.n * s.stride, seed: 2)
        let lds = s.n + 3
        var fast = [Float](repeating: .nan, count: hr * lds), ref = fast
        lra_scores(q, Int64(s.heads), Int64(s.rows), Int64(s.D), k, Int64(s.stride), Int64(s.n), &fast, Int64(lds))
        lra_scores_reference(q, Int64(s.heads), Int64(s.rows), Int64(s.D), k, Int64(s.stride), Int64(s.n), &ref, Int64(lds))
        let used = (0..<hr).flatMap { r in (0..<s.n).map { r * lds + $0 } }
        #expect(relativeError(used.map { fast[$0] }, used.map { ref[$0] }) < 1e-6)
        // Padding between rows is never written.
        #expect((0..<hr).allSatisfy { r in (s.n..<lds).allSatisfy { fast[r * lds + $0].isNaN } })
    }

    @Test(arguments: shapes)
    func weightedSumMatchesReference(_ s: Shape) {
        let (hr, ldp) = (s.heads * s.rows, s.n + 5)
        let p = randomFloats(hr * ldp, seed: 3).map { abs($0) }, v = randomFloats(s.n * s.stride, seed: 4)
        var fast = [Float](repeating: .nan, count: hr * s.D), ref = fast
        lra_weighted_sum(p, Int64(ldp), Int64(s.heads), Int64(s.rows), Int64(s.n), v, Int64(s.stride), Int64(s.D), &fast)
        lra_weighted_sum_reference(p, Int64(ldp), Int64(s.heads), Int64(s.rows), Int64(s.n), v, Int64(s.stride), Int64(s.D), &ref)
        #expect(relativeError(fast, ref) < 1e-6)
    }

    /// lra_softmax_rows gives bitwise what VectorMath.max then VectorMath.expShiftSum give (decode
    /// attention's softmax before it moved to C), and what its scalar reference gives: row lengths
    /// around the 8- and 16-lane steps, hidden keys (-inf), a row with no key visible, zeros of
    /// both signs, and scores far enough below the maximum to underflow to 0.
    @Test(arguments: [1, 5, 8, 9, 15, 16, 17, 31, 33, 64, 100, 256])
    func softmaxRowsAreVectorMathsBitwise(_ n: Int) {
        let (rows, lds) = (6, n + 2)
        var x = randomFloats(rows * lds, seed: UInt64(40 + n), scale: 20)
        for i in (n / 2)..<n { x[lds + i] = -.infinity }
        for i in 0..<n { x[2 * lds + i] = -.infinity }
        for i in 0..<n { x[3 * lds + i] = i % 2 == 0 ? 0 : -0.0 }
        for i in 0..<n { x[4 * lds + i] = -Float(i) * 3 }
        var fast = x, ref = x, vm = x
        var (mFast, lFast) = ([Float](repeating: .nan, count: rows), [Float](repeating: .nan, count: rows))
        var (mRef, lRef) = (mFast, lFast), (mVM, lVM) = (mFast, lFast)
        lra_softmax_rows(&fast, Int64(lds), Int64(rows), Int64(n), &mFast, &lFast)
        lra_softmax_rows_reference(&ref, Int64(lds), Int64(rows), Int64(n), &mRef, &lRef)
        vm.withUnsafeMutableBufferPointer { b in
            for r in 0..<rows {
                let row = b.baseAddress! + r * lds
                mVM[r] = VectorMath.max(row, n)
                if mVM[r] == -.infinity {
                    lVM[r] = 0
                    row.update(repeating: 0, count: n)
                } else {
                    lVM[r] = VectorMath.expShiftSum(row, n, shift: mVM[r])
                }
            }
        }
        let bits = { (a: [Float]) in a.map(\.bitPattern) }
        #expect(bits(fast) == bits(vm))
        #expect(bits(mFast) == bits(mVM) && bits(lFast) == bits(lVM))
        #expect(bits(ref) == bits(vm))
        #expect(bits(mRef) == bits(mVM) && bits(lRef) == bits(lVM))
        #expect(lFast[2] == 0 && mFast[2] == -.infinity && fast[(2 * lds)..<(2 * lds + n)].allSatisfy { $0 == 0 })
        #expect(fast[4 * lds + n - 1] == 0 || n < 32)  // exp(-3 (n - 1)) underflows past ~88
    }

    /// A query row's scores and weighted sum do not depend on how many rows share the call: the
    /// many-row path (sequences stacked on a shared prompt: 6 x 16 register tiles for the
    /// weighted sum, with rows past a multiple of 6 one at a time) gives every row bitwise what a
    /// call with that row alone gives, and so does the 8-bit cache's weighted sum. Batched
    /// decode's "together equals alone" rests on it.
    @Test(arguments: [12, 13, 48, 50])
    func rowsAreIndependentOfHowManyShareACall(_ rows: Int) {
        let (heads, D, n, stride) = (3, 64, 200, 192)
        let q = randomFloats(heads * rows * D, seed: 11), k = randomFloats(n * stride, seed: 12), v = randomFloats(n * stride, seed: 13)
        let ldp = n + 3
        let p = randomFloats(heads * rows * ldp, seed: 14).map { abs($0) }
        var s = [Float](repeating: 0, count: heads * rows * ldp), o = [Float](repeating: 0, count: heads * rows * D)
        lra_scores(q, Int64(heads), Int64(rows), Int64(D), k, Int64(stride), Int64(n), &s, Int64(ldp))
        lra_weighted_sum(p, Int64(ldp), Int64(heads), Int64(rows), Int64(n), v, Int64(stride), Int64(D), &o)
        for h in 0..<heads {
            for r in [0, 5, 6, rows - 1] {
                let i = h * rows + r
                // Head h alone, one row: its cache slice is the same rows from column h D.
                var s1 = [Float](repeating: 0, count: ldp), o1 = [Float](repeating: 0, count: D)
                Array(q[(i * D)..<((i + 1) * D)]).withUnsafeBufferPointer { qr in
                    k.withUnsafeBufferPointer { lra_scores(qr.baseAddress!, 1, 1, Int64(D), $0.baseAddress! + h * D, Int64(stride), Int64(n), &s1, Int64(ldp)) }
                }
                Array(p[(i * ldp)..<((i + 1) * ldp)]).withUnsafeBufferPointer { pr in
                    v.withUnsafeBufferPointer { lra_weighted_sum(pr.baseAddress!, Int64(ldp), 1, 1, Int64(n), $0.baseAddress! + h * D, Int64(stride), Int64(D), &o1) }
                }
                #expect(s1[0..<n].elementsEqual(s[(i * ldp)..<(i * ldp + n)]), "scores: \(rows) rows, head \(h), row \(r)")
                #expect(o1.elementsEqual(o[(i * D)..<((i + 1) * D)]), "weighted sum: \(rows) rows, head \(h), row \(r)")
            }
        }
        // The same for the 8-bit cache's weighted sum.
        let ld = n + 2
        let (v8, vd) = Self.quantized(v, n: n, heads: heads, D: D, stride: stride, ld: ld)
        var o8 = [Float](repeating: 0, count: heads * rows * D), work = [Float](repeating: 0, count: heads * rows * n)
        lra_weighted_sum_q8(p, Int64(ldp), Int64(heads), Int64(rows), Int64(n), v8, Int64(stride), vd, Int64(ld), Int64(D), &o8, &work)
        for h in 0..<heads {
            for r in [0, 5, 6, rows - 1] {
                let i = h * rows + r
                var o1 = [Float](repeating: 0, count: D), work1 = [Float](repeating: 0, count: n)
                Array(p[(i * ldp)..<((i + 1) * ldp)]).withUnsafeBufferPointer { pr in
                    v8.withUnsafeBufferPointer { vp in
                        vd.withUnsafeBufferPointer { dp in
                            lra_weighted_sum_q8(pr.baseAddress!, Int64(ldp), 1, 1, Int64(n), vp.baseAddress! + h * D, Int64(stride),
                                                dp.baseAddress! + h * ld, Int64(ld), Int64(D), &o1, &work1)
                        }
                    }
                }
                #expect(o1.elementsEqual(o8[(i * D)..<((i + 1) * D)]), "8-bit weighted sum: \(rows) rows, head \(h), row \(r)")
            }
        }
    }

    /// Exact on small integers, whatever the kernels' summation order; each head reads only its
    /// own slice of the cache rows.
    @Test func integerInputsGiveExactResults() {
        let (heads, rows, n, D) = (3, 3, 21, 64)
        let q = (0..<(heads * rows * D)).map { Float(($0 * 7) % 5) - 2 }
        let k = (0..<(n * heads * D)).map { Float(($0 * 3) % 7) - 3 }
        var s = [Float](repeating: 0, count: heads * rows * n), ref = s
        lra_scores(q, Int64(heads), Int64(rows), Int64(D), k, Int64(heads * D), Int64(n), &s, Int64(n))
        lra_scores_reference(q, Int64(heads), Int64(rows), Int64(D), k, Int64(heads * D), Int64(n), &ref, Int64(n))
        #expect(s == ref)
        // Head 1 against a cache whose other heads are NaN: no NaN leaks into head 1's scores.
        let poisoned = (0..<(n * heads * D)).map { ($0 % (heads * D)) / D == 1 ? k[$0] : Float.nan }
        var s1 = [Float](repeating: 0, count: heads * rows * n)
        lra_scores(q, Int64(heads), Int64(rows), Int64(D), poisoned, Int64(heads * D), Int64(n), &s1, Int64(n))
        #expect(Array(s1[(rows * n)..<(2 * rows * n)]) == Array(s[(rows * n)..<(2 * rows * n)]))
        var o = [Float](repeating: 0, count: heads * rows * D), oref = o
        lra_weighted_sum(s, Int64(n), Int64(heads), Int64(rows), Int64(n), k, Int64(heads * D), Int64(D), &o)
        lra_weighted_sum_reference(s, Int64(n), Int64(heads), Int64(rows), Int64(n), k, Int64(heads * D), Int64(D), &oref)
        #expect(o == oref)
    }

    // MARK: 8-bit caches

    /// Rows `[n, heads * D]` (stride `stride`) quantised with scales `[heads, ld]`.
    static func quantized(_ x: [Float], n: Int, heads: Int, D: Int, stride: Int, ld: Int) -> ([Int8], [Float]) {
        var q = [Int8](repeating: 0, count: n * stride), d = [Float](repeating: .nan, count: max(heads * ld, (heads - 1) * ld + n))
        lra_quantize_heads(x, Int64(stride), Int64(n), Int64(heads), Int64(D), &q, Int64(stride), &d, Int64(ld))
        return (q, d)
    }

    /// Round trip: every value within half a step (d / 2) of the original, the largest magnitude
    /// of each head slice exact up to rounding, all-zero slices with scale 0.
    @Test func quantizationRoundsToTheNearestStep() {
        let (n, heads, D) = (13, 3, 64)
        var x = randomFloats(n * heads * D, seed: 9).map { $0 * 3 }
        for e in 0..<D { x[5 * heads * D + D + e] = 0 }  // row 5, head 1: all zero
        let (q, d) = Self.quantized(x, n: n, heads: heads, D: D, stride: heads * D, ld: n + 2)
        var back = [Float](repeating: .nan, count: x.count)
        lra_dequantize_heads(q, Int64(heads * D), d, Int64(n + 2), Int64(n), Int64(heads), Int64(D), &back, Int64(heads * D))
        #expect(d[1 * (n + 2) + 5] == 0)
        for i in 0..<n {
            for h in 0..<heads {
                let slice = (0..<D).map { i * heads * D + h * D + $0 }
                let amax = slice.map { abs(x[$0]) }.max()!
                #expect(abs(d[h * (n + 2) + i] - amax / 127) <= 1e-7 * amax)
                #expect(slice.allSatisfy { abs(back[$0] - x[$0]) <= d[h * (n + 2) + i] / 2 * 1.0001 })
                #expect(slice.allSatisfy { abs(Int(q[$0])) <= 127 })
            }
        }
    }

    static let q8Shapes: [Shape] = [
        Shape(heads: 1, rows: 1, n: 1, D: 64, stride: 64), Shape(heads: 3, rows: 3, n: 256, D: 64, stride: 192),
        Shape(heads: 3, rows: 12, n: 37, D: 64, stride: 192), Shape(heads: 2, rows: 2, n: 129, D: 32, stride: 80),
        Shape(heads: 2, rows: 7, n: 300, D: 128, stride: 256), Shape(heads: 3, rows: 4, n: 17, D: 40, stride: 120),
        Shape(heads: 1, rows: 3, n: 64, D: 96, stride: 96),
    ]

    /// Integer dot products: the SIMD path equals the reference exactly (same integer sums, same
    /// two scalings), and padding is never written.
    @Test(arguments: q8Shapes)
    func q8ScoresEqualReference(_ s: Shape) {
        let hr = s.heads * s.rows, ld = s.n + 4, lds = s.n + 3
        let (q, qd) = Self.quantized(randomFloats(hr * s.D, seed: 11), n: hr, heads: 1, D: s.D, stride: s.D, ld: 1)
        let (k, kd) = Self.quantized(randomFloats(s.n * s.stride, seed: 12), n: s.n, heads: s.heads, D: s.D, stride: s.stride, ld: ld)
        var fast = [Float](repeating: .nan, count: hr * lds), ref = fast
        lra_scores_q8(q, qd, Int64(s.heads), Int64(s.rows), Int64(s.D), k, Int64(s.stride), kd, Int64(ld), Int64(s.n), &fast, Int64(lds))
        lra_scores_q8_reference(q, qd, Int64(s.heads), Int64(s.rows), Int64(s.D), k, Int64(s.stride), kd, Int64(ld), Int64(s.n), &ref, Int64(lds))
        let used = (0..<hr).flatMap { r in (0..<s.n).map { r * lds + $0 } }
        #expect(used.allSatisfy { fast[$0] == ref[$0] })
        #expect((0..<hr).allSatisfy { r in (s.n..<lds).allSatisfy { fast[r * lds + $0].isNaN } })
        // And the scores are the float scores of the rounded inputs.
        var qf = [Float](repeating: 0, count: hr * s.D), kf = [Float](repeating: 0, count: s.n * s.stride)
        lra_dequantize_heads(q, Int64(s.D), qd, 1, Int64(hr), 1, Int64(s.D), &qf, Int64(s.D))
        lra_dequantize_heads(k, Int64(s.stride), kd, Int64(ld), Int64(s.n), Int64(s.heads), Int64(s.D), &kf, Int64(s.stride))
        var float = [Float](repeating: 0, count: hr * lds)
        lra_scores_reference(qf, Int64(s.heads), Int64(s.rows), Int64(s.D), kf, Int64(s.stride), Int64(s.n), &float, Int64(lds))
        #expect(relativeError(used.map { fast[$0] }, used.map { float[$0] }) < 1e-5)
    }

    @Test(arguments: q8Shapes)
    func q8WeightedSumMatchesReference(_ s: Shape) {
        let (hr, ldp, ld) = (s.heads * s.rows, s.n + 5, s.n + 2)
        let p = randomFloats(hr * ldp, seed: 13).map { abs($0) }
        let (v, vd) = Self.quantized(randomFloats(s.n * s.stride, seed: 14), n: s.n, heads: s.heads, D: s.D, stride: s.stride, ld: ld)
        var fast = [Float](repeating: .nan, count: hr * s.D), ref = fast
        var work = [Float](repeating: .nan, count: hr * s.n)
        lra_weighted_sum_q8(p, Int64(ldp), Int64(s.heads), Int64(s.rows), Int64(s.n), v, Int64(s.stride), vd, Int64(ld), Int64(s.D), &fast, &work)
        lra_weighted_sum_q8_reference(p, Int64(ldp), Int64(s.heads), Int64(s.rows), Int64(s.n), v, Int64(s.stride), vd, Int64(ld), Int64(s.D), &ref)
        #expect(relativeError(fast, ref) < 1e-6)
    }
}
