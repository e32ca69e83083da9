// Narrow-panel DGEMM used by the exact Gram-space gradient descent of the synthetic
// experiments (C = K · B with K a fixed n×n Gram matrix and B an n×p panel, p small).
#include "FeatureLensNarrowGEMM.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FL_NARROW_X86 1
#endif

static void narrow_generic(long m, long n, long k, const double *a, long lda, const double *b, long ldb,
                           double beta, double *c, long ldc) {
    for (long i = 0; i < m; i++) {
        double *ci = c + i * ldc;
        double acc[64];
        for (long j0 = 0; j0 < n; j0 += 64) {
            long nc = n - j0 < 64 ? n - j0 : 64;
            for (long j = 0; j < nc; j++) acc[j] = 0;
            for (long p = 0; p < k; p++) {
                const double aip = a[i * lda + p];
                const double *bp = b + p * ldb + j0;
                for (long j = 0; j < nc; j++) acc[j] += aip * bp[j];
            }
            for (long j = 0; j < nc; j++) ci[j0 + j] = beta == 0 ? acc[j] : acc[j] + beta * ci[j0 + j];
        }
    }
}

#ifdef FL_NARROW_X86
// One block of R rows × NV vectors of 8 columns; the last vector is masked by `last`.
// R and NV are compile-time constants at every call site, so the loops unroll and the
// accumulators stay in zmm registers.
#define FL_BLOCK(R, NV)                                                                           \
__attribute__((target("avx512f"))) static void block_##R##_##NV(                                \
    long k, const double *a, long lda, const double *b, long ldb, double beta, double *c,         \
    long ldc, __mmask8 last) {                                                                    \
    __m512d acc[R][NV];                                                                           \
    for (int r = 0; r < R; r++)                                                                   \
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_pd();                             \
    for (long p = 0; p < k; p++) {                                                                \
        const double *bp = b + p * ldb;                                                           \
        __m512d bv[NV];                                                                           \
        for (int v = 0; v < NV; v++)                                                              \
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_pd(last, bp + 8 * v) : _mm512_loadu_pd(bp + 8 * v); \
        for (int r = 0; r < R; r++) {                                                             \
            const __m512d av = _mm512_set1_pd(a[r * lda + p]);                                    \
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_pd(av, bv[v], acc[r][v]);        \
        }                                                                                         \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
        double *cr = c + r * ldc;                                                                 \
        for (int v = 0; v < NV; v++) {                                                            \
            __mmask8 mk = v == NV - 1 ? last : (__mmask8)0xFF;                                    \
            __m512d out = acc[r][v];                                                              \
            if (beta != 0) out = _mm512_fmadd_pd(_mm512_set1_pd(beta),                            \
                                                 _mm512_maskz_loadu_pd(mk, cr + 8 * v), out);     \
            _mm512_mask_storeu_pd(cr + 8 * v, mk, out);                                           \
        }                                                                                         \
    }                                                                                             \
}

FL_BLOCK(8, 1)
FL_BLOCK(1, 1)
FL_BLOCK(6, 2)
FL_BLOCK(1, 2)
FL_BLOCK(6, 3)
FL_BLOCK(1, 3)
FL_BLOCK(5, 4)
FL_BLOCK(1, 4)

