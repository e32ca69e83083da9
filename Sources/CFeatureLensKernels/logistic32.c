// The multinomial logistic objective's data term in mixed precision (see FeatureLensLogistic32.h):
// standardized features packed once as float, float FMA chains of bounded length, every chain
// converted to double and summed in double, the softmax and cross-entropy in double.
//
// Layout: blocks of 16 rows, k-major, so that one feature of a block is 16 consecutive floats
// (one 64-byte line). The logits take the block's rows as vector lanes (two 8-float vectors) and
// broadcast W, six classes at a time: no padding of the classes, and each lane is one row's
// logit, so no horizontal sums. Xᵀ·dZ takes the classes as lanes (dZ padded to a multiple of 8)
// and broadcasts X, 12/NV features at a time for NV vectors of classes.

#include "FeatureLensLogistic32.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FL_L32_X86 1
#endif

#define L32_ROWS 16   // rows per packed block
#define L32_SUPER 8   // blocks per super-block: the rows (128) of one float chain of Xᵀ·dZ
#define L32_KC 128    // features per float chain of a logit
#define L32_G 6       // classes per pass of the AVX2 logits kernel

long fl_logistic32_pack_rows(void) { return L32_ROWS; }
long fl_logistic32_super_rows(void) { return L32_ROWS * L32_SUPER; }
long fl_logistic32_packed_size(long n, long p) { return (n + L32_ROWS - 1) / L32_ROWS * L32_ROWS * (p > 0 ? p : 0); }

void fl_logistic32_pack(long b0, long b1, long n, long p, const double *x, long ldx, const double *mean,
                        const double *scale, float *packed) {
    for (long blk = b0; blk < b1; blk++) {
        float *block = packed + blk * L32_ROWS * p;
        for (long r = 0; r < L32_ROWS; r++) {
            const long i = blk * L32_ROWS + r;
            if (i >= n) {
                for (long j = 0; j < p; j++) block[j * L32_ROWS + r] = 0.0f;
                continue;
            }
            const double *row = x + i * ldx;
            for (long j = 0; j < p; j++) block[j * L32_ROWS + r] = (float)((row[j] - mean[j]) / scale[j]);
        }
    }
}

#ifdef FL_L32_X86
static int l32_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return cached;
}
#endif

const char *fl_logistic32_kernel(void) {
#ifdef FL_L32_X86
    if (l32_has_avx2()) return "avx2+fma";
#endif
    return "generic";
}

// The row's loss and logit gradient: logistic_row.h, the double objective's (fl_logistic_rows).
#pragma STDC FP_CONTRACT OFF
#include "logistic_row.h"

// Xᵀ·dz of one super-block for the binary model, portable: per feature, 16 float chains (one per
// row position c of the 16-row blocks, over the blocks in order), added in c order to acc[j, 0].
// dz holds one float per row of the super-block, 0 beyond `rows` up to the last block's end.
static void l32_accumulate_binary_generic(long p, long mp, const float *sblock, const float *dz, long rows,
                                          double *acc) {
    const long blocks = (rows + L32_ROWS - 1) / L32_ROWS;
    for (long j = 0; j < p; j++) {
        float c[L32_ROWS] = {0};
        for (long blk = 0; blk < blocks; blk++) {
            const float *x = sblock + blk * L32_ROWS * p + j * L32_ROWS;
            for (long r = 0; r < L32_ROWS; r++) c[r] = fmaf(x[r], dz[blk * L32_ROWS + r], c[r]);
        }
        for (long r = 0; r < L32_ROWS; r++) acc[j * mp] += (double)c[r];
    }
}

// Logits of one block, portable: zt[k, r] (class-major, 16 rows) = Σ over feature runs of
// (double)(float chain over the run).
static void l32_logits_generic(long p, long m, const float *block, const float *wf, double *zt) {
    for (long k = 0; k < m; k++)
        for (long r = 0; r < L32_ROWS; r++) {
            double z = 0;
            for (long j0 = 0; j0 < p; j0 += L32_KC) {
                const long j1 = p - j0 < L32_KC ? p : j0 + L32_KC;
                float a = 0.0f;
                for (long j = j0; j < j1; j++) a = fmaf(block[j * L32_ROWS + r], wf[j * m + k], a);
                z += (double)a;
            }
            zt[k * L32_ROWS + r] = z;
        }
}

