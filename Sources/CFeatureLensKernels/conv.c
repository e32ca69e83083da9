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

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

static inline long lmin(long a, long b) { return a < b ? a : b; }

// For each kernel offset (u, v): the plane offset ih·w + iw read by every output position
// q = i·ow + j (0 when outside the image), and per 16-lane chunk of q the mask of inside lanes.
// One (u, v) maps distinct q to distinct offsets, so the scatter in col2im never collides.
typedef struct {
    int *offset;          // [kh·kw][chunks·16]
    unsigned short *mask; // [kh·kw][chunks]
    long chunks;
} conv_index;

static int conv_index_make(conv_index *t, long h, long w, long oh, long ow, long kh, long kw, long sh, long sw,
                           long ph, long pw) {
    const long p = oh * ow;
    t->chunks = (p + 15) / 16;
    t->offset = (int *)__builtin_malloc((size_t)(kh * kw * t->chunks * 16) * sizeof(int));
    t->mask = (unsigned short *)__builtin_malloc((size_t)(kh * kw * t->chunks) * sizeof(unsigned short));
    if (!t->offset || !t->mask) {
        __builtin_free(t->offset);
        __builtin_free(t->mask);
        return 0;
    }
    for (long u = 0; u < kh; u++)
        for (long v = 0; v < kw; v++) {
            const long uv = u * kw + v;
            for (long q = 0; q < t->chunks * 16; q++) {
                const long i = q / ow, j = q % ow;
                const long ih = i * sh - ph + u, iw = j * sw - pw + v;
                const int inside = q < p && ih >= 0 && ih < h && iw >= 0 && iw < w;
                t->offset[uv * t->chunks * 16 + q] = inside ? (int)(ih * w + iw) : 0;
                if (q % 16 == 0) t->mask[uv * t->chunks + q / 16] = 0;
                if (inside) t->mask[uv * t->chunks + q / 16] |= (unsigned short)(1u << (q % 16));
            }
        }
    return 1;
}

static void conv_index_free(conv_index *t) {
    __builtin_free(t->offset);
    __builtin_free(t->mask);
}

AVX512 static void im2col_avx512(const float *x, float *col, long n0, long n1, long batch, long c, long h,
                                 long w, long oh, long ow, long kh, long kw, const conv_index *t, long block) {
    const long p = oh * ow, rowStride = batch * p, chunks = t->chunks;
    const __mmask16 tail = (__mmask16)(p % 16 == 0 ? 0xFFFFu : ((1u << (p % 16)) - 1u));
    for (long nb = n0; nb < n1; nb += block) {
        const long nbEnd = lmin(nb + block, n1);
        for (long ci = 0; ci < c; ci++)
            for (long uv = 0; uv < kh * kw; uv++) {
                const long r = ci * kh * kw + uv;
                const int *offset = t->offset + uv * chunks * 16;
                const unsigned short *mask = t->mask + uv * chunks;
                for (long n = nb; n < nbEnd; n++) {
                    const float *plane = x + (n * c + ci) * h * w;
                    float *dst = col + r * rowStride + n * p;
                    for (long q = 0; q < chunks; q++) {
                        const __m512i idx = _mm512_loadu_si512((const void *)(offset + 16 * q));
                        const __m512 vals = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)mask[q], idx, plane, 4);
                        _mm512_mask_storeu_ps(dst + 16 * q, q == chunks - 1 ? tail : (__mmask16)0xFFFFu, vals);
                    }
                }
            }
    }
}

AVX512 static void col2im_avx512(const float *col, float *dx, long n0, long n1, long batch, long c, long h,
                                 long w, long oh, long ow, long kh, long kw, const conv_index *t, long block) {
    const long p = oh * ow, rowStride = batch * p, chunks = t->chunks;
    for (long nb = n0; nb < n1; nb += block) {
        const long nbEnd = lmin(nb + block, n1);
        for (long ci = 0; ci < c; ci++)
            for (long uv = 0; uv < kh * kw; uv++) {
                const long r = ci * kh * kw + uv;
                const int *offset = t->offset + uv * chunks * 16;
                const unsigned short *mask = t->mask + uv * chunks;
                for (long n = nb; n < nbEnd; n++) {
                    float *plane = dx + (n * c + ci) * h * w;
                    const float *src = col + r * rowStride + n * p;
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
}

static int use_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, long block) {
    if (!use_avx512() || h * w > 0x7FFFFFFFL) return 0;
    conv_index t;
    if (!conv_index_make(&t, h, w, oh, ow, kh, kw, sh, sw, ph, pw)) return 0;
    im2col_avx512(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, &t, block < 1 ? 1 : block);
    conv_index_free(&t);
    return 1;
}

int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, long block) {
    if (!use_avx512() || h * w > 0x7FFFFFFFL) return 0;
    conv_index t;
    if (!conv_index_make(&t, h, w, oh, ow, kh, kw, sh, sw, ph, pw)) return 0;
    col2im_avx512(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, &t, block < 1 ? 1 : block);
    conv_index_free(&t);
    return 1;
}

#else

int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, long block) {
    (void)block; (void)x; (void)col; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    return 0;
}

int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, long block) {
    (void)block; (void)col; (void)dx; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
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
