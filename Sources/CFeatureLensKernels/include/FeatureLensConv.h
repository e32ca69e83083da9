#ifndef FEATURELENS_CONV_H
#define FEATURELENS_CONV_H

// Single-precision im2col / col2im for Conv2D (NCHW), with AVX-512F row copies chosen at run
// time. Each function returns 1 when it did the work and 0 when this CPU has no AVX-512F; the
// caller then runs its portable version (FeatureLens/Encoders/Conv2D.swift), which performs
// the same floating-point operations in the same order, so both give identical results.
//
// Geometry: x is [batch, c, h, w]; the output plane is oh × ow with P = oh·ow; the column
// matrix col is [c·kh·kw, batch·P] (row (ci, u, v), column n·P + i·ow + j), row stride batch·P.
// Only samples n0 ≤ n < n1 are touched; their columns of each column-matrix row are one
// contiguous run, gathered 16 at a time through a table of offsets.

#ifdef __cplusplus
extern "C" {
#endif

/// Ints in the gather table of `samples` samples (see conv.c).
long fl_conv_table_ints(long samples, long oh, long ow, long kh, long kw);

/// Fills `table` (fl_conv_table_ints(samples, …) ints) for calls with n1 − n0 = samples and this
/// geometry. Returns 0 (table unusable) when samples·c·h·w does not fit in 31 bits.
int fl_conv_table_build(int *table, long samples, long c, long h, long w, long oh, long ow, long kh, long kw,
                        long sh, long sw, long ph, long pw);

/// `table`: one built by fl_conv_table_build for n1 − n0 samples and the same geometry, or NULL
/// (a temporary one is built).
/// col[(ci,u,v), n·P + i·ow + j] = x[n, ci, i·sh − ph + u, j·sw − pw + v], 0 outside the image.
int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table);

/// dx[n, ci, ih, iw] += Σ of the col entries that im2col would have read from (ih, iw), each pixel
/// adding its terms in (u, v) order.
int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table);

/// y[i] = x[i] if x[i] > 0 or x[i] is NaN, else +0 (ReLU, NaN propagating), i < n.
void fl_relu_forward_f32(const float *x, float *y, long n);

/// dx[i] = dy[i] if y[i] > 0, else +0 (ReLU backward from the output), i < n. dx may alias dy.
void fl_relu_backward_f32(const float *y, const float *dy, float *dx, long n);

/// d[i] = s[i] + b, i < n.
void fl_copy_add_scalar_f32(const float *s, float *d, long n, float b);

/// Σ x[i], i < n, in a fixed order independent of the CPU: 16 partial sums (lane l takes
/// i ≡ l mod 16, in increasing i), combined as ((l0 + l8) + (l4 + l12)) + … (a fixed pairwise tree).
float fl_sum_f32(const float *x, long n);

#ifdef __cplusplus
}
#endif

#endif