// acc[j, :] += (double)(float chain over rows [0, rows) of the super-block of X[i, j]·dzf[i, :]),
// portable. dzf is [rows, mp] float, acc [p, mp] double.
static void l32_accumulate_generic(long p, long mp, const float *sblock, const float *dzf, long rows, double *acc) {
    for (long j = 0; j < p; j++)
        for (long k = 0; k < mp; k++) {
            float a = 0.0f;
            for (long i = 0; i < rows; i++)
                a = fmaf(sblock[(i / L32_ROWS) * L32_ROWS * p + j * L32_ROWS + i % L32_ROWS], dzf[i * mp + k], a);
            acc[j * mp + k] += (double)a;
        }
}

#ifdef FL_L32_X86
// Adds the 8 float lanes of v, converted to double, to t[0..<8].
__attribute__((target("avx2,fma"))) static inline void l32_add8(double *t, __m256 v) {
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_loadu_pd(t), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(t + 4, _mm256_add_pd(_mm256_loadu_pd(t + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

// Logits of classes [k0, k0 + G) of one block: the block's 16 rows in two vectors, W broadcast.
#define L32_LOGITS(G)                                                                             \
__attribute__((target("avx2,fma"))) static void l32_logits_avx2_##G(long p, long m, long k0,      \
    const float *block, const float *wf, double *zt) {                                            \
    for (long j0 = 0; j0 < p; j0 += L32_KC) {                                                     \
        const long j1 = p - j0 < L32_KC ? p : j0 + L32_KC;                                        \
        __m256 a0[G], a1[G];                                                                      \
        for (int g = 0; g < G; g++) { a0[g] = _mm256_setzero_ps(); a1[g] = _mm256_setzero_ps(); } \
        for (long j = j0; j < j1; j++) {                                                          \
            const __m256 x0 = _mm256_loadu_ps(block + j * L32_ROWS);                              \
            const __m256 x1 = _mm256_loadu_ps(block + j * L32_ROWS + 8);                          \
            const float *wj = wf + j * m + k0;                                                    \
            for (int g = 0; g < G; g++) {                                                         \
                const __m256 w = _mm256_broadcast_ss(wj + g);                                     \
                a0[g] = _mm256_fmadd_ps(x0, w, a0[g]);                                            \
                a1[g] = _mm256_fmadd_ps(x1, w, a1[g]);                                            \
            }                                                                                     \
        }                                                                                         \
        for (int g = 0; g < G; g++) {                                                             \
            l32_add8(zt + (k0 + g) * L32_ROWS, a0[g]);                                            \
            l32_add8(zt + (k0 + g) * L32_ROWS + 8, a1[g]);                                        \
        }                                                                                         \
    }                                                                                             \
}
L32_LOGITS(1)
L32_LOGITS(2)
L32_LOGITS(3)
L32_LOGITS(4)
L32_LOGITS(5)
L32_LOGITS(6)

__attribute__((target("avx2,fma"))) static void l32_logits_avx2(long p, long m, const float *block, const float *wf,
                                                               double *zt) {
    for (long e = 0; e < m * L32_ROWS; e++) zt[e] = 0;
    long k0 = 0;
    for (; k0 + L32_G <= m; k0 += L32_G) l32_logits_avx2_6(p, m, k0, block, wf, zt);
    switch (m - k0) {
    case 5: l32_logits_avx2_5(p, m, k0, block, wf, zt); break;
    case 4: l32_logits_avx2_4(p, m, k0, block, wf, zt); break;
    case 3: l32_logits_avx2_3(p, m, k0, block, wf, zt); break;
    case 2: l32_logits_avx2_2(p, m, k0, block, wf, zt); break;
    case 1: l32_logits_avx2_1(p, m, k0, block, wf, zt); break;
    default: break;
    }
}

// Xᵀ·dZ of one super-block for class vectors [v0, v0 + NV) (8 classes each) and F features at a
// time: F·NV float accumulators, X broadcast, one chain per element over the rows in order.
#define L32_ACC(NV, F)                                                                            \
__attribute__((target("avx2,fma"))) static void l32_accumulate_avx2_##NV##_##F(long p, long mp,   \
    long j0, long v0, const float *sblock, const float *dzf, long rows, double *acc) {            \
    __m256 a[F][NV];                                                                              \
    for (int f = 0; f < F; f++)                                                                   \
        for (int v = 0; v < NV; v++) a[f][v] = _mm256_setzero_ps();                               \
    for (long b0 = 0; b0 < rows; b0 += L32_ROWS) {                                                \
        const float *xb = sblock + (b0 / L32_ROWS) * L32_ROWS * p + j0 * L32_ROWS;                \
        const long hi = rows - b0 < L32_ROWS ? rows - b0 : L32_ROWS;                              \
        for (long r = 0; r < hi; r++) {                                                           \
            const float *dr = dzf + (b0 + r) * mp + 8 * v0;                                       \
            __m256 d[NV];                                                                         \
            for (int v = 0; v < NV; v++) d[v] = _mm256_loadu_ps(dr + 8 * v);                      \
            for (int f = 0; f < F; f++) {                                                         \
                const __m256 x = _mm256_broadcast_ss(xb + f * L32_ROWS + r);                      \
                for (int v = 0; v < NV; v++) a[f][v] = _mm256_fmadd_ps(x, d[v], a[f][v]);         \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
    for (int f = 0; f < F; f++)                                                                   \
        for (int v = 0; v < NV; v++) l32_add8(acc + (j0 + f) * mp + 8 * (v0 + v), a[f][v]);       \
}
L32_ACC(1, 12)
L32_ACC(1, 1)
L32_ACC(2, 6)
L32_ACC(2, 1)
L32_ACC(3, 4)
L32_ACC(3, 1)

// Xᵀ·dz of one super-block for the binary model, F features at a time: the 16 row positions
// of a block as two 8-float vectors, one accumulator pair per feature (the chains of
// l32_accumulate_binary_generic, lane by lane), then the 16 lanes added to acc in order.
#define L32_ACC_BINARY(F)                                                                         \
__attribute__((target("avx2,fma"))) static void l32_accumulate_binary_avx2_##F(long p, long mp,   \
    long j0, const float *sblock, const float *dz, long blocks, double *acc) {                     \
    __m256 a0[F], a1[F];                                                                          \
    for (int f = 0; f < F; f++) { a0[f] = _mm256_setzero_ps(); a1[f] = _mm256_setzero_ps(); }     \
    for (long blk = 0; blk < blocks; blk++) {                                                     \
        const float *xb = sblock + blk * L32_ROWS * p + j0 * L32_ROWS;                            \
        const __m256 d0 = _mm256_loadu_ps(dz + blk * L32_ROWS);                                   \
        const __m256 d1 = _mm256_loadu_ps(dz + blk * L32_ROWS + 8);                               \
        for (int f = 0; f < F; f++) {                                                             \
            a0[f] = _mm256_fmadd_ps(_mm256_loadu_ps(xb + f * L32_ROWS), d0, a0[f]);               \
            a1[f] = _mm256_fmadd_ps(_mm256_loadu_ps(xb + f * L32_ROWS + 8), d1, a1[f]);           \
        }                                                                                         \
    }                                                                                             \
    for (int f = 0; f < F; f++) {                                                                 \
        float c[L32_ROWS];                                                                        \
        _mm256_storeu_ps(c, a0[f]);                                                               \
        _mm256_storeu_ps(c + 8, a1[f]);                                                           \
        double *t = acc + (j0 + f) * mp;                                                          \
        for (int r = 0; r < L32_ROWS; r++) *t += (double)c[r];                                    \
    }                                                                                             \
}
L32_ACC_BINARY(6)
L32_ACC_BINARY(1)

__attribute__((target("avx2,fma"))) static void l32_accumulate_binary_avx2(long p, long mp, const float *sblock,
                                                                          const float *dz, long rows, double *acc) {
    const long blocks = (rows + L32_ROWS - 1) / L32_ROWS;
    long j = 0;
    for (; j + 6 <= p; j += 6) l32_accumulate_binary_avx2_6(p, mp, j, sblock, dz, blocks, acc);
    for (; j < p; j++) l32_accumulate_binary_avx2_1(p, mp, j, sblock, dz, blocks, acc);
}

__attribute__((target("avx2,fma"))) static void l32_accumulate_avx2(long p, long mp, const float *sblock,
                                                                   const float *dzf, long rows, double *acc) {
    for (long v0 = 0; v0 < mp / 8; v0 += 3) {
        const long nv = mp / 8 - v0 < 3 ? mp / 8 - v0 : 3;
        long j = 0;
        switch (nv) {
        case 1:
            for (; j + 12 <= p; j += 12) l32_accumulate_avx2_1_12(p, mp, j, v0, sblock, dzf, rows, acc);
            for (; j < p; j++) l32_accumulate_avx2_1_1(p, mp, j, v0, sblock, dzf, rows, acc);
            break;
        case 2:
            for (; j + 6 <= p; j += 6) l32_accumulate_avx2_2_6(p, mp, j, v0, sblock, dzf, rows, acc);
            for (; j < p; j++) l32_accumulate_avx2_2_1(p, mp, j, v0, sblock, dzf, rows, acc);
            break;
        default:
            for (; j + 4 <= p; j += 4) l32_accumulate_avx2_3_4(p, mp, j, v0, sblock, dzf, rows, acc);
            for (; j < p; j++) l32_accumulate_avx2_3_1(p, mp, j, v0, sblock, dzf, rows, acc);
            break;
        }
    }
}
#endif

void fl_logistic32_rows(long r0, long r1, long p, long m, const float *packed, const float *wf, const double *b,
                        const long *y, double *loss, double *dzsum, double *acc) {
    const long mp = (m + 7) / 8 * 8;
    for (long e = 0; e < p * mp; e++) acc[e] = 0;
    for (long k = 0; k < m; k++) dzsum[k] = 0;
    if (r1 <= r0 || m < 1) return;
#ifdef FL_L32_X86
    const int avx2 = l32_has_avx2();
#else
    const int avx2 = 0;
#endif
    const long superRows = L32_ROWS * L32_SUPER;
    double *zt = malloc(sizeof(double) * (size_t)(m * L32_ROWS));
    double *z = malloc(sizeof(double) * (size_t)(2 * m));
    float *dzf = malloc(sizeof(float) * (size_t)(superRows * mp));
    if (!zt || !z || !dzf) {   // no scratch memory: NaN results, which the solver rejects
        for (long i = r0; i < r1; i++) loss[i] = NAN;
        for (long e = 0; e < p * mp; e++) acc[e] = NAN;
        for (long k = 0; k < m; k++) dzsum[k] = NAN;
        free(zt); free(z); free(dzf);
        return;
    }
    double *d = z + m;
    for (long s0 = r0; s0 < r1; s0 += superRows) {
        const long rows = r1 - s0 < superRows ? r1 - s0 : superRows;
        const float *sblock = packed + (s0 / L32_ROWS) * L32_ROWS * p;
        for (long b0 = 0; b0 < rows; b0 += L32_ROWS) {
            const float *block = sblock + (b0 / L32_ROWS) * L32_ROWS * p;
#ifdef FL_L32_X86
            if (avx2) l32_logits_avx2(p, m, block, wf, zt);
            else
#endif
                l32_logits_generic(p, m, block, wf, zt);
            const long hi = rows - b0 < L32_ROWS ? rows - b0 : L32_ROWS;
            if (m == 1) {
                // One float per row; 0 for the padding rows of the last block.
                for (long r = 0; r < L32_ROWS; r++) {
                    const long i = s0 + b0 + r;
                    if (r >= hi) { dzf[b0 + r] = 0.0f; continue; }
                    z[0] = zt[r];
                    loss[i] = logistic_row(1, z, b, y[i], d);
                    dzsum[0] += d[0];
                    dzf[b0 + r] = (float)d[0];
                }
                continue;
            }
            for (long r = 0; r < hi; r++) {
                const long i = s0 + b0 + r;
                for (long k = 0; k < m; k++) z[k] = zt[k * L32_ROWS + r];
                loss[i] = logistic_row(m, z, b, y[i], d);
                float *df = dzf + (b0 + r) * mp;
                for (long k = 0; k < m; k++) { dzsum[k] += d[k]; df[k] = (float)d[k]; }
                for (long k = m; k < mp; k++) df[k] = 0.0f;
            }
        }
        if (m == 1) {
#ifdef FL_L32_X86
            if (avx2) { l32_accumulate_binary_avx2(p, mp, sblock, dzf, rows, acc); continue; }
#endif
            l32_accumulate_binary_generic(p, mp, sblock, dzf, rows, acc);
            continue;
        }
#ifdef FL_L32_X86
        if (avx2) { l32_accumulate_avx2(p, mp, sblock, dzf, rows, acc); continue; }
#endif
        l32_accumulate_generic(p, mp, sblock, dzf, rows, acc);
    }
    free(zt); free(z); free(dzf);
}
