#ifndef FEATURELENS_LOGISTIC32_H
#define FEATURELENS_LOGISTIC32_H

#ifdef __cplusplus
extern "C" {
#endif

/// Rows per block of the float32 logistic layout (16): a caller splitting rows over threads must
/// cut at multiples of fl_logistic32_super_rows().
long fl_logistic32_pack_rows(void);

/// Rows per super-block (128): the rows of one float chain of Xᵀ·dZ. Row ranges passed to
/// fl_logistic32_rows must start at a multiple of it.
long fl_logistic32_super_rows(void);

/// Number of floats the packed form of standardized X[n, p] takes.
long fl_logistic32_packed_size(long n, long p);

/// Standardizes and packs blocks [b0, b1) of 16 rows of X[n, p] (row-major double, leading
/// dimension ldx) in one pass: element (i, j) becomes (float)((x[i, j] − mean[j]) / scale[j])
/// (the quotient in double, then rounded to float), stored in blocks of 16 rows, each block
/// k-major (feature j of the block's rows at block + 16·j), rows past n zero. Blocks are
/// independent, so callers may pack disjoint block ranges on different threads.
void fl_logistic32_pack(long b0, long b1, long n, long p, const double *x, long ldx, const double *mean,
                        const double *scale, float *packed);

/// Rows [r0, r1) of the multinomial logistic objective (softmax over m ≥ 2 classes, or binary for
/// m = 1) on features
/// packed by fl_logistic32_pack, in mixed precision:
/// - logits z[i, k] = Σ_j X[i, j]·W[j, k]: float FMA chains over runs of 128 features in
///   order (`wf`: W[p, m] row-major, rounded to float), each chain converted to double and
///   added in order to the row's double logit (from 0);
/// - per row, in double from z + b (b[m], double): the cross-entropy `loss[i]` and the logit
///   gradient d = softmax − onehot(y[i]); `dzsum[k]` = Σ_i d[k] over the rows in order (from 0);
/// - acc[p, mp] (double, mp = m rounded up to a multiple of 8; columns m..<mp are 0):
///   acc[j, k] = Σ over the super-blocks of 128 rows in order of (double)(a float FMA chain
///   over the super-block's rows in order of X[i, j]·(float)d[i, k]), starting from 0.
/// m = 1 is the binary model (two classes, one logit v = z + b, y[i] ∈ {0, 1}): the row's
/// loss is log(1 + e^v) − y·v and d = σ(v) − y, as the double objective computes them; and,
/// because one column leaves no lanes to vectorize over, acc[j, 0] = Σ over the super-blocks
/// in order of Σ over c = 0..<16 in order of (double)(a float FMA chain over the rows at
/// position c of the super-block's 16-row blocks, in order: rows c, c + 16, c + 32, …).
/// r0 must be a multiple of 128. Every value depends only on the rows [r0, r1), not on the
/// kernel (AVX2 or portable), so fixed row ranges give results independent of the thread
/// count. Overwrites loss[r0..<r1], dzsum[0..<m] and acc; when scratch memory cannot be had,
/// loss[r0..<r1], dzsum and acc are NaN.
void fl_logistic32_rows(long r0, long r1, long p, long m, const float *packed, const float *wf, const double *b,
                        const long *y, double *loss, double *dzsum, double *acc);

/// Name of the kernel fl_logistic32_rows uses on this CPU ("avx2+fma" or "generic").
const char *fl_logistic32_kernel(void);

#ifdef __cplusplus
}
#endif

#endif