__attribute__((target("avx512f"))) static void narrow_avx512(long m, long n, long k, const double *a, long lda,
                                                            const double *b, long ldb, double beta,
                                                            double *c, long ldc) {
    for (long j0 = 0; j0 < n; j0 += 32) {
        const long nc = n - j0 < 32 ? n - j0 : 32;
        const int nv = (int)((nc + 7) / 8);
        const int rem = (int)(nc % 8);
        const __mmask8 last = rem == 0 ? (__mmask8)0xFF : (__mmask8)((1u << rem) - 1u);
        const double *bj = b + j0;
        double *cj = c + j0;
        long i = 0;
        switch (nv) {
        case 1:
            for (; i + 8 <= m; i += 8) block_8_1(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            for (; i < m; i++) block_1_1(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            break;
        case 2:
            for (; i + 6 <= m; i += 6) block_6_2(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            for (; i < m; i++) block_1_2(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            break;
        case 3:
            for (; i + 6 <= m; i += 6) block_6_3(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            for (; i < m; i++) block_1_3(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            break;
        default:
            for (; i + 5 <= m; i += 5) block_5_4(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            for (; i < m; i++) block_1_4(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last);
            break;
        }
    }
}

// The AVX2 + FMA kernel (CPUs without AVX-512): the same blocking with 4-double vectors,
// panels of up to 16 columns, and the last vector of a panel masked by `last` (lanes whose
// mask is all ones are loaded and stored).
#define FL_BLOCK2(R, NV, M)                                                                       \
__attribute__((target("avx2,fma"))) static void block2_##R##_##NV##_##M(                        \
    long k, const double *a, long lda, const double *b, long ldb, double beta, double *c,         \
    long ldc, __m256i last) {                                                                     \
    __m256d acc[R][NV];                                                                           \
    for (int r = 0; r < R; r++)                                                                   \
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_pd();                             \
    for (long p = 0; p < k; p++) {                                                                \
        const double *bp = b + p * ldb;                                                           \
        __m256d bv[NV];                                                                           \
        for (int v = 0; v < NV; v++)                                                              \
            bv[v] = M && v == NV - 1 ? _mm256_maskload_pd(bp + 4 * v, last) : _mm256_loadu_pd(bp + 4 * v); \
        for (int r = 0; r < R; r++) {                                                             \
            const __m256d av = _mm256_broadcast_sd(a + r * lda + p);                              \
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_pd(av, bv[v], acc[r][v]);        \
        }                                                                                         \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
        double *cr = c + r * ldc;                                                                 \
        for (int v = 0; v < NV; v++) {                                                            \
            __m256d out = acc[r][v];                                                              \
            if (M && v == NV - 1) {                                                               \
                if (beta != 0) out = _mm256_fmadd_pd(_mm256_set1_pd(beta),                        \
                                                     _mm256_maskload_pd(cr + 4 * v, last), out);  \
                _mm256_maskstore_pd(cr + 4 * v, last, out);                                       \
            } else {                                                                              \
                if (beta != 0) out = _mm256_fmadd_pd(_mm256_set1_pd(beta),                        \
                                                     _mm256_loadu_pd(cr + 4 * v), out);           \
                _mm256_storeu_pd(cr + 4 * v, out);                                                \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}

FL_BLOCK2(12, 1, 0)
FL_BLOCK2(12, 1, 1)
FL_BLOCK2(1, 1, 0)
FL_BLOCK2(1, 1, 1)
FL_BLOCK2(6, 2, 0)
FL_BLOCK2(6, 2, 1)
FL_BLOCK2(1, 2, 0)
FL_BLOCK2(1, 2, 1)
FL_BLOCK2(4, 3, 0)
FL_BLOCK2(4, 3, 1)
FL_BLOCK2(1, 3, 0)
FL_BLOCK2(1, 3, 1)
FL_BLOCK2(3, 4, 0)
FL_BLOCK2(3, 4, 1)
FL_BLOCK2(1, 4, 0)
FL_BLOCK2(1, 4, 1)

// Rows [0, m) of one panel in blocks of R, then one row at a time; M: the last vector is partial.
#define FL_PANEL2(R, NV, M)                                                                       \
    do {                                                                                          \
        for (; i + R <= m; i += R)                                                                \
            block2_##R##_##NV##_##M(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last); \
        for (; i < m; i++) block2_1_##NV##_##M(k, a + i * lda, lda, bj, ldb, beta, cj + i * ldc, ldc, last); \
    } while (0)

__attribute__((target("avx2,fma"))) static void narrow_avx2(long m, long n, long k, const double *a, long lda,
                                                           const double *b, long ldb, double beta,
                                                           double *c, long ldc) {
    for (long j0 = 0; j0 < n; j0 += 16) {
        const long nc = n - j0 < 16 ? n - j0 : 16;
        const int nv = (int)((nc + 3) / 4);
        const int rem = (int)(nc % 4);
        const __m256i last = _mm256_set_epi64x(rem == 0 || rem > 3 ? -1 : 0, rem == 0 || rem > 2 ? -1 : 0,
                                               rem == 0 || rem > 1 ? -1 : 0, -1);
        const double *bj = b + j0;
        double *cj = c + j0;
        long i = 0;
        const int partial = rem != 0;
        switch (nv * 2 + partial) {
        case 2: FL_PANEL2(12, 1, 0); break;
        case 3: FL_PANEL2(12, 1, 1); break;
        case 4: FL_PANEL2(6, 2, 0); break;
        case 5: FL_PANEL2(6, 2, 1); break;
        case 6: FL_PANEL2(4, 3, 0); break;
        case 7: FL_PANEL2(4, 3, 1); break;
        case 8: FL_PANEL2(3, 4, 0); break;
        default: FL_PANEL2(3, 4, 1); break;
        }
    }
}

static int narrow_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

static int narrow_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return cached;
}
#endif

void fl_dgemm_narrow(long m, long n, long k, const double *a, long lda, const double *b, long ldb,
                     double beta, double *c, long ldc) {
    if (m <= 0 || n <= 0) return;
#ifdef FL_NARROW_X86
    if (narrow_has_avx512()) { narrow_avx512(m, n, k, a, lda, b, ldb, beta, c, ldc); return; }
    if (narrow_has_avx2()) { narrow_avx2(m, n, k, a, lda, b, ldb, beta, c, ldc); return; }
#endif
    narrow_generic(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

const char *fl_dgemm_narrow_kernel(void) {
#ifdef FL_NARROW_X86
    if (narrow_has_avx512()) return "avx512f";
    if (narrow_has_avx2()) return "avx2+fma";
#endif
    return "generic";
}
