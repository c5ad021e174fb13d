// quant_kernels.c: see include/quant_kernels.h for the layouts and formulas.
//
// SIMD path (AVX2 + FMA + F16C), per row group of 8 output rows and up to 4 rows of x (Q4_1 with
// more rows: q4_1_group_wide, the same operations with the loops turned):
//   for each 32-block, the group's weights are unpacked once (Q4_1: 4 loads, 8 masks/shifts)
//   into 8 vectors of 32 bytes (row j's 4 weights of step t in bytes 4 j .. 4 j + 3); each row
//   of x broadcasts its 4 matching bytes, `vpmaddubsw` multiplies and adds pairs to int16 (Q4_1:
//   the 8 steps of a block accumulate in int16: |sum| <= 8 * 2 * 15 * 127 < 32767), `vpmaddwd`
//   finishes the int32 dot product per lane = per output row, and one FMA applies d * dx.
//   The minimum term sum_b m sx is a second, separate accumulation, so every row of x goes
//   through the same operations in the same order whatever its position in the register block:
//   a row's result does not depend on the other rows of the batch.

#include "quant_kernels.h"
#include "prefetch_feed_internal.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include "simd_lanes_internal.h"
#define LRQ_SIMD 1
#else
#define LRQ_SIMD 0
#endif

int lrq_simd_available(void) { return LRQ_SIMD; }

/// IEEE half to float (exact), without F16C.
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// MARK: - Activations

/// One 32-block of x to int8: q = round(x / d), d = max|x| / 127 (0 for an all-zero block).
/// Returns d; writes the 32 values to q.
static float quantize_block(const float *src, int8_t *q) {
    float amax = 0;
    for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(src[e]));
    const float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
    for (int e = 0; e < 32; e++) {
        const int v = (int)nearbyintf(src[e] * id);
        q[e] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
    }
    return d;
}

#if LRQ_SIMD
/// quantize_block in AVX2, bitwise the same: the same max, the same divisions, x * id rounded
/// to nearest even (as nearbyintf in the default mode) and clamped. Returns d; *sum = sum of q.
static inline float quantize_block_simd(const float *src, int8_t *q, int *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 v[4];
    for (int u = 0; u < 4; u++) v[u] = _mm256_loadu_ps(src + 8 * u);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                              _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    __m256i r[4];
    for (int u = 0; u < 4; u++) {
        const __m256 t = _mm256_round_ps(_mm256_mul_ps(v[u], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r[u] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(t), lo), hi);
    }
    // int32 -> int8 in order: packs work within 128-bit lanes, one permute restores the order.
    const __m256i p16a = _mm256_packs_epi32(r[0], r[1]), p16b = _mm256_packs_epi32(r[2], r[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p8);
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(r[0], r[1]), _mm256_add_epi32(r[2], r[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    *sum = _mm_cvtsi128_si32(s4);
    return d;
}
#endif

void lrq_quantize_rows(const float *x, int64_t M, int64_t K, int8_t *xq, float *dx, float *sx) {
    const int64_t nb = K / 32;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t b = 0; b < nb; b++) {
            int8_t *q = xq + i * K + 32 * b;
            int sum = 0;
#if LRQ_SIMD
            const float d = quantize_block_simd(x + i * K + 32 * b, q, &sum);
#else
            const float d = quantize_block(x + i * K + 32 * b, q);
            for (int e = 0; e < 32; e++) sum += q[e];
#endif
            dx[i * nb + b] = d;
            sx[i * nb + b] = d * (float)sum;
        }
    }
}

void lrq_quantize_rows_reference(const float *x, int64_t M, int64_t K, int8_t *xq, float *dx, float *sx) {
    const int64_t nb = K / 32;
    for (int64_t i = 0; i < M; i++)
        for (int64_t b = 0; b < nb; b++) {
            int8_t *q = xq + i * K + 32 * b;
            const float d = quantize_block(x + i * K + 32 * b, q);
            int sum = 0;
            for (int e = 0; e < 32; e++) sum += q[e];
            dx[i * nb + b] = d;
            sx[i * nb + b] = d * (float)sum;
        }
}

void lrq_round_rows(const float *x, int64_t M, int64_t K, float *out) {
    const int64_t nb = K / 32;
    int8_t q[32];
    for (int64_t i = 0; i < M; i++) {
        for (int64_t b = 0; b < nb; b++) {
            const float d = quantize_block(x + i * K + 32 * b, q);
            for (int e = 0; e < 32; e++) out[i * K + 32 * b + e] = (float)q[e] * d;
        }
    }
}

// MARK: - Scalar references

/// Weight e of step t for row j of a Q4_1 group block (values 0..15).
static inline int q4_value(const uint8_t *block, int j, int t, int e) {
    const uint8_t byte = block[(t & 3) * 32 + 4 * j + e];
    return t < 4 ? (byte & 15) : (byte >> 4);
}

void lrq_q4_1_product_reference(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t N, int64_t K,
                                int64_t g0, int64_t g1, const int8_t *xq, const float *dx, const float *sx,
                                int64_t M, float *y, int64_t ldy) {
    const int64_t nb = K / 32;
    for (int64_t g = g0; g < g1; g++) {
        for (int j = 0; j < 8 && 8 * g + j < N; j++) {
            for (int64_t i = 0; i < M; i++) {
                float acc = 0, accm = 0;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *block = qs + (g * nb + b) * 128;
                    int32_t dot = 0;
                    for (int t = 0; t < 8; t++)
                        for (int e = 0; e < 4; e++) dot += q4_value(block, j, t, e) * xq[i * K + 32 * b + 4 * t + e];
                    acc += (float)dot * (half_to_float(d[(g * nb + b) * 8 + j]) * dx[i * nb + b]);
                }
                for (int64_t b = 0; b < nb; b++) accm += half_to_float(m[(g * nb + b) * 8 + j]) * sx[i * nb + b];
                y[i * ldy + 8 * g + j] = acc + accm;
            }
        }
    }
}

