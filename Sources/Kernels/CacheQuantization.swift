// CacheQuantization.swift: rows of a key/value cache to 8 bits and back, one scale per
// (position, head): q = round(x / d) in -127...127, d = max|x| / 127. The scalar loops live
// in CQuantKernels (`lra_quantize_heads` / `lra_dequantize_heads`, decode_attention.h);
// `Attention.decode` reads such caches directly.

import CQuantKernels

/// Conversions between Float32 cache rows and the 8-bit cache layout.
public enum CacheQuantization {
    /// Quantises `n` rows `x [n, heads * D]` (row stride `ldx`) into `q` (row stride `ldq`),
    /// with the scale of row `i`, head `h` at `scales[h * scaleStride + i]`.
    public static func quantize(
        _ x: UnsafePointer<Float>, ldx: Int, rows n: Int, heads: Int, headDim D: Int,
        into q: UnsafeMutablePointer<Int8>, ldq: Int, scales: UnsafeMutablePointer<Float>, scaleStride: Int
    ) {
        lra_quantize_heads(x, Int64(ldx), Int64(n), Int64(heads), Int64(D), q, Int64(ldq), scales, Int64(scaleStride))
    }

    /// The inverse: `x[i ldx + h D + e] = scales[h scaleStride + i] * q[i ldq + h D + e]`.
    public static func dequantize(
        _ q: UnsafePointer<Int8>, ldq: Int, scales: UnsafePointer<Float>, scaleStride: Int, rows n: Int, heads: Int,
        headDim D: Int, into x: UnsafeMutablePointer<Float>, ldx: Int
    ) {
        lra_dequantize_heads(q, Int64(ldq), scales, Int64(scaleStride), Int64(n), Int64(heads), Int64(D), x, Int64(ldx))
    }
}
