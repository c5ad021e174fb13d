// QuantizedMatrix: repacked Q4_1 / Q8_0 blocks give exactly ggml's dequantised values; both
// product paths (integer kernels on 8-bit activations for M <= 16, dequantised tiles + sgemm
// above) match a Double reference on the rounded activations, the SIMD kernels match their
// scalar C reference, and `.float32` activations match the reference on x itself.

import CQuantKernels
import Kernels
import TestSupport
import Testing

/// Raw ggml blocks built from a seed, with their dequantised values computed from the layout
/// as ggml-common.h defines it (independently of the repacking code).
struct RawBlocks {
    var bytes: [UInt8] = []
    var values: [Float] = []

    static func q4_1(rows: Int, cols: Int, seed: UInt64) -> RawBlocks {
        var g = SeededGenerator(seed: seed)
        var r = RawBlocks()
        for _ in 0..<(rows * cols / 32) {
            let d = Float16(g.uniform(0.05)), m = Float16(g.uniform(0.2))
            let qs = (0..<16).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            withUnsafeBytes(of: d) { r.bytes += $0 }
            withUnsafeBytes(of: m) { r.bytes += $0 }
            r.bytes += qs
            let q = qs.map { $0 & 15 } + qs.map { $0 >> 4 }
            r.values += q.map { Float($0) * Float(d) + Float(m) }
        }
        return r
    }

    static func q8_0(rows: Int, cols: Int, seed: UInt64) -> RawBlocks {
        var g = SeededGenerator(seed: seed)
        var r = RawBlocks()
        for _ in 0..<(rows * cols / 32) {
            let d = Float16(g.uniform(0.02))
            let qs = (0..<32).map { _ in Int8(truncatingIfNeeded: g.next()) }
            withUnsafeBytes(of: d) { r.bytes += $0 }
            r.bytes += qs.map { UInt8(bitPattern: $0) }
            r.values += qs.map { Float($0) * Float(d) }
        }
        return r
    }
}

@Suite struct QuantizedMatrixTests {
    /// K = 96 and 576 end in a padded (partial) group in both layouts; K = 256 has none;
    /// K = 1344 (42 blocks) takes the Q4_1 batch path in three slices.
    static let shapes: [(String, Int, Int)] = [
        ("q4_1", 5, 96), ("q4_1", 70, 576), ("q4_1", 131, 256), ("q4_1", 21, 1344), ("q8_0", 5, 96), ("q8_0", 70, 576),
        ("q8_0", 131, 256),
    ]

    func make(_ kind: String, _ n: Int, _ k: Int) -> (QuantizedMatrix, [Float]) {
        let raw = kind == "q4_1" ? RawBlocks.q4_1(rows: n, cols: k, seed: 42) : RawBlocks.q8_0(rows: n, cols: k, seed: 42)
        let m = raw.bytes.withUnsafeBytes { p in
            kind == "q4_1" ? QuantizedMatrix(q4_1: p.baseAddress!, rows: n, cols: k) : QuantizedMatrix(q8_0: p.baseAddress!, rows: n, cols: k)
        }
        return (m, raw.values)
    }

    @Test(arguments: shapes)
    func dequantizationIsExact(_ kind: String, _ n: Int, _ k: Int) {
        let (m, values) = make(kind, n, k)
        let out = FloatBuffer(count: n * k)
        m.dequantizeRows(0..<n, into: out.pointer)
        #expect(out.array == values)
        let row = FloatBuffer(count: k)
        m.dequantizeRows(3..<4, into: row.pointer)
        #expect(row.array == Array(values[(3 * k)..<(4 * k)]))
    }

    /// Both product paths against a Double reference on the dequantised weights: the integer
    /// kernels (every register-block height, M = 1...4 and remainders 1...3 after whole blocks
    /// of 4, up to the limit 16) against the rounded activations x~, and the exact sgemm path
    /// above it against x; rows of W not a multiple of 8 (5, 70, 131) end in a padded group.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 24])
    func productMatchesReference(_ rowsOfX: Int) {
        for (kind, n, k) in Self.shapes {
            let (m, w) = make(kind, n, k)
            let x = randomFloats(rowsOfX * k, seed: 7)
            let y = FloatBuffer(count: rowsOfX * n)
            m.multiply(x: x, rows: rowsOfX, y: y.pointer, threads: 2)
            let rounded = FloatBuffer(count: rowsOfX * k)
            if rowsOfX <= 16 {
                QuantizedMatrix.roundActivations(x, rows: rowsOfX, cols: k, into: rounded.pointer)
            } else {
                rounded.pointer.update(from: x, count: x.count)
            }
            let ref = FloatBuffer(count: rowsOfX * n)
            GEMM.referenceMultiply(m: rowsOfX, n: n, k: k, a: rounded.pointer, lda: k, b: w, ldb: k, transB: .transposed, c: ref.pointer, ldc: n)
            let r = compareClose(y.array, ref.array, rtol: 1e-5, atol: 1e-5)
            #expect(r.ok, "\(kind) \(n)x\(k) M=\(rowsOfX): \(r)")
            // .float32 activations: x as given (exact tiles + sgemm for every M).
            m.multiply(x: x, rows: rowsOfX, y: y.pointer, threads: 2, activations: .float32)
            GEMM.referenceMultiply(m: rowsOfX, n: n, k: k, a: x, lda: k, b: w, ldb: k, transB: .transposed, c: ref.pointer, ldc: n)
            let f = compareClose(y.array, ref.array, rtol: 1e-5, atol: 1e-5)
            #expect(f.ok, "\(kind) \(n)x\(k) M=\(rowsOfX) float32: \(f)")
        }
    }

