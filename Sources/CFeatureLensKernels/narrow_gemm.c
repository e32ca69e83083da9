// Narrow-panel DGEMM used by the exact Gram-space gradient descent of the synthetic
// experiments (C = K · B with K a fixed n×n Gram matrix and B an n×p panel, p small).
#include "FeatureLensNarrowGEMM.h"

#include <math.h>
#include <stdlib.h>

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

// The packed AVX2 + FMA kernel: A is fixed across many calls (the Gram matrix of a run), so
// it is packed once, in blocks of FL_PACK_ROWS rows stored k-major (block b holds
// A[12b + r, p] at [p][r]). Each block of C is then FL_PACK_ROWS rows × JR columns: three
// vectors of A and JR broadcasts of B per k, 3·JR accumulators. Every element is still one
// FMA chain over k in order, then fma(beta, c, acc): bit-identical to the unpacked kernels.
#define FL_PACK_ROWS 12
#define FL_PBLOCK(JR)                                                                             \
__attribute__((target("avx2,fma"), noinline)) static void pblock_##JR(long k, const double *pa, const double *b, \
    long ldb, double beta, double *c, long ldc, long rows) {                                      \
    __m256d acc[JR][3];                                                                           \
    for (int j = 0; j < JR; j++)                                                                  \
        for (int v = 0; v < 3; v++) acc[j][v] = _mm256_setzero_pd();                              \
    for (long p = 0; p < k; p++) {                                                                \
        const double *ap = pa + p * FL_PACK_ROWS;                                                 \
        const __m256d a0 = _mm256_loadu_pd(ap), a1 = _mm256_loadu_pd(ap + 4), a2 = _mm256_loadu_pd(ap + 8); \
        const double *bp = b + p * ldb;                                                           \
        for (int j = 0; j < JR; j++) {                                                            \
            const __m256d bv = _mm256_broadcast_sd(bp + j);                                       \
            acc[j][0] = _mm256_fmadd_pd(a0, bv, acc[j][0]);                                       \
            acc[j][1] = _mm256_fmadd_pd(a1, bv, acc[j][1]);                                       \
            acc[j][2] = _mm256_fmadd_pd(a2, bv, acc[j][2]);                                       \
        }                                                                                         \
    }                                                                                             \
    double t[JR][FL_PACK_ROWS];                                                                   \
    for (int j = 0; j < JR; j++)                                                                  \
        for (int v = 0; v < 3; v++) _mm256_storeu_pd(&t[j][4 * v], acc[j][v]);                    \
    for (long r = 0; r < rows; r++)                                                               \
        for (int j = 0; j < JR; j++) {                                                            \
            double *cr = c + r * ldc + j;                                                         \
            *cr = beta == 0 ? t[j][r] : __builtin_fma(beta, *cr, t[j][r]);                        \
        }                                                                                         \
}

FL_PBLOCK(1)
FL_PBLOCK(2)
FL_PBLOCK(3)

