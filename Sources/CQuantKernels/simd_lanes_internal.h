// simd_lanes_internal.h: partial-vector helpers shared by the AVX kernels (private to
// CQuantKernels; include only where __AVX__ is defined).

#ifndef LONGREWARD_SIMD_LANES_INTERNAL_H
#define LONGREWARD_SIMD_LANES_INTERNAL_H

#include <immintrin.h>
#include <stdint.h>

/// Stores lanes 0 ..< n of v at dst (all 8 when n >= 8, none when n <= 0).
static inline void store_lanes(float *dst, __m256 v, int64_t n) {
    if (n >= 8) {
        _mm256_storeu_ps(dst, v);
        return;
    }
    __attribute__((aligned(32))) float tmp[8];
    _mm256_store_ps(tmp, v);
    for (int64_t j = 0; j < n; j++) dst[j] = tmp[j];
}

#endif
