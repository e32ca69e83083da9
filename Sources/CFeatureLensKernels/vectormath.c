// Vectorized elementwise math (see FeatureLensVectorMath.h).
//
// exp: n = round(x·log₂e), r = x − n·ln2 (ln2 split in a high and a low part, Cody–Waite),
//      eʳ ≈ 1 + r + r²·P(r) with the degree-5 minimax P of the Cephes library's expf,
//      eˣ = eʳ·2ⁿ. Inputs are clamped to [−104, 88.72]; below −104 the result is set to 0.
// log (for u ∈ (0, 1]): u = m·2ᵉ with m ∈ [0.5, 1); if m < √½ then m ← 2m, e ← e − 1;
//      t = m − 1, ln u ≈ t − t²/2 + t³·Q(t) + e·ln2 with the degree-8 Q of Cephes' logf.
// sin/cos (for θ = 2πu, u ∈ [0, 1)): q = round(4u), a = 2π(u − q/4) ∈ [−π/4, π/4]; the
//      Cephes sinf/cosf polynomials on that interval, then rotation by the quadrant q.
//
// The scalar fallback evaluates the same formulas one value at a time.

#include "FeatureLensVectorMath.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FLVM_X86 1
#include <immintrin.h>
#include "simd_lanes.h"
#else
#define FLVM_X86 0
#endif

#define EXP_LO (-104.0f)
#define EXP_HI (88.72283f)
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define TWO_PI 6.28318530717958648f
#define SQRT_HALF 0.707106781186547524f

// MARK: - Scalar versions (also the reference for the vector ones)

static inline float exp_poly(float r) {
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

static inline float scalar_exp(float x) {
    if (x != x) return x;
    if (x < EXP_LO) return 0.0f;
    if (x > EXP_HI) x = EXP_HI;
    float n = __builtin_rintf(x * LOG2E);
    float r = x - n * LN2_HI;
    r = r - n * LN2_LO;
    return __builtin_ldexpf(exp_poly(r), (int)n);
}

static inline float log_poly(float t) {
    float q = 7.0376836292e-2f;
    q = q * t - 1.1514610310e-1f;
    q = q * t + 1.1676998740e-1f;
    q = q * t - 1.2420140846e-1f;
    q = q * t + 1.4249322787e-1f;
    q = q * t - 1.6668057665e-1f;
    q = q * t + 2.0000714765e-1f;
    q = q * t - 2.4999993993e-1f;
    q = q * t + 3.3333331174e-1f;
    return q;
}

/// ln u for u in (0, 1] (normal numbers only; the Box–Muller u₁ ≥ 2⁻²⁴).
static inline float scalar_log(float u) {
    int e;
    float m = __builtin_frexpf(u, &e);  // m in [0.5, 1)
    if (m < SQRT_HALF) { m = m + m; e -= 1; }
    float t = m - 1.0f;
    float z = t * t;
    float y = t * z * log_poly(t);
    float fe = (float)e;
    y += fe * LN2_LO;
    y += -0.5f * z;
    return t + y + fe * LN2_HI;
}

static inline float sin_poly(float a, float z) {
    return ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * a + a;
}

static inline float cos_poly(float z) {
    return ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z
           - 0.5f * z + 1.0f;
}

static void scalar_normal_pairs(const uint64_t *words, float *out, long pairs) {
    for (long k = 0; k < pairs; k++) {
        uint32_t lo = (uint32_t)words[k], hi = (uint32_t)(words[k] >> 32);
        float u1 = (float)((hi >> 8) + 1) * 0x1p-24f;
        float u2 = (float)(lo >> 8) * 0x1p-24f;
        float r = __builtin_sqrtf(-2.0f * scalar_log(u1));
        float q = __builtin_rintf(4.0f * u2);
        float a = TWO_PI * (u2 - 0.25f * q);
        float z = a * a;
        float s = sin_poly(a, z), c = cos_poly(z);
        int qi = (int)q & 3;
        float sn, cs;
        switch (qi) {
            case 0: sn = s; cs = c; break;
            case 1: sn = c; cs = -s; break;
            case 2: sn = -s; cs = -c; break;
            default: sn = -c; cs = s; break;
        }
        out[2 * k] = r * cs;
        out[2 * k + 1] = r * sn;
    }
}

static float scalar_exp_shifted_sum(float *x, long n, float shift) {
    // Sixteen partial sums, combined pairwise at the end, to match the vector order.
    float acc[16] = {0};
    for (long i = 0; i < n; i++) {
        float e = scalar_exp(x[i] - shift);
        x[i] = e;
        acc[i & 15] += e;
    }
    for (int w = 8; w >= 1; w >>= 1)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

static float scalar_max(const float *x, long n) {
    float m = -__builtin_inff();
    for (long i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void scalar_scale_add(float *o, float s, const float *x, long n) {
    for (long i = 0; i < n; i++) o[i] = x[i] + s * o[i];
}

// MARK: - AVX-512F versions

#if FLVM_X86
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 v_exp(__m512 x, __mmask16 *keep) {
    // NaN-preserving clamp: max/min return their second operand when one is NaN.
    *keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_NLT_UQ);
    x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), x);
    x = _mm512_min_ps(_mm512_set1_ps(EXP_HI), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

AVX512 static float avx512_exp_shifted_sum(float *x, long n, float shift) {
    __m512 acc = _mm512_setzero_ps();
    __m512 s = _mm512_set1_ps(shift);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 keep;
        __m512 e = v_exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), s), &keep);
        e = _mm512_maskz_mov_ps(keep, e);
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __mmask16 keep;
        __m512 e = v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s), &keep);
        e = _mm512_maskz_mov_ps(keep & m, e);
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = _mm512_add_ps(acc, e);
    }
    // Pairwise combination 16 → 8 → 4 → 2 → 1, the order of the scalar version.
    float lanes[16];
    _mm512_storeu_ps(lanes, acc);
    for (int w = 8; w >= 1; w >>= 1)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    return lanes[0];
}