void lrq_q8_0_product_reference(const int8_t *qs, const uint16_t *d, int64_t N, int64_t K, int64_t g0, int64_t g1,
                                const int8_t *xq, const float *dx, int64_t M, float *y, int64_t ldy) {
    const int64_t nb = K / 32;
    for (int64_t g = g0; g < g1; g++) {
        for (int j = 0; j < 8 && 8 * g + j < N; j++) {
            for (int64_t i = 0; i < M; i++) {
                float acc = 0;
                for (int64_t b = 0; b < nb; b++) {
                    const int8_t *block = qs + (g * nb + b) * 256;
                    int32_t dot = 0;
                    for (int t = 0; t < 8; t++)
                        for (int e = 0; e < 4; e++) dot += block[t * 32 + 4 * j + e] * xq[i * K + 32 * b + 4 * t + e];
                    acc += (float)dot * (half_to_float(d[(g * nb + b) * 8 + j]) * dx[i * nb + b]);
                }
                y[i * ldy + 8 * g + j] = acc;
            }
        }
    }
}

// MARK: - Dequantisation

void lrq_q4_1_dequantize(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t K, int64_t r0, int64_t r1,
                         float *out) {
    const int64_t nb = K / 32;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t g = r / 8;
        const int j = (int)(r % 8);
        float *dst = out + (r - r0) * K;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *block = qs + (g * nb + b) * 128;
            const float db = half_to_float(d[(g * nb + b) * 8 + j]), mb = half_to_float(m[(g * nb + b) * 8 + j]);
            for (int t = 0; t < 8; t++)
                for (int e = 0; e < 4; e++) {
                    const float p = (float)q4_value(block, j, t, e) * db;  // product, then sum: as ggml
                    dst[32 * b + 4 * t + e] = p + mb;
                }
        }
    }
}

void lrq_q8_0_dequantize(const int8_t *qs, const uint16_t *d, int64_t K, int64_t r0, int64_t r1, float *out) {
    const int64_t nb = K / 32;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t g = r / 8;
        const int j = (int)(r % 8);
        float *dst = out + (r - r0) * K;
        for (int64_t b = 0; b < nb; b++) {
            const int8_t *block = qs + (g * nb + b) * 256;
            const float db = half_to_float(d[(g * nb + b) * 8 + j]);
            for (int t = 0; t < 8; t++)
                for (int e = 0; e < 4; e++) dst[32 * b + 4 * t + e] = (float)block[t * 32 + 4 * j + e] * db;
        }
    }
}

// MARK: - SIMD products

#if LRQ_SIMD

static inline __m256i broadcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}


