// QuantizedMatrix.swift: weight matrices kept in GGML block quantisation (Q4_1, Q8_0) or Float32,
// with y = x W^T computed directly from the blocks for a few rows of x (decoding: bandwidth
// bound) and through dequantised tiles + sgemm for many rows (prefill: compute bound).
//
// Values are exact: every weight is q * d + m (Q4_1) or q * d (Q8_0) with the block's Float16
// scale(s) widened to Float32, as ggml's dequantize_row_q4_1 / _q8_0 define them. Only the
// summation order differs from a Float32 product of the dequantised matrix.
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
    /// Shapes: `x: [M, K]` (row stride K), `y: [M, N]` (row stride N). With `M <= 4` the
    /// product runs straight from the packed blocks; otherwise W is dequantised 256 rows at a
    /// time into a scratch tile and multiplied with sgemm (BLAS single-threaded per worker).
    /// Output rows of W are split across `threads` workers.
    public func multiply(x: UnsafePointer<Float>, rows M: Int, y: UnsafeMutablePointer<Float>, threads: Int = 1) {
        if M == 0 || rows == 0 { return }
        let (N, K) = (rows, cols)
        let (xP, yP) = (SendablePointer(x), SendablePointer(y))
        if layout == .float32 && M > 4 {
            GEMM.multiply(m: M, n: N, k: K, a: x, lda: K, b: dense!.pointer, ldb: K, transB: .transposed, c: y, ldc: N)
            return
        }
        if M <= 4 {
            // Pad x rows to whole groups, and precompute per-block sums of x (for Q4_1's m term).
            let Kp = paddedCols
            let xs = FloatBuffer(count: M * Kp)
            let sums = FloatBuffer(count: M * blocksPerRow)
            for i in 0..<M {
                (xs.pointer + i * Kp).update(from: x + i * K, count: K)
                if layout == .q4_1 {
                    for b in 0..<(K / 32) { sums.pointer[i * blocksPerRow + b] = VectorMath.sum(x + i * K + b * 32, 32) }
                }
            }
            let chunk = 64
            let tasks = (N + chunk - 1) / chunk
            Parallel.forEachTask(
                threads: threads, tasks: tasks, setup: { _ in () },
                body: { _, t in
                    let r0 = t * chunk, r1 = min(N, r0 + chunk)
                    self.decodeRows(r0..<r1, x: xs.pointer, xSums: sums.pointer, M: M, y: yP.pointer)
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

    /// Straight-from-blocks product for output rows `range` and `M <= 4` padded x rows.
    @inline(__always)
    func decodeRows(_ range: Range<Int>, x: UnsafePointer<Float>, xSums: UnsafePointer<Float>, M: Int, y: UnsafeMutablePointer<Float>) {
        let (N, Kp, bpr) = (rows, paddedCols, blocksPerRow)
        switch layout {
        case .float32:
            for r in range {
                for i in 0..<M { y[i * N + r] = VectorMath.dot(x + i * Kp, dense!.pointer + r * cols, cols) }
            }
        case .q4_1:
            let (P, d, m) = (packed!, scales!.pointer, mins!.pointer)
            for r in range {
                for i in 0..<M {
                    let xi = x + i * Kp
                    // Four independent accumulators (one per 32-block of a group) so the FMAs
                    // do not wait on each other.
                    var acc0 = Vec(repeating: 0), acc1 = Vec(repeating: 0), acc2 = Vec(repeating: 0), acc3 = Vec(repeating: 0)
                    let dr = d + r * bpr
                    for g in 0..<groups {
                        let w = P[r * groups + g]
                        let xg = xi + g * 128
                        // per 32-block: (sum of q * x) scaled by d
                        var s0 = q4Nibbles(w, 0) * loadVec(xg)
                        s0.addProduct(q4Nibbles(w, 1), loadVec(xg + 16))
                        var s1 = q4Nibbles(w, 2) * loadVec(xg + 32)
                        s1.addProduct(q4Nibbles(w, 3), loadVec(xg + 48))
                        var s2 = q4Nibbles(w, 4) * loadVec(xg + 64)
                        s2.addProduct(q4Nibbles(w, 5), loadVec(xg + 80))
                        var s3 = q4Nibbles(w, 6) * loadVec(xg + 96)
                        s3.addProduct(q4Nibbles(w, 7), loadVec(xg + 112))
                        acc0.addProduct(s0, Vec(repeating: dr[g * 4]))
                        acc1.addProduct(s1, Vec(repeating: dr[g * 4 + 1]))
                        acc2.addProduct(s2, Vec(repeating: dr[g * 4 + 2]))
                        acc3.addProduct(s3, Vec(repeating: dr[g * 4 + 3]))
                    }
                    // + sum_b m_b * sum(x over block b)
                    y[i * N + r] = ((acc0 + acc1) + (acc2 + acc3)).sum() + VectorMath.dot(m + r * bpr, xSums + i * bpr, bpr)
                }
            }
        case .q8_0:
            let (P, d) = (packed!, scales!.pointer)
            for r in range {
                for i in 0..<M {
                    let xi = x + i * Kp
                    var acc = Vec(repeating: 0)
                    for g in 0..<groups {
                        let w = P[r * groups + g]
                        let xg = xi + g * 64
                        for b in 0..<2 {
                            var s = q8Bytes(w, UInt32(2 * b)) * loadVec(xg + 32 * b)
                            s.addProduct(q8Bytes(w, UInt32(2 * b + 1)), loadVec(xg + 32 * b + 16))
                            acc.addProduct(s, Vec(repeating: d[r * bpr + g * 2 + b]))
                        }
                    }
                    y[i * N + r] = acc.sum()
                }
            }
        }
    }
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