AVX512 static float avx512_max(const float *x, long n) {
    __m512 m = _mm512_set1_ps(-__builtin_inff());
    long i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(m);
}

AVX512 static void avx512_scale_add(float *o, float s, const float *x, long n) {
    __m512 vs = _mm512_set1_ps(s);
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(o + i, _mm512_fmadd_ps(vs, _mm512_loadu_ps(o + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_fmadd_ps(vs, _mm512_maskz_loadu_ps(k, o + i), _mm512_maskz_loadu_ps(k, x + i));
        _mm512_mask_storeu_ps(o + i, k, r);
    }
}

AVX512 static void avx512_normal_pairs(const uint64_t *words, float *out, long pairs) {
    // 16 words = 32 dwords [lo₀, hi₀, lo₁, hi₁, …]; even / odd dword indices.
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i inter_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i inter_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    long k = 0;
    for (; k + 16 <= pairs; k += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(words + k));
        __m512i b = _mm512_loadu_si512((const void *)(words + k + 8));
        __m512i lo = _mm512_permutex2var_epi32(a, even, b);
        __m512i hi = _mm512_permutex2var_epi32(a, odd, b);
        __m512 u1 = _mm512_mul_ps(
            _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_srli_epi32(hi, 8), _mm512_set1_epi32(1))),
            _mm512_set1_ps(0x1p-24f));
        __m512 u2 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(lo, 8)), _mm512_set1_ps(0x1p-24f));
        // ln u₁ (u₁ normal, > 0)
        __m512 m = _mm512_getmant_ps(u1, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_src);  // [0.5, 1)
        __m512 e = _mm512_add_ps(_mm512_getexp_ps(u1), _mm512_set1_ps(1.0f));     // u = m·2ᵉ
        __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(SQRT_HALF), _CMP_LT_OQ);
        m = _mm512_mask_add_ps(m, small, m, m);
        e = _mm512_mask_sub_ps(e, small, e, _mm512_set1_ps(1.0f));
        __m512 t = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
        __m512 z = _mm512_mul_ps(t, t);
        __m512 q = _mm512_set1_ps(7.0376836292e-2f);
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.1514610310e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.1676998740e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.2420140846e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.4249322787e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.6668057665e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(2.0000714765e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-2.4999993993e-1f));
        q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(3.3333331174e-1f));
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(t, z), q);
        y = _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_LO), y);
        y = _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), z, y);
        __m512 ln = _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_HI), _mm512_add_ps(t, y));
        __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), ln));
        // sin, cos of 2πu₂
        __m512 qf = _mm512_roundscale_ps(_mm512_mul_ps(u2, _mm512_set1_ps(4.0f)), _MM_FROUND_TO_NEAREST_INT);
        __m512 ang = _mm512_mul_ps(_mm512_set1_ps(TWO_PI), _mm512_fnmadd_ps(qf, _mm512_set1_ps(0.25f), u2));
        __m512 a2 = _mm512_mul_ps(ang, ang);
        __m512 sp = _mm512_fmadd_ps(_mm512_set1_ps(-1.9515295891e-4f), a2, _mm512_set1_ps(8.3321608736e-3f));
        sp = _mm512_fmadd_ps(sp, a2, _mm512_set1_ps(-1.6666654611e-1f));
        __m512 sn = _mm512_fmadd_ps(_mm512_mul_ps(sp, a2), ang, ang);
        __m512 cp = _mm512_fmadd_ps(_mm512_set1_ps(2.443315711809948e-5f), a2, _mm512_set1_ps(-1.388731625493765e-3f));
        cp = _mm512_fmadd_ps(cp, a2, _mm512_set1_ps(4.166664568298827e-2f));
        __m512 cs = _mm512_fmadd_ps(_mm512_mul_ps(cp, a2), a2,
                                    _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), a2, _mm512_set1_ps(1.0f)));
        __m512i qi = _mm512_and_si512(_mm512_cvtps_epi32(qf), _mm512_set1_epi32(3));
        __mmask16 swap = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(1));
        __m512 s2 = _mm512_mask_blend_ps(swap, sn, cs);  // sin θ up to sign
        __m512 c2 = _mm512_mask_blend_ps(swap, cs, sn);  // cos θ up to sign
        // sin negative for q ∈ {2, 3}; cos negative for q ∈ {1, 2}.
        __mmask16 negS = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(2));
        __mmask16 negC = _mm512_test_epi32_mask(_mm512_add_epi32(qi, _mm512_set1_epi32(1)), _mm512_set1_epi32(2));
        const __m512 zero = _mm512_setzero_ps();
        s2 = _mm512_mask_sub_ps(s2, negS, zero, s2);
        c2 = _mm512_mask_sub_ps(c2, negC, zero, c2);
        __m512 z0 = _mm512_mul_ps(r, c2), z1 = _mm512_mul_ps(r, s2);
        _mm512_storeu_ps(out + 2 * k, _mm512_permutex2var_ps(z0, inter_lo, z1));
        _mm512_storeu_ps(out + 2 * k + 16, _mm512_permutex2var_ps(z0, inter_hi, z1));
    }
    if (k < pairs) scalar_normal_pairs(words + k, out + 2 * k, pairs - k);
}
// MARK: - AVX2 + FMA versions
//
// The same operations as the AVX-512F versions, 8 lanes at a time, in the same order, so both give
// the same bits: exp works on blocks of 16 with two 8-lane accumulators (the 16 partial sums of
// the other versions); the normal pairs go 16 pairs at a time and leave the last < 16 to the scalar
// version, as AVX-512F does. Instructions AVX2 lacks are written out exactly: getmant/getexp of a
// normal number by its bits, and scalef(y, n) as y·2^⌊n/2⌋·2^(n−⌊n/2⌋) (the first product is exact for
// n ≥ −150, so the result is rounded once, as by scalef).

