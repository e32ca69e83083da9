// im2col / col2im for Conv2D (see FeatureLensConv.h), three paths chosen once at run time:
//
// AVX-512F (gathers and scatters). For a fixed kernel offset (u, v), column-matrix row
// (ci, u, v) of sample n is the plane of channel ci read at P fixed offsets (one per output
// position, the same for every ci and n). The offsets and the inside-the-image masks are
// computed once per call, so each 16 output positions cost one masked gather and one store,
// whatever the stride, padding or image size; masked-off lanes read nothing, so no lane touches
// memory outside the image. col2im is the transpose: gather the 16 dx values, add, scatter back
// (one (u, v) never maps two positions to the same pixel, so the scatter has no collisions and
// each pixel gets its terms in (u, v) order, as in the portable version).
//
// AVX2 (no gathers: they are slow on AMD Zen 1/2). The loops of the portable Swift kernels
// (sample blocks, channel, u, v, sample, output row), with each output row done 8 positions at
// a time: stride 1 loads 8 consecutive input values, stride 2 loads 16 and keeps the even
// lanes; positions whose input lies in the padding are zeroed with a lane mask. col2im adds
// the 8 column values into the 8 (stride 2: every second of 16) dx values and blends the sum
// into only the positions inside the image, so each pixel still gets its terms in (u, v) order
// and untouched pixels are written back with their own bits. A vector may run past the end of
// an output row (into the next row, which is written afterwards) but never outside the samples
// n0 ..< n1 of the call (other threads own those): samples whose vectors all stay inside take a
// loop without checks, the others check each group and do a group that would leave the samples
// one value at a time. Other strides run a scalar C copy of the portable loops. Stride 2 with
// output rows of 4 to 8 positions (im2col) or input rows of at most 16 (col2im, as an
// assignment: fl_col2im_assign_f32) has kernels of its own ("Stride 2, narrow planes" below).
//
// Otherwise fl_im2col_f32 / fl_col2im_f32 return 0 and the caller runs the Swift kernels.

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
#include "simd_lanes.h"

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

// MARK: - Portable C and AVX2 paths

#define AVX2 __attribute__((target("avx2,fma")))

// im2colSampleBlock in the Swift kernels: samples handled together (the same loop order).
static long sample_block(long p, long hw) {
    long b = 4096 / (p > 1 ? p : 1);
    const long b2 = 65536 / (hw > 1 ? hw : 1);
    if (b2 < b) b = b2;
    if (256 < b) b = 256;
    return b > 1 ? b : 1;
}

// validRange in the Swift kernels: output columns j in [*lo, *hi) whose input column
// j·s − pad + v lies in [0, w).
static void valid_range(long out, long s, long pad, long v, long w, long *lo, long *hi) {
    const long a = pad - v, b = w - 1 + pad - v;
    long l = a <= 0 ? 0 : (a + s - 1) / s;
    long e = b < 0 ? 0 : b / s + 1;
    if (e > out) e = out;
    *lo = l < e ? l : e;
    *hi = e;
}

// The Swift kernels' loops, in C (strides the AVX2 path does not vectorize).
static void im2col_scalar(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                          long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    const long p = oh * ow, rowStride = batch * p, block = sample_block(p, h * w);
    for (long b0 = n0; b0 < n1; b0 += block) {
        const long b1 = b0 + block < n1 ? b0 + block : n1;
        for (long ci = 0; ci < c; ci++)
            for (long u = 0; u < kh; u++)
                for (long v = 0; v < kw; v++) {
                    const long r = (ci * kh + u) * kw + v;
                    long jlo, jhi;
                    valid_range(ow, sw, pw, v, w, &jlo, &jhi);
                    for (long n = b0; n < b1; n++) {
                        const float *plane = x + (n * c + ci) * h * w;
                        float *dst = col + r * rowStride + n * p;
                        for (long i = 0; i < oh; i++) {
                            float *d = dst + i * ow;
                            const long ih = i * sh - ph + u;
                            if (ih < 0 || ih >= h) {
                                for (long j = 0; j < ow; j++) d[j] = 0.0f;
                                continue;
                            }
                            const float *row = plane + ih * w;
                            for (long j = 0; j < jlo; j++) d[j] = 0.0f;
                            for (long j = jlo; j < jhi; j++) d[j] = row[j * sw - pw + v];
                            for (long j = jhi; j < ow; j++) d[j] = 0.0f;
                        }
                    }
                }
    }
}

