// QuantizedMatrix.swift: weight matrices kept in GGML block quantisation (Q4_1, Q8_0) or Float32,
// with y = x W^T computed directly from the blocks for a few rows of x (decoding: bandwidth
// bound) and through dequantised tiles + sgemm for many rows (prefill: compute bound).
//
// Values are exact: every weight is q * d + m (Q4_1) or q * d (Q8_0) with the block's Float16
// scale(s) widened to Float32, as ggml's dequantize_row_q4_1 / _q8_0 define them; both product
// paths use exactly these weights (the straight-from-blocks kernel computes q * d + m with a
// separate multiply and add, as dequantizeRows does). Only the summation order differs from a
// Float32 product of the dequantised matrix.
//
// Source block layouts (ggml-common.h):
//   Q4_1: 32 weights in 20 bytes = { f16 d, f16 m, u8 qs[16] }, weight i = (qs[i] & 15) for
//         i < 16 and (qs[i - 16] >> 4) otherwise, value = q * d + m.
//   Q8_0: 32 weights in 34 bytes = { f16 d, i8 qs[32] }, value = qs[i] * d.
//
// Repacked layout (built once at load), chosen so that decoding 16 weights costs three integer
// vector ops and no lane-by-lane conversions:
//   Q4_1: per row, groups of 128 weights in one SIMD16<UInt32>; lane l, nibble j holds weight
//         16 j + l of the group. Scales d and mins m per 32-block as Float32.
//   Q8_0: per row, groups of 64 weights in one SIMD16<UInt32>; lane l, byte j holds weight
//         16 j + l. Scales per 32-block as Float32.
// Rows are zero-padded to a whole group (the padding has zero scale, so it adds nothing).
//
// Names: N rows (outputs), K columns (inputs), M rows of x. W: [N, K], x: [M, K], y: [M, N].

/// Storage kinds of a ``QuantizedMatrix``.
public enum QuantizedLayout: String, Sendable {
    /// ggml Q4_1 blocks (4-bit weights with a scale and a minimum per 32).
    case q4_1
    /// ggml Q8_0 blocks (8-bit weights with a scale per 32).
    case q8_0
    /// Plain Float32.
    case float32
}

/// A weight matrix `W: [N, K]` for products `y = x W^T`, stored quantised or as Float32.
///
/// ```swift
/// let w = QuantizedMatrix(q4_1: rawBlocks, rows: 1536, cols: 576)
/// w.multiply(x: x, rows: 1, y: y)          // decode: straight from the blocks
/// w.multiply(x: x, rows: 512, y: y)        // prefill: dequantised tiles + sgemm
/// ```
/// Immutable after init; `@unchecked Sendable` because it owns raw buffers that are only read.
public final class QuantizedMatrix: @unchecked Sendable {
    /// Output rows `N`.
    public let rows: Int
    /// Input columns `K`.
    public let cols: Int
    /// How the weights are stored.
    public let layout: QuantizedLayout

    /// Weights per SIMD group in the repacked layouts (128 for Q4_1, 64 for Q8_0).
    let groupSize: Int
    /// Groups per row (after padding).
    let groups: Int
    /// Packed weight groups: rows * groups vectors (quantised layouts).
    let packed: UnsafeMutablePointer<SIMD16<UInt32>>?
    /// Scales per 32-block: rows * (groups * groupSize / 32).
    let scales: FloatBuffer?
    /// Minimums per 32-block (Q4_1 only).
    let mins: FloatBuffer?
    /// Float32 weights (float32 layout).
    let dense: FloatBuffer?

    /// Padded row length in weights.
    var paddedCols: Int { groups * groupSize }
    /// 32-blocks per padded row.
    var blocksPerRow: Int { paddedCols / 32 }