#define AVX2F __attribute__((target("avx2,fma")))

AVX2F static inline __m256 v8_pow2(__m256i k) {  // 2ᵏ for −126 ≤ k ≤ 127
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

AVX2F static inline __m256 v8_exp(__m256 x, __m256 *keep) {
    // NaN-preserving clamp: max/min return their second operand when one is NaN.
    *keep = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_NLT_UQ);
    x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), x);
    x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // scalef(y, n), n ∈ [−150, 128] (NaN x: y is NaN and stays NaN)
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    return _mm256_mul_ps(_mm256_mul_ps(y, v8_pow2(n1)), v8_pow2(_mm256_sub_epi32(ni, n1)));
}

// exp of the 8 values at x + i (lanes ≥ count untouched and added as 0) into x and acc.
AVX2F static inline void v8_exp_block(float *x, long count, __m256 s, __m256 *acc) {
    __m256 keep;
    if (count >= 8) {
        __m256 e = v8_exp(_mm256_sub_ps(_mm256_loadu_ps(x), s), &keep);
        e = _mm256_and_ps(e, keep);
        _mm256_storeu_ps(x, e);
        *acc = _mm256_add_ps(*acc, e);
    } else if (count > 0) {
        const __m256i m = fl_avx2_first_lanes(count);
        __m256 e = v8_exp(_mm256_sub_ps(_mm256_maskload_ps(x, m), s), &keep);
        e = _mm256_and_ps(_mm256_and_ps(e, keep), _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x, m, e);
        *acc = _mm256_add_ps(*acc, e);
    }
}

