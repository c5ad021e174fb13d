// decode_attention.c: see include/decode_attention.h.

#include "decode_attention.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "simd_lanes_internal.h"
#define LRA_SIMD 1
#else
#define LRA_SIMD 0
#endif

// MARK: - References

void lra_scores_reference(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk,
                          int64_t n, float *s, int64_t lds) {
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++) {
                float acc = 0;
                for (int64_t d = 0; d < D; d++) acc += q[(h * rows + r) * D + d] * k[j * ldk + h * D + d];
                s[(h * rows + r) * lds + j] = acc;
            }
}

void lra_weighted_sum_reference(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                                int64_t ldv, int64_t D, float *o) {
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t d = 0; d < D; d++) {
                float acc = 0;
                for (int64_t j = 0; j < n; j++) acc += p[(h * rows + r) * ldp + j] * v[j * ldv + h * D + d];
                o[(h * rows + r) * D + d] = acc;
            }
}

void lra_quantize_heads(const float *x, int64_t ldx, int64_t n, int64_t heads, int64_t D, int8_t *q, int64_t ldq,
                        float *d, int64_t ldd) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t h = 0; h < heads; h++) {
            const float *src = x + i * ldx + h * D;
            int8_t *dst = q + i * ldq + h * D;
            float amax = 0;
            for (int64_t e = 0; e < D; e++) amax = fmaxf(amax, fabsf(src[e]));
            const float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
            for (int64_t e = 0; e < D; e++) {
                const int v = (int)nearbyintf(src[e] * inv);
                dst[e] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
            }
            d[h * ldd + i] = scale;
        }
}

void lra_dequantize_heads(const int8_t *q, int64_t ldq, const float *d, int64_t ldd, int64_t n, int64_t heads,
                          int64_t D, float *x, int64_t ldx) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t h = 0; h < heads; h++) {
            const float scale = d[h * ldd + i];
            for (int64_t e = 0; e < D; e++) x[i * ldx + h * D + e] = scale * (float)q[i * ldq + h * D + e];
        }
}

void lra_scores_q8_reference(const int8_t *q, const float *qd, int64_t heads, int64_t rows, int64_t D,
                             const int8_t *k, int64_t ldk, const float *kd, int64_t ldkd, int64_t n, float *s,
                             int64_t lds) {
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++) {
                int32_t dot = 0;
                for (int64_t e = 0; e < D; e++) dot += (int32_t)q[(h * rows + r) * D + e] * (int32_t)k[j * ldk + h * D + e];
                s[(h * rows + r) * lds + j] = ((float)dot * kd[h * ldkd + j]) * qd[h * rows + r];
            }
}

void lra_weighted_sum_q8_reference(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n,
                                   const int8_t *v, int64_t ldv, const float *vd, int64_t ldvd, int64_t D, float *o) {
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t e = 0; e < D; e++) {
                float acc = 0;
                for (int64_t j = 0; j < n; j++)
                    acc += (p[(h * rows + r) * ldp + j] * vd[h * ldvd + j]) * (float)v[j * ldv + h * D + e];
                o[(h * rows + r) * D + e] = acc;
            }
}

/// exp of one lane, the operations of exp8 (and of Kernels' vexp) one at a time.
static float exp1(float x) {
    const int below = x < -87.3f;
    float xc = below ? -87.3f : x;
    xc = xc > 88.7f ? 88.7f : xc;
    const float t = xc * 1.4426950408889634f + 12582912.0f;
    const float nn = t - 12582912.0f;
    float r = xc - nn * 0.693359375f;
    r = r - nn * -2.1219444005469058e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float er = p * (r * r) + r + 1.0f;
    int32_t ti;
    memcpy(&ti, &t, 4);
    const int32_t bits = (int32_t)((uint32_t)(ti - 0x4B400000 + 127) << 23);
    float scale;
    memcpy(&scale, &bits, 4);
    return below ? 0.0f : er * scale;
}

