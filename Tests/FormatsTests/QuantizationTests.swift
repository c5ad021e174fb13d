// QuantizationTests.swift: dequantisation of hand-built blocks against values worked out from
// ggml's block layouts, quantize -> dequantize round trips with simple reference quantizers,
// and half-precision conversions.

import Formats
import TestSupport
import Testing

/// Dequantizes `bytes` (whole blocks of `type`) to an array.
private func dequantized(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
    precondition(type.byteCount(elements: count) == bytes.count)
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dequantize(type: type, from: src.baseAddress!, count: count, into: $0.baseAddress!) }
    }
    return out
}

/// Little-endian binary16 bytes of `x`.
private func half(_ x: Float) -> [UInt8] { leBytes([HalfPrecision.half(from: x)]) }

@Suite struct QuantizationTests {
    @Test func typeTable() {
        let expected: [(GGMLType, UInt32, Int, Int)] = [
            (.f32, 0, 1, 4), (.f16, 1, 1, 2), (.q4_0, 2, 32, 18), (.q4_1, 3, 32, 20), (.q5_0, 6, 32, 22),
            (.q5_1, 7, 32, 24), (.q8_0, 8, 32, 34), (.q8_1, 9, 32, 36), (.q2_K, 10, 256, 84), (.q3_K, 11, 256, 110),
            (.q4_K, 12, 256, 144), (.q5_K, 13, 256, 176), (.q6_K, 14, 256, 210), (.q8_K, 15, 256, 292),
            (.bf16, 30, 1, 2),
        ]
        for (type, id, block, bytes) in expected {
            #expect(type.rawValue == id)
            #expect(type.blockSize == block, "\(type)")
            #expect(type.bytesPerBlock == bytes, "\(type)")
        }
        #expect(GGMLType(rawValue: 4) == nil)
        #expect(GGMLType.q4_1.byteCount(elements: 64) == 40)
        #expect(GGMLType.q4_1.byteCount(elements: 48) == nil)
    }

    // MARK: - Hand-built blocks