AVX2F static float avx2_exp_shifted_sum(float *x, long n, float shift) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();  // lanes 0–7 and 8–15 of 16
    const __m256 s = _mm256_set1_ps(shift);
    for (long i = 0; i < n; i += 16) {
        v8_exp_block(x + i, n - i, s, &acc0);
        v8_exp_block(x + i + 8, n - i - 8, s, &acc1);
    }
    float lanes[16];
    _mm256_storeu_ps(lanes, acc0);
    _mm256_storeu_ps(lanes + 8, acc1);
    for (int w = 8; w >= 1; w >>= 1)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    return lanes[0];
}

AVX2F static float avx2_max(const float *x, long n) {
    __m256 m = _mm256_set1_ps(-__builtin_inff());
    long i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float lanes[8], best = -__builtin_inff();
    _mm256_storeu_ps(lanes, m);
    for (int j = 0; j < 8; j++) best = lanes[j] > best ? lanes[j] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    return best;
}

AVX2F static void avx2_scale_add(float *o, float s, const float *x, long n) {
    const __m256 vs = _mm256_set1_ps(s);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(o + i), _mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i k = fl_avx2_first_lanes(n - i);
        _mm256_maskstore_ps(o + i, k, _mm256_fmadd_ps(vs, _mm256_maskload_ps(o + i, k), _mm256_maskload_ps(x + i, k)));
    }
}