void lra_softmax_rows_reference(float *s, int64_t lds, int64_t rows, int64_t n, float *m, float *l) {
    for (int64_t r = 0; r < rows; r++) {
        float *x = s + r * lds, lane[16];
        for (int i = 0; i < 16; i++) lane[i] = -INFINITY;
        for (int64_t i = 0; i < n; i++) lane[i % 16] = x[i] > lane[i % 16] ? x[i] : lane[i % 16];
        float mr = lane[0];
        for (int i = 1; i < 16; i++) mr = lane[i] >= mr ? lane[i] : mr;
        m[r] = mr;
        if (mr == -INFINITY) {
            l[r] = 0;
            for (int64_t i = 0; i < n; i++) x[i] = 0;
            continue;
        }
        for (int i = 0; i < 16; i++) lane[i] = 0;
        for (int64_t i = 0; i < n; i++) {
            x[i] = exp1(x[i] - mr);
            lane[i % 16] += x[i];
        }
        float sum = -0.0f;
        for (int i = 0; i < 16; i++) sum += lane[i];
        l[r] = sum;
    }
}

#if LRA_SIMD

static inline float hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/// Asks for cache rows j ..< j + count (all heads: ldk floats from each row start).
static inline void prefetch_rows(const float *base, int64_t j, int64_t count, int64_t width, int64_t ld) {
    for (int64_t t = 0; t < count; t++)
        for (int64_t x = 0; x < width; x += 16) _mm_prefetch((const char *)(base + (j + t) * ld + x), _MM_HINT_T0);
}

/// Lanes 0..3 = sums of a[0..3] (a 128-bit result).
static inline __m128 hsum4(const __m256 a[4]) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/// Scores of query rows r0 ..< r0 + R against keys j ..< j + 4 (R <= 3 after inlining): each key
/// vector loaded once for the R rows (12 accumulators, 3 query vectors).
static inline __attribute__((always_inline)) void score_tile(
    const float *q, int64_t r0, const int R, int64_t D, const float *kh, int64_t ldk, int64_t j, float *s, int64_t lds) {
    __m256 a[3][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < 4; t++) a[r][t] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) {
        __m256 qv[3];
        for (int r = 0; r < R; r++) qv[r] = _mm256_loadu_ps(q + (r0 + r) * D + d);
        for (int t = 0; t < 4; t++) {
            const __m256 kv = _mm256_loadu_ps(kh + (j + t) * ldk + d);
            for (int r = 0; r < R; r++) a[r][t] = _mm256_fmadd_ps(qv[r], kv, a[r][t]);
        }
    }
    for (int r = 0; r < R; r++) _mm_storeu_ps(s + (r0 + r) * lds + j, hsum4(a[r]));
}

void lra_scores(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk, int64_t n,
                float *s, int64_t lds) {
    if (D % 8 != 0) {
        lra_scores_reference(q, heads, rows, D, k, ldk, n, s, lds);
        return;
    }
    const int64_t width = heads * D;
    int64_t j = 0;
    // Eight whole cache rows at a time: every head and query row is served from them while they
    // are in L1, four keys by up to three query rows per register tile.
    for (; j + 8 <= n; j += 8) {
        if (j + 24 <= n) prefetch_rows(k, j + 16, 8, width, ldk);
        for (int64_t h = 0; h < heads; h++) {
            const float *qh = q + h * rows * D, *kh = k + h * D;
            float *sh = s + h * rows * lds;
            for (int64_t jj = j; jj < j + 8; jj += 4) {
                int64_t r0 = 0;
                for (; r0 + 3 <= rows; r0 += 3) score_tile(qh, r0, 3, D, kh, ldk, jj, sh, lds);
                switch (rows - r0) {
                case 2: score_tile(qh, r0, 2, D, kh, ldk, jj, sh, lds); break;
                case 1: score_tile(qh, r0, 1, D, kh, ldk, jj, sh, lds); break;
                default: break;
                }
            }
        }
    }
    for (; j < n; j++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t r = 0; r < rows; r++) {
                const float *qr = q + (h * rows + r) * D, *kh = k + j * ldk + h * D;
                __m256 a = _mm256_setzero_ps();
                for (int64_t d = 0; d < D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(qr + d), _mm256_loadu_ps(kh + d), a);
                s[(h * rows + r) * lds + j] = hsum(a);
            }
}