static void col2im_scalar(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                          long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    const long p = oh * ow, rowStride = batch * p, block = sample_block(p, h * w);
    for (long b0 = n0; b0 < n1; b0 += block) {
        const long b1 = b0 + block < n1 ? b0 + block : n1;
        for (long ci = 0; ci < c; ci++)
            for (long u = 0; u < kh; u++)
                for (long v = 0; v < kw; v++) {
                    const long r = (ci * kh + u) * kw + v;
                    long jlo, jhi;
                    valid_range(ow, sw, pw, v, w, &jlo, &jhi);
                    if (jlo >= jhi) continue;
                    for (long n = b0; n < b1; n++) {
                        float *plane = dx + (n * c + ci) * h * w;
                        const float *srcRow = col + r * rowStride + n * p;
                        for (long i = 0; i < oh; i++) {
                            const long ih = i * sh - ph + u;
                            if (ih < 0 || ih >= h) continue;
                            const float *s = srcRow + i * ow;
                            float *row = plane + ih * w;
                            for (long j = jlo; j < jhi; j++) row[j * sw - pw + v] += s[j];
                        }
                    }
                }
    }
}

// Output groups of 8 whose lane masks are kept per (u, v) (longer rows compute them per group).
#define MASKED_GROUPS 32

// All-ones in the lanes k with lo ≤ j0 + k < hi.
AVX2 static inline __m256i lanes_between(long j0, long lo, long hi) {
    const __m256i j = _mm256_add_epi32(_mm256_set1_epi32((int)j0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_si256(_mm256_cmpgt_epi32(j, _mm256_set1_epi32((int)lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), j));
}

// Lanes 0, 2, …, 14 of the 16 floats at s: [s0 s2 s8 s10 | s4 s6 s12 s14], then 64-bit
// pairs reordered (0, 2, 1, 3).
AVX2 static inline __m256 even_lanes(const float *s) {
    const __m256 t = _mm256_shuffle_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

// a = [a0 … a7] spread to the even lanes of two vectors: [a0 · a1 · a2 · a3 ·], [a4 · a5 · a6 · a7 ·]
// (odd lanes: copies, ignored by the callers' masks).
AVX2 static inline void spread_even(__m256 a, __m256 *lo, __m256 *hi) {
    const __m256 l = _mm256_unpacklo_ps(a, a), h = _mm256_unpackhi_ps(a, a);  // [a0 a0 a1 a1 | a4 a4 a5 a5], …
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}
AVX2 static inline void spread_even_mask(__m256i m, __m256i *lo, __m256i *hi) {
    const __m256i z = _mm256_setzero_si256();
    const __m256i l = _mm256_unpacklo_epi32(m, z), h = _mm256_unpackhi_epi32(m, z);
    *lo = _mm256_permute2x128_si256(l, h, 0x20);
    *hi = _mm256_permute2x128_si256(l, h, 0x31);
}

// Stores the 8 lanes of a at d when `room` (floats writable from d) allows, else its first
// `count` lanes.
AVX2 static inline void store_group(float *d, __m256 a, long count, long room) {
    if (room >= 8) {
        _mm256_storeu_ps(d, a);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, a);
    for (long k = 0; k < count; k++) d[k] = t[k];
}

// Sets count floats at d to +0; may also zero up to 7 more when `room` (floats writable from d) allows.
AVX2 static inline void zero_span(float *d, long count, long room) {
    const __m256 zero = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= count; k += 8) _mm256_storeu_ps(d + k, zero);
    if (k < count) store_group(d + k, zero, count - k, room - k);
}

// A group of 8 column values that would read x outside [xlo, xhi), one value at a time.
static inline void im2col_group_scalar(const float *x, long base, long j0, long sw, long jlo, long jhi, float t[8]) {
    for (long k = 0; k < 8; k++) {
        const long j = j0 + k;
        t[k] = j >= jlo && j < jhi ? x[base + j * sw] : 0.0f;
    }
}

// sw ∈ {1, 2}. Per (ci, u, v) the output rows i < ilo and i ≥ ihi read the padding (zeros); a
// sample whose other rows read and write only inside the call's samples takes the loop without
// checks, the others (at most the first and last sample of the call) check every group.
AVX2 static void im2col_avx2(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                             long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    const long p = oh * ow, hw = h * w, rowStride = batch * p, block = sample_block(p, hw);
    const long groups = (ow + 7) / 8, span = 8 * sw;
    const long xlo = n0 * c * hw, xhi = n1 * c * hw;  // x indices the call may read
    __m256i masks[MASKED_GROUPS];
    for (long b0 = n0; b0 < n1; b0 += block) {
        const long b1 = b0 + block < n1 ? b0 + block : n1;
        for (long ci = 0; ci < c; ci++)
            for (long u = 0; u < kh; u++)
                for (long v = 0; v < kw; v++) {
                    const long r = (ci * kh + u) * kw + v;
                    long ilo, ihi, jlo, jhi;
                    valid_range(oh, sh, ph, u, h, &ilo, &ihi);
                    valid_range(ow, sw, pw, v, w, &jlo, &jhi);
                    const int kept = groups <= MASKED_GROUPS;
                    for (long g = 0; g < groups && g < MASKED_GROUPS; g++) masks[g] = lanes_between(8 * g, jlo, jhi);
                    float *const rowBase = col + r * rowStride;
                    const long end = n1 * p;  // rowBase indices the call may write
                    for (long n = b0; n < b1; n++) {
                        const long d = n * p;
                        // x index of the first value row i reads (column j = 0)
                        const long first = (n * c + ci) * hw + (ilo * sh - ph + u) * w - pw + v, step = sh * w;
                        zero_span(rowBase + d, ilo * ow, end - d);
                        if (ihi > ilo && kept && first >= xlo && first + (ihi - 1 - ilo) * step + (groups - 1) * span + span <= xhi &&
                            d + (ihi - 1) * ow + 8 * groups <= end) {
                            const float *src = x + first;
                            float *dst = rowBase + d + ilo * ow;
                            if (sw == 1)
                                for (long i = ilo; i < ihi; i++, src += step, dst += ow)
                                    for (long g = 0; g < groups; g++)
                                        _mm256_storeu_ps(dst + 8 * g, _mm256_and_ps(_mm256_loadu_ps(src + 8 * g),
                                                                                     _mm256_castsi256_ps(masks[g])));
                            else if (ow <= 4) {  // rows of ≤ 4: one 8-value load and a 4-lane store
                                const __m128 m = _mm_castsi128_ps(_mm256_castsi256_si128(masks[0]));
                                for (long i = ilo; i < ihi; i++, src += step, dst += ow)
                                    _mm_storeu_ps(dst, _mm_and_ps(_mm_shuffle_ps(_mm_loadu_ps(src), _mm_loadu_ps(src + 4),
                                                                                 _MM_SHUFFLE(2, 0, 2, 0)), m));
                            } else
                                for (long i = ilo; i < ihi; i++, src += step, dst += ow)
                                    for (long g = 0; g < groups; g++)
                                        _mm256_storeu_ps(dst + 8 * g, _mm256_and_ps(even_lanes(src + 16 * g),
                                                                                    _mm256_castsi256_ps(masks[g])));
                        } else {
                            for (long i = ilo; i < ihi; i++) {
                                const long di = d + i * ow, base = first + (i - ilo) * step;
                                for (long g = 0; g < groups; g++) {
                                    const long j0 = 8 * g, s0 = base + j0 * sw;
                                    __m256 a;
                                    if (s0 >= xlo && s0 + span <= xhi) {
                                        const __m256i m = kept ? masks[g] : lanes_between(j0, jlo, jhi);
                                        a = sw == 1 ? _mm256_loadu_ps(x + s0) : even_lanes(x + s0);
                                        a = _mm256_and_ps(a, _mm256_castsi256_ps(m));
                                    } else {
                                        float t[8];
                                        im2col_group_scalar(x, base, j0, sw, jlo, jhi, t);
                                        a = _mm256_loadu_ps(t);
                                    }
                                    store_group(rowBase + di + j0, a, ow - j0, end - di - j0);
                                }
                            }
                        }
                        zero_span(rowBase + d + ihi * ow, (oh - ihi) * ow, end - d - ihi * ow);
                    }
                }
    }
}

// Adds the 8 column values at s into the dx values of columns j0 … j0 + 7 (at d, every sw-th
// value) inside [jlo, jhi): m0 (and, for sw = 2, m1) are the lanes to change.
AVX2 static inline void col2im_group(const float *s, float *d, long sw, __m256i m0, __m256i m1) {
    const __m256 a = _mm256_loadu_ps(s);
    if (sw == 1) {
        const __m256 old = _mm256_loadu_ps(d);
        _mm256_storeu_ps(d, _mm256_blendv_ps(old, _mm256_add_ps(old, a), _mm256_castsi256_ps(m0)));
    } else {
        __m256 lo, hi;
        spread_even(a, &lo, &hi);
        const __m256 old0 = _mm256_loadu_ps(d);
        _mm256_storeu_ps(d, _mm256_blendv_ps(old0, _mm256_add_ps(old0, lo), _mm256_castsi256_ps(m0)));
        // Skipped when no column of the second half is inside (short rows: the next row's load
        // would otherwise overlap this store and stall store-to-load forwarding).
        if (!_mm256_testz_si256(m1, m1)) {
            const __m256 old1 = _mm256_loadu_ps(d + 8);
            _mm256_storeu_ps(d + 8, _mm256_blendv_ps(old1, _mm256_add_ps(old1, hi), _mm256_castsi256_ps(m1)));
        }
    }
}

// sw ∈ {1, 2}. As im2col_avx2: rows ilo ≤ i < ihi, the groups g0 ≤ g < g1 with a column inside,
// and per sample either the loop without checks or the one checking every group.
AVX2 static void col2im_avx2(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                             long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    const long p = oh * ow, hw = h * w, rowStride = batch * p, block = sample_block(p, hw);
    const long span = 8 * sw;
    const long dlo = n0 * c * hw, dhi = n1 * c * hw;  // dx indices the call may read and write
    __m256i masks[2 * MASKED_GROUPS];
    for (long b0 = n0; b0 < n1; b0 += block) {
        const long b1 = b0 + block < n1 ? b0 + block : n1;
        for (long ci = 0; ci < c; ci++)
            for (long u = 0; u < kh; u++)
                for (long v = 0; v < kw; v++) {
                    const long r = (ci * kh + u) * kw + v;
                    long ilo, ihi, jlo, jhi;
                    valid_range(oh, sh, ph, u, h, &ilo, &ihi);
                    valid_range(ow, sw, pw, v, w, &jlo, &jhi);
                    if (ilo >= ihi || jlo >= jhi) continue;
                    const long g0 = jlo / 8, g1 = (jhi + 7) / 8;  // the groups with a column inside
                    const int kept = g1 - g0 <= MASKED_GROUPS;
                    for (long g = g0; g < g1 && g - g0 < MASKED_GROUPS; g++) {
                        const __m256i m = lanes_between(8 * g, jlo, jhi);
                        if (sw == 1) masks[2 * (g - g0)] = masks[2 * (g - g0) + 1] = m;
                        else spread_even_mask(m, &masks[2 * (g - g0)], &masks[2 * (g - g0) + 1]);
                    }
                    const float *const rowBase = col + r * rowStride;
                    const long end = n1 * p;  // rowBase indices the call may read
                    for (long n = b0; n < b1; n++) {
                        // dx index of the value row i adds into at column j = 0
                        const long first = (n * c + ci) * hw + (ilo * sh - ph + u) * w - pw + v, step = sh * w;
                        const long s = n * p + ilo * ow;  // rowBase index of row ilo
                        if (kept && first + g0 * span >= dlo && first + (ihi - 1 - ilo) * step + g1 * span <= dhi &&
                            s + (ihi - 1 - ilo) * ow + 8 * g1 <= end) {
                            const float *src = rowBase + s;
                            float *dst = dx + first;
                            for (long i = ilo; i < ihi; i++, src += ow, dst += step)
                                for (long g = g0; g < g1; g++)
                                    col2im_group(src + 8 * g, dst + g * span, sw, masks[2 * (g - g0)], masks[2 * (g - g0) + 1]);
                            continue;
                        }
                        for (long i = ilo; i < ihi; i++) {
                            const long si = s + (i - ilo) * ow, base = first + (i - ilo) * step;
                            for (long g = g0; g < g1; g++) {
                                const long j0 = 8 * g, d0 = base + j0 * sw;
                                if (d0 >= dlo && d0 + span <= dhi && si + j0 + 8 <= end) {
                                    __m256i m0, m1;
                                    if (kept) {
                                        m0 = masks[2 * (g - g0)];
                                        m1 = masks[2 * (g - g0) + 1];
                                    } else if (sw == 1) {
                                        m0 = m1 = lanes_between(j0, jlo, jhi);
                                    } else {
                                        spread_even_mask(lanes_between(j0, jlo, jhi), &m0, &m1);
                                    }
                                    col2im_group(rowBase + si + j0, dx + d0, sw, m0, m1);
                                } else {
                                    const long jend = j0 + 8 < jhi ? j0 + 8 : jhi;
                                    for (long j = j0 > jlo ? j0 : jlo; j < jend; j++) dx[base + j * sw] += rowBase[si + j];
                                }
                            }
                        }
                    }
                }
    }
}

// MARK: - Stride 2, narrow planes (AVX2)
//
// With output rows of 4 to 8 positions at stride 2 (the ConvNet's second and third layers: 7 and
// 4) the loops above spend more on per-sample bookkeeping than on copying. These kernels cover
// that case with straight-line code per row:
//
// im2col: for a kernel offset (u, v) an output row reads input columns v − pw + 2j, j < ow: the
// even lanes of a 16-value window of the input row starting at column v − pw. Masked loads
// (vmaskmovps) fetch only the lanes inside the image; masked-off lanes are not accessed and read
// as +0, which is the padding, so no lane is zeroed afterwards and no load leaves the sample's
// row. Rows of 4 positions go two to a vector. An output row outside the image is a zero vector.
//
// col2im, as an assignment (dx = col2im(col), no zeroing pass): per input row ih, the even and
// odd input columns are two 8-lane accumulators; kernel offset (u, v) adds, with one masked load,
// the column values of output row i = (ih + ph − u)/sh to the accumulator of its column parity
// (a run of consecutive column values, shifted by a whole lane count). The accumulators start at
// +0 and take their terms in (u, v) order; lanes without a term add +0, which changes no value
// (a sum that starts at +0 never becomes −0), so every pixel gets the bits of zeroing dx and
// running fl_col2im_f32. Then the two accumulators are interleaved into the row.
//
// Stores of 8 lanes may run past the end of a column-matrix or dx row into the next one, which is
// written afterwards; the last row of the call's samples is stored lane by lane instead.

// All-ones in lane t < 8 when window position base + t is even and its half lies in [jlo, jhi).
AVX2 static inline __m256i even_window_mask(long base, long jlo, long jhi) {
    int m[8];
    for (long t = 0; t < 8; t++) {
        const long q = base + t;
        m[t] = q % 2 == 0 && q / 2 >= jlo && q / 2 < jhi ? -1 : 0;
    }
    return _mm256_loadu_si256((const __m256i *)m);
}

// Lanes 0, 2, 4, 6 of a, then of b: even_lanes of the 16 values (a, b) in registers.
AVX2 static inline __m256 even_of(__m256 a, __m256 b) {
    const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

// sw = 2, 4 ≤ ow ≤ 8.
AVX2 static void im2col_s2_narrow(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                                  long oh, long ow, long kh, long kw, long sh, long ph, long pw) {
    const long p = oh * ow, hw = h * w, rowStride = batch * p;
    const __m256i none = _mm256_setzero_si256();
    for (long ci = 0; ci < c; ci++)
        for (long u = 0; u < kh; u++)
            for (long v = 0; v < kw; v++) {
                long ilo, ihi, jlo, jhi;
                valid_range(oh, sh, ph, u, h, &ilo, &ihi);
                valid_range(ow, 2, pw, v, w, &jlo, &jhi);
                const __m256i mlo = even_window_mask(0, jlo, jhi), mhi = even_window_mask(8, jlo, jhi);
                float *dst = col + ((ci * kh + u) * kw + v) * rowStride + n0 * p;
                for (long n = n0; n < n1; n++, dst += p) {
                    const float *plane = x + (n * c + ci) * hw;
                    // The next channel's plane, spread over the kh·kw passes of this one.
                    if (ci + 1 < c)
                        for (long k = 16 * (u * kw + v); k < hw + 15; k += 16 * kh * kw)
                            _mm_prefetch((const char *)(plane + hw + k), _MM_HINT_T0);
                    // The window of output row i (any in-plane address when the row is outside:
                    // its mask is empty, so nothing is read).
#define WINDOW(i) ((i) >= ilo && (i) < ihi ? plane + ((i) * sh - ph + u) * w + v - pw : plane)
#define MASK(i, m) ((i) >= ilo && (i) < ihi ? (m) : none)
                    if (ow == 4) {
                        long i = 0;
                        for (; i + 1 < oh; i += 2)
                            _mm256_storeu_ps(dst + i * 4, even_of(_mm256_maskload_ps(WINDOW(i), MASK(i, mlo)),
                                                                  _mm256_maskload_ps(WINDOW(i + 1), MASK(i + 1, mlo))));
                        if (i < oh)
                            _mm_storeu_ps(dst + i * 4, _mm256_castps256_ps128(even_of(
                                              _mm256_maskload_ps(WINDOW(i), MASK(i, mlo)), _mm256_setzero_ps())));
                        continue;
                    }
                    for (long i = 0; i < oh; i++) {
                        const float *s = WINDOW(i);
                        const __m256 r = even_of(_mm256_maskload_ps(s, MASK(i, mlo)), _mm256_maskload_ps(s + 8, MASK(i, mhi)));
                        store_group(dst + i * ow, r, ow, n + 1 < n1 || i + 1 < oh ? 8 : ow);
                    }
#undef WINDOW
#undef MASK
                }
            }
}

// Kernel widths and input heights the col2im kernel below keeps per-offset and per-row tables for.
#define NARROW_MAX_KW 16
#define NARROW_MAX_H 256

// sw = 2, w ≤ 16, kw ≤ NARROW_MAX_KW, h ≤ NARROW_MAX_H: dx[n0 ..< n1] = col2im(col).
AVX2 static void col2im_s2_assign(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                                  long oh, long ow, long kh, long kw, long sh, long ph, long pw) {
    const long p = oh * ow, hw = h * w, rowStride = batch * p;
    const long length[2] = {(w + 1) / 2, w / 2};  // even and odd input columns
    const long end = n1 * c * hw;                 // dx indices the call may write
    // Offsets v = byParity[φ][k] (k < count[φ], increasing) add to the accumulator of column
    // parity φ; lane q takes column j = q − shift[v] of the output row, for the lanes in mask[v]
    // (0 ≤ j < ow and q < length[φ]).
    long shift[NARROW_MAX_KW], byParity[2][NARROW_MAX_KW], count[2] = {0, 0};
    __m256i mask[NARROW_MAX_KW];
    for (long v = 0; v < kw; v++) {
        const long phi = (v - pw) & 1;
        shift[v] = (v - pw - phi) / 2;
        const long lo = shift[v] > 0 ? shift[v] : 0;
        const long hi = shift[v] + ow < length[phi] ? shift[v] + ow : length[phi];
        mask[v] = lanes_between(0, lo, hi);
        byParity[phi][count[phi]++] = v;
    }
    // Input row ih takes the output rows i = (ih + ph − u)/sh of the offsets u = firstU[ih] + k·sh,
    // i = firstI[ih] − k, k < terms[ih] (those with 0 ≤ i < oh, u < kh, in increasing u).
    long firstU[NARROW_MAX_H], firstI[NARROW_MAX_H], terms[NARROW_MAX_H];
    for (long ih = 0; ih < h; ih++) {
        long u = (ih + ph) % sh, i = (ih + ph - u) / sh;
        for (; u < kh && i >= oh; u += sh) i--;
        firstU[ih] = u;
        firstI[ih] = i;
        terms[ih] = 0;
        for (; u < kh && i >= 0; u += sh) { i--; terms[ih]++; }
    }
    for (long n = n0; n < n1; n++)
        for (long ci = 0; ci < c; ci++) {
            float *plane = dx + (n * c + ci) * hw;
            const float *colPlane = col + ci * kh * kw * rowStride + n * p;  // row (ci, 0, 0), sample n
            for (long ih = 0; ih < h; ih++) {
                __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
                for (long term = 0, u = firstU[ih], i = firstI[ih]; term < terms[ih]; term++, u += sh, i--) {
                    const float *row = colPlane + u * kw * rowStride + i * ow;
                    for (long k = 0; k < count[0]; k++) {
                        const long v = byParity[0][k];
                        even = _mm256_add_ps(even, _mm256_maskload_ps(row + v * rowStride - shift[v], mask[v]));
                    }
                    for (long k = 0; k < count[1]; k++) {
                        const long v = byParity[1][k];
                        odd = _mm256_add_ps(odd, _mm256_maskload_ps(row + v * rowStride - shift[v], mask[v]));
                    }
                }
                const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
                float *d = plane + ih * w;
                const long room = end - (d - dx);  // floats writable at d
                store_group(d, _mm256_permute2f128_ps(lo, hi, 0x20), w, room);
                if (w > 8) store_group(d + 8, _mm256_permute2f128_ps(lo, hi, 0x31), w - 8, room - 8);
            }
        }
}

static int conv_path_cached = -1;

int fl_conv_path_available(int path) {
    __builtin_cpu_init();
    switch (path) {
    case FL_CONV_PATH_PORTABLE: return 1;
    case FL_CONV_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FL_CONV_PATH_AVX512: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
}

int fl_conv_path(void) {
    if (conv_path_cached < 0)
        conv_path_cached = fl_conv_path_available(FL_CONV_PATH_AVX512) ? FL_CONV_PATH_AVX512
                           : fl_conv_path_available(FL_CONV_PATH_AVX2) ? FL_CONV_PATH_AVX2
                                                                       : FL_CONV_PATH_PORTABLE;
    return conv_path_cached;
}

static int use_avx512(void) { return fl_conv_path() == FL_CONV_PATH_AVX512; }

static int use_avx2(void) {
    static int cached = -1;
    if (cached < 0) cached = fl_conv_path_available(FL_CONV_PATH_AVX2);
    return cached;
}

// The lane indices of the AVX2 path are 32-bit; larger rows take the scalar loops.
static int fits_avx2(long ow, long sw) { return (sw == 1 || sw == 2) && ow < 0x7FFFFFF0L; }

int fl_im2col_f32_avx2(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    if (!use_avx2()) return 0;
    if (n1 <= n0 || oh <= 0 || ow <= 0) return 1;
    if (sw == 2 && ow >= 4 && ow <= 8) im2col_s2_narrow(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, ph, pw);
    else if (fits_avx2(ow, sw)) im2col_avx2(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    else im2col_scalar(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    return 1;
}

int fl_col2im_f32_avx2(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    if (!use_avx2()) return 0;
    if (n1 <= n0 || oh <= 0 || ow <= 0) return 1;
    if (fits_avx2(ow, sw)) col2im_avx2(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    else col2im_scalar(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    return 1;
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

// AVX-512F: the gather path when its table is usable, else the AVX2 path (every AVX-512F CPU
// has AVX2 and FMA).
int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    const int path = fl_conv_path();
    if (path == FL_CONV_PATH_PORTABLE) return 0;
    if (n1 <= n0) return 1;
    if (path == FL_CONV_PATH_AVX512) {
        int *own;
        const int *t = table_for(table, &own, n1 - n0, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
        if (t) {
            im2col_avx512(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, t);
            __builtin_free(own);
            return 1;
        }
    }
    return fl_im2col_f32_avx2(x, col, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
}

int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    const int path = fl_conv_path();
    if (path == FL_CONV_PATH_PORTABLE) return 0;
    if (n1 <= n0) return 1;
    if (path == FL_CONV_PATH_AVX512) {
        int *own;
        const int *t = table_for(table, &own, n1 - n0, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
        if (t) {
            col2im_avx512(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, t);
            __builtin_free(own);
            return 1;
        }
    }
    return fl_col2im_f32_avx2(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
}

int fl_col2im_assign_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                         long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table) {
    const int path = fl_conv_path();
    if (path == FL_CONV_PATH_PORTABLE) return 0;
    if (n1 <= n0) return 1;
    if (path == FL_CONV_PATH_AVX2 && sw == 2 && w <= 16 && kw <= NARROW_MAX_KW && h <= NARROW_MAX_H && oh > 0 && ow > 0) {
        col2im_s2_assign(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, ph, pw);
        return 1;
    }
    __builtin_memset(dx + n0 * c * h * w, 0, (unsigned long)((n1 - n0) * c * h * w) * sizeof(float));
    return fl_col2im_f32(col, dx, n0, n1, batch, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, table);
}

#else

int fl_conv_path_available(int path) { return path == FL_CONV_PATH_PORTABLE; }
int fl_conv_path(void) { return FL_CONV_PATH_PORTABLE; }

int fl_im2col_f32_avx2(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    (void)x; (void)col; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    return 0;
}

int fl_col2im_f32_avx2(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw) {
    (void)col; (void)dx; (void)n0; (void)n1; (void)batch; (void)c; (void)h; (void)w; (void)oh; (void)ow;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    return 0;
}

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

int fl_col2im_assign_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
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
static void copy_add_relu_scalar(const float *s, float *d, long n, float b) {
    for (long i = 0; i < n; i++) { float v = s[i] + b; d[i] = (v > 0.0f || v != v) ? v : 0.0f; }
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
AVX512 static void copy_add_relu_avx512(const float *s, float *d, long n, float b) {
    const __m512 vb = _mm512_set1_ps(b), zero = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : ((1u << (n - i)) - 1u));
        const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + i), vb);
        const __mmask16 keep = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_mov_ps(keep, v));
    }
}
// AVX2 versions: 8 lanes at a time, the tail by the scalar loops; a lane is kept or set to +0
// by a bit mask, so every element has the scalar loop's bits.
AVX2 static inline __m256 relu_lanes_avx2(__m256 v) {
    const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_and_ps(v, keep);
}
AVX2 static void relu_forward_avx2(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, relu_lanes_avx2(_mm256_loadu_ps(x + i)));
    relu_forward_scalar(x + i, y + i, n - i);
}
AVX2 static void relu_backward_avx2(const float *y, const float *dy, float *dx, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 pos = _mm256_cmp_ps(_mm256_loadu_ps(y + i), _mm256_setzero_ps(), _CMP_GT_OQ);
        _mm256_storeu_ps(dx + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), pos));
    }
    relu_backward_scalar(y + i, dy + i, dx + i, n - i);
}
AVX2 static void copy_add_avx2(const float *s, float *d, long n, float b) {
    const __m256 vb = _mm256_set1_ps(b);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(s + i), vb));
    copy_add_scalar(s + i, d + i, n - i, b);
}
AVX2 static void copy_add_relu_avx2(const float *s, float *d, long n, float b) {
    const __m256 vb = _mm256_set1_ps(b);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, relu_lanes_avx2(_mm256_add_ps(_mm256_loadu_ps(s + i), vb)));
    copy_add_relu_scalar(s + i, d + i, n - i, b);
}
// The 16 lanes as two 8-lane accumulators (lanes 0–7 and 8–15): the same additions as the
// other versions, so the same bits.
AVX2 static float sum_avx2(const float *x, long n) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        if (n - i >= 16) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(x + i));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(x + i + 8));
        } else {
            const long left = n - i;
            const __m256i m0 = fl_avx2_first_lanes(left), m1 = fl_avx2_first_lanes(left - 8);
            lo = _mm256_add_ps(lo, _mm256_maskload_ps(x + i, m0));
            hi = _mm256_add_ps(hi, _mm256_maskload_ps(x + i + 8, m1));
        }
    }
    float lanes[16];
    _mm256_storeu_ps(lanes, lo);
    _mm256_storeu_ps(lanes + 8, hi);
    return reduce16(lanes);
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
    if (use_avx2()) { relu_forward_avx2(x, y, n); return; }
