// decode_attention.c: see include/decode_attention.h.

#include "decode_attention.h"

#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
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

/// o rows r0 ..< r0 + R (of head h's block), columns d0 ..< d0 + 8 C, plus the block's keys
/// j0 ..< j1 (R <= 3, C <= 4: compile-time after inlining; 12 accumulators, 4 value vectors).
static inline __attribute__((always_inline)) void weighted_tile(
    const float *p, int64_t ldp, int64_t r0, const int R, int64_t j0, int64_t j1, const float *v, int64_t ldv,
    int64_t d0, const int C, float *o, int64_t D) {
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_loadu_ps(o + (r0 + r) * D + d0 + 8 * c);
    for (int64_t j = j0; j < j1; j++) {
        __m256 vv[4];
        for (int c = 0; c < C; c++) vv[c] = _mm256_loadu_ps(v + j * ldv + d0 + 8 * c);
        for (int r = 0; r < R; r++) {
            const __m256 w = _mm256_broadcast_ss(p + (r0 + r) * ldp + j);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(w, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) _mm256_storeu_ps(o + (r0 + r) * D + d0 + 8 * c, acc[r][c]);
}

static inline __attribute__((always_inline)) void weighted_rows(
    const float *p, int64_t ldp, int64_t r0, const int R, int64_t j0, int64_t j1, const float *v, int64_t ldv,
    int64_t D, float *o) {
    int64_t d0 = 0;
    for (; d0 + 32 <= D; d0 += 32) weighted_tile(p, ldp, r0, R, j0, j1, v, ldv, d0, 4, o, D);
    for (; d0 < D; d0 += 8) weighted_tile(p, ldp, r0, R, j0, j1, v, ldv, d0, 1, o, D);
}

void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o) {
    if (D % 8 != 0) {
        lra_weighted_sum_reference(p, ldp, heads, rows, n, v, ldv, D, o);
        return;
    }
    memset(o, 0, (size_t)(heads * rows * D) * sizeof(float));
    const int64_t width = heads * D, block = 16;
    // Blocks of 16 whole value rows; within a block, every head's rows in tiles of 3 rows x 32
    // columns accumulate in registers and are added into o (which stays in L1).
    for (int64_t j0 = 0; j0 < n; j0 += block) {
        const int64_t j1 = j0 + block < n ? j0 + block : n;
        if (j1 + block <= n) prefetch_rows(v, j1, block, width, ldv);
        for (int64_t h = 0; h < heads; h++) {
            const float *ph = p + h * rows * ldp, *vh = v + h * D;
            float *oh = o + h * rows * D;
            int64_t r0 = 0;
            for (; r0 + 3 <= rows; r0 += 3) weighted_rows(ph, ldp, r0, 3, j0, j1, vh, ldv, D, oh);
            switch (rows - r0) {
            case 2: weighted_rows(ph, ldp, r0, 2, j0, j1, vh, ldv, D, oh); break;
            case 1: weighted_rows(ph, ldp, r0, 1, j0, j1, vh, ldv, D, oh); break;
            default: break;
            }
        }
    }
}

#else

void lra_scores(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk, int64_t n,
                float *s, int64_t lds) {
    lra_scores_reference(q, heads, rows, D, k, ldk, n, s, lds);
}

void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o) {
    lra_weighted_sum_reference(p, ldp, heads, rows, n, v, ldv, D, o);
}

#endif
