#ifndef FEATURELENS_VECTOR_MATH_H
#define FEATURELENS_VECTOR_MATH_H

// Vectorized single-precision elementwise math for the training hot loops (softmax rows of the
// contrastive losses, Gaussian noise for views). An AVX-512F or an AVX2 + FMA version (the same
// operations in the same order, so the same bits) is chosen at run time when the CPU has one;
// otherwise a scalar version with the same polynomials (without fused multiply-adds) runs.
// See vectormath.c for the formulas and their accuracy.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// x[i] ← exp(x[i] − shift) for i < n; returns Σ of the new values (fixed summation order,
/// independent of threads). Entries with x[i] − shift < −104 (including −∞) become exactly 0;
/// NaN propagates. Relative error ≤ 2 ulp over the normal range.
float fl_exp_shifted_sum_f32(float *x, long n, float shift);

/// Largest of x[0..<n] (−∞ for n = 0). NaN entries may be ignored.
float fl_max_f32(const float *x, long n);

/// o[i] ← x[i] + s·o[i] for i < n.
void fl_scale_add_f32(float *o, float s, const float *x, long n);

/// out[2k], out[2k+1] ← two independent N(0, 1) draws from words[k] by the Box–Muller
/// transform in single precision: u₁ = (⌊hi/2⁸⌋ + 1)·2⁻²⁴ ∈ (0, 1], u₂ = ⌊lo/2⁸⌋·2⁻²⁴ ∈ [0, 1)
/// with hi, lo the high and low 32 bits of the word; r = √(−2 ln u₁), θ = 2πu₂,
/// out = (r cos θ, r sin θ). |out| ≤ √(2 ln 2²⁴) ≈ 5.77.
void fl_normal_pairs_f32(const uint64_t *words, float *out, long pairs);

/// Name of the implementation in use: "avx512f", "avx2" or "scalar".
const char *fl_vector_math_name(void);

#ifdef __cplusplus
}
#endif

#endif