    /// The SIMD integer kernels against their scalar C reference (the same integer sums and
    /// scales in plain loops): equal up to Float32 rounding of the per-block scaling.
    @Test(arguments: [1, 2, 3, 4, 5, 8, 16])
    func integerKernelsMatchTheirScalarReference(_ rowsOfX: Int) {
        for (kind, n, k) in Self.shapes {
            let (m, _) = make(kind, n, k)
            let x = randomFloats(rowsOfX * k, seed: 21, scale: 3)
            let y = FloatBuffer(count: rowsOfX * n), ref = FloatBuffer(count: rowsOfX * n)
            m.multiply(x: x, rows: rowsOfX, y: y.pointer)
            m.referenceIntegerProduct(x: x, rows: rowsOfX, y: ref.pointer)
            let r = compareClose(y.array, ref.array, rtol: 1e-6, atol: 1e-5)
            #expect(r.ok, "\(kind) \(n)x\(k) M=\(rowsOfX): \(r)")
        }
    }

    /// The SIMD activation quantiser equals its scalar reference bit for bit: values, scales and
    /// scaled sums, on blocks of every magnitude, an all-zero block, and ties (x / d exactly
    /// k + 0.5, which both round to even).
    @Test func activationQuantiserMatchesItsReference() {
        let (M, K) = (3, 7 * 32)
        var x = randomFloats(M * K, seed: 17, scale: 2)
        for e in 0..<32 { x[e] = 0 }
        for e in 0..<32 { x[32 + e] = e == 0 ? 127 : Float(e) - 16.5 }      // d = 1: exact ties
        for e in 0..<32 { x[64 + e] *= 1e-30 }
        for e in 0..<32 { x[96 + e] *= 1e6 }
        var q = [Int8](repeating: 0, count: M * K), qr = q
        var s = [Float](repeating: 0, count: 2 * M * K / 32), sr = s
        s.withUnsafeMutableBufferPointer { sp in
            lrq_quantize_rows(x, Int64(M), Int64(K), &q, sp.baseAddress!, sp.baseAddress! + M * K / 32)
        }
        sr.withUnsafeMutableBufferPointer { sp in
            lrq_quantize_rows_reference(x, Int64(M), Int64(K), &qr, sp.baseAddress!, sp.baseAddress! + M * K / 32)
        }
        #expect(q == qr)
        #expect(s.map(\.bitPattern) == sr.map(\.bitPattern))
        let ties: [Int8] = [127] + (1..<32).map { (e: Int) -> Int8 in Int8((Double(e) - 16.5).rounded(.toNearestOrEven)) }
        #expect(Array(q[32..<64]) == ties)
    }

    /// 8-bit block rounding: each value moves by at most half a step (max|block| / 254), a
    /// block's largest magnitude is kept, and an all-zero block stays zero.
    @Test func activationRoundingIsBounded() {
        var x = randomFloats(4 * 64, seed: 5, scale: 4)
        for e in 64..<96 { x[e] = 0 }
        let out = FloatBuffer(count: x.count)
        QuantizedMatrix.roundActivations(x, rows: 4, cols: 64, into: out.pointer)
        for b in 0..<(x.count / 32) {
            let block = x[(32 * b)..<(32 * b + 32)]
            let amax = block.map { abs($0) }.max()!
            for e in block.indices {
                #expect(abs(out[e] - x[e]) <= amax / 254 * 1.0001 + 1e-7, "element \(e)")
            }
            if amax > 0 {
                let i = block.indices.first { abs(x[$0]) == amax }!
                #expect(abs(abs(out[i]) - amax) <= amax * 1e-6)
            } else {
                #expect(block.indices.allSatisfy { out[$0] == 0 })
            }
        }
    }

    /// A row of x times W gives bitwise the same value whatever the other rows of the batch are
    /// (the row's products use the same weights and order in every register block position, and
    /// in the wide path of five rows and more), so sequences decoding together give the tokens
    /// they give alone.
    @Test(arguments: [7, 13, 16]) func batchRowsAreIndependentOfTheirNeighbours(_ rows: Int) {
        for (kind, n, k) in Self.shapes {
            let (m, _) = make(kind, n, k)
            let x = randomFloats(rows * k, seed: 9)
            let all = FloatBuffer(count: rows * n), one = FloatBuffer(count: n)
            m.multiply(x: x, rows: rows, y: all.pointer, threads: 1)
            for i in [0, 4, rows - 1] {
                x.withUnsafeBufferPointer { m.multiply(x: $0.baseAddress! + i * k, rows: 1, y: one.pointer, threads: 1) }
                #expect(all.array[(i * n)..<((i + 1) * n)].elementsEqual(one.array), "\(kind) \(n)x\(k) row \(i) of \(rows)")
            }
        }
    }

