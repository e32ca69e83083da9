// Lane masks shared by the AVX2 kernels of this target (private; not part of its API).
#ifndef FEATURELENS_SIMD_LANES_H
#define FEATURELENS_SIMD_LANES_H

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

// All-ones in the 32-bit lanes k < n of an AVX2 vector (n ≤ 0: none, n ≥ 8: all): the mask of
// _mm256_maskload_ps / _mm256_maskstore_ps for the first n floats.
__attribute__((target("avx2"))) static inline __m256i fl_avx2_first_lanes(long n) {
    const long k = n >= 8 ? 8 : n <= 0 ? 0 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#endif
