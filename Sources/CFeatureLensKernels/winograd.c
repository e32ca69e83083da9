// Winograd F(2×2, 3×3) tile transforms in AVX2 (see FeatureLensWinograd.h). Eight consecutive
// tiles of one tile row share a vector: tile tx's input columns 2tx − 1 + k (k = 0 … 3) are the
// even or odd lanes of two 8-wide loads, so a padded copy of the plane (zeros around it and to
// the right up to a whole vector) makes every window load valid. Lanes past a tile row's last
// tile are stored only where later stores of the same call overwrite them (the next tile row,
// plane or channel of the transformed tensor), else masked off: masked stores are slow on AMD
// Zen, and the first two transforms take most of their time storing. The 1-D transforms, with
// the same operation order as the portable Swift version:
//
//   Bᵀd = (d0 − d2, d1 + d2, d2 − d1, d1 − d3)           (input, rows first, then columns)
//   Aᵀm = ((m0 + m1) + m2, (m1 − m2) − m3)               (output, rows first, then columns)
//   A g = (g0, g0 + g1, g0 − g1, −g1)                     (output adjoint, rows first)
//   B v = (v0, (v1 − v2) + v3, (v1 + v2) − v0, −v3)       (input adjoint, columns first)
//
// The input adjoint adds the overlapping windows per pixel in a fixed order: along a row the
// left tile's term then the right one's, down a column the upper tile row's then the lower one's.

#include "FeatureLensWinograd.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

static int winograd_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

static long round8(long n) { return (n + 7) & ~7L; }