    /// A prefetch feed changes no bit of a product, on one worker or two; products of more than
    /// 4 rows claim its lines (per row group: Q4_1 nb (M + 3) / 6 spread over its blocks, Q8_0 nb
    /// per whole 4-row pass), fewer rows leave it alone.
    @Test(arguments: [3, 7, 16]) func prefetchFeedChangesNoResult(_ rows: Int) {
        let target = FloatBuffer(count: 1 << 16)  // 4096 lines to prefetch
        for (kind, n, k) in Self.shapes {
            let (m, _) = make(kind, n, k)
            let x = randomFloats(rows * k, seed: 5)
            let plain = FloatBuffer(count: rows * n)
            m.multiply(x: x, rows: rows, y: plain.pointer, threads: 1)
            for threads in [1, 2] {
                let fed = FloatBuffer(count: rows * n), feed = PrefetchFeed()
                feed.add(target.pointer, bytes: target.count * 4)
                m.multiply(x: x, rows: rows, y: fed.pointer, threads: threads, prefetch: feed)
                #expect(fed.array.elementsEqual(plain.array), "\(kind) \(n)x\(k), \(rows) rows, \(threads) threads")
                let (groups, nb) = ((n + 7) / 8, k / 32)
                let claimed = rows <= 4 ? 0 : kind == "q4_1" ? groups * nb * ((rows + 3) / 6) : groups * (rows / 4) * nb
                #expect(4096 - feed.remainingLines == claimed, "\(kind) \(n)x\(k), \(rows) rows")
            }
        }
    }

    @Test func float32LayoutMatches() {
        let w = randomFloats(6 * 40, seed: 1)
        let m = QuantizedMatrix(float: w, rows: 6, cols: 40)
        for mRows in [2, 8] {
            let x = randomFloats(mRows * 40, seed: 2)
            let y = FloatBuffer(count: mRows * 6), ref = FloatBuffer(count: mRows * 6)
            m.multiply(x: x, rows: mRows, y: y.pointer)
            GEMM.referenceMultiply(m: mRows, n: 6, k: 40, a: x, lda: 40, b: w, ldb: 40, transB: .transposed, c: ref.pointer, ldc: 6)
            #expect(compareClose(y.array, ref.array, rtol: 1e-5, atol: 1e-5).ok)
        }
    }

    /// A stacked matrix holds each part's exact weights in its own rows and gives each part's
    /// products in its own column range, on both paths: parts of whole row groups (copied group
    /// by group) and parts that end inside one (placed block by block).
    @Test(arguments: ["q4_1", "q8_0"], [[5, 3, 7], [8, 16, 8]])
    func concatenationStacksOutputs(_ kind: String, _ rowCounts: [Int]) {
        let k = 96
        let parts = rowCounts.enumerated().map { i, n in
            let raw = kind == "q4_1" ? RawBlocks.q4_1(rows: n, cols: k, seed: UInt64(i + 1)) : RawBlocks.q8_0(rows: n, cols: k, seed: UInt64(i + 1))
            return raw.bytes.withUnsafeBytes { p in
                kind == "q4_1" ? QuantizedMatrix(q4_1: p.baseAddress!, rows: n, cols: k) : QuantizedMatrix(q8_0: p.baseAddress!, rows: n, cols: k)
            }
        }
        let stacked = QuantizedMatrix(concatenating: parts)
        let total = rowCounts.reduce(0, +)
        #expect(stacked.rows == total && stacked.cols == k && stacked.layout.rawValue == kind)
        let all = FloatBuffer(count: total * k)
        stacked.dequantizeRows(0..<total, into: all.pointer)
        var r0 = 0
        for p in parts {
            let w = FloatBuffer(count: p.rows * k)
            p.dequantizeRows(0..<p.rows, into: w.pointer)
            #expect(Array(all.array[(r0 * k)..<((r0 + p.rows) * k)]) == w.array, "rows from \(r0)")
            r0 += p.rows
        }
        for M in [1, 6, 20] {
            let x = randomFloats(M * k, seed: 11)
            let y = FloatBuffer(count: M * total)
            stacked.multiply(x: x, rows: M, y: y.pointer, threads: 2)
            var c0 = 0
            for p in parts {
                let yp = FloatBuffer(count: M * p.rows)
                p.multiply(x: x, rows: M, y: yp.pointer)
                for i in 0..<M {
                    let got = Array(y.array[(i * total + c0)..<(i * total + c0 + p.rows)])
                    let want = Array(yp.array[(i * p.rows)..<((i + 1) * p.rows)])
                    if M <= 16 {  // integer kernels: the same weights and activations in the same order
                        #expect(got == want, "M \(M) part at \(c0)")
                    } else {  // sgemm tiles of other widths may sum in another order
                        #expect(compareClose(got, want, rtol: 1e-5, atol: 1e-5).ok, "M \(M) part at \(c0)")
                    }
                }
                c0 += p.rows
            }
        }
    }
}
