// Quantization.swift: ggml tensor types (ids, block sizes, bytes per block) and dequantisation
// of the common ones to Float32.
//
// Block layouts follow ggml's ggml-common.h and the reference dequantize_row_* functions of
// ggml-quants.c. All fields are little-endian; scales `d`/`m`/`dmin` are IEEE binary16. A block
// of QK elements is stored as one struct; elements come out in order 0..<QK. Nothing here
// assumes the data is aligned: scales are read with loadUnaligned, quants are bytes.

/// A ggml tensor element type, with the numeric id used in GGUF files.
///
/// Ids 4, 5, 31...33 and 36...38 belonged to types ggml has since removed and are not valid.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain floats and the legacy 32-element block quants.
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    /// K-quants: 256-element super-blocks.
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    /// Importance-matrix quants, integers, F64 and BF16 (ids 16-30).
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22
    case iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    /// Ternary quants and MXFP4.
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Elements per block (1 for plain types, 32 for the legacy quants, 256 for k-quants).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s,
             .iq3_s, .iq2_s, .iq4_xs, .iq1_m, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes one block occupies (sizeof(block_*) in ggml-common.h).
    public var bytesPerBlock: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .f64: 8
        case .i8: 1
        case .i16: 2
        case .i32: 4
        case .i64: 8
        case .q4_0: 18  // f16 d, 16 bytes of nibbles
        case .q4_1: 20  // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: 22  // f16 d, 4 bytes qh, 16 bytes of nibbles
        case .q5_1: 24  // f16 d, f16 m, 4 bytes qh, 16 bytes of nibbles
        case .q8_0: 34  // f16 d, 32 int8
        case .q8_1: 36  // f16 d, f16 s, 32 int8
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144  // f16 d, f16 dmin, 12 bytes scales, 128 bytes nibbles
        case .q5_K: 176
        case .q6_K: 210  // 128 ql, 64 qh, 16 int8 scales, f16 d
        case .q8_K: 292
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq4_nl: 18
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        case .mxfp4: 17
        }
    }

    /// Whether ``dequantize(type:from:count:into:)`` supports this type.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K: true
        default: false
        }
    }

    /// Bytes needed for `count` elements; `count` must be a whole number of blocks.
    /// - Returns: nil when `count` is not a multiple of ``blockSize`` or the size overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    /// ggml's name for the type, e.g. `Q4_1` or `F32`.
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq3_xxs: "IQ3_XXS"
        case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"
        case .iq3_s: "IQ3_S"
        case .iq2_s: "IQ2_S"
        case .iq4_xs: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_m: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        }
    }
}

// MARK: - Dequantisation entry point

/// Converts `count` elements of type `type` stored at `source` into Floats at `destination`.
///
/// - Parameters:
///   - type: the stored element type; must satisfy ``GGMLType/canDequantize``.
///   - source: the first byte of the first block (any alignment); `type.byteCount(elements: count)`
///     bytes must be readable.
///   - count: elements to produce; a multiple of `type.blockSize`.
///   - destination: room for `count` floats.
///
/// Passing an unsupported type or a partial block is a programmer error (precondition): check
/// ``GGMLType/canDequantize`` first; ``GGUFFile/dequantizeTensor(named:)`` throws instead.
public func dequantize(type: GGMLType, from source: UnsafeRawPointer, count: Int,
                       into destination: UnsafeMutablePointer<Float>) {
    precondition(type.canDequantize, "dequantize: type \(type) is not supported")
    precondition(count >= 0 && count % type.blockSize == 0,
                 "dequantize: \(count) elements is not a whole number of \(type) blocks")
    let blocks = count / type.blockSize
    switch type {
    case .f32:
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
    case .f16: HalfPrecision.convertHalfRow(from: source, count: count, into: destination)
    case .bf16: HalfPrecision.convertBFloat16Row(from: source, count: count, into: destination)
    case .q8_0: dequantizeQ8_0(source, blocks, destination)
    case .q4_0: dequantizeQ4_0(source, blocks, destination)
    case .q4_1: dequantizeQ4_1(source, blocks, destination)
    case .q5_0: dequantizeQ5(source, blocks, destination, hasMin: false)
    case .q5_1: dequantizeQ5(source, blocks, destination, hasMin: true)
    case .q4_K: dequantizeQ4_K(source, blocks, destination)
    case .q6_K: dequantizeQ6_K(source, blocks, destination)
    default: preconditionFailure("unreachable: canDequantize covers the cases above")
    }
}

/// Reads the binary16 at `p + offset` as a Float.
@inline(__always)
private func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    HalfPrecision.float(fromHalf: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

// MARK: - Legacy 32-element quants

/// Q8_0: `{ f16 d; int8 qs[32] }`, x[j] = qs[j] * d.
private func dequantizeQ8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = src + b * 34
        let d = loadHalf(block, 0)
        let qs = (block + 2).assumingMemoryBound(to: Int8.self)
        let out = y + b * 32
        for j in 0..<32 { out[j] = Float(qs[j]) * d }
    }
}