// Lanes < n set (n clamped to 0 … 8).
AVX2 static inline __m256i lane_mask(long n) {
    const long k = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The even and odd lanes of the 16 floats a, b.
AVX2 static inline void deinterleave(__m256 a, __m256 b, __m256 *even, __m256 *odd) {
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// The 16 floats e0 o0 e1 o1 … e7 o7 as lo (first 8) and hi.
AVX2 static inline void interleave(__m256 e, __m256 o, __m256 *lo, __m256 *hi) {
    const __m256 l = _mm256_unpacklo_ps(e, o);  // e0 o0 e1 o1 | e4 o4 e5 o5
    const __m256 u = _mm256_unpackhi_ps(e, o);  // e2 o2 e3 o3 | e6 o6 e7 o7
    *lo = _mm256_permute2f128_ps(l, u, 0x20);
    *hi = _mm256_permute2f128_ps(l, u, 0x31);
}

AVX2 static inline __m256 neg(__m256 x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }

// Stores the lanes of mask, or all 8 when full (masked stores are slow on AMD Zen).
AVX2 static inline void store(float *p, int full, __m256i mask, __m256 x) {
    if (full) _mm256_storeu_ps(p, x);
    else _mm256_maskstore_ps(p, mask, x);
}

AVX2 static void input_avx2(const float *x, long m, long c, long h, long w, float *v, float *pad) {
    const long th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw, T = m * tiles;
    const long pw = 2 * round8(tw) + 2, prow = 2 * th + 2;  // padded plane: rows −1 … 2th, columns −1 …
    memset(pad, 0, sizeof(float) * (size_t)(pw * prow));
    // Planes in the order of their rows of v, so a full vector past a plane's last tile only
    // writes slots written later; full vectors are stored whole while they stay inside the
    // c·T slots of one ξ.
    for (long ci = 0; ci < c; ci++)
        for (long n = 0; n < m; n++) {
            const float *plane = x + (n * c + ci) * h * w;
            for (long r = 0; r < h; r++) memcpy(pad + (r + 1) * pw + 1, plane + r * w, sizeof(float) * (size_t)w);
            float *out = v + ci * T + n * tiles;
            for (long ty = 0; ty < th; ty++)
                for (long tx0 = 0; tx0 < tw; tx0 += 8) {
                    const __m256i mask = lane_mask(tw - tx0);
                    __m256 d[4][4];
                    for (int i = 0; i < 4; i++) {
                        const float *p = pad + (2 * ty + i) * pw + 2 * tx0;
                        deinterleave(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), &d[i][0], &d[i][1]);
                        deinterleave(_mm256_loadu_ps(p + 2), _mm256_loadu_ps(p + 10), &d[i][2], &d[i][3]);
                    }
                    __m256 t[4][4];
                    for (int k = 0; k < 4; k++) {
                        t[0][k] = _mm256_sub_ps(d[0][k], d[2][k]);
                        t[1][k] = _mm256_add_ps(d[1][k], d[2][k]);
                        t[2][k] = _mm256_sub_ps(d[2][k], d[1][k]);
                        t[3][k] = _mm256_sub_ps(d[1][k], d[3][k]);
                    }
                    float *o = out + ty * tw + tx0;
                    const long xs = c * T;
                    const int full = (o - v) + 8 <= xs;
                    for (int i = 0; i < 4; i++) {
                        store(o + (4 * i + 0) * xs, full, mask, _mm256_sub_ps(t[i][0], t[i][2]));
                        store(o + (4 * i + 1) * xs, full, mask, _mm256_add_ps(t[i][1], t[i][2]));
                        store(o + (4 * i + 2) * xs, full, mask, _mm256_sub_ps(t[i][2], t[i][1]));
                        store(o + (4 * i + 3) * xs, full, mask, _mm256_sub_ps(t[i][1], t[i][3]));
                    }
                }
        }
}

AVX2 static void output_avx2(const float *mm, long m, long o, long h, long w, const float *bias, int relu, float *y) {
    const long th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw, T = m * tiles, xs = o * T;
    const __m256 zero = _mm256_setzero_ps();
    for (long n = 0; n < m; n++)
        for (long oc = 0; oc < o; oc++) {
            const float *src = mm + oc * T + n * tiles;
            float *plane = y + (n * o + oc) * h * w;
            const __m256 b = _mm256_set1_ps(bias ? bias[oc] : 0.0f);
            for (long ty = 0; ty < th; ty++)
                for (long tx0 = 0; tx0 < tw; tx0 += 8) {
                    const long t = ty * tw + tx0;
                    const __m256i mask = lane_mask(tw - tx0);
                    __m256 q[4][4];
                    for (int k = 0; k < 16; k++) q[k / 4][k % 4] = _mm256_maskload_ps(src + k * xs + t, mask);
                    __m256 s[2][4];
                    for (int j = 0; j < 4; j++) {
                        s[0][j] = _mm256_add_ps(_mm256_add_ps(q[0][j], q[1][j]), q[2][j]);
                        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(q[1][j], q[2][j]), q[3][j]);
                    }
                    const long cols = w - 2 * tx0;  // output columns left in this row from 2·tx0
                    const __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
                    for (int r = 0; r < 2; r++) {
                        const long row = 2 * ty + r;
                        if (row >= h) break;
                        __m256 e = _mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), s[r][2]);
                        __m256 od = _mm256_sub_ps(_mm256_sub_ps(s[r][1], s[r][2]), s[r][3]);
                        if (bias) {
                            e = _mm256_add_ps(e, b);
                            od = _mm256_add_ps(od, b);
                        }
                        if (relu) {  // keep x where x > 0 or NaN
                            e = _mm256_and_ps(e, _mm256_cmp_ps(e, zero, _CMP_NLE_UQ));
                            od = _mm256_and_ps(od, _mm256_cmp_ps(od, zero, _CMP_NLE_UQ));
                        }
                        __m256 lo, hi;
                        interleave(e, od, &lo, &hi);
                        float *dst = plane + row * w + 2 * tx0;
                        store(dst, cols >= 8, m0, lo);
                        store(dst + 8, cols >= 16, m1, hi);
                    }
                }
        }
}