// 8 pairs: words[0..<8] → out[0..<16].
AVX2F static inline void avx2_normal_pairs8(const uint64_t *words, float *out) {
    const __m256 a = _mm256_loadu_ps((const float *)words), b = _mm256_loadu_ps((const float *)(words + 4));
    // dwords [lo₀ hi₀ lo₁ hi₁ …]: even and odd dwords, in order
    const __m256i lo = _mm256_castps_si256(_mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0))));
    const __m256i hi = _mm256_castps_si256(_mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0))));
    __m256 u1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(hi, 8), _mm256_set1_epi32(1))),
                              _mm256_set1_ps(0x1p-24f));
    __m256 u2 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(lo, 8)), _mm256_set1_ps(0x1p-24f));
    // ln u₁ (u₁ normal, > 0): u₁ = m·2ᵉ with m ∈ [0.5, 1) from its bits
    const __m256i bits = _mm256_castps_si256(u1);
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                   _mm256_set1_epi32(0x3F000000)));
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(SQRT_HALF), _CMP_LT_OQ);
    m = _mm256_blendv_ps(m, _mm256_add_ps(m, m), small);
    e = _mm256_blendv_ps(e, _mm256_sub_ps(e, _mm256_set1_ps(1.0f)), small);
    __m256 t = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    __m256 z = _mm256_mul_ps(t, t);
    __m256 q = _mm256_set1_ps(7.0376836292e-2f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.1514610310e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.1676998740e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.2420140846e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.4249322787e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.6668057665e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.0000714765e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-2.4999993993e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(3.3333331174e-1f));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(t, z), q);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(LN2_LO), y);
    y = _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), z, y);
    __m256 ln = _mm256_fmadd_ps(e, _mm256_set1_ps(LN2_HI), _mm256_add_ps(t, y));
    __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), ln));
    // sin, cos of 2πu₂
    __m256 qf = _mm256_round_ps(_mm256_mul_ps(u2, _mm256_set1_ps(4.0f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 ang = _mm256_mul_ps(_mm256_set1_ps(TWO_PI), _mm256_fnmadd_ps(qf, _mm256_set1_ps(0.25f), u2));
    __m256 a2 = _mm256_mul_ps(ang, ang);
    __m256 sp = _mm256_fmadd_ps(_mm256_set1_ps(-1.9515295891e-4f), a2, _mm256_set1_ps(8.3321608736e-3f));
    sp = _mm256_fmadd_ps(sp, a2, _mm256_set1_ps(-1.6666654611e-1f));
    __m256 sn = _mm256_fmadd_ps(_mm256_mul_ps(sp, a2), ang, ang);
    __m256 cp = _mm256_fmadd_ps(_mm256_set1_ps(2.443315711809948e-5f), a2, _mm256_set1_ps(-1.388731625493765e-3f));
    cp = _mm256_fmadd_ps(cp, a2, _mm256_set1_ps(4.166664568298827e-2f));
    __m256 cs = _mm256_fmadd_ps(_mm256_mul_ps(cp, a2), a2, _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), a2, _mm256_set1_ps(1.0f)));
    const __m256i qi = _mm256_and_si256(_mm256_cvtps_epi32(qf), _mm256_set1_epi32(3));
    const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
    const __m256 swap = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(qi, one), one));
    __m256 s2 = _mm256_blendv_ps(sn, cs, swap);  // sin θ up to sign
    __m256 c2 = _mm256_blendv_ps(cs, sn, swap);  // cos θ up to sign
    // sin negative for q ∈ {2, 3}; cos negative for q ∈ {1, 2}.
    const __m256 negS = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(qi, two), two));
    const __m256 negC = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_add_epi32(qi, one), two), two));
    const __m256 zero = _mm256_setzero_ps();
    s2 = _mm256_blendv_ps(s2, _mm256_sub_ps(zero, s2), negS);
    c2 = _mm256_blendv_ps(c2, _mm256_sub_ps(zero, c2), negC);
    const __m256 z0 = _mm256_mul_ps(r, c2), z1 = _mm256_mul_ps(r, s2);
    const __m256 l = _mm256_unpacklo_ps(z0, z1), h = _mm256_unpackhi_ps(z0, z1);
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(l, h, 0x20));
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(l, h, 0x31));
}

AVX2F static void avx2_normal_pairs(const uint64_t *words, float *out, long pairs) {
    long k = 0;
    for (; k + 16 <= pairs; k += 16) {
        avx2_normal_pairs8(words + k, out + 2 * k);
        avx2_normal_pairs8(words + k + 8, out + 2 * k + 16);
    }
    if (k < pairs) scalar_normal_pairs(words + k, out + 2 * k, pairs - k);
}
#endif

// MARK: - Dispatch


// 2: AVX-512F, 1: AVX2 + FMA, 0: scalar.
static int vector_level(void) {
#if FLVM_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

const char *fl_vector_math_name(void) {
    switch (vector_level()) {
    case 2: return "avx512f";
    case 1: return "avx2";
    default: return "scalar";
    }
}

float fl_exp_shifted_sum_f32(float *x, long n, float shift) {
#if FLVM_X86
    if (vector_level() == 2) return avx512_exp_shifted_sum(x, n, shift);
    if (vector_level() == 1) return avx2_exp_shifted_sum(x, n, shift);
#endif
    return scalar_exp_shifted_sum(x, n, shift);
}

float fl_max_f32(const float *x, long n) {
#if FLVM_X86
    if (vector_level() == 2) return avx512_max(x, n);
    if (vector_level() == 1) return avx2_max(x, n);
#endif
    return scalar_max(x, n);
}

void fl_scale_add_f32(float *o, float s, const float *x, long n) {
#if FLVM_X86
    if (vector_level() == 2) { avx512_scale_add(o, s, x, n); return; }
    if (vector_level() == 1) { avx2_scale_add(o, s, x, n); return; }
#endif
    scalar_scale_add(o, s, x, n);
}

void fl_normal_pairs_f32(const uint64_t *words, float *out, long pairs) {
#if FLVM_X86
    if (vector_level() == 2) { avx512_normal_pairs(words, out, pairs); return; }
    if (vector_level() == 1) { avx2_normal_pairs(words, out, pairs); return; }
#endif
    scalar_normal_pairs(words, out, pairs);
}