/// Q4_0: `{ f16 d; uint8 qs[16] }`; low nibble of qs[j] is element j, high nibble element j+16;
/// x = (q - 8) * d.
private func dequantizeQ4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = src + b * 18
        let d = loadHalf(block, 0)
        let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
        let out = y + b * 32
        for j in 0..<16 {
            out[j] = Float(Int32(qs[j] & 0x0F) - 8) * d
            out[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
        }
    }
}

/// Q4_1: `{ f16 d; f16 m; uint8 qs[16] }`; nibbles as in Q4_0; x = q * d + m.
private func dequantizeQ4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = src + b * 20
        let d = loadHalf(block, 0)
        let m = loadHalf(block, 2)
        let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
        let out = y + b * 32
        for j in 0..<16 {
            out[j] = Float(qs[j] & 0x0F) * d + m
            out[j + 16] = Float(qs[j] >> 4) * d + m
        }
    }
}

/// Q5_0: `{ f16 d; uint32 qh; uint8 qs[16] }` and Q5_1: `{ f16 d; f16 m; uint32 qh; uint8 qs[16] }`.
/// Element j's 5th bit is bit j of qh (elements 0..31); its low 4 bits are nibbles as in Q4_0.
/// Q5_0: x = (q - 16) * d; Q5_1: x = q * d + m.
private func dequantizeQ5(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>,
                          hasMin: Bool) {
    let blockBytes = hasMin ? 24 : 22
    let headerBytes = hasMin ? 4 : 2
    for b in 0..<blocks {
        let block = src + b * blockBytes
        let d = loadHalf(block, 0)
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: headerBytes, as: UInt32.self))
        let qs = (block + headerBytes + 4).assumingMemoryBound(to: UInt8.self)
        let out = y + b * 32
        if hasMin {
            let m = loadHalf(block, 2)
            for j in 0..<16 {
                let lo = Int32(qs[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
                let hi = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(lo) * d + m
                out[j + 16] = Float(hi) * d + m
            }
        } else {
            for j in 0..<16 {
                let lo = Int32(qs[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
                let hi = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(lo - 16) * d
                out[j + 16] = Float(hi - 16) * d
            }
        }
    }
}

// MARK: - K-quants (256-element super-blocks)

/// The 6-bit scale and min of sub-block `j` (0..<8) from Q4_K's 12 packed bytes
/// (ggml's get_scale_min_k4): sub-blocks 0-3 use the low 6 bits of bytes j and j+4; sub-blocks
/// 4-7 combine a nibble of byte j+4 with the top 2 bits of bytes j-4 (scale) and j (min).
@inline(__always)
func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
    if j < 4 {
        return (q[j] & 63, q[j + 4] & 63)
    }
    return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
}

/// Q4_K: `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] }`, 8 sub-blocks of 32.
/// Each 64 elements use 32 bytes of qs: low nibbles are sub-block 2i, high nibbles sub-block
/// 2i+1; x = d * scale * q - dmin * min.
private func dequantizeQ4_K(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = src + b * 144
        let d = loadHalf(block, 0)
        let dmin = loadHalf(block, 2)
        let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
        var q = (block + 16).assumingMemoryBound(to: UInt8.self)
        var out = y + b * 256
        for pair in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * pair, scales)
            let (s2, m2) = scaleMinK4(2 * pair + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float(q[l] & 0x0F) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - min2 }
            q += 32
            out += 64
        }
    }
}

/// Q6_K: `{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }`, 16 sub-blocks of 16.
/// Each half (128 elements) uses 64 bytes of ql, 32 of qh and 8 scales; element l + 32k
/// (k = 0..3) takes 4 low bits from ql (low nibble of ql[l] / ql[l+32] for k = 0/1, high nibble
/// for k = 2/3) and 2 high bits from qh[l] bits 2k..2k+1; x = d * scale * (q - 32).
private func dequantizeQ6_K(_ src: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = src + b * 210
        var ql = block.assumingMemoryBound(to: UInt8.self)
        var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
        var sc = (block + 192).assumingMemoryBound(to: Int8.self)
        let d = loadHalf(block, 208)
        var out = y + b * 256
        for _ in 0..<2 {
            for l in 0..<32 {
                let s = l / 16
                let h = qh[l]
                let q1 = Int32((ql[l] & 0x0F) | ((h & 3) << 4)) - 32
                let q2 = Int32((ql[l + 32] & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int32((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int32((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32
                out[l] = d * Float(sc[s]) * Float(q1)
                out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}