AVX2 static void output_adjoint_avx2(const float *dy, const float *yrelu, long m, long o, long h, long w, float *dm) {
    const long th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw, T = m * tiles, xs = o * T;
    const __m256 zero = _mm256_setzero_ps();
    for (long oc = 0; oc < o; oc++)  // planes in the order of their rows of dm (as in input_avx2)
        for (long n = 0; n < m; n++) {
            const long planeOffset = (n * o + oc) * h * w;
            float *dst = dm + oc * T + n * tiles;
            for (long ty = 0; ty < th; ty++)
                for (long tx0 = 0; tx0 < tw; tx0 += 8) {
                    const long cols = w - 2 * tx0;
                    const __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
                    __m256 g[2][2];  // [row][column parity]
                    for (int r = 0; r < 2; r++) {
                        const long row = 2 * ty + r;
                        if (row >= h) {
                            g[r][0] = zero;
                            g[r][1] = zero;
                            continue;
                        }
                        const long off = planeOffset + row * w + 2 * tx0;
                        __m256 a = _mm256_maskload_ps(dy + off, m0), b = _mm256_maskload_ps(dy + off + 8, m1);
                        if (yrelu) {
                            a = _mm256_and_ps(a, _mm256_cmp_ps(_mm256_maskload_ps(yrelu + off, m0), zero, _CMP_GT_OQ));
                            b = _mm256_and_ps(b, _mm256_cmp_ps(_mm256_maskload_ps(yrelu + off + 8, m1), zero, _CMP_GT_OQ));
                        }
                        deinterleave(a, b, &g[r][0], &g[r][1]);
                    }
                    __m256 e[4][2];
                    for (int c = 0; c < 2; c++) {
                        e[0][c] = g[0][c];
                        e[1][c] = _mm256_add_ps(g[0][c], g[1][c]);
                        e[2][c] = _mm256_sub_ps(g[0][c], g[1][c]);
                        e[3][c] = neg(g[1][c]);
                    }
                    const __m256i mask = lane_mask(tw - tx0);
                    float *out = dst + ty * tw + tx0;
                    const int full = (out - dm) + 8 <= xs;
                    for (int i = 0; i < 4; i++) {
                        store(out + (4 * i + 0) * xs, full, mask, e[i][0]);
                        store(out + (4 * i + 1) * xs, full, mask, _mm256_add_ps(e[i][0], e[i][1]));
                        store(out + (4 * i + 2) * xs, full, mask, _mm256_sub_ps(e[i][0], e[i][1]));
                        store(out + (4 * i + 3) * xs, full, mask, neg(e[i][1]));
                    }
                }
        }
}

// Scratch of the input adjoint for a tile row length tw: hb[k][i][·] (the column transforms of
// the tiles, index s + 1 for tile s, zeros at 0 and past tw), the carried lower rows of the tile
// row above (even and odd columns, two rows), and one output row.
AVX2 static void input_adjoint_avx2(const float *dv, long m, long c, long h, long w, float *dx, float *scratch) {
    const long th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw, T = m * tiles, xs = c * T;
    const long span = round8(tw + 1);  // column pairs s = 0 … tw (q = 2s, 2s + 1) in vectors
    const long hl = span + 8;
    float *hb = scratch;               // [4 k][4 i][hl]
    float *carry = hb + 16 * hl;       // [2 r][2 parity][span]
    float *row = carry + 4 * span;     // [2·span]
    memset(hb, 0, sizeof(float) * (size_t)(16 * hl));
    for (long n = 0; n < m; n++)
        for (long ci = 0; ci < c; ci++) {
            const float *src = dv + ci * T + n * tiles;
            float *plane = dx + (n * c + ci) * h * w;
            memset(carry, 0, sizeof(float) * (size_t)(4 * span));
            for (long ty = 0; ty <= th; ty++) {
                // The rows 2ty − 1, 2ty of the image (padded rows 2ty, 2ty + 1): the carried
                // terms of tile row ty − 1, plus tile row ty's (ty < th).
                for (long s0 = 0; s0 < span; s0 += 8) {
                    __m256 g[4][2];
                    if (ty < th) {
                        if (s0 == 0)
                            for (long tx0 = 0; tx0 < tw; tx0 += 8) {
                                const __m256i mask = lane_mask(tw - tx0);
                                for (int i = 0; i < 4; i++) {
                                    __m256 q[4];
                                    for (int j = 0; j < 4; j++)
                                        q[j] = _mm256_maskload_ps(src + (4 * i + j) * xs + ty * tw + tx0, mask);
                                    _mm256_storeu_ps(hb + (0 * 4 + i) * hl + 1 + tx0, q[0]);
                                    _mm256_storeu_ps(hb + (1 * 4 + i) * hl + 1 + tx0,
                                                     _mm256_add_ps(_mm256_sub_ps(q[1], q[2]), q[3]));
                                    _mm256_storeu_ps(hb + (2 * 4 + i) * hl + 1 + tx0,
                                                     _mm256_sub_ps(_mm256_add_ps(q[1], q[2]), q[0]));
                                    _mm256_storeu_ps(hb + (3 * 4 + i) * hl + 1 + tx0, neg(q[3]));
                                }
                            }
                        __m256 st[4][2];  // strip row i, even / odd column
                        for (int i = 0; i < 4; i++) {
                            st[i][0] = _mm256_add_ps(_mm256_loadu_ps(hb + (2 * 4 + i) * hl + s0),
                                                     _mm256_loadu_ps(hb + (0 * 4 + i) * hl + s0 + 1));
                            st[i][1] = _mm256_add_ps(_mm256_loadu_ps(hb + (3 * 4 + i) * hl + s0),
                                                     _mm256_loadu_ps(hb + (1 * 4 + i) * hl + s0 + 1));
                        }
                        for (int p = 0; p < 2; p++) {
                            g[0][p] = st[0][p];
                            g[1][p] = _mm256_add_ps(_mm256_sub_ps(st[1][p], st[2][p]), st[3][p]);
                            g[2][p] = _mm256_sub_ps(_mm256_add_ps(st[1][p], st[2][p]), st[0][p]);
                            g[3][p] = neg(st[3][p]);
                        }
                    } else {
                        for (int r = 0; r < 4; r++) g[r][0] = g[r][1] = _mm256_setzero_ps();
                    }
                    for (int r = 0; r < 2; r++) {
                        float *ce = carry + (2 * r + 0) * span + s0, *co = carry + (2 * r + 1) * span + s0;
                        const __m256 e = _mm256_add_ps(_mm256_loadu_ps(ce), g[r][0]);
                        const __m256 od = _mm256_add_ps(_mm256_loadu_ps(co), g[r][1]);
                        _mm256_storeu_ps(ce, g[r + 2][0]);
                        _mm256_storeu_ps(co, g[r + 2][1]);
                        __m256 lo, hi;
                        interleave(e, od, &lo, &hi);
                        _mm256_storeu_ps(row + (2 * r) * span + 2 * s0, lo);
                        _mm256_storeu_ps(row + (2 * r) * span + 2 * s0 + 8, hi);
                    }
                }
                for (int r = 0; r < 2; r++) {
                    const long ih = 2 * ty + r - 1;
                    if (ih >= 0 && ih < h) memcpy(plane + ih * w, row + (2 * r) * span + 1, sizeof(float) * (size_t)w);
                }
            }
        }
}

