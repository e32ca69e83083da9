// im2col / col2im with AVX-512F gathers and scatters (see FeatureLensConv.h).
//
// For a fixed kernel offset (u, v), column-matrix row (ci, u, v) of sample n is the plane of
// channel ci read at P fixed offsets (one per output position, the same for every ci and n).
// The offsets and the inside-the-image masks are computed once per call, so each 16 output
// positions cost one masked gather and one store, whatever the stride, padding or image size;
// masked-off lanes read nothing, so no lane touches memory outside the image. col2im is the
// transpose: gather the 16 dx values, add, scatter back (one (u, v) never maps two positions to
// the same pixel, so the scatter has no collisions and each pixel gets its terms in (u, v) order,
// as in the portable version).

#include "FeatureLensConv.h"

// The gather table. For each kernel offset (u, v) and each column t = (n − n0)·P + i·ow + j of
// the samples n0 ..< n1: the offset (n − n0)·C·H·W + ih·W + iw of the pixel it reads in channel
// 0 (0 when outside the image), then per 16 columns the mask of inside lanes. Channel ci adds
// ci·H·W. The table covers all the samples of the call, so gathers are dense across sample
// boundaries; it depends only on the geometry and n1 − n0, so callers keep it between calls.
static long table_chunks(long samples, long oh, long ow) { return (samples * oh * ow + 15) / 16; }

long fl_conv_table_ints(long samples, long oh, long ow, long kh, long kw) {
    return kh * kw * table_chunks(samples, oh, ow) * 17;
}

int fl_conv_table_build(int *table, long samples, long c, long h, long w, long oh, long ow, long kh, long kw,
                        long sh, long sw, long ph, long pw) {
    if (samples * c * h * w > 0x7FFFFFFFL) return 0;
    const long chunks = table_chunks(samples, oh, ow);
    for (long u = 0; u < kh; u++)
        for (long v = 0; v < kw; v++) {
            const long uv = u * kw + v;
            int *off = table + uv * chunks * 16;
            int *mask = table + kh * kw * chunks * 16 + uv * chunks;
            for (long q = 0; q < chunks; q++) mask[q] = 0;
            long col = 0;
            for (long n = 0; n < samples; n++)
                for (long i = 0; i < oh; i++) {
                    const long ih = i * sh - ph + u;
                    const int rowInside = ih >= 0 && ih < h;
                    const long base = n * c * h * w + ih * w;
                    for (long j = 0; j < ow; j++, col++) {
                        const long iw = j * sw - pw + v;
                        const int inside = rowInside && iw >= 0 && iw < w;
                        off[col] = inside ? (int)(base + iw) : 0;
                        if (inside) mask[col >> 4] |= 1 << (col & 15);
                    }
                }
            for (; col < chunks * 16; col++) off[col] = 0;
        }
    return 1;
}

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

// Loop order: channel outer, so the channel's planes of all the samples (≤ a few tens of KiB
// for the ConvNet) stay in L1 while the (u, v) loop gathers from them 9 times.
AVX512 static void im2col_avx512(const float *x, float *col, long n0, long n1, long batch, long c, long h,
                                 long w, long oh, long ow, long kh, long kw, const int *table) {
    const long p = oh * ow, rowStride = batch * p, columns = (n1 - n0) * p, chunks = table_chunks(n1 - n0, oh, ow);
    const __mmask16 tail = (__mmask16)(columns % 16 == 0 ? 0xFFFFu : ((1u << (columns % 16)) - 1u));
    const float *x0 = x + n0 * c * h * w;
    for (long ci = 0; ci < c; ci++) {
        const float *plane = x0 + ci * h * w;
        for (long uv = 0; uv < kh * kw; uv++) {
            const int *offset = table + uv * chunks * 16;
            const int *mask = table + kh * kw * chunks * 16 + uv * chunks;
            float *dst = col + (ci * kh * kw + uv) * rowStride + n0 * p;
            for (long q = 0; q + 1 < chunks; q++) {
                const __m512i idx = _mm512_loadu_si512((const void *)(offset + 16 * q));
                _mm512_storeu_ps(dst + 16 * q,
                                 _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)mask[q], idx, plane, 4));
            }
            const long q = chunks - 1;
            const __m512i idx = _mm512_loadu_si512((const void *)(offset + 16 * q));
            _mm512_mask_storeu_ps(dst + 16 * q, tail,
                                  _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)mask[q], idx, plane, 4));
        }
    }
}

// Per pixel, terms arrive in (u, v) order, as in the portable version.
AVX512 static void col2im_avx512(const float *col, float *dx, long n0, long n1, long batch, long c, long h,
                                 long w, long oh, long ow, long kh, long kw, const int *table) {
    const long p = oh * ow, rowStride = batch * p, chunks = table_chunks(n1 - n0, oh, ow);
    float *dx0 = dx + n0 * c * h * w;
    for (long ci = 0; ci < c; ci++) {
        float *plane = dx0 + ci * h * w;
        for (long uv = 0; uv < kh * kw; uv++) {
            const int *offset = table + uv * chunks * 16;
            const int *mask = table + kh * kw * chunks * 16 + uv * chunks;
            const float *src = col + (ci * kh * kw + uv) * rowStride + n0 * p;
            for (long q = 0; q < chunks; q++) {
                const __mmask16 m = (__mmask16)mask[q];
                if (m == 0) continue;
                const __m512i idx = _mm512_loadu_si512((const void *)(offset + 16 * q));
                const __m512 vals = _mm512_maskz_loadu_ps(m, src + 16 * q);
                const __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, plane, 4);
                _mm512_mask_i32scatter_ps(plane, m, idx, _mm512_add_ps(old, vals), 4);
            }
        }
    }
}

