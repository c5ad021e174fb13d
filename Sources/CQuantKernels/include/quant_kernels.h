// quant_kernels.h: integer dot-product kernels for GGML-quantised weights against activations
// quantised to 8 bits per 32-block (the decode path of the embedded models), each beside a plain
// scalar reference that defines its result.
//
// Interleaved weight layout ("x8"), built by QuantizedMatrix at load:
//   rows are taken 8 at a time (a row group g; rows padded to a multiple of 8 with zero scales),
//   and for each 32-weight block b of the group's 8 rows the quantised values are stored as
//   8 steps t = 0..7 of 32 bytes: byte 4 j + e of step t is weight 4 t + e of row 8 g + j.
//   Q4_1: values 0..15, two steps per byte: step t < 4 in the low nibbles of 32-byte vector t,
//         step t + 4 in its high nibbles (128 bytes per group and block).
//   Q8_0: values -127..127 as int8, one step per 32-byte vector (256 bytes per group and block).
//   Scales (and Q4_1 minimums) as IEEE half floats, 8 per group and block (one per row).
//   Offsets: group g, block b at (g * nb + b) * (128 | 256) bytes; scales at (g * nb + b) * 8.
//
// Activations: each row of x [M, K] is quantised per 32-block to xq = round(x / dx) in -127..127
// with dx = max|x| / 127 (dx = 0 for an all-zero block), and sx = dx * sum(xq).
//
// Products (N output rows, K inputs, nb = K / 32 blocks):
//   Q4_1: y[i, r] = sum_b d[r,b] dx[i,b] sum_e q[r,b,e] xq[i,b,e] + sum_b m[r,b] sx[i,b]
//   Q8_0: y[i, r] = sum_b d[r,b] dx[i,b] sum_e q[r,b,e] xq[i,b,e]
// which is exactly x~ W^T with x~ = dx * xq and W the dequantised weights, up to Float32 rounding.

#ifndef LONGREWARD_QUANT_KERNELS_H
#define LONGREWARD_QUANT_KERNELS_H

#include <stdint.h>

#include "prefetch_feed.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Quantises rows of x [M, K] (K a multiple of 32) to xq [M, K], dx [M, K/32], sx [M, K/32].
void lrq_quantize_rows(const float *x, int64_t M, int64_t K, int8_t *xq, float *dx, float *sx);

/// Scalar reference of lrq_quantize_rows (the SIMD version equals it bit for bit).
void lrq_quantize_rows_reference(const float *x, int64_t M, int64_t K, int8_t *xq, float *dx, float *sx);

/// Rounds x [M, K] to its 8-bit block quantisation in place of out [M, K]: out = dx * xq.
void lrq_round_rows(const float *x, int64_t M, int64_t K, float *out);

/// Q4_1 x8 product for row groups [g0, g1): y[i * ldy + r] for r in 8 g0 ..< min(8 g1, N).
/// M rows of quantised x (any M >= 1, taken 4 at a time). With a feed (may be NULL), each row
/// group of a product with M > 4 rows also prefetches about nb M / 6 of its lines, spread over
/// the group's blocks (speed only: results are the same with or without).
void lrq_q4_1_product(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t N, int64_t K,
                      int64_t g0, int64_t g1, const int8_t *xq, const float *dx, const float *sx,
                      int64_t M, float *y, int64_t ldy, lrq_feed *feed);

/// Q8_0 x8 product for row groups [g0, g1) (as lrq_q4_1_product, without minimums).
void lrq_q8_0_product(const int8_t *qs, const uint16_t *d, int64_t N, int64_t K, int64_t g0, int64_t g1,
                      const int8_t *xq, const float *dx, int64_t M, float *y, int64_t ldy, lrq_feed *feed);

/// Scalar references of the two products (same formulas, plain loops, no SIMD).
void lrq_q4_1_product_reference(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t N, int64_t K,
                                int64_t g0, int64_t g1, const int8_t *xq, const float *dx, const float *sx,
                                int64_t M, float *y, int64_t ldy);
void lrq_q8_0_product_reference(const int8_t *qs, const uint16_t *d, int64_t N, int64_t K, int64_t g0, int64_t g1,
                                const int8_t *xq, const float *dx, int64_t M, float *y, int64_t ldy);

/// Dequantises rows [r0, r1) of an x8 matrix into out [(r1 - r0), K] (Float32, exact).
void lrq_q4_1_dequantize(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t K, int64_t r0, int64_t r1,
                         float *out);
void lrq_q8_0_dequantize(const int8_t *qs, const uint16_t *d, int64_t K, int64_t r0, int64_t r1, float *out);

/// 1 when the SIMD kernels were compiled in (AVX2 + FMA + F16C), 0 for the scalar fallback.
int lrq_simd_available(void);

#ifdef __cplusplus
}
#endif

#endif