/// One Q4_1 row group against rows i0 ..< i0 + R of x (R a compile-time constant after inlining).
static inline __attribute__((always_inline)) void q4_1_group(
    const uint8_t *W, const uint16_t *D, const uint16_t *Mn, int64_t nb, int64_t K, const int8_t *xq,
    const float *dx, const float *sx, int64_t i0, const int R, float *y, int64_t ldy, int64_t col, int lanes) {
    const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *P = W + b * 128;
        __m256i s[4];
        for (int i = 0; i < R; i++) s[i] = _mm256_setzero_si256();
        for (int u = 0; u < 4; u++) {
            const __m256i p = _mm256_loadu_si256((const __m256i *)(P + 32 * u));
            const __m256i lo = _mm256_and_si256(p, mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), mask);
            for (int i = 0; i < R; i++) {
                const int8_t *xb = xq + (i0 + i) * K + 32 * b;
                s[i] = _mm256_add_epi16(s[i], _mm256_maddubs_epi16(lo, broadcast4(xb + 4 * u)));
                s[i] = _mm256_add_epi16(s[i], _mm256_maddubs_epi16(hi, broadcast4(xb + 16 + 4 * u)));
            }
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(D + b * 8)));
        for (int i = 0; i < R; i++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(s[i], ones));
            acc[i] = _mm256_fmadd_ps(f, _mm256_mul_ps(dv, _mm256_set1_ps(dx[(i0 + i) * nb + b])), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) {
        __m256 am = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++)
            am = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(Mn + b * 8))),
                                 _mm256_set1_ps(sx[(i0 + i) * nb + b]), am);
        store_lanes(y + (i0 + i) * ldy + col, _mm256_add_ps(acc[i], am), lanes);
    }
}

/// One Q8_0 row group against rows i0 ..< i0 + R of x. Signed times signed: |w| (unsigned) times
/// x with w's sign; each step's int16 pairs go to int32 at once (|pair| <= 2 * 128 * 127).
static inline __attribute__((always_inline)) void q8_0_group(
    const int8_t *W, const uint16_t *D, int64_t nb, int64_t K, const int8_t *xq, const float *dx, int64_t i0,
    const int R, float *y, int64_t ldy, int64_t col, int lanes) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *P = W + b * 256;
        __m256i s[4];
        for (int i = 0; i < R; i++) s[i] = _mm256_setzero_si256();
        for (int t = 0; t < 8; t++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(P + 32 * t));
            const __m256i aw = _mm256_abs_epi8(w);
            for (int i = 0; i < R; i++) {
                const __m256i xs = _mm256_sign_epi8(broadcast4(xq + (i0 + i) * K + 32 * b + 4 * t), w);
                s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xs), ones));
            }
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(D + b * 8)));
        for (int i = 0; i < R; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i]), _mm256_mul_ps(dv, _mm256_set1_ps(dx[(i0 + i) * nb + b])), acc[i]);
    }
    for (int i = 0; i < R; i++) store_lanes(y + (i0 + i) * ldy + col, acc[i], lanes);
}

/// One row of x against a Q4_1 block whose 8 steps are unpacked in w: the int16 pair sums of the
/// 8 steps (|sum| <= 8 * 2 * 15 * 127 < 32767), then pairs to int32, one lane per output row.
static inline __attribute__((always_inline)) __m256i q4_1_dot(const __m256i w[8], const int8_t *xr, __m256i ones) {
    __m256i s0 = _mm256_maddubs_epi16(w[0], broadcast4(xr)), s1 = _mm256_maddubs_epi16(w[1], broadcast4(xr + 4));
    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[2], broadcast4(xr + 8)));
    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[3], broadcast4(xr + 12)));
    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[4], broadcast4(xr + 16)));
    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[5], broadcast4(xr + 20)));
    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[6], broadcast4(xr + 24)));
    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[7], broadcast4(xr + 28)));
    return _mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones);
}

/// acc[i] += f d dx (one FMA, as in q4_1_group).
static inline __attribute__((always_inline)) void q4_1_accumulate(float *acc, __m256i dot, __m256 dv, float dxi) {
    const __m256 f = _mm256_cvtepi32_ps(dot);
    _mm256_store_ps(acc, _mm256_fmadd_ps(f, _mm256_mul_ps(dv, _mm256_set1_ps(dxi)), _mm256_load_ps(acc)));
}

