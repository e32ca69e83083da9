// GEMM micro-kernels (generic C, AVX2+FMA, AVX-512F) and an FMA-peak probe.
//
// Each SIMD function carries `__attribute__((target(...)))`, so this file compiles with no
// CPU flags and the binary runs everywhere; `fl_kernel_supported` tells the Swift driver which
// families the running CPU can execute. See docs/NUMERICS.md.
//
// Micro-kernel contract (FeatureLensKernels.h): packed A micro-panel `a` is kc × MR (MR values
// per step p), packed B micro-panel `b` is kc × NR (NR values per step p). The MR × NR sum is
// accumulated in registers with one fused multiply-add per element per p, in increasing p.
// The write-back is `r = α·T; if β ≠ 0 { r = fma(β, C, r) }; C = r` for both full and partial
// tiles (partial tiles use masks or a scratch tile with the very same arithmetic), so a value
// of C never depends on where its tile sits, hence not on how work is split between threads.

#include "FeatureLensKernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define FL_X86 1
#include <immintrin.h>
#include <cpuid.h>
#else
#define FL_X86 0
#endif

// MARK: - Generic C kernels (auto-vectorized for the baseline ISA: SSE2 on x86-64, NEON on arm64)

#define GS_MR 6
#define GS_NR 8
#define GD_MR 6
#define GD_NR 4

static void sgemm_generic(long kc, const float *restrict a, const float *restrict b,
                          float *restrict c, long ldc, float alpha, float beta, long mr, long nr) {
    float acc[GS_MR][GS_NR];
    for (int i = 0; i < GS_MR; i++)
        for (int j = 0; j < GS_NR; j++) acc[i][j] = 0.0f;
    for (long p = 0; p < kc; p++) {
        for (int i = 0; i < GS_MR; i++) {
            const float ai = a[i];
            for (int j = 0; j < GS_NR; j++) acc[i][j] += ai * b[j];
        }
        a += GS_MR;
        b += GS_NR;
    }
    for (long i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (long j = 0; j < nr; j++) {
            float r = alpha * acc[i][j];
            if (beta != 0.0f) r += beta * ci[j];
            ci[j] = r;
        }
    }
}

static void dgemm_generic(long kc, const double *restrict a, const double *restrict b,
                          double *restrict c, long ldc, double alpha, double beta, long mr,
                          long nr) {
    double acc[GD_MR][GD_NR];
    for (int i = 0; i < GD_MR; i++)
        for (int j = 0; j < GD_NR; j++) acc[i][j] = 0.0;
    for (long p = 0; p < kc; p++) {
        for (int i = 0; i < GD_MR; i++) {
            const double ai = a[i];
            for (int j = 0; j < GD_NR; j++) acc[i][j] += ai * b[j];
        }
        a += GD_MR;
        b += GD_NR;
    }
    for (long i = 0; i < mr; i++) {
        double *ci = c + i * ldc;
        for (long j = 0; j < nr; j++) {
            double r = alpha * acc[i][j];
            if (beta != 0.0) r += beta * ci[j];
            ci[j] = r;
        }
    }
}

#if FL_X86

// MARK: - AVX2 + FMA kernels: float 6 × 16, double 6 × 8 (12 accumulators of 16)

#define A2S_MR 6
#define A2S_NR 16
#define A2D_MR 6
#define A2D_NR 8

__attribute__((target("avx2,fma")))
static inline void sgemm_avx2_store(__m256 acc[A2S_MR][2], float *c, long ldc, float alpha,
                                    float beta) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < A2S_MR; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < 2; v++) {
            __m256 r = _mm256_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8 * v), r);
            _mm256_storeu_ps(ci + 8 * v, r);
        }
    }
}