/// exp of eight lanes exactly as Kernels' vexp computes it: clamp to [-87.3, 88.7] by compare
/// and blend, n = round(x log2 e) through the 1.5 2^23 trick, r = x - n ln2 in two parts,
/// e^r = 1 + r + r^2 P(r) by Horner, times 2^n built in the exponent bits; 0 below -87.3.
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.7f), magic = _mm256_set1_ps(12582912.0f);
    const __m256 below = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = _mm256_blendv_ps(x, lo, below);
    xc = _mm256_blendv_ps(xc, hi, _mm256_cmp_ps(xc, hi, _CMP_GT_OQ));
    const __m256 t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.4426950408889634f)), magic);
    const __m256 nn = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(nn, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nn, _mm256_set1_ps(-2.1219444005469058e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    const __m256 er = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    return _mm256_blendv_ps(_mm256_mul_ps(er, scale), _mm256_setzero_ps(), below);
}

/// Eight lanes of x from i ..< n (fewer than 8 when n - i < 8, none when n <= i), -inf past n.
static inline __m256 load_upto(const float *x, int64_t i, int64_t n) {
    if (i + 8 <= n) return _mm256_loadu_ps(x + i);
    __attribute__((aligned(32))) float tmp[8];
    for (int64_t e = 0; e < 8; e++) tmp[e] = i + e < n ? x[i + e] : -INFINITY;
    return _mm256_load_ps(tmp);
}


void lra_softmax_rows(float *s, int64_t lds, int64_t rows, int64_t n, float *m, float *l) {
    for (int64_t r = 0; r < rows; r++) {
        float *x = s + r * lds;
        // Maximum: lane-wise max(b, a) = b > a ? b : a (a NaN score is passed over), then the
        // 16 lanes in order as Swift's SIMD max() takes them.
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
        for (int64_t i = 0; i < n; i += 16) {
            m0 = _mm256_max_ps(load_upto(x, i, n), m0);
            m1 = _mm256_max_ps(load_upto(x, i + 8, n), m1);
        }
        __attribute__((aligned(32))) float lanes[16];
        _mm256_store_ps(lanes, m0);
        _mm256_store_ps(lanes + 8, m1);
        float mr = lanes[0];
        for (int i = 1; i < 16; i++) mr = lanes[i] >= mr ? lanes[i] : mr;
        m[r] = mr;
        if (mr == -INFINITY) {
            l[r] = 0;
            memset(x, 0, (size_t)n * sizeof(float));
            continue;
        }
        const __m256 shift = _mm256_set1_ps(mr);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (int64_t i = 0; i < n; i += 16) {
            const __m256 e0 = exp8(_mm256_sub_ps(load_upto(x, i, n), shift));
            const __m256 e1 = exp8(_mm256_sub_ps(load_upto(x, i + 8, n), shift));
            store_lanes(x + i, e0, n - i);
            store_lanes(x + i + 8, e1, n - i - 8);
            s0 = _mm256_add_ps(s0, e0);
            s1 = _mm256_add_ps(s1, e1);
        }
        _mm256_store_ps(lanes, s0);
        _mm256_store_ps(lanes + 8, s1);
        float sum = -0.0f;
        for (int i = 0; i < 16; i++) sum += lanes[i];
        l[r] = sum;
    }
}

/// Eight values of a cache row from index i: Float32 as they are, int8 widened (Q8 a
/// compile-time constant after inlining).
static inline __attribute__((always_inline)) __m256 value8(const void *v, int64_t i, const int Q8) {
    if (Q8) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)v + i))));
    return _mm256_loadu_ps((const float *)v + i);
}