    @Test func q4_0Block() {
        // d = 0.5; qs[j] = j | (15 - j) << 4  =>  x[j] = (j - 8) * 0.5, x[j + 16] = (7 - j) * 0.5
        let bytes = half(0.5) + (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let x = dequantized(.q4_0, bytes, count: 32)
        #expect(x[0] == -4 && x[8] == 0 && x[15] == 3.5)
        #expect(x[16] == 3.5 && x[31] == -4)
        let low: [Float] = (0..<16).map { Float($0 - 8) * 0.5 }
        let high: [Float] = (0..<16).map { Float(7 - $0) * 0.5 }
        #expect(x == low + high)
    }

    @Test func q4_1Block() {
        // d = 0.5, m = -1; low nibbles 0..15 are elements 0..15, high nibbles 15..0 elements 16..31.
        let bytes = half(0.5) + half(-1) + (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let x = dequantized(.q4_1, bytes, count: 32)
        #expect(x[0] == -1 && x[1] == -0.5 && x[15] == 6.5)
        #expect(x[16] == 6.5 && x[31] == -1)
        let low: [Float] = (0..<16).map { Float($0) * 0.5 - 1 }
        let high: [Float] = (0..<16).map { Float(15 - $0) * 0.5 - 1 }
        #expect(x == low + high)
    }

    @Test func q8_0Block() {
        // d = 0.25, qs = -16...15  =>  x = q / 4
        let bytes = half(0.25) + (-16..<16).map { UInt8(bitPattern: Int8($0)) }
        let x = dequantized(.q8_0, bytes, count: 32)
        #expect(x == (-16..<16).map { Float($0) * 0.25 })
        // A second block with a negative scale follows at byte 34.
        let two = bytes + half(-2) + [UInt8](repeating: UInt8(bitPattern: -3), count: 32)
        let y = dequantized(.q8_0, two, count: 64)
        #expect(Array(y[32...]) == [Float](repeating: 6, count: 32))
    }

    @Test func q5_0Block() {
        // d = 1; nibble of element j (j < 16) is j, of element j + 16 is 15 - j; qh = 0xF0F0_00FF
        // sets the 5th bit of elements 0-7, 20-23 and 28-31. x = q - 16.
        let qh: UInt32 = 0xF0F0_00FF
        let bytes = half(1) + leBytes([qh]) + (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let x = dequantized(.q5_0, bytes, count: 32)
        #expect(x[0] == 0 && x[7] == 7 && x[8] == -8 && x[15] == -1)  // 16+j-16 for j<8; j-16 after
        #expect(x[16] == -1 && x[20] == 11 && x[31] == 0)  // 15-4+16-16 = 11; 15-15+16-16 = 0
        for j in 0..<32 {
            let nibble = j < 16 ? j : 31 - j
            let bit = Int((qh >> UInt32(j)) & 1)
            #expect(x[j] == Float(nibble + 16 * bit - 16), "element \(j)")
        }
    }

    @Test func q5_1Block() {
        // d = 0.5, m = 2; same nibbles; qh = 0x8000_0001: bit 0 (element 0) and bit 31 (element 31).
        let bytes = half(0.5) + half(2) + leBytes([UInt32(0x8000_0001)]) + (0..<16).map { UInt8($0 | (15 - $0) << 4) }
        let x = dequantized(.q5_1, bytes, count: 32)
        #expect(x[0] == 16 * 0.5 + 2)  // q = 0 | 16
        #expect(x[1] == 0.5 + 2)
        #expect(x[16] == 15 * 0.5 + 2)
        #expect(x[31] == 16 * 0.5 + 2)  // nibble 0 | 16
    }

    /// Packs 8 six-bit (scale, min) pairs the way ggml's get_scale_min_k4 unpacks them.
    private func packScalesK4(_ scales: [UInt8], _ mins: [UInt8]) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            q[j] = scales[j] & 63
            q[j + 4] = mins[j] & 63
        }
        for j in 4..<8 {
            q[j + 4] = (scales[j] & 0x0F) | ((mins[j] & 0x0F) << 4)
            q[j - 4] |= (scales[j] >> 4) << 6
            q[j] |= (mins[j] >> 4) << 6
        }
        return q
    }

    @Test func q4_KBlock() {
        // Sub-block s has scale 10 + 6s and min 3 + 7s (both need all 6 bits for s >= 4); its 32
        // quants are (l + s) % 16. Element 64i + l uses the low nibble of qs[32i + l] (sub-block
        // 2i) and element 64i + 32 + l its high nibble (sub-block 2i + 1).
        let d: Float = 0.125, dmin: Float = 0.0625
        let scales = (0..<8).map { UInt8(10 + 6 * $0) }, mins = (0..<8).map { UInt8(3 + 7 * $0) }
        var qs = [UInt8](repeating: 0, count: 128)
        for i in 0..<4 {
            for l in 0..<32 {
                qs[32 * i + l] = UInt8((l + 2 * i) % 16) | UInt8((l + 2 * i + 1) % 16) << 4
            }
        }
        let bytes = half(d) + half(dmin) + packScalesK4(scales, mins) + qs
        let x = dequantized(.q4_K, bytes, count: 256)
        for s in 0..<8 {
            for l in 0..<32 {
                let expected = d * Float(scales[s]) * Float((l + s) % 16) - dmin * Float(mins[s])
                #expect(x[32 * s + l] == expected, "sub-block \(s) element \(l)")
            }
        }
        #expect(x[0] == 0.125 * 10 * 0 - 0.0625 * 3)
        #expect(x[255] == 0.125 * 52 * Float((31 + 7) % 16) - 0.0625 * 52)
    }

    @Test func q6_KBlock() {
        // 6-bit quants L[i] = (5i + 3) % 64, scales sc[k] = k - 8 (int8), d = 0.5;
        // x[i] = d * sc[i / 16] * (L[i] - 32). Packing mirrors ggml's quantize_row_q6_K_ref.
        let L = (0..<256).map { UInt8((5 * $0 + 3) % 64) }
        let sc = (0..<16).map { Int8($0 - 8) }
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for half in 0..<2 {
            let j = 128 * half
            for l in 0..<32 {
                ql[64 * half + l] = (L[j + l] & 0xF) | (L[j + l + 64] & 0xF) << 4
                ql[64 * half + l + 32] = (L[j + l + 32] & 0xF) | (L[j + l + 96] & 0xF) << 4
                qh[32 * half + l] = (L[j + l] >> 4) | (L[j + l + 32] >> 4) << 2 | (L[j + l + 64] >> 4) << 4
                    | (L[j + l + 96] >> 4) << 6
            }
        }
        let bytes = ql + qh + sc.map { UInt8(bitPattern: $0) } + half(0.5)
        let x = dequantized(.q6_K, bytes, count: 256)
        for i in 0..<256 {
            #expect(x[i] == 0.5 * Float(sc[i / 16]) * Float(Int(L[i]) - 32), "element \(i)")
        }
        #expect(x[0] == 0.5 * -8 * (3 - 32))
    }

    // MARK: - Round trips with reference quantizers

    /// Q8_0 as ggml's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d).
    private func quantizeQ8_0(_ x: [Float]) -> [UInt8] {
        var out = [UInt8]()
        for b in stride(from: 0, to: x.count, by: 32) {
            let block = x[b..<b + 32]
            let d = block.map(abs).max()! / 127
            let id = d == 0 ? 0 : 1 / d
            out += half(d) + block.map { UInt8(bitPattern: Int8(($0 * id).rounded())) }
        }
        return out
    }

    /// Q4_0 as ggml's quantize_row_q4_0_ref: d = max / -8 (max = value of largest magnitude).
    private func quantizeQ4_0(_ x: [Float]) -> [UInt8] {
        var out = [UInt8]()
        for b in stride(from: 0, to: x.count, by: 32) {
            let block = Array(x[b..<b + 32])
            let max = block.max { abs($0) < abs($1) }!
            let d = max / -8
            let id = d == 0 ? 0 : 1 / d
            let q = block.map { UInt8(min(15, Int8($0 * id + 8.5))) }
            out += half(d) + (0..<16).map { q[$0] | q[$0 + 16] << 4 }
        }
        return out
    }

    /// Q4_1 as ggml's quantize_row_q4_1_ref: d = (max - min) / 15, m = min.
    private func quantizeQ4_1(_ x: [Float]) -> [UInt8] {
        var out = [UInt8]()
        for b in stride(from: 0, to: x.count, by: 32) {
            let block = Array(x[b..<b + 32])
            let lo = block.min()!, hi = block.max()!
            let d = (hi - lo) / 15
            let id = d == 0 ? 0 : 1 / d
            let q = block.map { UInt8(min(15, Int8(($0 - lo) * id + 0.5))) }
            out += half(d) + half(lo) + (0..<16).map { q[$0] | q[$0 + 16] << 4 }
        }
        return out
    }

    /// Largest |x - y| divided by the block's quantisation step, over all blocks.
    private func worstStepFraction(_ x: [Float], _ y: [Float], step: (ArraySlice<Float>) -> Float) -> Float {
        var worst: Float = 0
        for b in stride(from: 0, to: x.count, by: 32) {
            let s = step(x[b..<b + 32])
            for i in b..<b + 32 { worst = max(worst, abs(x[i] - y[i]) / s) }
        }
        return worst
    }

    @Test func roundTripQ8_0() {
        let x = randomFloats(32 * 64, seed: 11, scale: 2)
        let y = dequantized(.q8_0, quantizeQ8_0(x), count: x.count)
        // Half a step, plus slack for d being rounded to binary16 (relative 2^-11 of |q| <= 127).
        let worst = worstStepFraction(x, y) { $0.map(abs).max()! / 127 }
        #expect(worst <= 0.5 + 127.0 / 2048, "worst error = \(worst) steps")
    }

    @Test func roundTripQ4_0() {
        let x = randomFloats(32 * 64, seed: 12, scale: 3)
        let y = dequantized(.q4_0, quantizeQ4_0(x), count: x.count)
        // Levels are (q - 8) d with d = max / -8: they reach the largest-magnitude value exactly
        // but only 7/8 of it on the opposite side, so values there beyond 7.5 steps clamp to the
        // last level (error under 1 step); all others are within half a step.
        let slack: Float = 8.0 / 2048  // d is stored as binary16
        for b in stride(from: 0, to: x.count, by: 32) {
            let block = x[b..<b + 32]
            let max = block.max { abs($0) < abs($1) }!
            let step = abs(max) / 8
            for i in b..<b + 32 {
                let clamped = (x[i] * max < 0) && abs(x[i]) > 7.5 * step
                let error = abs(x[i] - y[i]) / step
                #expect(error <= (clamped ? 1 : 0.5) + slack, "element \(i): \(x[i]) -> \(y[i])")
            }
        }
    }

    @Test func roundTripQ4_1() {
        let x = randomFloats(32 * 64, seed: 13, scale: 1)
        let y = dequantized(.q4_1, quantizeQ4_1(x), count: x.count)
        let worst = worstStepFraction(x, y) { ($0.max()! - $0.min()!) / 15 }
        // m and d are stored as binary16: allow their rounding on top of half a step.
        #expect(worst <= 0.5 + 16.0 / 2048, "worst error = \(worst) steps")
    }

    // MARK: - Half precision

    @Test func halfKnownValues() {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0), (0x3C00, 1), (0xC000, -2), (0x3800, 0.5), (0x7BFF, 65504), (0x0001, 0x1p-24),
            (0x0400, 0x1p-14), (0x7C00, .infinity), (0xFC00, -.infinity), (0x3555, 0.333251953125),
        ]
        for (bits, value) in cases {
            #expect(HalfPrecision.float(fromHalf: bits) == value, "bits \(bits)")
            #expect(HalfPrecision.half(from: value) == bits, "value \(value)")
        }
        #expect(HalfPrecision.float(fromHalf: 0x7E00).isNaN)
        #expect(HalfPrecision.half(from: 1e6) == 0x7C00)  // overflow -> inf
        #expect(HalfPrecision.half(from: 1 + 0x1p-11) == 0x3C00)  // tie rounds to even
        #expect(HalfPrecision.half(from: 1 + 3 * 0x1p-11) == 0x3C02)
    }

    @Test func bfloat16KnownValues() {
        #expect(HalfPrecision.float(fromBFloat16: 0x3F80) == 1)
        #expect(HalfPrecision.float(fromBFloat16: 0xC040) == -3)
        #expect(HalfPrecision.bfloat16(from: 1) == 0x3F80)
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie -> even
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie -> even
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: .nan)).isNaN)
        #expect(HalfPrecision.bfloat16(from: .infinity) == 0x7F80)
    }

    /// The bit-level fallback (used where Float16 is unavailable) agrees with Float16.
    @Test func bitLevelFallbackMatchesFloat16() {
        for bits in 0...UInt16.max {
            let hw = HalfPrecision.float(fromHalf: bits), sw = HalfPrecision.floatFromHalfBits(bits)
            #expect(hw.bitPattern == sw.bitPattern || (hw.isNaN && sw.isNaN), "bits \(bits)")
        }
        var g = SeededGenerator(seed: 5)
        for i in 0..<20_000 {
            // Random magnitudes spanning subnormal to overflow, plus exact ties.
            let f = i % 4 == 0 ? HalfPrecision.float(fromHalf: UInt16(truncatingIfNeeded: g.next())) * (1 + 0x1p-11)
                : Float(bitPattern: UInt32(truncatingIfNeeded: g.next()) & 0x47FF_FFFF | (i % 2 == 0 ? 0 : 0x8000_0000))
            if f.isNaN { continue }
            #expect(HalfPrecision.halfBitsFromFloat(f) == HalfPrecision.half(from: f), "value \(f)")
        }
    }

    /// Every binary16 bit pattern converts to the same Float through both conversions, and back.
    @Test func halfAllPatterns() {
        for bits in 0...UInt16.max {
            let f = HalfPrecision.float(fromHalf: bits)
            if f.isNaN { continue }
            #expect(HalfPrecision.half(from: f) == bits)
        }
    }
}