/// am[u] = sum_b m[b] sx[(row0 + u) nb + b] for u < C (C <= 8), one FMA chain per row in block
/// order (C a compile-time constant after inlining keeps the chains in registers).
static inline __attribute__((always_inline)) void min_terms(
    const uint16_t *Mn, const float *sx, int64_t nb, int64_t row0, const int C, __m256 am[8]) {
    for (int u = 0; u < C; u++) am[u] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(Mn + b * 8)));
        for (int u = 0; u < C; u++) am[u] = _mm256_fmadd_ps(mv, _mm256_set1_ps(sx[(row0 + u) * nb + b]), am[u]);
    }
}

/// One Q4_1 row group against rows i0 ..< i0 + R of x, R <= 16 (many rows: batched decode). The
/// loop order turns: blocks outer, and each block's 8 unpacked weight vectors stay in registers
/// for all R rows (q4_1_group unpacks them again for every 4 rows and holds its accumulators in
/// registers, which leaves no room for more rows); the R accumulators live in L1. Every row gets
/// q4_1_group's operations in q4_1_group's order, so the results are bitwise the same.
static void q4_1_group_wide(
    const uint8_t *W, const uint16_t *D, const uint16_t *Mn, int64_t nb, int64_t K, const int8_t *xq,
    const float *dx, const float *sx, int64_t i0, int64_t R, float *y, int64_t ldy, int64_t col, int lanes,
    lrq_feed_run *run, int64_t per_block) {
    const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __attribute__((aligned(32))) float acc[16 * 8];
    for (int64_t i = 0; i < R; i++) _mm256_store_ps(acc + 8 * i, _mm256_setzero_ps());
    lrq_feed_run feed = *run;  // a local copy the compiler can keep in registers
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *P = W + b * 128;
        __m256i w[8];
        for (int u = 0; u < 4; u++) {
            const __m256i p = _mm256_loadu_si256((const __m256i *)(P + 32 * u));
            w[u] = _mm256_and_si256(p, mask);
            w[u + 4] = _mm256_and_si256(_mm256_srli_epi16(p, 4), mask);
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(D + b * 8)));
        const int8_t *xb = xq + i0 * K + 32 * b;
        const float *dxb = dx + i0 * nb + b;
        int64_t i = 0;
        for (; i + 2 <= R; i += 2) {  // two rows per pass: two independent chains in flight
            const __m256i t0 = q4_1_dot(w, xb + i * K, ones), t1 = q4_1_dot(w, xb + (i + 1) * K, ones);
            q4_1_accumulate(acc + 8 * i, t0, dv, dxb[i * nb]);
            q4_1_accumulate(acc + 8 * i + 8, t1, dv, dxb[(i + 1) * nb]);
        }
        if (i < R) q4_1_accumulate(acc + 8 * i, q4_1_dot(w, xb + i * K, ones), dv, dxb[i * nb]);
        lrq_feed_prefetch(&feed, per_block);
    }
    *run = feed;
    // Minimum terms eight rows at a time: eight independent FMA chains, enough to cover the FMA
    // latency (one chain alone waited on it at every block, 20% of the whole product; four
    // left the products 2-5% slower than eight, old and new alternating in one binary).
    for (int64_t i = 0; i < R; i += 8) {
        const int64_t c = R - i < 8 ? R - i : 8;
        __m256 am[8];
        switch (c) {  // constant counts keep the chains in registers
        case 8: min_terms(Mn, sx, nb, i0 + i, 8, am); break;
        case 7: min_terms(Mn, sx, nb, i0 + i, 7, am); break;
        case 6: min_terms(Mn, sx, nb, i0 + i, 6, am); break;
        case 5: min_terms(Mn, sx, nb, i0 + i, 5, am); break;
        case 4: min_terms(Mn, sx, nb, i0 + i, 4, am); break;
        case 3: min_terms(Mn, sx, nb, i0 + i, 3, am); break;
        case 2: min_terms(Mn, sx, nb, i0 + i, 2, am); break;
        default: min_terms(Mn, sx, nb, i0 + i, 1, am); break;
        }
        for (int64_t u = 0; u < c; u++)
            store_lanes(y + (i0 + i + u) * ldy + col, _mm256_add_ps(_mm256_load_ps(acc + 8 * (i + u)), am[u]), lanes);
    }
}