__attribute__((target("avx2,fma")))
static void sgemm_avx2(long kc, const float *restrict a, const float *restrict b,
                       float *restrict c, long ldc, float alpha, float beta, long mr, long nr) {
    __m256 acc[A2S_MR][2];
    for (int i = 0; i < A2S_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (long p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < A2S_MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += A2S_MR;
        b += A2S_NR;
    }
    if (mr == A2S_MR && nr == A2S_NR) {
        sgemm_avx2_store(acc, c, ldc, alpha, beta);
        return;
    }
    float t[A2S_MR * A2S_NR];
    memset(t, 0, sizeof t);
    if (beta != 0.0f)
        for (long i = 0; i < mr; i++) memcpy(t + i * A2S_NR, c + i * ldc, (size_t)nr * sizeof(float));
    sgemm_avx2_store(acc, t, A2S_NR, alpha, beta);
    for (long i = 0; i < mr; i++) memcpy(c + i * ldc, t + i * A2S_NR, (size_t)nr * sizeof(float));
}

__attribute__((target("avx2,fma")))
static inline void dgemm_avx2_store(__m256d acc[A2D_MR][2], double *c, long ldc, double alpha,
                                    double beta) {
    const __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
    for (int i = 0; i < A2D_MR; i++) {
        double *ci = c + i * ldc;
        for (int v = 0; v < 2; v++) {
            __m256d r = _mm256_mul_pd(va, acc[i][v]);
            if (beta != 0.0) r = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci + 4 * v), r);
            _mm256_storeu_pd(ci + 4 * v, r);
        }
    }
}

__attribute__((target("avx2,fma")))
static void dgemm_avx2(long kc, const double *restrict a, const double *restrict b,
                       double *restrict c, long ldc, double alpha, double beta, long mr, long nr) {
    __m256d acc[A2D_MR][2];
    for (int i = 0; i < A2D_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    for (long p = 0; p < kc; p++) {
        const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
        for (int i = 0; i < A2D_MR; i++) {
            const __m256d ai = _mm256_broadcast_sd(a + i);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
        a += A2D_MR;
        b += A2D_NR;
    }
    if (mr == A2D_MR && nr == A2D_NR) {
        dgemm_avx2_store(acc, c, ldc, alpha, beta);
        return;
    }
    double t[A2D_MR * A2D_NR];
    memset(t, 0, sizeof t);
    if (beta != 0.0)
        for (long i = 0; i < mr; i++) memcpy(t + i * A2D_NR, c + i * ldc, (size_t)nr * sizeof(double));
    dgemm_avx2_store(acc, t, A2D_NR, alpha, beta);
    for (long i = 0; i < mr; i++) memcpy(c + i * ldc, t + i * A2D_NR, (size_t)nr * sizeof(double));
}

// MARK: - AVX-512F kernels: float 12 × 32, double 12 × 16 (24 accumulators of 32 zmm)

#define A5S_MR 12
#define A5S_NR 32
#define A5D_MR 12
#define A5D_NR 16

__attribute__((target("avx512f")))
static void sgemm_avx512(long kc, const float *restrict a, const float *restrict b,
                         float *restrict c, long ldc, float alpha, float beta, long mr, long nr) {
    __m512 acc[A5S_MR][2];
    for (int i = 0; i < A5S_MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (long p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int i = 0; i < A5S_MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += A5S_MR;
        b += A5S_NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    // Column masks for the two 16-lane halves (all ones for a full tile).
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                                  : (nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u));
    for (int i = 0; i < A5S_MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]);
        __m512 r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}

__attribute__((target("avx512f")))
static void dgemm_avx512(long kc, const double *restrict a, const double *restrict b,
                         double *restrict c, long ldc, double alpha, double beta, long mr,
                         long nr) {
    __m512d acc[A5D_MR][2];
    for (int i = 0; i < A5D_MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_pd();
    for (long p = 0; p < kc; p++) {
        const __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8);
        for (int i = 0; i < A5D_MR; i++) {
            const __m512d ai = _mm512_set1_pd(a[i]);
            acc[i][0] = _mm512_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_pd(ai, b1, acc[i][1]);
        }
        a += A5D_MR;
        b += A5D_NR;
    }
    const __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
    const __mmask8 m0 = nr >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << nr) - 1u);
    const __mmask8 m1 = nr >= 16 ? (__mmask8)0xFF
                                 : (nr <= 8 ? (__mmask8)0 : (__mmask8)((1u << (nr - 8)) - 1u));
    for (int i = 0; i < A5D_MR; i++) {
        if (i >= mr) break;
        double *ci = c + i * ldc;
        __m512d r0 = _mm512_mul_pd(va, acc[i][0]);
        __m512d r1 = _mm512_mul_pd(va, acc[i][1]);
        if (beta != 0.0) {
            r0 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(m0, ci), r0);
            r1 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(m1, ci + 8), r1);
        }
        _mm512_mask_storeu_pd(ci, m0, r0);
        _mm512_mask_storeu_pd(ci + 8, m1, r1);
    }
}