int fl_winograd_input_f32(const float *x, long m, long c, long h, long w, float *v) {
    if (!winograd_avx2()) return 0;
    const long th = (h + 1) / 2, tw = (w + 1) / 2;
    float *pad = malloc(sizeof(float) * (size_t)((2 * round8(tw) + 2) * (2 * th + 2) + 16));
    if (!pad) return 0;
    input_avx2(x, m, c, h, w, v, pad);
    free(pad);
    return 1;
}

int fl_winograd_output_f32(const float *mm, long m, long o, long h, long w, const float *bias, int relu, float *y) {
    if (!winograd_avx2()) return 0;
    output_avx2(mm, m, o, h, w, bias, relu, y);
    return 1;
}

int fl_winograd_output_adjoint_f32(const float *dy, const float *yrelu, long m, long o, long h, long w, float *dm) {
    if (!winograd_avx2()) return 0;
    output_adjoint_avx2(dy, yrelu, m, o, h, w, dm);
    return 1;
}

int fl_winograd_input_adjoint_f32(const float *dv, long m, long c, long h, long w, float *dx) {
    if (!winograd_avx2()) return 0;
    const long tw = (w + 1) / 2, span = round8(tw + 1), hl = span + 8;
    float *scratch = malloc(sizeof(float) * (size_t)(16 * hl + 4 * span + 4 * span + 16));
    if (!scratch) return 0;
    input_adjoint_avx2(dv, m, c, h, w, dx, scratch);
    free(scratch);
    return 1;
}

#else

int fl_winograd_input_f32(const float *x, long m, long c, long h, long w, float *v) { return 0; }
int fl_winograd_output_f32(const float *mm, long m, long o, long h, long w, const float *bias, int relu, float *y) {
    return 0;
}
int fl_winograd_output_adjoint_f32(const float *dy, const float *yrelu, long m, long o, long h, long w, float *dm) {
    return 0;
}
int fl_winograd_input_adjoint_f32(const float *dv, long m, long c, long h, long w, float *dx) { return 0; }

#endif
