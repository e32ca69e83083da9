#ifndef FEATURELENS_CONV_H
#define FEATURELENS_CONV_H

// Single-precision im2col / col2im for Conv2D (NCHW), with a SIMD path chosen once at run time
// (fl_conv_path): AVX-512F gathers and scatters, else AVX2 row copies (no gathers), else none.
// fl_im2col_f32 / fl_col2im_f32 return 1 when they did the work and 0 on a CPU with neither;
// the caller then runs its portable version (im2colKernel / col2imKernel in
// Sources/FeatureLensNumerics/LayerKernels.swift). Every path performs the same floating-point
// operations in the same order as the portable one, so all give bit-identical results.
//
// Geometry: x is [batch, c, h, w]; the output plane is oh × ow with P = oh·ow; the column
// matrix col is [c·kh·kw, batch·P] (row (ci, u, v), column n·P + i·ow + j), row stride batch·P.
// Only samples n0 ≤ n < n1 are touched (read or written), so threads may split a batch by
// sample ranges; their columns of each column-matrix row are one contiguous run.

#ifdef __cplusplus
extern "C" {
#endif

/// The im2col/col2im paths (values of fl_conv_path).
#define FL_CONV_PATH_PORTABLE 0
#define FL_CONV_PATH_AVX2 1
#define FL_CONV_PATH_AVX512 2

/// The path fl_im2col_f32 / fl_col2im_f32 take on this CPU: FL_CONV_PATH_AVX512 with AVX-512F,
/// else FL_CONV_PATH_AVX2 with AVX2 and FMA, else FL_CONV_PATH_PORTABLE (they return 0).
int fl_conv_path(void);

/// 1 when this CPU can run `path` (one of FL_CONV_PATH_…), else 0.
int fl_conv_path_available(int path);

/// Ints in the gather table of `samples` samples (see conv.c).
long fl_conv_table_ints(long samples, long oh, long ow, long kh, long kw);

/// Fills `table` (fl_conv_table_ints(samples, …) ints) for calls with n1 − n0 = samples and this
/// geometry. Returns 0 (table unusable) when samples·c·h·w does not fit in 31 bits.
int fl_conv_table_build(int *table, long samples, long c, long h, long w, long oh, long ow, long kh, long kw,
                        long sh, long sw, long ph, long pw);

/// `table` (used by the AVX-512F path only): one built by fl_conv_table_build for n1 − n0
/// samples and the same geometry, or NULL (a temporary one is built). When no table is usable
/// (offsets beyond 31 bits) the AVX-512F CPU runs the AVX2 path.
/// col[(ci,u,v), n·P + i·ow + j] = x[n, ci, i·sh − ph + u, j·sw − pw + v], 0 outside the image.
int fl_im2col_f32(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table);

/// dx[n, ci, ih, iw] += Σ of the col entries that im2col would have read from (ih, iw), each pixel
/// adding its terms in (u, v) order.
int fl_col2im_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                  long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table);

/// dx[n, ci, ih, iw] = Σ of the col entries that im2col would have read from (ih, iw) for
/// n0 ≤ n < n1 (every value of those samples written, 0 where no entry reads the pixel): the bits
/// of zeroing those samples of dx and running fl_col2im_f32. On the AVX2 path, stride sw = 2 and
/// w ≤ 16 write each row once from two accumulators (even and odd columns) instead.
int fl_col2im_assign_f32(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                         long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, const int *table);

/// The AVX2 path of fl_im2col_f32 (for tests and benchmarks on any AVX2 CPU): stride sw 1 or 2
/// copies 8 output positions at a time (stride 2: two loads, even lanes kept; output rows of 4 to
/// 8 positions: two masked loads per row, rows of 4 two to a vector), other strides run a scalar
/// C loop. Returns 0 (and does nothing) without AVX2 and FMA.
int fl_im2col_f32_avx2(const float *x, float *col, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw);

/// The AVX2 path of fl_col2im_f32 (as fl_im2col_f32_avx2); each pixel adds its terms in (u, v)
/// order, pixels that get no term keep their bits.
int fl_col2im_f32_avx2(const float *col, float *dx, long n0, long n1, long batch, long c, long h, long w,
                       long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw);

/// y[i] = x[i] if x[i] > 0 or x[i] is NaN, else +0 (ReLU, NaN propagating), i < n.
void fl_relu_forward_f32(const float *x, float *y, long n);

/// dx[i] = dy[i] if y[i] > 0, else +0 (ReLU backward from the output), i < n. dx may alias dy.
void fl_relu_backward_f32(const float *y, const float *dy, float *dx, long n);

/// d[i] = s[i] + b, i < n.
void fl_copy_add_scalar_f32(const float *s, float *d, long n, float b);

/// d[i] = ReLU(s[i] + b) as fl_relu_forward_f32 (NaN propagating, +0 otherwise), i < n: the
/// bias add and ReLU of a convolution with a fused activation in one pass.
void fl_copy_add_relu_f32(const float *s, float *d, long n, float b);

/// Σ x[i], i < n, in a fixed order independent of the CPU: 16 partial sums (lane l takes
/// i ≡ l mod 16, in increasing i), combined as ((l0 + l8) + (l4 + l12)) + … (a fixed pairwise tree).
float fl_sum_f32(const float *x, long n);

/// dw[o', r] = Σ_t dy[o', t]·col[r, t] for o' < o, r < k, t < l (dy: [o, l], col: [k, l], dw: [o, k],
/// all row-major and dense; dw is overwritten): the weight gradient dYᵗ·colᵀ of a convolution
/// whose column matrix has few rows (K = C·K_h·K_w < 16, e.g. a first layer on grey images),
/// where the GEMM's 16-wide panels would be mostly padding. Eight partial sums per element
/// (t mod 8), combined in a fixed tree; AVX2 + FMA when the CPU has them, else without fusing.
void fl_weight_gradient_small_f32(const float *dy, const float *col, long o, long k, long l, float *dw);

#ifdef __cplusplus
}
#endif

#endif