    /// Repacks ggml Q4_1 blocks.
    /// - Parameters:
    ///   - blocks: `rows * cols / 32` blocks of 20 bytes, row after row.
    ///   - rows: `N`.
    ///   - cols: `K`, a multiple of 32.
    public init(q4_1 blocks: UnsafeRawPointer, rows: Int, cols: Int) {
        precondition(cols % 32 == 0 && rows >= 0, "QuantizedMatrix(q4_1): cols \(cols) not a multiple of 32")
        self.rows = rows
        self.cols = cols
        layout = .q4_1
        groupSize = 128
        groups = (cols + 127) / 128
        let bpr = groups * 4
        let packed = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: max(1, rows * groups))
        packed.initialize(repeating: .zero, count: max(1, rows * groups))
        let scales = FloatBuffer(count: rows * bpr), mins = FloatBuffer(count: rows * bpr)
        let srcBlocks = cols / 32
        for r in 0..<rows {
            for b in 0..<srcBlocks {
                let blk = blocks + (r * srcBlocks + b) * 20
                scales.pointer[r * bpr + b] = Float(blk.loadUnaligned(as: Float16.self))
                mins.pointer[r * bpr + b] = Float(blk.loadUnaligned(fromByteOffset: 2, as: Float16.self))
                let (g, jBase) = (b / 4, (b % 4) * 2)  // block b of group g fills nibbles 2(b%4), +1
                for i in 0..<16 {
                    let byte = UInt32(blk.load(fromByteOffset: 4 + i, as: UInt8.self))
                    // weight i -> nibble jBase, lane i ; weight i + 16 -> nibble jBase + 1, lane i
                    packed[r * groups + g][i] |= (byte & 15) << (4 * UInt32(jBase))
                    packed[r * groups + g][i] |= (byte >> 4) << (4 * UInt32(jBase + 1))
                }
            }
        }
        self.packed = packed
        self.scales = scales
        self.mins = mins
        dense = nil
    }

    /// Repacks ggml Q8_0 blocks.
    /// - Parameters:
    ///   - blocks: `rows * cols / 32` blocks of 34 bytes, row after row.
    ///   - rows: `N`.
    ///   - cols: `K`, a multiple of 32.
    public init(q8_0 blocks: UnsafeRawPointer, rows: Int, cols: Int) {
        precondition(cols % 32 == 0 && rows >= 0, "QuantizedMatrix(q8_0): cols \(cols) not a multiple of 32")
        self.rows = rows
        self.cols = cols
        layout = .q8_0
        groupSize = 64
        groups = (cols + 63) / 64
        let bpr = groups * 2
        let packed = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: max(1, rows * groups))
        packed.initialize(repeating: .zero, count: max(1, rows * groups))
        let scales = FloatBuffer(count: rows * bpr)
        let srcBlocks = cols / 32
        for r in 0..<rows {
            for b in 0..<srcBlocks {
                let blk = blocks + (r * srcBlocks + b) * 34
                scales.pointer[r * bpr + b] = Float(blk.loadUnaligned(as: Float16.self))
                let (g, jBase) = (b / 2, (b % 2) * 2)  // weights 32 (b%2) + 16 j' + l
                for i in 0..<32 {
                    let byte = UInt32(blk.load(fromByteOffset: 2 + i, as: UInt8.self))
                    let (j, lane) = (jBase + i / 16, i % 16)
                    packed[r * groups + g][lane] |= byte << (8 * UInt32(j))
                }
            }
        }
        self.packed = packed
        self.scales = scales
        mins = nil
        dense = nil
    }

    /// Copies Float32 weights `w: [rows, cols]`.
    public init(float w: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        layout = .float32
        groupSize = 1
        groups = cols
        let d = FloatBuffer(count: rows * cols)
        d.pointer.update(from: w, count: rows * cols)
        dense = d
        packed = nil
        scales = nil
        mins = nil
    }

    /// Stacks matrices with the same layout and `K` into one `[sum of N_i, K]` matrix (their
    /// repacked rows, scales and minimums copied in order), so that products sharing an input
    /// (Q/K/V, gate/up) run as one pass: `y = x [W_0; W_1; ...]^T` is `[M, sum N_i]` with each
    /// part's outputs in its own column range.
    /// - Precondition: `parts` is non-empty, with one layout and one column count.
    public convenience init(concatenating parts: [QuantizedMatrix]) {
        precondition(!parts.isEmpty, "QuantizedMatrix(concatenating:): no parts")
        let first = parts[0]
        precondition(parts.allSatisfy { $0.layout == first.layout && $0.cols == first.cols }, "QuantizedMatrix(concatenating:): layouts or column counts differ")
        self.init(stacking: parts, rows: parts.reduce(0) { $0 + $1.rows })
    }

    private init(stacking parts: [QuantizedMatrix], rows: Int) {
        let first = parts[0]
        self.rows = rows
        cols = first.cols
        layout = first.layout
        groupSize = first.groupSize
        groups = first.groups
        let G = first.groups, bpr = first.blocksPerRow
        func stack(_ get: (QuantizedMatrix) -> FloatBuffer?, width: Int) -> FloatBuffer? {
            guard get(first) != nil else { return nil }
            let out = FloatBuffer(count: rows * width)
            var r0 = 0
            for p in parts {
                (out.pointer + r0 * width).update(from: get(p)!.pointer, count: p.rows * width)
                r0 += p.rows
            }
            return out
        }
        if first.packed != nil {
            let packed = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: max(1, rows * G))
            packed.initialize(repeating: .zero, count: max(1, rows * G))
            var r0 = 0
            for p in parts {
                (packed + r0 * G).update(from: p.packed!, count: p.rows * G)
                r0 += p.rows
            }
            self.packed = packed
        } else {
            packed = nil
        }
        scales = stack({ $0.scales }, width: bpr)
        mins = stack({ $0.mins }, width: bpr)
        dense = stack({ $0.dense }, width: first.cols)
    }

    deinit { packed?.deallocate() }

    /// Bytes held by the weights (packed data, scales, minimums or dense floats).
    public var byteCount: Int {
        (packed == nil ? 0 : rows * groups * 64) + 4 * ((scales?.count ?? 0) + (mins?.count ?? 0) + (dense?.count ?? 0))
    }

    // MARK: - Dequantisation

    /// Writes rows `range` of W as Float32 into `out: [range.count, K]`.
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "QuantizedMatrix: rows \(range) outside 0..<\(rows)")
        let K = cols
        switch layout {
        case .float32:
            out.update(from: dense!.pointer + range.lowerBound * K, count: range.count * K)
        case .q4_1:
            let (P, d, m, bpr) = (packed!, scales!.pointer, mins!.pointer, blocksPerRow)
            for (o, r) in range.enumerated() {
                let dst = out + o * K
                for g in 0..<groups {
                    let w = P[r * groups + g]
                    for j in 0..<8 {
                        let c0 = g * 128 + 16 * j
                        if c0 >= K { break }
                        let blk = r * bpr + g * 4 + j / 2
                        let v = q4Nibbles(w, UInt32(j)) * d[blk] + m[blk]
                        storeVec(v, dst + c0)
                    }
                }
            }
        case .q8_0:
            let (P, d, bpr) = (packed!, scales!.pointer, blocksPerRow)
            for (o, r) in range.enumerated() {
                let dst = out + o * K
                for g in 0..<groups {
                    let w = P[r * groups + g]
                    for j in 0..<4 {
                        let c0 = g * 64 + 16 * j
                        if c0 >= K { break }
                        storeVec(q8Bytes(w, UInt32(j)) * d[r * bpr + g * 2 + j / 2], dst + c0)
                    }
                }
            }
        }
    }

    // MARK: - Products

    /// `y[M, N] = x[M, K] W^T` (overwrites `y`).
    ///
    /// Shapes: `x: [M, K]` (row stride K), `y: [M, N]` (row stride N). With
    /// `M <= blockedMaxRows` (16) the product runs straight from the packed blocks, decoding
    /// each weight once per 4 rows of x (`decodeRowsBlocked`); otherwise W is dequantised 256
    /// rows at a time into a scratch tile and multiplied with sgemm (BLAS single-threaded per
    /// worker). Output rows of W are split across `threads` workers. Nothing is allocated
    /// per call on the straight-from-blocks path.
    public func multiply(x: UnsafePointer<Float>, rows M: Int, y: UnsafeMutablePointer<Float>, threads: Int = 1) {
        if M == 0 || rows == 0 { return }
        let (N, K) = (rows, cols)
        let (xP, yP) = (SendablePointer(x), SendablePointer(y))
        if layout == .float32 && M > 4 {
            GEMM.multiply(m: M, n: N, k: K, a: x, lda: K, b: dense!.pointer, ldb: K, transB: .transposed, c: y, ldc: N)
            return
        }
        if layout == .float32 {  // M <= 4: one dot product per output
            Parallel.forEachTask(
                threads: threads, tasks: (N + 63) / 64, setup: { _ in () },
                body: { _, t in self.denseRows(t * 64..<min(N, t * 64 + 64), x: xP.pointer, M: M, y: yP.pointer) })
            return
        }
        if M <= Self.blockedMaxRows {
            // Straight from the blocks: each weight slice is decoded once per 4 rows of x.
            let chunk = 64
            Parallel.forEachTask(
                threads: threads, tasks: (N + chunk - 1) / chunk, setup: { _ in () },
                body: { _, t in
                    let r0 = t * chunk, r1 = min(N, r0 + chunk)
                    self.decodeRowsBlocked(r0..<r1, x: xP.pointer, M: M, y: yP.pointer)
                })
            return
        }
        let tile = 256
        let tasks = (N + tile - 1) / tile
        let saved = GEMM.threadCount
        GEMM.threadCount = 1
        defer { GEMM.threadCount = saved }
        Parallel.forEachTask(
            threads: threads, tasks: tasks, setup: { _ in FloatBuffer(count: tile * K) },
            body: { scratch, t in
                let r0 = t * tile, r1 = min(N, r0 + tile)
                self.dequantizeRows(r0..<r1, into: scratch.pointer)
                GEMM.multiply(
                    m: M, n: r1 - r0, k: K, a: xP.pointer, lda: K, b: scratch.pointer, ldb: K, transB: .transposed,
                    c: yP.pointer + r0, ldc: N)
            })
    }

    /// Largest `M` computed straight from the blocks; above it, dequantised tiles + sgemm.
    /// Measured on SmolLM2-135M Q4_1 decode (1 thread, Zen 3): batch 16 summed 152 tokens/s
    /// straight from the blocks vs 142 through the sgemm tiles; the decode cost per row
    /// flattens from M = 4 on (compute bound at 4 FMA chains per weight slice).
    static let blockedMaxRows = 16

    /// Straight-from-blocks product `y[:, range] = x W[range]^T` for any `M`.
    ///
    /// Shapes: `x: [M, K]` (row stride K, no padding), `y: [M, N]`. For each output row the
    /// weights are dequantised 16 at a time, exactly as `dequantizeRows` writes them
    /// (`q * d + m`, `q * d`), and multiplied into 4 rows of x at once (4 accumulators of 16
    /// lanes, one horizontal sum per output), so a batch of 4 costs one decode of W, not four.
    /// The 16-weight slices past `K` (the padding of the last group) are skipped.
    func decodeRowsBlocked(_ range: Range<Int>, x: UnsafePointer<Float>, M: Int, y: UnsafeMutablePointer<Float>) {
        var i0 = 0
        while i0 < M {
            switch M - i0 {
            case 1: decodeRowBlock(range, x: x, i0: i0, RowBlockOne.self, y: y); i0 += 1
            case 2: decodeRowBlock(range, x: x, i0: i0, RowBlockTwo.self, y: y); i0 += 2
            case 3: decodeRowBlock(range, x: x, i0: i0, RowBlockThree.self, y: y); i0 += 3
            default: decodeRowBlock(range, x: x, i0: i0, RowBlockFour.self, y: y); i0 += 4
            }
        }
    }

    /// Rows `i0 ..< i0 + R` of x (`R` in 1...4, a type-level constant so that each
    /// specialisation keeps only the accumulators it uses) against output rows `range`.
    @inline(__always)
    func decodeRowBlock<B: RowBlock>(_ range: Range<Int>, x: UnsafePointer<Float>, i0: Int, _: B.Type, y: UnsafeMutablePointer<Float>) {
        let R = B.R
        let (N, K, G, bpr) = (rows, cols, groups, blocksPerRow)
        let slices = K / 16
        // Rows past R alias row 0; their accumulators are never updated or stored.
        let x0 = x + i0 * K, x1 = x + (i0 + (R > 1 ? 1 : 0)) * K
        let x2 = x + (i0 + (R > 2 ? 2 : 0)) * K, x3 = x + (i0 + (R > 3 ? 3 : 0)) * K
        let P = packed!, d = scales!.pointer
        let m = layout == .q4_1 ? mins!.pointer : d
        let isQ4 = layout == .q4_1
        for r in range {
            var a0 = Vec(repeating: 0), a1 = Vec(repeating: 0), a2 = Vec(repeating: 0), a3 = Vec(repeating: 0)
            let pr = P + r * G, dr = d + r * bpr, mr = m + r * bpr
            // One 16-weight slice (number k within its group): its exact dequantised values,
            // FMA'd into every row of x. Fewer than 3 rows would leave the FMA latency exposed
            // (one dependency chain per accumulator), so 1 row rotates over all 4 accumulators
            // and 2 rows over 2 each.
            @inline(__always) func accumulate(_ wv: Vec, _ c: Int, _ k: Int) {
                if R == 1 {
                    switch k & 3 {
                    case 0: a0.addProduct(wv, loadVec(x0 + c))
                    case 1: a1.addProduct(wv, loadVec(x0 + c))
                    case 2: a2.addProduct(wv, loadVec(x0 + c))
                    default: a3.addProduct(wv, loadVec(x0 + c))
                    }
                } else if R == 2 {
                    if k & 1 == 0 {
                        a0.addProduct(wv, loadVec(x0 + c)); a1.addProduct(wv, loadVec(x1 + c))
                    } else {
                        a2.addProduct(wv, loadVec(x0 + c)); a3.addProduct(wv, loadVec(x1 + c))
                    }
                } else {
                    a0.addProduct(wv, loadVec(x0 + c))
                    a1.addProduct(wv, loadVec(x1 + c))
                    a2.addProduct(wv, loadVec(x2 + c))
                    if R > 3 { a3.addProduct(wv, loadVec(x3 + c)) }
                }
            }
            if isQ4 {
                // group g, nibble j: weights g*128 + 16 j ..< +16 of 32-block g*4 + j/2
                var s = 0
                while s < slices {
                    let w = pr[s >> 3]
                    let blk = s >> 1
                    let n = min(8, slices - s)  // 8, or 2/4/6 in a padded last group
                    let (d0, m0) = (Vec(repeating: dr[blk]), Vec(repeating: mr[blk]))
                    accumulate(q4Nibbles(w, 0) * d0 + m0, 16 * s, 0)
                    accumulate(q4Nibbles(w, 1) * d0 + m0, 16 * s + 16, 1)
                    if n > 2 {
                        let (d1, m1) = (Vec(repeating: dr[blk + 1]), Vec(repeating: mr[blk + 1]))
                        accumulate(q4Nibbles(w, 2) * d1 + m1, 16 * s + 32, 2)
                        accumulate(q4Nibbles(w, 3) * d1 + m1, 16 * s + 48, 3)
                    }
                    if n > 4 {
                        let (d2, m2) = (Vec(repeating: dr[blk + 2]), Vec(repeating: mr[blk + 2]))
                        accumulate(q4Nibbles(w, 4) * d2 + m2, 16 * s + 64, 4)
                        accumulate(q4Nibbles(w, 5) * d2 + m2, 16 * s + 80, 5)
                    }
                    if n > 6 {
                        let (d3, m3) = (Vec(repeating: dr[blk + 3]), Vec(repeating: mr[blk + 3]))
                        accumulate(q4Nibbles(w, 6) * d3 + m3, 16 * s + 96, 6)
                        accumulate(q4Nibbles(w, 7) * d3 + m3, 16 * s + 112, 7)
                    }
                    s += n
                }
            } else {
                // group g, byte j: weights g*64 + 16 j ..< +16 of 32-block g*2 + j/2
                var s = 0
                while s < slices {
                    let w = pr[s >> 2]
                    let blk = s >> 1
                    let n = min(4, slices - s)  // 4, or 2 in a padded last group
                    let d0 = Vec(repeating: dr[blk])
                    accumulate(q8Bytes(w, 0) * d0, 16 * s, 0)
                    accumulate(q8Bytes(w, 1) * d0, 16 * s + 16, 1)
                    if n > 2 {
                        let d1 = Vec(repeating: dr[blk + 1])
                        accumulate(q8Bytes(w, 2) * d1, 16 * s + 32, 2)
                        accumulate(q8Bytes(w, 3) * d1, 16 * s + 48, 3)
                    }
                    s += n
                }
            }
            if R == 1 {
                y[i0 * N + r] = horizontalSum((a0 + a1) + (a2 + a3))
            } else if R == 2 {
                y[i0 * N + r] = horizontalSum(a0 + a2)
                y[(i0 + 1) * N + r] = horizontalSum(a1 + a3)
            } else {
                y[i0 * N + r] = horizontalSum(a0)
                y[(i0 + 1) * N + r] = horizontalSum(a1)
                y[(i0 + 2) * N + r] = horizontalSum(a2)
                if R > 3 { y[(i0 + 3) * N + r] = horizontalSum(a3) }
            }
        }
    }

    /// Float32 layout, few rows of x: one dot product per output, `y[:, range] = x W[range]^T`.
    func denseRows(_ range: Range<Int>, x: UnsafePointer<Float>, M: Int, y: UnsafeMutablePointer<Float>) {
        let (N, K, W) = (rows, cols, dense!.pointer)
        for r in range {
            for i in 0..<M { y[i * N + r] = VectorMath.dot(x + i * K, W + r * K, K) }
        }
    }
}