/// o rows r0 ..< r0 + R (of head h's block), columns d0 ..< d0 + 8 C, plus the block's keys
/// j0 ..< j1 weighted by p (R <= 3, C <= 4: compile-time after inlining; 12 accumulators, R
/// broadcast weights, one value vector). Values are Float32 or, with Q8, int8 widened once for the R rows.
static inline __attribute__((always_inline)) void weighted_tile(
    const float *p, int64_t ldp, int64_t r0, const int R, int64_t j0, int64_t j1, const void *v, int64_t ldv,
    int64_t d0, const int C, float *o, int64_t D, const int Q8) {
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_loadu_ps(o + (r0 + r) * D + d0 + 8 * c);
    // R broadcasts, then one value vector at a time: 12 + 3 + 1 = 16 registers (holding all C
    // value vectors at once needs 17 and spills an accumulator every step: 1.5x slower).
    for (int64_t j = j0; j < j1; j++) {
        __m256 w[3];
        for (int r = 0; r < R; r++) w[r] = _mm256_broadcast_ss(p + (r0 + r) * ldp + j);
        for (int c = 0; c < C; c++) {
            const __m256 vv = value8(v, j * ldv + d0 + 8 * c, Q8);
            for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(w[r], vv, acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) _mm256_storeu_ps(o + (r0 + r) * D + d0 + 8 * c, acc[r][c]);
}

static inline __attribute__((always_inline)) void weighted_rows(
    const float *p, int64_t ldp, int64_t r0, const int R, int64_t j0, int64_t j1, const void *v, int64_t ldv,
    int64_t D, float *o, const int Q8) {
    int64_t d0 = 0;
    for (; d0 + 32 <= D; d0 += 32) weighted_tile(p, ldp, r0, R, j0, j1, v, ldv, d0, 4, o, D, Q8);
    for (; d0 < D; d0 += 8) weighted_tile(p, ldp, r0, R, j0, j1, v, ldv, d0, 1, o, D, Q8);
}

/// Every head's rows of o, plus the value rows j0 ..< j1 (rows of p: ldp apart).
static inline __attribute__((always_inline)) void weighted_block(
    const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t j0, int64_t j1, const void *v, int64_t ldv,
    int64_t D, float *o, const int Q8) {
    for (int64_t h = 0; h < heads; h++) {
        const float *ph = p + h * rows * ldp;
        const void *vh = Q8 ? (const void *)((const int8_t *)v + h * D) : (const void *)((const float *)v + h * D);
        float *oh = o + h * rows * D;
        int64_t r0 = 0;
        for (; r0 + 3 <= rows; r0 += 3) weighted_rows(ph, ldp, r0, 3, j0, j1, vh, ldv, D, oh, Q8);
        switch (rows - r0) {
        case 2: weighted_rows(ph, ldp, r0, 2, j0, j1, vh, ldv, D, oh, Q8); break;
        case 1: weighted_rows(ph, ldp, r0, 1, j0, j1, vh, ldv, D, oh, Q8); break;
        default: break;
        }
    }
}

/// o rows r0 ..< r0 + 6 of one head, columns d0 ..< d0 + 16, plus value rows 0 ..< n weighted
/// by p, with all 12 accumulators in registers for the whole run (two value vectors and one
/// broadcast per step: a GEMM micro-tile, for many query rows). Each element gets the same
/// fused multiply-adds in the same order (j ascending, from o) as in weighted_tile.
static inline __attribute__((always_inline)) void weighted_tile6x16(
    const float *p, int64_t ldp, int64_t r0, int64_t n, const float *v, int64_t ldv, int64_t d0, float *o, int64_t D) {
    __m256 a[6][2];
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 2; c++) a[r][c] = _mm256_loadu_ps(o + (r0 + r) * D + d0 + 8 * c);
    const float *pr = p + r0 * ldp;
    for (int64_t j = 0; j < n; j++) {
        const __m256 v0 = _mm256_loadu_ps(v + j * ldv + d0), v1 = _mm256_loadu_ps(v + j * ldv + d0 + 8);
        for (int r = 0; r < 6; r++) {
            const __m256 w = _mm256_broadcast_ss(pr + r * ldp + j);
            a[r][0] = _mm256_fmadd_ps(w, v0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(w, v1, a[r][1]);
        }
    }
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 2; c++) _mm256_storeu_ps(o + (r0 + r) * D + d0 + 8 * c, a[r][c]);
}

void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o) {
    if (D % 8 != 0) {
        lra_weighted_sum_reference(p, ldp, heads, rows, n, v, ldv, D, o);
        return;
    }
    memset(o, 0, (size_t)(heads * rows * D) * sizeof(float));
    const int64_t width = heads * D, block = 16;
    if (rows >= 12 && D % 16 == 0) {
        // Many query rows (sequences sharing a prompt's keys): blocks of 64 whole value rows,
        // each fetched once for every head (48 KB for SmolLM2; walking one head's slices of the
        // whole chunk at a time fetched it three times, with stride), and per head 6 x 16
        // register tiles, rows past a multiple of 6 one at a time. The values are not in cache
        // (the scores read only the keys), so each (head, column tile) pass also prefetches a
        // share of the next block's lines: 10-20% faster than head-outer on a chunk cycled
        // through 78 MB. Each element still adds its blocks in key order: the same bits.
        const int64_t r6 = rows / 6 * 6, jb = 64;
        const int64_t lines = width / 16, passes = heads * (D / 16);
        for (int64_t j0 = 0; j0 < n; j0 += jb) {
            const int64_t j1 = j0 + jb < n ? j0 + jb : n;
            const int64_t next = j1 + jb <= n ? jb : n - j1, total = next * lines, per = (total + passes - 1) / passes;
            int64_t issued = 0;
            for (int64_t h = 0; h < heads; h++) {
                const float *ph = p + h * rows * ldp, *vh = v + h * D;
                float *oh = o + h * rows * D;
                for (int64_t d0 = 0; d0 < D; d0 += 16) {
                    for (int64_t e = 0; e < per && issued < total; e++, issued++)
                        _mm_prefetch((const char *)(v + (j1 + issued / lines) * ldv + (issued % lines) * 16), _MM_HINT_T0);
                    for (int64_t r0 = 0; r0 < r6; r0 += 6) weighted_tile6x16(ph + j0, ldp, r0, j1 - j0, vh + j0 * ldv, ldv, d0, oh, D);
                }
                for (int64_t r0 = r6; r0 < rows; r0++) weighted_rows(ph, ldp, r0, 1, j0, j1, vh, ldv, D, oh, 0);
            }
        }
        return;
    }
    // Blocks of 16 whole value rows; within a block, every head's rows in tiles of 3 rows x 32
    // columns accumulate in registers and are added into o (which stays in L1).
    for (int64_t j0 = 0; j0 < n; j0 += block) {
        const int64_t j1 = j0 + block < n ? j0 + block : n;
        if (j1 + block <= n) prefetch_rows(v, j1, block, width, ldv);
        weighted_block(p, ldp, heads, rows, j0, j1, v, ldv, D, o, 0);
    }
}

