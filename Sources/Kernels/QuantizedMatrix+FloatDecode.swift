// QuantizedMatrix+FloatDecode.swift: the exact (Float32-activation) product for a few rows of x,
// straight from repacked blocks: used when a model asks for `.float32` activations while decoding
// (verdict probes, reference comparisons). Built lazily from the x8 layout on first use.
//
// Layout (one per matrix, rows of W in order): Q4_1 as groups of 128 weights in one
// SIMD16<UInt32> (lane l, nibble j holds weight 16 j + l of the group), Q8_0 as groups of 64
// (lane l, byte j holds weight 16 j + l); scales and minimums per 32-block as Float32, so that
// decoding 16 weights costs three integer vector ops and no lane-by-lane conversions. Every
// weight is computed as q * d + m with a separate multiply and add, as dequantizeRows writes it.

/// Float32-activation decode data of one quantised matrix (see the file comment).
final class FloatDecodePack: @unchecked Sendable {
    let rows: Int
    let cols: Int
    let layout: QuantizedLayout
    /// Weights per SIMD group (128 for Q4_1, 64 for Q8_0).
    let groupSize: Int
    /// Groups per row (after padding).
    let groups: Int
    /// rows * groups vectors.
    let packed: UnsafeMutablePointer<SIMD16<UInt32>>
    /// Scales per 32-block: rows * (groups * groupSize / 32).
    let scales: FloatBuffer
    /// Minimums per 32-block (Q4_1 only).
    let mins: FloatBuffer?

    var blocksPerRow: Int { groups * groupSize / 32 }

    /// Repacks `rows` of quantised values: `block(r, b, &values)` gives block b of row r
    /// (32 values in weight order) and its scale and minimum.
    init(layout: QuantizedLayout, rows: Int, cols: Int, block: (Int, Int, inout [UInt8]) -> (Float, Float)) {
        precondition(layout != .float32, "FloatDecodePack: a quantised layout")
        self.rows = rows
        self.cols = cols
        self.layout = layout
        groupSize = layout == .q4_1 ? 128 : 64
        groups = (cols + groupSize - 1) / groupSize
        let bpr = groups * groupSize / 32
        packed = .allocate(capacity: max(1, rows * groups))
        packed.initialize(repeating: .zero, count: max(1, rows * groups))
        scales = FloatBuffer(count: rows * bpr)
        mins = layout == .q4_1 ? FloatBuffer(count: rows * bpr) : nil
        var values = [UInt8](repeating: 0, count: 32)
        for r in 0..<rows {
            for b in 0..<(cols / 32) {
                let (d, m) = block(r, b, &values)
                scales.pointer[r * bpr + b] = d
                mins?.pointer[r * bpr + b] = m
                if layout == .q4_1 {
                    let (g, jBase) = (b / 4, (b % 4) * 2)  // block b of group g fills nibbles 2(b%4), +1
                    for i in 0..<16 {
                        packed[r * groups + g][i] |= UInt32(values[i] & 15) << (4 * UInt32(jBase))
                        packed[r * groups + g][i] |= UInt32(values[i + 16] & 15) << (4 * UInt32(jBase + 1))
                    }
                } else {
                    let (g, jBase) = (b / 2, (b % 2) * 2)  // weights 32 (b%2) + 16 j' + l
                    for i in 0..<32 {
                        let (j, lane) = (jBase + i / 16, i % 16)
                        packed[r * groups + g][lane] |= UInt32(values[i]) << (8 * UInt32(j))
                    }
                }
            }
        }
    }

    deinit { packed.deallocate() }

    /// Bytes held.
    var byteCount: Int { rows * groups * 64 + 4 * (scales.count + (mins?.count ?? 0)) }

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
        let P = packed, d = scales.pointer
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
