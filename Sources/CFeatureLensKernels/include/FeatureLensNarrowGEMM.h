#ifndef FEATURELENS_NARROW_GEMM_H
#define FEATURELENS_NARROW_GEMM_H

#ifdef __cplusplus
extern "C" {
#endif

/// C[m, n] = A[m, k] · B[k, n] + beta · C (row-major, leading dimensions lda, ldb, ldc), for
/// a *narrow* B (n up to a few dozen columns), without packing: each row block of C keeps
/// its accumulators in registers while streaming the rows of B. When beta == 0, C is not
/// read. Every element of C is summed over k in the same order whatever the blocking, so
/// splitting the rows of C over threads gives bit-identical results.
void fl_dgemm_narrow(long m, long n, long k, const double *a, long lda, const double *b, long ldb,
                     double beta, double *c, long ldc);

/// Rows per block of the packed layout (12): a caller splitting rows over threads must cut
/// at multiples of it and offset `packed` by (first row / 12) · 12 · k doubles.
long fl_dgemm_narrow_pack_rows(void);

/// Number of doubles the packed form of an m×k matrix takes.
long fl_dgemm_narrow_packed_size(long m, long k);

/// Packs A[m, k] (row-major, leading dimension lda) for fl_dgemm_narrow_packed: blocks of 12
/// rows, each stored k-major, the last block padded with zeros.
void fl_dgemm_narrow_pack(long m, long k, const double *a, long lda, double *packed);

/// fl_dgemm_narrow for an A that multiplies many B: `packed` is A packed by
/// fl_dgemm_narrow_pack and `a` the same matrix unpacked (the kernel uses whichever layout is
/// faster for this width and CPU). Bit-identical to fl_dgemm_narrow.
void fl_dgemm_narrow_packed(long m, long n, long k, const double *packed, const double *a, long lda,
                            const double *b, long ldb, double beta, double *c, long ldc);

/// out[p, p] = Zᵀ·Z for Z[rows, p] (row-major, leading dimension ldz): the upper triangle as
/// one FMA chain over the rows in order per element (the chain fl_dgemm_narrow computes for
/// Zᵀ·Z, so the result is bit-identical to it), mirrored to the lower one. Streams Z once.
void fl_dgram_columns(long rows, long p, const double *z, long ldz, double *out);

/// Rows [r0, r1) of the multinomial logistic objective, one pass over the features: for each
/// 12-row block of the standardized features X (`packed`: X[n, p] packed by
/// fl_dgemm_narrow_pack), the logits z = X·W + b (W[p, m] row-major, b[m]), the per-row
/// cross-entropy `loss[i]` and its logit gradient `dz[i, 0..<m]` (row stride `mp`, mp ≥ m a
/// multiple of 4; columns m..<mp set to 0), then acc[p, mp] = Σ_{i in [r0, r1)} X[i, :]ᵀ·dz[i, :],
/// each element one FMA chain over the rows in order starting from 0 (overwrites acc).
/// m = 1 is the binary model (sigmoid; y in {0, 1}), m ≥ 2 the softmax over m classes (y in
/// 0..<m). Every z, loss and dz is bit-identical to fl_dgemm_narrow (X·W) followed by the
/// same scalar expressions in the same order, and acc to fl_dgemm_narrow (Xᵀ·dZ) over the rows
/// [r0, r1), so splitting the rows into ranges at fixed boundaries gives results independent
/// of the thread count.
void fl_logistic_rows(long r0, long r1, long p, long m, const double *packed, const double *w,
                      const double *b, const long *y, double *dz, long mp, double *loss, double *acc);

/// Rows per block of the float32 packed layout (24): a caller splitting rows over threads must
/// cut at multiples of it and offset `packed` by (first row / 24) · 24 · k floats.
long fl_sgemm_narrow_pack_rows(void);

/// Number of floats the float32 packed form of an m×k matrix takes.
long fl_sgemm_narrow_packed_size(long m, long k);

/// Rounds A[m, k] (row-major double, leading dimension lda) to float and packs it for
/// fl_sgemm_narrow_packed_accumulate: blocks of 24 rows, each stored k-major, the last block
/// padded with zeros.
void fl_sgemm_narrow_pack(long m, long k, const double *a, long lda, float *packed);

/// Mixed precision: C[m, n] (double, leading dimension ldc) += A·B, where A is packed by
/// fl_sgemm_narrow_pack and B[k, n] is float (leading dimension ldb). Each element is one
/// float FMA chain over k in order from 0, then converted to double and added to C, whatever
/// the kernel, so splitting rows at multiples of 24 gives bit-identical results.
void fl_sgemm_narrow_packed_accumulate(long m, long n, long k, const float *packed, const float *b, long ldb,
                                       double *c, long ldc);

/// Name of the kernel fl_sgemm_narrow_packed_accumulate uses on this CPU ("avx2+fma" or "generic").
const char *fl_sgemm_narrow_kernel(void);

/// The spectral contrastive loss in its pairing form (HaoChen et al., NeurIPS 2021) and its
/// gradient for the stacked embeddings zs = [Z₁; Z₂] (views = 2, zs [2n, p]) or zs = Z
/// (views = 1: both branches see Z, zs [n, p]), row-major:
///   L = −2·⟨Z₁, P Z₂⟩_F + tr((Z₁ᵀZ₁)(Z₂ᵀZ₂))/n²,
///   ∂L/∂Z₁ = (2/n²)·Z₁(Z₂ᵀZ₂) − 2·P Z₂, ∂L/∂Z₂ likewise (views = 1: their sum, 2·∂L/∂Z₁),
/// with P = (1−β)/n·I + β/S·[yᵢ = yⱼ] (classes[n] in 0..<nclasses, S = Σ_c n_c² = same_pairs).
/// Writes the gradient to grad (same shape as zs) and returns L; NaN when scratch memory
/// cannot be had. Single-threaded and deterministic: every sum runs in index order.
double fl_spectral_pairing(long n, long p, long views, const double *zs, const long *classes, long nclasses,
                           double beta, double same_pairs, double *grad);

/// Name of the kernel fl_dgemm_narrow uses on this CPU ("avx512f", "avx2+fma" or "generic").
const char *fl_dgemm_narrow_kernel(void);

#ifdef __cplusplus
}
#endif

#endif