/// Rows of x per register block of the straight-from-blocks kernel, as a type so that the
/// kernel is specialised (and its unused accumulators removed) per block height.
protocol RowBlock { static var R: Int { get } }
enum RowBlockOne: RowBlock { static var R: Int { 1 } }
enum RowBlockTwo: RowBlock { static var R: Int { 2 } }
enum RowBlockThree: RowBlock { static var R: Int { 3 } }
enum RowBlockFour: RowBlock { static var R: Int { 4 } }

/// Sum of the 16 lanes, halving (inlined; `SIMD.sum()` is an out-of-line generic call here).
@inline(__always) @usableFromInline
func horizontalSum(_ v: Vec) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Nibble `j` of every lane as floats 0...15: OR-ing the integer into the mantissa of 2^23
/// and subtracting 2^23 converts exactly without a (scalarised) int-to-float conversion.
@inline(__always) @usableFromInline
func q4Nibbles(_ w: SIMD16<UInt32>, _ j: UInt32) -> Vec {
    unsafeBitCast(((w &>> (4 * j)) & 0xF) | 0x4B00_0000, to: Vec.self) - 8_388_608
}

/// Signed byte `j` of every lane as floats -128...127 (sign-extended with shifts, then the
/// 1.5 * 2^23 trick, exact for small integers).
@inline(__always) @usableFromInline
func q8Bytes(_ w: SIMD16<UInt32>, _ j: UInt32) -> Vec {
    let s = unsafeBitCast(w &<< (24 - 8 * j), to: SIMD16<Int32>.self) &>> 24
    return unsafeBitCast(s &+ 0x4B40_0000, to: Vec.self) - 12_582_912
}