// MARK: - FMA peak probes (registers only)

__attribute__((target("avx512f")))
static double fma_loop_avx512(long iterations, float *sink) {
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_set1_ps(1.0f + 0.001f * (float)i);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 16; i++) r[i] = _mm512_fmadd_ps(r[i], x, y);
    __m512 s = r[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, r[i]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iterations * 16.0 * 16.0 * 2.0;
}

__attribute__((target("avx2,fma")))
static double fma_loop_avx2(long iterations, float *sink) {
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    __m256 r[12];
    for (int i = 0; i < 12; i++) r[i] = _mm256_set1_ps(1.0f + 0.001f * (float)i);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) r[i] = _mm256_fmadd_ps(r[i], x, y);
    __m256 s = r[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, r[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float total = 0.0f;
    for (int i = 0; i < 8; i++) total += lanes[i];
    *sink = total;
    return (double)iterations * 12.0 * 8.0 * 2.0;
}

#endif // FL_X86

// Portable probe: 4-lane vectors through the compiler's vector extension (multiply + add on
// baseline x86-64, fused on arm64).
typedef float fl_v4f __attribute__((vector_size(16)));

static double fma_loop_generic(long iterations, float *sink) {
    const fl_v4f x = {0.999999f, 0.999999f, 0.999999f, 0.999999f};
    const fl_v4f y = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    fl_v4f r[12];
    for (int i = 0; i < 12; i++) {
        const float v = 1.0f + 0.001f * (float)i;
        r[i] = (fl_v4f){v, v, v, v};
    }
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) r[i] = r[i] * x + y;
    float total = 0.0f;
    for (int i = 0; i < 12; i++) total += r[i][0] + r[i][1] + r[i][2] + r[i][3];
    *sink = total;
    return (double)iterations * 12.0 * 4.0 * 2.0;
}

// MARK: - Dispatch

int fl_kernel_supported(int id) {
    switch (id) {
    case FL_KERNEL_GENERIC:
        return 1;
#if FL_X86
    case FL_KERNEL_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FL_KERNEL_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

int fl_kernel_get(int id, fl_kernel_info *out) {
    switch (id) {
    case FL_KERNEL_GENERIC:
        *out = (fl_kernel_info){FL_KERNEL_GENERIC, "generic", GS_MR, GS_NR, sgemm_generic,
                                GD_MR, GD_NR, dgemm_generic};
        return 1;
#if FL_X86
    case FL_KERNEL_AVX2:
        *out = (fl_kernel_info){FL_KERNEL_AVX2, "avx2", A2S_MR, A2S_NR, sgemm_avx2,
                                A2D_MR, A2D_NR, dgemm_avx2};
        return 1;
    case FL_KERNEL_AVX512:
        *out = (fl_kernel_info){FL_KERNEL_AVX512, "avx512", A5S_MR, A5S_NR, sgemm_avx512,
                                A5D_MR, A5D_NR, dgemm_avx512};
        return 1;
#endif
    default:
        return 0;
    }
}

int fl_kernel_best(void) {
    if (fl_kernel_supported(FL_KERNEL_AVX512)) return FL_KERNEL_AVX512;
    if (fl_kernel_supported(FL_KERNEL_AVX2)) return FL_KERNEL_AVX2;
    return FL_KERNEL_GENERIC;
}

double fl_fma_peak_loop(int id, long iterations, float *sink) {
#if FL_X86
    if (id == FL_KERNEL_AVX512 && fl_kernel_supported(FL_KERNEL_AVX512))
        return fma_loop_avx512(iterations, sink);
    if (id == FL_KERNEL_AVX2 && fl_kernel_supported(FL_KERNEL_AVX2))
        return fma_loop_avx2(iterations, sink);
#endif
    (void)id;
    return fma_loop_generic(iterations, sink);
}

void fl_cpu_brand(char *buf, size_t len) {
    if (len == 0) return;
    buf[0] = '\0';
#if FL_X86
    unsigned int regs[12];
    unsigned int maxExt = __get_cpuid_max(0x80000000u, 0);
    if (maxExt < 0x80000004u) return;
    for (unsigned int i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char brand[49];
    memcpy(brand, regs, 48);
    brand[48] = '\0';
    const char *s = brand;
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') n--;
    if (n >= len) n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
#endif
}