#endif
    relu_forward_scalar(x, y, n);
}
void fl_relu_backward_f32(const float *y, const float *dy, float *dx, long n) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { relu_backward_avx512(y, dy, dx, n); return; }
    if (use_avx2()) { relu_backward_avx2(y, dy, dx, n); return; }
#endif
    relu_backward_scalar(y, dy, dx, n);
}
void fl_copy_add_scalar_f32(const float *s, float *d, long n, float b) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { copy_add_avx512(s, d, n, b); return; }
    if (use_avx2()) { copy_add_avx2(s, d, n, b); return; }
#endif
    copy_add_scalar(s, d, n, b);
}
void fl_copy_add_relu_f32(const float *s, float *d, long n, float b) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) { copy_add_relu_avx512(s, d, n, b); return; }
    if (use_avx2()) { copy_add_relu_avx2(s, d, n, b); return; }
#endif
    copy_add_relu_scalar(s, d, n, b);
}
float fl_sum_f32(const float *x, long n) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx512()) return sum_avx512(x, n);
    if (use_avx2()) return sum_avx2(x, n);
#endif
    return sum_scalar(x, n);
}

// MARK: - Weight gradient of a layer with few column-matrix rows (K < 16)

// dw[o, r] = Σ_l dy[o, l]·col[r, l] in 8 partial sums (lane j takes l ≡ j mod 8, in increasing l)
// combined as ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)): the AVX2 version's order, with
// separate multiplies and adds instead of fused ones.
static float reduce8(const float s[8]) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