/// Lines a product with M rows of x prefetches per block of a row group: about one per 6
/// row-blocks of work (a 16-row group's block takes ~130 cycles: 3 lines, ~4 GB/s per core).
static inline int64_t feed_rate(int64_t M) { return (M + 3) / 6; }

void lrq_q4_1_product(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t N, int64_t K,
                      int64_t g0, int64_t g1, const int8_t *xq, const float *dx, const float *sx,
                      int64_t M, float *y, int64_t ldy, lrq_feed *feed) {
    const int64_t nb = K / 32, rate = M > 4 && feed ? feed_rate(M) : 0;
    // One claim for the whole call (an atomic add per group would bounce its cache line between
    // the workers hundreds of times a product).
    lrq_feed_run run = lrq_feed_claim(feed, (g1 - g0) * nb * rate);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *W = qs + g * nb * 128;
        const uint16_t *D = d + g * nb * 8, *Mn = m + g * nb * 8;
        const int lanes = (int)(N - 8 * g < 8 ? N - 8 * g : 8);
        int64_t i0 = 0;
        if (M > 4) {
            for (; i0 < M; i0 += 16)
                q4_1_group_wide(W, D, Mn, nb, K, xq, dx, sx, i0, M - i0 < 16 ? M - i0 : 16, y, ldy, 8 * g, lanes, &run, i0 ? 0 : rate);
            continue;
        }
        for (; i0 + 4 <= M; i0 += 4) q4_1_group(W, D, Mn, nb, K, xq, dx, sx, i0, 4, y, ldy, 8 * g, lanes);
        switch (M - i0) {
        case 3: q4_1_group(W, D, Mn, nb, K, xq, dx, sx, i0, 3, y, ldy, 8 * g, lanes); break;
        case 2: q4_1_group(W, D, Mn, nb, K, xq, dx, sx, i0, 2, y, ldy, 8 * g, lanes); break;
        case 1: q4_1_group(W, D, Mn, nb, K, xq, dx, sx, i0, 1, y, ldy, 8 * g, lanes); break;
        default: break;
        }
    }
}

void lrq_q8_0_product(const int8_t *qs, const uint16_t *d, int64_t N, int64_t K, int64_t g0, int64_t g1,
                      const int8_t *xq, const float *dx, int64_t M, float *y, int64_t ldy, lrq_feed *feed) {
    const int64_t nb = K / 32, per_pass = M > 4 && feed ? nb * feed_rate(4) : 0;
    lrq_feed_run run = lrq_feed_claim(feed, (g1 - g0) * (M / 4) * per_pass);
    for (int64_t g = g0; g < g1; g++) {
        const int8_t *W = qs + g * nb * 256;
        const uint16_t *D = d + g * nb * 8;
        const int lanes = (int)(N - 8 * g < 8 ? N - 8 * g : 8);
        int64_t i0 = 0;
        for (; i0 + 4 <= M; i0 += 4) {
            // Claimed lines go out a share before each 4-row pass.
            lrq_feed_prefetch(&run, per_pass);
            q8_0_group(W, D, nb, K, xq, dx, i0, 4, y, ldy, 8 * g, lanes);
        }
        switch (M - i0) {
        case 3: q8_0_group(W, D, nb, K, xq, dx, i0, 3, y, ldy, 8 * g, lanes); break;
        case 2: q8_0_group(W, D, nb, K, xq, dx, i0, 2, y, ldy, 8 * g, lanes); break;
        case 1: q8_0_group(W, D, nb, K, xq, dx, i0, 1, y, ldy, 8 * g, lanes); break;
        default: break;
        }
    }
}

#else

void lrq_q4_1_product(const uint8_t *qs, const uint16_t *d, const uint16_t *m, int64_t N, int64_t K,
                      int64_t g0, int64_t g1, const int8_t *xq, const float *dx, const float *sx,
                      int64_t M, float *y, int64_t ldy, lrq_feed *feed) {
    (void)feed;
    lrq_q4_1_product_reference(qs, d, m, N, K, g0, g1, xq, dx, sx, M, y, ldy);
}

void lrq_q8_0_product(const int8_t *qs, const uint16_t *d, int64_t N, int64_t K, int64_t g0, int64_t g1,
                      const int8_t *xq, const float *dx, int64_t M, float *y, int64_t ldy, lrq_feed *feed) {
    (void)feed;
    lrq_q8_0_product_reference(qs, d, N, K, g0, g1, xq, dx, M, y, ldy);
}

#endif
