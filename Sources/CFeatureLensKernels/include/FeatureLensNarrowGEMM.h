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

/// Name of the kernel fl_dgemm_narrow uses on this CPU ("avx512f", "avx2+fma" or "generic").
const char *fl_dgemm_narrow_kernel(void);

#ifdef __cplusplus
}
#endif

#endif
