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
// Softmax and masking stay with the caller (Kernels.Attention.decode), between the two.

#ifndef LONGREWARD_DECODE_ATTENTION_H
#define LONGREWARD_DECODE_ATTENTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Scores of heads x rows query rows q [heads, rows, D] against n cache rows (row j at k + j ldk).
void lra_scores(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk, int64_t n,
                float *s, int64_t lds);

/// Scalar reference of lra_scores (sums in index order).
void lra_scores_reference(const float *q, int64_t heads, int64_t rows, int64_t D, const float *k, int64_t ldk,
                          int64_t n, float *s, int64_t lds);

/// o [heads, rows, D] = p [heads, rows, n] (row stride ldp) times the n value rows (stride ldv).
/// Overwrites o.
void lra_weighted_sum(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                      int64_t ldv, int64_t D, float *o);

/// Scalar reference of lra_weighted_sum (sums in index order).
void lra_weighted_sum_reference(const float *p, int64_t ldp, int64_t heads, int64_t rows, int64_t n, const float *v,
                                int64_t ldv, int64_t D, float *o);

#ifdef __cplusplus
}
#endif

#endif