// MARK: 8-bit caches (SIMD)

/// Integer dot product of 32-byte blocks of q (register) and k (memory), int32 per lane:
/// |k| times q with k's sign (vpmaddubsw wants one unsigned operand), pairs to int32.
static inline __m256i dot32(__m256i qv, const int8_t *kp, __m256i ones) {
    const __m256i kv = _mm256_loadu_si256((const __m256i *)kp);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(kv), _mm256_sign_epi8(qv, kv)), ones);
}

/// Lane t = horizontal sum of t[t] (t = 0..7).
static inline __m256i hsum8_epi32(const __m256i t[8]) {
    const __m256i b0 = _mm256_hadd_epi32(_mm256_hadd_epi32(t[0], t[1]), _mm256_hadd_epi32(t[2], t[3]));
    const __m256i b1 = _mm256_hadd_epi32(_mm256_hadd_epi32(t[4], t[5]), _mm256_hadd_epi32(t[6], t[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
}

/// Scores of lra_scores_q8 for keys 0 ..< n8 (a multiple of 8) with NB = D / 32 blocks per head
/// (a compile-time constant after inlining, so the query blocks stay in registers).
static inline __attribute__((always_inline)) void scores_q8_blocks(
    const int8_t *q, const float *qd, int64_t heads, int64_t rows, const int NB, const int8_t *k, int64_t ldk,
    const float *kd, int64_t ldkd, int64_t n8, float *s, int64_t lds) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t D = 32 * NB;
    // Eight whole cache rows at a time (every head and query row is served from them while they
    // are in L1): per query row, eight int32 dot products, summed across lanes into one vector.
    for (int64_t j = 0; j < n8; j += 8) {
        if (j + 24 <= n8)
            for (int64_t t = 0; t < 8; t++)
                for (int64_t x = 0; x < heads * D; x += 64) _mm_prefetch((const char *)(k + (j + 16 + t) * ldk + x), _MM_HINT_T0);
        for (int64_t h = 0; h < heads; h++) {
            const __m256 kscale = _mm256_loadu_ps(kd + h * ldkd + j);
            for (int64_t r = 0; r < rows; r++) {
                const int8_t *qr = q + (h * rows + r) * D;
                __m256i qv[4];
                for (int b = 0; b < NB; b++) qv[b] = _mm256_loadu_si256((const __m256i *)(qr + 32 * b));
                __m256i t[8];
                for (int u = 0; u < 8; u++) {
                    const int8_t *kr = k + (j + u) * ldk + h * D;
                    __m256i acc = dot32(qv[0], kr, ones);
                    for (int b = 1; b < NB; b++) acc = _mm256_add_epi32(acc, dot32(qv[b], kr + 32 * b, ones));
                    t[u] = acc;
                }
                const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(hsum8_epi32(t)), kscale);
                _mm256_storeu_ps(s + (h * rows + r) * lds + j, _mm256_mul_ps(f, _mm256_set1_ps(qd[h * rows + r])));
            }
        }
    }
}

void lra_scores_q8(const int8_t *q, const float *qd, int64_t heads, int64_t rows, int64_t D, const int8_t *k,
                   int64_t ldk, const float *kd, int64_t ldkd, int64_t n, float *s, int64_t lds) {
    const int64_t n8 = n / 8 * 8;
    switch (D) {
    case 32: scores_q8_blocks(q, qd, heads, rows, 1, k, ldk, kd, ldkd, n8, s, lds); break;
    case 64: scores_q8_blocks(q, qd, heads, rows, 2, k, ldk, kd, ldkd, n8, s, lds); break;
    case 96: scores_q8_blocks(q, qd, heads, rows, 3, k, ldk, kd, ldkd, n8, s, lds); break;
    case 128: scores_q8_blocks(q, qd, heads, rows, 4, k, ldk, kd, ldkd, n8, s, lds); break;
    default:
        lra_scores_q8_reference(q, qd, heads, rows, D, k, ldk, kd, ldkd, n, s, lds);
        return;
    }
    if (n8 < n)
        lra_scores_q8_reference(q, qd, heads, rows, D, k + n8 * ldk, ldk, kd + n8, ldkd, n - n8, s + n8, lds);
}

void lra_weighted_sum_q8(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const int8_t *v,
                         int64_t ldv, const float *vd, int64_t ldvd, int64_t D, float *o, float *work) {
    if (D % 8 != 0) {
        lra_weighted_sum_q8_reference(p, ldp, heads, rows, n, v, ldv, vd, ldvd, D, o);
        return;
    }
    // work [heads, rows, n] = p times the value scales of its head.
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < rows; r++) {
            const float *pr = p + (h * rows + r) * ldp, *sc = vd + h * ldvd;
            float *wr = work + (h * rows + r) * n;
            int64_t j = 0;
            for (; j + 8 <= n; j += 8) _mm256_storeu_ps(wr + j, _mm256_mul_ps(_mm256_loadu_ps(pr + j), _mm256_loadu_ps(sc + j)));
            for (; j < n; j++) wr[j] = pr[j] * sc[j];
        }
    memset(o, 0, (size_t)(heads * rows * D) * sizeof(float));
    const int64_t block = 32;
    for (int64_t j0 = 0; j0 < n; j0 += block) {
        const int64_t j1 = j0 + block < n ? j0 + block : n;
        if (j1 + block <= n)
            for (int64_t t = 0; t < block; t++)
                for (int64_t x = 0; x < heads * D; x += 64) _mm_prefetch((const char *)(v + (j1 + t) * ldv + x), _MM_HINT_T0);
        weighted_block(work, n, heads, rows, j0, j1, v, ldv, D, o, 1);
    }
}

#else

void lra_softmax_rows(float *s, int64_t lds, int64_t rows, int64_t n, float *m, float *l) {
    lra_softmax_rows_reference(s, lds, rows, n, m, l);
}

void lra_scores(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk, int64_t n,
                float *s, int64_t lds) {
    lra_scores_reference(q, heads, rows, D, k, ldk, n, s, lds);
}

void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o) {
    lra_weighted_sum_reference(p, ldp, heads, rows, n, v, ldv, D, o);
}

void lra_scores_q8(const int8_t *q, const float *qd, int64_t heads, int64_t rows, int64_t D, const int8_t *k,
                   int64_t ldk, const float *kd, int64_t ldkd, int64_t n, float *s, int64_t lds) {
    lra_scores_q8_reference(q, qd, heads, rows, D, k, ldk, kd, ldkd, n, s, lds);
}

void lra_weighted_sum_q8(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const int8_t *v,
                         int64_t ldv, const float *vd, int64_t ldvd, int64_t D, float *o, float *work) {
    (void)work;
    lra_weighted_sum_q8_reference(p, ldp, heads, rows, n, v, ldv, vd, ldvd, D, o);
}

#endif
