// decode_attention.h: the two memory-bound halves of decode attention over one chunk of a
// key/value cache, for every KV head at once. A cache row holds all KV heads side by side
// ([Nk, Hkv, D]); reading one head's slice of each row (256 of 768 bytes for SmolLM2) streams
// at half the bandwidth of reading whole rows, so both kernels walk the chunk in blocks of whole
// rows and serve every head and every query row sharing it (grouped-query attention: G query
// heads per KV head, times the few new tokens of a decode step) from each block while it is in
// L1. Each sits beside a plain scalar reference defining its result.
//
// With h < heads, r < rows, j < n, d < D:
//   scores:       s[(h rows + r) lds + j] = sum_d q[(h rows + r) D + d] * k[j ldk + h D + d]
//   weighted sum: o[(h rows + r) D + d]   = sum_j p[(h rows + r) ldp + j] * v[j ldv + h D + d]
//
// Between the two, the caller masks the scores and calls lra_softmax_rows (unnormalised
// exponentials, row maxima and sums: the partial results a chunk contributes to attention).

#ifndef LONGREWARD_DECODE_ATTENTION_H
#define LONGREWARD_DECODE_ATTENTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Scores of heads x rows query rows q [heads, rows, D] against n cache rows (row j at k + j ldk).
void lra_scores(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk, int64_t n,
                float *s, int64_t lds);

/// Softmax pieces of rows 0 ..< rows of s (n values each, row r at s + r lds; hidden keys
/// already -inf): m[r] = the row maximum; the row becomes exp(s - m[r]) and l[r] = its sum. A
/// row with no visible key (maximum -inf) gets l[r] = 0 and zeros. Bitwise the arithmetic of
/// Kernels' VectorMath.max then VectorMath.expShiftSum: 16-lane vectors (two AVX registers),
/// the same exponential polynomial with separate multiplies and adds, lanes summed in order.
void lra_softmax_rows(float *s, int64_t lds, int64_t rows, int64_t n, float *m, float *l);

/// Scalar reference of lra_softmax_rows (each lane's operations one at a time).
void lra_softmax_rows_reference(float *s, int64_t lds, int64_t rows, int64_t n, float *m, float *l);

/// Scalar reference of lra_scores (sums in index order).
void lra_scores_reference(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk,
                          int64_t n, float *s, int64_t lds);

/// o [heads, rows, D] = p [heads, rows, n] (row stride ldp) times the n value rows (stride ldv).
/// Overwrites o. With 12 or more rows per head (sequences stacked on a shared prompt) it runs
/// one head at a time in 6 x 16 register tiles; every element gets the same operations in the
/// same order either way, so a row's result does not depend on the rows beside it.
void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o);

/// Scalar reference of lra_weighted_sum (sums in index order).
void lra_weighted_sum_reference(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                                int64_t ldv, int64_t D, float *o);


// MARK: 8-bit caches
//
// A cache row may also be stored as int8 with one scale per (position, KV head): the head's D
// values x become round(x / d) in -127..127 with d = max|x| / 127 (0 for an all-zero slice).
// Scales are laid out head-major, kd[h ldkd + j], so a run of keys of one head is contiguous.
// The query rows are quantised the same way (one scale per query row), so the scores are
// integer dot products:
//   scores q8:       s[(h rows + r) lds + j] = qd[h rows + r] kd[h ldkd + j]
//                                              * sum_d q[(h rows + r) D + d] k[j ldk + h D + d]
//   weighted sum q8: o[(h rows + r) D + d]   = sum_j p[(h rows + r) ldp + j] vd[h ldvd + j] v[j ldv + h D + d]

/// Quantises n rows x [n, heads * D] (row stride ldx) to q (row stride ldq) with one scale per
/// row and head: d[h ldd + i] for row i.
void lra_quantize_heads(const float *x, int64_t ldx, int64_t n, int64_t heads, int64_t D, int8_t *q, int64_t ldq,
                        float *d, int64_t ldd);

/// Dequantises n rows of an 8-bit cache back to floats: x[i ldx + h D + e] = d[h ldd + i] q[i ldq + h D + e].
void lra_dequantize_heads(const int8_t *q, int64_t ldq, const float *d, int64_t ldd, int64_t n, int64_t heads,
                          int64_t D, float *x, int64_t ldx);

/// Scores of int8 query rows q [heads, rows, D] (scales qd [heads * rows]) against n int8 cache
/// rows (row j at k + j ldk, scales kd as above). D must be a multiple of 32 for the SIMD path.
void lra_scores_q8(const int8_t *q, const float *qd, int64_t heads, int64_t rows, int64_t D, const int8_t *k,
                   int64_t ldk, const float *kd, int64_t ldkd, int64_t n, float *s, int64_t lds);

/// Scalar reference of lra_scores_q8 (integer dot, then the two scales).
void lra_scores_q8_reference(const int8_t *q, const float *qd, int64_t heads, int64_t rows, int64_t D,
                             const int8_t *k, int64_t ldk, const float *kd, int64_t ldkd, int64_t n, float *s,
                             int64_t lds);

/// o [heads, rows, D] = p [heads, rows, n] times the n int8 value rows with their scales.
/// Overwrites o. `work` holds heads * rows * n floats (the probabilities times the scales).
void lra_weighted_sum_q8(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const int8_t *v,
                         int64_t ldv, const float *vd, int64_t ldvd, int64_t D, float *o, float *work);

/// Scalar reference of lra_weighted_sum_q8 (sums in index order of p vd v).
void lra_weighted_sum_q8_reference(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n,
                                   const int8_t *v, int64_t ldv, const float *vd, int64_t ldvd, int64_t D, float *o);

#ifdef __cplusplus
}
#endif

#endif