static void weight_gradient_small_scalar(const float *dy, const float *col, long o, long k, long l, float *dw) {
    for (long i = 0; i < o; i++)
        for (long r = 0; r < k; r++) {
            float s[8] = {0};
            const float *a = dy + i * l, *b = col + r * l;
            for (long t = 0; t < l; t++) s[t & 7] += a[t] * b[t];
            dw[i * k + r] = reduce8(s);
        }
}

#if defined(__x86_64__) || defined(_M_X64)
// One output row at a time: 8 rows of col per pass (their accumulators stay in registers), the dy
// row loaded once per 8 positions for all of them.
AVX2 static void weight_gradient_small_avx2(const float *dy, const float *col, long o, long k, long l, float *dw) {
    const long full = l / 8 * 8;
    const __m256i tail = fl_avx2_first_lanes(l - full);
    for (long i = 0; i < o; i++) {
        const float *a = dy + i * l;
        for (long r0 = 0; r0 < k; r0 += 8) {
            const long rows = k - r0 < 8 ? k - r0 : 8;
            __m256 acc[8];
            for (long r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
            const float *b = col + r0 * l;
            for (long t = 0; t < full; t += 8) {
                const __m256 av = _mm256_loadu_ps(a + t);
                for (long r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + r * l + t), acc[r]);
            }
            if (full < l) {
                const __m256 av = _mm256_maskload_ps(a + full, tail);
                for (long r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(av, _mm256_maskload_ps(b + r * l + full, tail), acc[r]);
            }
            for (long r = 0; r < rows; r++) {
                float s[8];
                _mm256_storeu_ps(s, acc[r]);
                dw[i * k + r0 + r] = reduce8(s);
            }
        }
    }
}
#endif

void fl_weight_gradient_small_f32(const float *dy, const float *col, long o, long k, long l, float *dw) {
#if defined(__x86_64__) || defined(_M_X64)
    if (use_avx2()) { weight_gradient_small_avx2(dy, col, o, k, l, dw); return; }
#endif
    weight_gradient_small_scalar(dy, col, o, k, l, dw);
}