__attribute__((target("avx2,fma"))) static void narrow_packed_avx2(long m, long n, long k, const double *pa,
                                                                  const double *b, long ldb, double beta,
                                                                  double *c, long ldc) {
    for (long i0 = 0; i0 < m; i0 += FL_PACK_ROWS) {
        const long rows = m - i0 < FL_PACK_ROWS ? m - i0 : FL_PACK_ROWS;
        const double *block = pa + (i0 / FL_PACK_ROWS) * k * FL_PACK_ROWS;
        double *ci = c + i0 * ldc;
        long j = 0;
        for (; j + 3 <= n; j += 3) pblock_3(k, block, b + j, ldb, beta, ci + j, ldc, rows);
        switch (n - j) {
        case 2: pblock_2(k, block, b + j, ldb, beta, ci + j, ldc, rows); break;
        case 1: pblock_1(k, block, b + j, ldb, beta, ci + j, ldc, rows); break;
        default: break;
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

// Which AVX2 layout is faster depends on the width n: measured on a 2-core AMD EPYC (Zen 1,
// AVX2) with m = k = 400 (`featurelens bench linear`), the unpacked kernel's 6×8 blocks win at
// n = 8 and the packed kernel at every other width (e.g. n = 3: 2.6×, n = 64: 1.35×).
#ifdef FL_NARROW_X86
static int narrow_prefers_packed(long n) { return n != 8; }
#endif

// The inner dimension at or below which fl_dgemm_narrow multiplies in a plain loop: with
// k this small (e.g. Z·G with G a p×p matrix, p ≤ 16) packing and register blocking cost more
// than the m·n·k FMAs themselves.
#define FL_TINY_K 16

// C ← A·B + β·C for k ≤ FL_TINY_K: per row of C, every element is one FMA chain over k in
// order from zero, then fma(beta, c, acc) — the chain and final step of the blocked kernels,
// so the result is bit-identical to theirs. The loop over j vectorizes. Defined twice: with
// AVX2 + FMA code generation (x86 CPUs that have them) and portable.
#define FL_TINY_BODY                                                                              \
    double acc[64];                                                                               \
    for (long i = 0; i < m; i++) {                                                                \
        double *ci = c + i * ldc;                                                                 \
        for (long j0 = 0; j0 < n; j0 += 64) {                                                     \
            const long nc = n - j0 < 64 ? n - j0 : 64;                                            \
            for (long j = 0; j < nc; j++) acc[j] = 0;                                             \
            for (long p = 0; p < k; p++) {                                                        \
                const double aip = a[i * lda + p];                                                \
                const double *bp = b + p * ldb + j0;                                              \
                for (long j = 0; j < nc; j++) acc[j] = __builtin_fma(aip, bp[j], acc[j]);        \
            }                                                                                     \
            for (long j = 0; j < nc; j++)                                                         \
                ci[j0 + j] = beta == 0 ? acc[j] : __builtin_fma(beta, ci[j0 + j], acc[j]);       \
        }                                                                                         \
    }

// Zᵀ·Z: the upper triangle accumulated row by row of Z (one FMA chain over the rows per
// element), then mirrored.
#define FL_GRAM_BODY                                                                              \
    for (long i = 0; i < p * p; i++) out[i] = 0;                                                  \
    for (long r = 0; r < rows; r++) {                                                             \
        const double *zr = z + r * ldz;                                                           \
        for (long i = 0; i < p; i++) {                                                            \
            const double zi = zr[i];                                                              \
            double *oi = out + i * p;                                                             \
            for (long j = i; j < p; j++) oi[j] = __builtin_fma(zi, zr[j], oi[j]);                \
        }                                                                                         \
    }                                                                                             \
    for (long i = 0; i < p; i++)                                                                  \
        for (long j = i + 1; j < p; j++) out[j * p + i] = out[i * p + j];

static void narrow_tiny(long m, long n, long k, const double *a, long lda, const double *b, long ldb,
                        double beta, double *c, long ldc) { FL_TINY_BODY }
static void gram_columns_generic(long rows, long p, const double *z, long ldz, double *out) { FL_GRAM_BODY }
#ifdef FL_NARROW_X86
__attribute__((target("avx2,fma"))) static void narrow_tiny_avx2(long m, long n, long k, const double *a, long lda,
                                                                 const double *b, long ldb, double beta, double *c,
                                                                 long ldc) { FL_TINY_BODY }
// The AVX2 + FMA Gram kernel: blocks of 4 × 8 elements of the upper triangle held in eight
// registers while the rows stream by (the plain body reads and writes the whole triangle for
// every row), each element still one FMA chain over the rows in order from 0, so the bits are
// those of FL_GRAM_BODY. Elements outside full blocks take the same chain one at a time; the
// lower entries a diagonal block also computes are overwritten by the mirror.
__attribute__((target("avx2,fma"))) static void gram_columns_avx2(long rows, long p, const double *z, long ldz,
                                                                  double *out) {
    const long pi = p / 4 * 4, pj = p / 8 * 8;
    for (long i0 = 0; i0 < pi; i0 += 4) {
        for (long j0 = i0 / 8 * 8; j0 < pj; j0 += 8) {
            __m256d acc[4][2];
            for (int ii = 0; ii < 4; ii++) acc[ii][0] = acc[ii][1] = _mm256_setzero_pd();
            for (long r = 0; r < rows; r++) {
                const double *zr = z + r * ldz;
                const __m256d b0 = _mm256_loadu_pd(zr + j0), b1 = _mm256_loadu_pd(zr + j0 + 4);
                for (int ii = 0; ii < 4; ii++) {
                    const __m256d a = _mm256_broadcast_sd(zr + i0 + ii);
                    acc[ii][0] = _mm256_fmadd_pd(a, b0, acc[ii][0]);
                    acc[ii][1] = _mm256_fmadd_pd(a, b1, acc[ii][1]);
                }
            }
            for (int ii = 0; ii < 4; ii++) {
                _mm256_storeu_pd(out + (i0 + ii) * p + j0, acc[ii][0]);
                _mm256_storeu_pd(out + (i0 + ii) * p + j0 + 4, acc[ii][1]);
            }
        }
    }
    // The rest of the upper triangle: row i from column max(i, pj) (i < pi) or i (i ≥ pi), row
    // by row of Z as FL_GRAM_BODY.
    for (long i = 0; i < p; i++)
        for (long j = i < pi && pj > i ? pj : i; j < p; j++) out[i * p + j] = 0;
    for (long r = 0; r < rows; r++) {
        const double *zr = z + r * ldz;
        for (long i = 0; i < p; i++) {
            const double zi = zr[i];
            double *oi = out + i * p;
            for (long j = i < pi && pj > i ? pj : i; j < p; j++) oi[j] = __builtin_fma(zi, zr[j], oi[j]);
        }
    }
    for (long i = 0; i < p; i++)
        for (long j = i + 1; j < p; j++) out[j * p + i] = out[i * p + j];
}
#endif

void fl_dgram_columns(long rows, long p, const double *z, long ldz, double *out) {
    if (p <= 0) return;
#ifdef FL_NARROW_X86
    if (narrow_has_avx2()) { gram_columns_avx2(rows, p, z, ldz, out); return; }
#endif
    gram_columns_generic(rows, p, z, ldz, out);
}

void fl_dgemm_narrow(long m, long n, long k, const double *a, long lda, const double *b, long ldb,
                     double beta, double *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= FL_TINY_K) {
#ifdef FL_NARROW_X86
        if (narrow_has_avx2()) { narrow_tiny_avx2(m, n, k, a, lda, b, ldb, beta, c, ldc); return; }
#endif
        narrow_tiny(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#ifdef FL_NARROW_X86
    if (narrow_has_avx512()) { narrow_avx512(m, n, k, a, lda, b, ldb, beta, c, ldc); return; }
    if (narrow_has_avx2()) {
        // Packing A costs one pass over it (m·k) against m·k·n FMAs, and the packed kernel is
        // faster at every width but 8 (narrow_prefers_packed), so pack into this thread's
        // scratch buffer; keep the plain kernel when the buffer cannot be had.
        if (narrow_prefers_packed(n)) {
            static _Thread_local double *scratch = 0;
            static _Thread_local long capacity = 0;
            const long need = fl_dgemm_narrow_packed_size(m, k);
            if (need > capacity) {
                double *grown = (double *)realloc(scratch, (size_t)need * sizeof(double));
                if (grown) { scratch = grown; capacity = need; }
            }
            if (need <= capacity && scratch) {
                fl_dgemm_narrow_pack(m, k, a, lda, scratch);
                narrow_packed_avx2(m, n, k, scratch, b, ldb, beta, c, ldc);
                return;
            }
        }
        narrow_avx2(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return;
    }
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

long fl_dgemm_narrow_pack_rows(void) { return 12; }

long fl_dgemm_narrow_packed_size(long m, long k) { return (m + 11) / 12 * 12 * (k > 0 ? k : 0); }

#ifdef FL_NARROW_X86
// Rows [r0, r0 + 4) of A (all present) into a packed block: 4×4 tiles transposed in registers.
__attribute__((target("avx2"))) static void pack4_avx2(long k, const double *a, long lda, double *block, long r0) {
    const double *a0 = a + r0 * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    long p = 0;
    for (; p + 4 <= k; p += 4) {
        const __m256d x0 = _mm256_loadu_pd(a0 + p), x1 = _mm256_loadu_pd(a1 + p);
        const __m256d x2 = _mm256_loadu_pd(a2 + p), x3 = _mm256_loadu_pd(a3 + p);
        const __m256d t0 = _mm256_unpacklo_pd(x0, x1), t1 = _mm256_unpackhi_pd(x0, x1);
        const __m256d t2 = _mm256_unpacklo_pd(x2, x3), t3 = _mm256_unpackhi_pd(x2, x3);
        _mm256_storeu_pd(block + (p + 0) * 12 + r0, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(block + (p + 1) * 12 + r0, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(block + (p + 2) * 12 + r0, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm256_storeu_pd(block + (p + 3) * 12 + r0, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
    for (; p < k; p++) {
        block[p * 12 + r0] = a0[p]; block[p * 12 + r0 + 1] = a1[p];
        block[p * 12 + r0 + 2] = a2[p]; block[p * 12 + r0 + 3] = a3[p];
    }
}
#endif

void fl_dgemm_narrow_pack(long m, long k, const double *a, long lda, double *packed) {
    for (long i0 = 0; i0 < m; i0 += 12) {
        double *block = packed + (i0 / 12) * k * 12;
        const long rows = m - i0 < 12 ? m - i0 : 12;
        long r = 0;
#ifdef FL_NARROW_X86
        if (narrow_has_avx2())
            for (; r + 4 <= rows; r += 4) pack4_avx2(k, a + i0 * lda, lda, block, r);
#endif
        for (; r < rows; r++) {
            const double *ar = a + (i0 + r) * lda;
            for (long p = 0; p < k; p++) block[p * 12 + r] = ar[p];
        }
        for (; r < 12; r++)
            for (long p = 0; p < k; p++) block[p * 12 + r] = 0.0;
    }
}

// The layout by narrow_prefers_packed: the packed operand when it wins, else the plain A.
void fl_dgemm_narrow_packed(long m, long n, long k, const double *packed, const double *a, long lda,
                            const double *b, long ldb, double beta, double *c, long ldc) {
    if (m <= 0 || n <= 0) return;
#ifdef FL_NARROW_X86
    if (narrow_has_avx512()) { narrow_avx512(m, n, k, a, lda, b, ldb, beta, c, ldc); return; }
    if (narrow_has_avx2()) {
        if (narrow_prefers_packed(n)) narrow_packed_avx2(m, n, k, packed, b, ldb, beta, c, ldc);
        else narrow_avx2(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    (void)packed;
    narrow_generic(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// ---------------------------------------------------------------------------------------------
// The mixed-precision product of the Gram-space step: C[m, n] (double) += A[m, k]·B[k, n] with A
// and B rounded to float and every element summed in float, one FMA chain over k in order from
// zero, then added to C in double. A is packed once (blocks of 24 rows, k-major, float); on AVX2
// a block of C is 24 rows × JR columns: three 8-float vectors of A and JR broadcasts of B per k.

#define FL_SPACK_ROWS 24

long fl_sgemm_narrow_pack_rows(void) { return FL_SPACK_ROWS; }

long fl_sgemm_narrow_packed_size(long m, long k) {
    return (m + FL_SPACK_ROWS - 1) / FL_SPACK_ROWS * FL_SPACK_ROWS * (k > 0 ? k : 0);
}

void fl_sgemm_narrow_pack(long m, long k, const double *a, long lda, float *packed) {
    for (long i0 = 0; i0 < m; i0 += FL_SPACK_ROWS) {
        float *block = packed + (i0 / FL_SPACK_ROWS) * k * FL_SPACK_ROWS;
        const long rows = m - i0 < FL_SPACK_ROWS ? m - i0 : FL_SPACK_ROWS;
        for (long r = 0; r < FL_SPACK_ROWS; r++) {
            const double *ar = a + (i0 + r) * lda;
            for (long p = 0; p < k; p++) block[p * FL_SPACK_ROWS + r] = r < rows ? (float)ar[p] : 0.0f;
        }
    }
}

// One element's chain, portable: the reference every kernel below reproduces bit for bit.
static void mixed_generic(long m, long n, long k, const float *pa, const float *b, long ldb, double *c, long ldc) {
    for (long i = 0; i < m; i++) {
        const float *block = pa + (i / FL_SPACK_ROWS) * k * FL_SPACK_ROWS;
        const long r = i % FL_SPACK_ROWS;
        for (long j = 0; j < n; j++) {
            float acc = 0.0f;
            for (long p = 0; p < k; p++) acc = fmaf(block[p * FL_SPACK_ROWS + r], b[p * ldb + j], acc);
            c[i * ldc + j] += (double)acc;
        }
    }
}

#ifdef FL_NARROW_X86
#define FL_SBLOCK(JR)                                                                             \
__attribute__((target("avx2,fma"), noinline)) static void sblock_##JR(long k, const float *pa, const float *b, \
    long ldb, double *c, long ldc, long rows) {                                                   \
    __m256 acc[JR][3];                                                                            \
    for (int j = 0; j < JR; j++)                                                                  \
        for (int v = 0; v < 3; v++) acc[j][v] = _mm256_setzero_ps();                              \
    for (long p = 0; p < k; p++) {                                                                \
        const float *ap = pa + p * FL_SPACK_ROWS;                                                 \
        const __m256 a0 = _mm256_loadu_ps(ap), a1 = _mm256_loadu_ps(ap + 8), a2 = _mm256_loadu_ps(ap + 16); \
        const float *bp = b + p * ldb;                                                            \
        for (int j = 0; j < JR; j++) {                                                            \
            const __m256 bv = _mm256_broadcast_ss(bp + j);                                        \
            acc[j][0] = _mm256_fmadd_ps(a0, bv, acc[j][0]);                                       \
            acc[j][1] = _mm256_fmadd_ps(a1, bv, acc[j][1]);                                       \
            acc[j][2] = _mm256_fmadd_ps(a2, bv, acc[j][2]);                                       \
        }                                                                                         \
    }                                                                                             \
    float t[JR][FL_SPACK_ROWS];                                                                   \
    for (int j = 0; j < JR; j++)                                                                  \
        for (int v = 0; v < 3; v++) _mm256_storeu_ps(&t[j][8 * v], acc[j][v]);                    \
    for (long r = 0; r < rows; r++)                                                               \
        for (int j = 0; j < JR; j++) c[r * ldc + j] += (double)t[j][r];                           \
}

FL_SBLOCK(1)
FL_SBLOCK(2)
FL_SBLOCK(3)
FL_SBLOCK(4)

__attribute__((target("avx2,fma"))) static void mixed_avx2(long m, long n, long k, const float *pa, const float *b,
                                                          long ldb, double *c, long ldc) {
    for (long i0 = 0; i0 < m; i0 += FL_SPACK_ROWS) {
        const long rows = m - i0 < FL_SPACK_ROWS ? m - i0 : FL_SPACK_ROWS;
        const float *block = pa + (i0 / FL_SPACK_ROWS) * k * FL_SPACK_ROWS;
        double *ci = c + i0 * ldc;
        long j = 0;
        for (; j + 4 <= n; j += 4) sblock_4(k, block, b + j, ldb, ci + j, ldc, rows);
        switch (n - j) {
        case 3: sblock_3(k, block, b + j, ldb, ci + j, ldc, rows); break;
        case 2: sblock_2(k, block, b + j, ldb, ci + j, ldc, rows); break;
        case 1: sblock_1(k, block, b + j, ldb, ci + j, ldc, rows); break;
        default: break;
        }
    }
}
#endif

void fl_sgemm_narrow_packed_accumulate(long m, long n, long k, const float *packed, const float *b, long ldb,
                                       double *c, long ldc) {
    if (m <= 0 || n <= 0) return;
#ifdef FL_NARROW_X86
    if (narrow_has_avx2()) { mixed_avx2(m, n, k, packed, b, ldb, c, ldc); return; }
#endif
    mixed_generic(m, n, k, packed, b, ldb, c, ldc);
}

const char *fl_sgemm_narrow_kernel(void) {
#ifdef FL_NARROW_X86
    if (narrow_has_avx2()) return "avx2+fma";
#endif
    return "generic";
}

// ---------------------------------------------------------------------------------------------
// The fused pass of the multinomial logistic objective (fl_logistic_rows).

// The row's loss and logit gradient: logistic_row.h (shared with the mixed-precision pass).
#pragma STDC FP_CONTRACT OFF
#include "logistic_row.h"

// z[r, k] for the rows of one packed block: one FMA chain over the p features in order.
static void logistic_logits_generic(long p, long m, const double *block, const double *w, double *z, long rows) {
    for (long r = 0; r < rows; r++)
        for (long k = 0; k < m; k++) {
            double acc = 0;
            for (long j = 0; j < p; j++) acc = fma(block[j * FL_PACK_ROWS + r], w[j * m + k], acc);
            z[r * m + k] = acc;
        }
}

// acc[j, :] += X[i, j] · d[i, :] for the rows i of a block in [i0, i1) (block-local), FMA chains.
static void logistic_accumulate_generic(long p, long mp, const double *block, const double *d, long i0, long i1,
                                        double *acc) {
    for (long j = 0; j < p; j++) {
        double *aj = acc + j * mp;
        const double *xj = block + j * FL_PACK_ROWS;
        for (long i = i0; i < i1; i++)
            for (long k = 0; k < mp; k++) aj[k] = fma(xj[i], d[i * mp + k], aj[k]);
    }
}

#ifdef FL_NARROW_X86
__attribute__((target("avx2,fma"))) static void logistic_logits_avx2(long p, long m, const double *block,
                                                                   const double *w, double *z, long rows) {
    long j = 0;
    for (; j + 3 <= m; j += 3) pblock_3(p, block, w + j, m, 0, z + j, m, rows);
    switch (m - j) {
    case 2: pblock_2(p, block, w + j, m, 0, z + j, m, rows); break;
    case 1: pblock_1(p, block, w + j, m, 0, z + j, m, rows); break;
    default: break;
    }
}

#define FL_LOGISTIC_ACC(NV)                                                                       \
__attribute__((target("avx2,fma"))) static void logistic_accumulate_avx2_##NV(                    \
    long p, const double *block, const double *d, long i0, long i1, double *acc) {                \
    for (long j = 0; j < p; j++) {                                                                \
        double *aj = acc + j * 4 * NV;                                                            \
        const double *xj = block + j * FL_PACK_ROWS;                                              \
        __m256d a[NV];                                                                            \
        for (int v = 0; v < NV; v++) a[v] = _mm256_loadu_pd(aj + 4 * v);                          \
        for (long i = i0; i < i1; i++) {                                                          \
            const __m256d x = _mm256_broadcast_sd(xj + i);                                        \
            for (int v = 0; v < NV; v++)                                                          \
                a[v] = _mm256_fmadd_pd(x, _mm256_loadu_pd(d + i * 4 * NV + 4 * v), a[v]);         \
        }                                                                                         \
        for (int v = 0; v < NV; v++) _mm256_storeu_pd(aj + 4 * v, a[v]);                          \
    }                                                                                             \
}
FL_LOGISTIC_ACC(1)
FL_LOGISTIC_ACC(2)
FL_LOGISTIC_ACC(3)
#endif

#ifdef FL_NARROW_X86
// Logits of all m ≤ 12 classes in one pass over a 12-row block: W (padded to 4·NV columns, wp
// [p, 4·NV]) in vectors, 3 rows at a time broadcast from the packed block; 3·NV accumulators
// (four rows would need all 16 ymm registers, and clang then spills). The features run in
// chunks of FL_LOGITS_KC, so a chunk of W and of the block (12 KB each) stay in L1 while the
// four row groups pass over them; the partial sums wait in `t` (zeroed first) between chunks.
// Each logit is still one FMA chain over j in order from 0 (fmadd(x, w, acc), the chain of pblock_*), so the
// bits are those of logistic_logits_avx2.
#define FL_LOGITS_KC 128
#define FL_LOGITS_W(NV)                                                                           \
__attribute__((target("avx2,fma"))) static void logistic_logits_w_##NV(                          \
    long p, const double *block, const double *wp, double *z, long m, long rows) {                \
    double t[FL_PACK_ROWS][4 * NV] = {{0}};                                                       \
    for (long j0 = 0; j0 < p; j0 += FL_LOGITS_KC) {                                               \
        const long j1 = p - j0 < FL_LOGITS_KC ? p : j0 + FL_LOGITS_KC;                            \
        for (long r0 = 0; r0 < rows; r0 += 3) {                                                   \
            __m256d a[3][NV];                                                                     \
            for (int r = 0; r < 3; r++)                                                           \
                for (int v = 0; v < NV; v++) a[r][v] = _mm256_loadu_pd(&t[r0 + r][4 * v]);       \
            for (long j = j0; j < j1; j++) {                                                      \
                const double *xj = block + j * FL_PACK_ROWS + r0;                                 \
                __m256d wv[NV];                                                                   \
                for (int v = 0; v < NV; v++) wv[v] = _mm256_loadu_pd(wp + j * 4 * NV + 4 * v);    \
                for (int r = 0; r < 3; r++) {                                                     \
                    const __m256d x = _mm256_broadcast_sd(xj + r);                                \
                    for (int v = 0; v < NV; v++) a[r][v] = _mm256_fmadd_pd(x, wv[v], a[r][v]);     \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < 3; r++)                                                           \
                for (int v = 0; v < NV; v++) _mm256_storeu_pd(&t[r0 + r][4 * v], a[r][v]);         \
        }                                                                                         \
    }                                                                                             \
    for (long r = 0; r < rows; r++)                                                               \
        for (long k = 0; k < m; k++) z[r * m + k] = t[r][k];                                      \
}
FL_LOGITS_W(1)
FL_LOGITS_W(2)
FL_LOGITS_W(3)

// acc[j, :] += X[i, j]·d[i, :] over the rows of `nb` consecutive packed blocks (rows [i0, 12)
// of the first, all of the middle ones, [0, iLast) of the last), three features j at a time:
// 9 independent FMA chains for NV = 3 (one feature at a time leaves three chains waiting on the
// FMA latency), and acc is read and written once per `nb` blocks instead of once per block.
// Each element's chain over the rows is unchanged, so the bits are those of
// logistic_accumulate_avx2_* called block by block.
#define FL_LOGISTIC_ACC3(NV)                                                                      \
__attribute__((target("avx2,fma"))) static void logistic_accumulate3_avx2_##NV(                   \
    long p, const double *first, long nb, const double *d, long i0, long iLast, double *acc) {    \
    long j = 0;                                                                                   \
    for (; j + 3 <= p; j += 3) {                                                                  \
        __m256d a[3][NV];                                                                         \
        for (int f = 0; f < 3; f++)                                                               \
            for (int v = 0; v < NV; v++) a[f][v] = _mm256_loadu_pd(acc + (j + f) * 4 * NV + 4 * v); \
        for (long bb = 0; bb < nb; bb++) {                                                        \
            const double *xb = first + bb * FL_PACK_ROWS * p + j * FL_PACK_ROWS;                  \
            const double *db = d + bb * FL_PACK_ROWS * 4 * NV;                                    \
            const long lo = bb == 0 ? i0 : 0, hi = bb == nb - 1 ? iLast : FL_PACK_ROWS;           \
            for (long i = lo; i < hi; i++) {                                                      \
                __m256d dv[NV];                                                                   \
                for (int v = 0; v < NV; v++) dv[v] = _mm256_loadu_pd(db + i * 4 * NV + 4 * v);    \
                for (int f = 0; f < 3; f++) {                                                     \
                    const __m256d x = _mm256_broadcast_sd(xb + f * FL_PACK_ROWS + i);             \
                    for (int v = 0; v < NV; v++) a[f][v] = _mm256_fmadd_pd(x, dv[v], a[f][v]);     \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        for (int f = 0; f < 3; f++)                                                               \
            for (int v = 0; v < NV; v++) _mm256_storeu_pd(acc + (j + f) * 4 * NV + 4 * v, a[f][v]); \
    }                                                                                             \
    if (j < p)                                                                                    \
        for (long bb = 0; bb < nb; bb++)                                                          \
            logistic_accumulate_avx2_##NV(p - j, first + bb * FL_PACK_ROWS * p + j * FL_PACK_ROWS, \
                                          d + bb * FL_PACK_ROWS * 4 * NV, bb == 0 ? i0 : 0,         \
                                          bb == nb - 1 ? iLast : FL_PACK_ROWS, acc + j * 4 * NV);  \
}
FL_LOGISTIC_ACC3(1)
FL_LOGISTIC_ACC3(2)
FL_LOGISTIC_ACC3(3)
#endif

// Blocks whose logits are computed before one accumulation pass over all of them.
#define FL_LOGISTIC_SUPER 4

void fl_logistic_rows(long r0, long r1, long p, long m, const double *packed, const double *w,
                      const double *b, const long *y, double *dz, long mp, double *loss, double *acc) {
    for (long e = 0; e < p * mp; e++) acc[e] = 0;
    if (r1 <= r0) return;
#ifdef FL_NARROW_X86
    const int avx2 = narrow_has_avx2();
#else
    const int avx2 = 0;
#endif
    double z[FL_PACK_ROWS * 64];
    double *zs = m <= 64 ? z : malloc(sizeof(double) * FL_PACK_ROWS * m);
    // W padded to mp ≤ 12 columns for the one-pass logits kernel (zeros in the padding).
    double *wp = 0;
#ifdef FL_NARROW_X86
    if (avx2 && mp <= 12 && (wp = malloc(sizeof(double) * (size_t)(p * mp)))) {
        for (long j = 0; j < p; j++)
            for (long k = 0; k < mp; k++) wp[j * mp + k] = k < m ? w[j * m + k] : 0.0;
    }
#endif
    const long first = r0 / FL_PACK_ROWS * FL_PACK_ROWS;
    for (long s0 = first; s0 < r1; s0 += FL_PACK_ROWS * FL_LOGISTIC_SUPER) {
        // Logits, losses and dZ for up to FL_LOGISTIC_SUPER blocks, then one accumulation pass.
        long nb = 0;
        for (long b0 = s0; b0 < r1 && nb < FL_LOGISTIC_SUPER; b0 += FL_PACK_ROWS, nb++) {
            const double *block = packed + (b0 / FL_PACK_ROWS) * FL_PACK_ROWS * p;
            const long i0 = r0 > b0 ? r0 - b0 : 0;
            const long i1 = r1 - b0 < FL_PACK_ROWS ? r1 - b0 : FL_PACK_ROWS;
#ifdef FL_NARROW_X86
            if (wp) {
                switch (mp / 4) {
                case 1: logistic_logits_w_1(p, block, wp, zs, m, i1); break;
                case 2: logistic_logits_w_2(p, block, wp, zs, m, i1); break;
                default: logistic_logits_w_3(p, block, wp, zs, m, i1); break;
                }
            } else if (avx2) logistic_logits_avx2(p, m, block, w, zs, i1);
            else
#endif
                logistic_logits_generic(p, m, block, w, zs, i1);
            for (long i = i0; i < i1; i++) {
                double *d = dz + (b0 + i) * mp;
                loss[b0 + i] = logistic_row(m, zs + i * m, b, y[b0 + i], d);
                for (long k = m; k < mp; k++) d[k] = 0;
            }
        }
        const double *sblock = packed + (s0 / FL_PACK_ROWS) * FL_PACK_ROWS * p;
        const long si0 = r0 > s0 ? r0 - s0 : 0;
        const long last = s0 + (nb - 1) * FL_PACK_ROWS;
        const long iLast = r1 - last < FL_PACK_ROWS ? r1 - last : FL_PACK_ROWS;
#ifdef FL_NARROW_X86
        if (avx2 && mp <= 12) {
            switch (mp / 4) {
            case 1: logistic_accumulate3_avx2_1(p, sblock, nb, dz + s0 * mp, si0, iLast, acc); break;
            case 2: logistic_accumulate3_avx2_2(p, sblock, nb, dz + s0 * mp, si0, iLast, acc); break;
            default: logistic_accumulate3_avx2_3(p, sblock, nb, dz + s0 * mp, si0, iLast, acc); break;
            }
            continue;
        }
#endif
        for (long bb = 0; bb < nb; bb++)
            logistic_accumulate_generic(p, mp, sblock + bb * FL_PACK_ROWS * p, dz + (s0 + bb * FL_PACK_ROWS) * mp,
                                        bb == 0 ? si0 : 0, bb == nb - 1 ? iLast : FL_PACK_ROWS, acc);
    }
    free(wp);
    if (zs != z) free(zs);
}

// ---------------------------------------------------------------------------------------------
// The spectral contrastive loss in its pairing form and its gradient, in one call (the Gram-
// space step's O(n·p²) part; see fl_spectral_pairing in the header for the formulas).

// out[i, :] = scale·(Z[i, :]·G) − 2·pz[i, :] for rows i < n: Z·G by fl_dgemm_narrow (one FMA
// chain over k per element; register-blocked for wide p) or, for p ≤ FL_TINY_K, the same chains
// row by row; then one fma per element.
static inline __attribute__((always_inline)) void spectral_rows(long n, long p, const double *z, const double *g,
                                                                const double *pz, double scale, double *out) {
    if (p > FL_TINY_K) {
        fl_dgemm_narrow(n, p, p, z, p, g, p, 0.0, out, p);
        for (long i = 0; i < n * p; i++) out[i] = fma(scale, out[i], -2 * pz[i]);
        return;
    }
    for (long i = 0; i < n; i++) {                 // the same chains, with the row kept in cache
        const double *zi = z + i * p, *pi = pz + i * p;
        double *oi = out + i * p;
        for (long j = 0; j < p; j++) oi[j] = 0;
        for (long k = 0; k < p; k++) {
            const double a = zi[k];
            const double *gk = g + k * p;
            for (long j = 0; j < p; j++) oi[j] = fma(a, gk[j], oi[j]);
        }
        for (long j = 0; j < p; j++) oi[j] = fma(scale, oi[j], -2 * pi[j]);
    }
}

// pz = P·Z with P = (1−β)/n·I + β/S·[same class]: class sums in row order, then per element
// fma(w, sum, diag·z).
static inline __attribute__((always_inline)) void spectral_apply_pairs(long n, long p, const double *z, const long *classes, long nclasses, double beta,
                                 double same_pairs, double *sums, double *pz) {
    const double diag = (1 - beta) / (double)n;
    if (beta > 0) {
        for (long i = 0; i < nclasses * p; i++) sums[i] = 0;
        for (long i = 0; i < n; i++) {
            double *s = sums + classes[i] * p;
            const double *zi = z + i * p;
            for (long j = 0; j < p; j++) s[j] += zi[j];
        }
        const double w = beta / same_pairs;
        for (long i = 0; i < n; i++) {
            const double *s = sums + classes[i] * p;
            const double *zi = z + i * p;
            double *o = pz + i * p;
            for (long j = 0; j < p; j++) o[j] = fma(w, s[j], diag * zi[j]);
        }
    } else {
        for (long i = 0; i < n * p; i++) pz[i] = diag * z[i];
    }
}

static inline __attribute__((always_inline)) double spectral_pairing(long n, long p, long views, const double *zs,
                                                                       const long *classes, long nclasses, double beta,
                                                                       double same_pairs, double *grad) {
    const double *z1 = zs, *z2 = views == 2 ? zs + n * p : zs;
    double *buf = malloc(sizeof(double) * (size_t)(2 * p * p + nclasses * p + 2 * n * p));
    if (!buf) return NAN;
    double *g1 = buf, *g2 = g1 + p * p, *sums = g2 + p * p, *pz2 = sums + nclasses * p, *pz1 = pz2 + n * p;
    fl_dgram_columns(n, p, z1, p, g1);
    if (views == 2) fl_dgram_columns(n, p, z2, p, g2);
    else for (long i = 0; i < p * p; i++) g2[i] = g1[i];
    spectral_apply_pairs(n, p, z2, classes, nclasses, beta, same_pairs, sums, pz2);
    if (views == 2) spectral_apply_pairs(n, p, z1, classes, nclasses, beta, same_pairs, sums, pz1);
    double positive = 0, quad = 0;
    for (long i = 0; i < n * p; i++) positive = fma(z1[i], pz2[i], positive);
    for (long i = 0; i < p * p; i++) quad = fma(g1[i], g2[i], quad);
    const double n2 = (double)n * (double)n;
    const double value = -2 * positive + quad / n2;
    spectral_rows(n, p, z1, g2, pz2, 2 / n2, grad);
    if (views == 2) {
        spectral_rows(n, p, z2, g1, pz1, 2 / n2, grad + n * p);
    } else {
        for (long i = 0; i < n * p; i++) grad[i] *= 2;  // both branches see Z: ∂L/∂Z₁ + ∂L/∂Z₂
    }
    free(buf);
    return value;
}

// The same code generated twice: with AVX2 + FMA (fma() becomes one instruction, the loops over
// p vectorize) and portable; both compute the same FMA chains, so the bits are equal.
#ifdef FL_NARROW_X86
__attribute__((target("avx2,fma"))) static double spectral_pairing_avx2(long n, long p, long views, const double *zs,
                                                                        const long *classes, long nclasses, double beta,
                                                                        double same_pairs, double *grad) {
    return spectral_pairing(n, p, views, zs, classes, nclasses, beta, same_pairs, grad);
}
#endif

double fl_spectral_pairing(long n, long p, long views, const double *zs, const long *classes, long nclasses,
                           double beta, double same_pairs, double *grad) {
    if (n <= 0 || p <= 0) return 0;
#ifdef FL_NARROW_X86
    if (narrow_has_avx2()) return spectral_pairing_avx2(n, p, views, zs, classes, nclasses, beta, same_pairs, grad);
#endif
    return spectral_pairing(n, p, views, zs, classes, nclasses, beta, same_pairs, grad);
}
