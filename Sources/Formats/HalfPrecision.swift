// HalfPrecision.swift: IEEE 754 binary16 (F16) and bfloat16 (BF16) <-> Float32 conversion,
// one value at a time and for whole rows of little-endian, possibly unaligned, stored bits.
//
// F16 uses Swift's `Float16`, which compiles to the F16C instructions (vcvtph2ps / vcvtps2ph)
// with `-target-cpu native`; on x86_64 macOS, where `Float16` is unavailable, a bit-level
// conversion is used instead. BF16 is the top 16 bits of a Float32; Float -> BF16 rounds to
// nearest even (as PyTorch and ggml's GGML_FP32_TO_BF16 do) and keeps NaNs quiet.

/// Conversions between Float and the two 16-bit float formats stored in model files.
public enum HalfPrecision {
    /// Converts IEEE binary16 bits to Float (exact).
    @inlinable @inline(__always)
    public static func float(fromHalf bits: UInt16) -> Float {
        #if arch(x86_64) && os(macOS)
        return floatFromHalfBits(bits)
        #else
        return Float(Float16(bitPattern: bits))
        #endif
    }

    /// Converts a Float to IEEE binary16 bits, rounding to nearest even (overflow gives infinity).
    @inlinable @inline(__always)
    public static func half(from value: Float) -> UInt16 {
        #if arch(x86_64) && os(macOS)
        return halfBitsFromFloat(value)
        #else
        return Float16(value).bitPattern
        #endif
    }

    /// Converts bfloat16 bits to Float (exact).
    @inlinable @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Converts a Float to bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN.
    @inlinable @inline(__always)
    public static func bfloat16(from value: Float) -> UInt16 {
        let u = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 0x40) }
        let rounded = u &+ 0x7FFF &+ ((u >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// Converts `count` little-endian binary16 values at `source` (any alignment) to Float.
    /// - Parameters:
    ///   - source: the first stored byte.
    ///   - count: number of values.
    ///   - destination: room for `count` floats.
    public static func convertHalfRow(from source: UnsafeRawPointer, count: Int,
                                      into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = float(fromHalf: bits)
        }
    }

    /// Converts `count` little-endian bfloat16 values at `source` (any alignment) to Float.
    /// - Parameters:
    ///   - source: the first stored byte.
    ///   - count: number of values.
    ///   - destination: room for `count` floats.
    public static func convertBFloat16Row(from source: UnsafeRawPointer, count: Int,
                                          into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = float(fromBFloat16: bits)
        }
    }

    // MARK: - Bit-level fallback

    /// Binary16 bits to Float without hardware support (normals, subnormals, inf, NaN).
    public static func floatFromHalfBits(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {  // inf / NaN
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {  // zero / subnormal: mantissa * 2^-24
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Float to binary16 bits without hardware support (round to nearest even).
    public static func halfBitsFromFloat(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        let sign = UInt16((u >> 16) & 0x8000)
        if f.isNaN { return sign | 0x7E00 }
        let a = abs(f)
        if a >= 65520 { return sign | 0x7C00 }  // rounds to infinity
        if a < Float(sign: .plus, exponent: -14, significand: 1) {
            // Subnormal half: round a / 2^-24 to nearest even integer.
            let q = (a * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
            return sign | UInt16(q)
        }
        let exponent = Int((u >> 23) & 0xFF) - 127 + 15
        var mantissa = u & 0x7F_FFFF
        var e = UInt32(exponent)
        // Round 23-bit mantissa to 10 bits, nearest even; a carry bumps the exponent.
        let rest = mantissa & 0x1FFF
        mantissa >>= 13
        if rest > 0x1000 || (rest == 0x1000 && (mantissa & 1) == 1) {
            mantissa += 1
            if mantissa == 0x400 { mantissa = 0; e += 1 }
        }
        return sign | UInt16(e << 10) | UInt16(mantissa)
    }
}