static int use_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

// The table for n1 − n0 = `samples` samples: `given`, or a temporary one returned through `*own`
// (the caller frees it); NULL when unusable (offsets beyond 31 bits, or no memory).
static const int *table_for(const int *given, int **own, long samples, long c, long h, long w, long oh, long ow,
                            long kh, long kw, long sh, long sw, long ph, long pw) {
    *own = 0;
    if (given) return samples * c * h * w > 0x7FFFFFFFL ? 0 : given;
    *own = (int *)__builtin_malloc((size_t)fl_conv_table_ints(samples, oh, ow, kh, kw) * sizeof(int));
    if (!*own || !fl_conv_table_build(*own, samples, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)) {
        __builtin_free(*own);
        *own = 0;
    }
    return *own;
}

int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    if (!use_avx512()) return 0;
    if (n1 <= n0) return 1;
    int *own;
    const int *t = table_for(table, &own, n1 - n0, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    if (!t) return 0;
    im2col_avx512(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, t);
    __builtin_free(own);
    return 1;
}

int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    if (!use_avx512()) return 0;
    if (n1 <= n0) return 1;
    int *own;
    const int *t = table_for(table, &own, n1 - n0, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    if (!t) return 0;
    col2im_avx512(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, t);
    __builtin_free(own);
    return 1;
}

#else

int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    (void)table; (void)x; (void)col; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    return 0;
}

int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    (void)table; (void)col; (void)dx; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    return 0;
}

#endif

// MARK: - Elementwise layer kernels (portable versions first; AVX-512F ones give identical bits)

static void relu_forward_scalar(const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) { float v = x[i]; y[i] = (v > 0.0f || v != v) ? v : 0.0f; }
}
static void relu_backward_scalar(const float *y, const float *dy, float *dx, long n) {
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
static void copy_add_scalar(const float *s, float *d, long n, float b) {
    for (long i = 0; i < n; i++) d[i] = s[i] + b;
}
// The 16 lane sums → one, by the tree of _mm512_reduce_add_ps's documented halving order
// written out explicitly: halves (l, l+8), then (l, l+4), (l, l+2), (l, l+1).
static float reduce16(float lanes[16]) {
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) lanes[l] = lanes[l] + lanes[l + w];
    return lanes[0];
}
static float sum_scalar(const float *x, long n) {
    float lanes[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) lanes[l] += x[i + l];
    if (i < n)  // the AVX-512 tail adds +0 in lanes past the end; so does this
        for (int l = 0; l < 16; l++) lanes[l] += i + l < n ? x[i + l] : 0.0f;
    return reduce16(lanes);
}

#if defined(__x86_64__) || defined(_M_X64)
AVX512 static void relu_forward_avx512(const float *x, float *y, long n) {
    const __m512 zero = _mm512_setzero_ps();
    long i = 0;
    for (; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : ((1u << (n - i)) - 1u));
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __mmask16 keep = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps(y + i, m, _mm512_maskz_mov_ps(keep, v));
    }
}
AVX512 static void relu_backward_avx512(const float *y, const float *dy, float *dx, long n) {
    const __m512 zero = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : ((1u << (n - i)) - 1u));
        const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, y + i), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_maskz_loadu_ps(pos, dy + i));
    }
}
AVX512 static void copy_add_avx512(const float *s, float *d, long n, float b) {
    const __m512 vb = _mm512_set1_ps(b);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : ((1u << (n - i)) - 1u));
        _mm512_mask_storeu_ps(d + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + i), vb));
    }
}
AVX512 static float sum_avx512(const float *x, long n) {
    __m512 acc = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : ((1u << (n - i)) - 1u));
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, x + i));
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, acc);
    return reduce16(lanes);
}
#endif

void fl_relu_forward_f32(const float *x, float *y, long n) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { relu_forward_avx512(x, y, n); return; }
#endif
    relu_forward_scalar(x, y, n);
}
void fl_relu_backward_f32(const float *y, const float *dy, float *dx, long n) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { relu_backward_avx512(y, dy, dx, n); return; }
#endif
    relu_backward_scalar(y, dy, dx, n);
}
void fl_copy_add_scalar_f32(const float *s, float *d, long n, float b) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { copy_add_avx512(s, d, n, b); return; }
#endif
    copy_add_scalar(s, d, n, b);
}
float fl_sum_f32(const float *x, long n) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) return sum_avx512(x, n);
#endif
    return sum_scalar(x, n);
}
