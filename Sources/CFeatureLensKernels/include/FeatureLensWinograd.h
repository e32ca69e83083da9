#ifndef FEATURELENS_WINOGRAD_H
#define FEATURELENS_WINOGRAD_H

// Single-precision tile transforms of the Winograd convolution F(2×2, 3×3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", CVPR 2016) for 3×3 kernels with stride 1
// and padding 1, in AVX2 (8 tiles of one tile row per vector). Each returns 1 when it did the
// work and 0 on a CPU without AVX2 and FMA; the caller then runs its portable version
// (`WinogradTransforms` in Sources/FeatureLensNumerics/WinogradConvolution.swift), which performs
// the same floating-point operations in the same order, so both give the same bits.
//
// Geometry: planes h × w, output plane h × w, th = ⌈h/2⌉ × tw = ⌈w/2⌉ tiles per plane, tile
// (ty, tx) reading the input window of rows 2ty − 1 … 2ty + 2 and columns 2tx − 1 … 2tx + 2
// (zeros outside the image) and producing output rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1
// (those outside the plane are dropped). A transformed tensor is [16, channels, T] with
// T = samples·th·tw, column n·th·tw + ty·tw + tx, ξ = 4i + j the position in the 4×4 tile;
// row stride T, ξ stride channels·T.

#ifdef __cplusplus
extern "C" {
#endif

/// v[ξ, ci, t] = (Bᵀ d B)[ξ] of the 4×4 input window d of tile t in x[n, ci] (x: [m, c, h, w]).
int fl_winograd_input_f32(const float *x, long m, long c, long h, long w, float *v);

/// y[n, o] = Aᵀ M A of each tile (x: mm [16, o, T], y: [m, o, h, w]), plus bias[o] when bias is
/// not NULL, then ReLU when relu ≠ 0 (y if y > 0 or NaN, else +0).
int fl_winograd_output_f32(const float *mm, long m, long o, long h, long w, const float *bias, int relu, float *y);

/// dm[ξ, o, t] = (A g Aᵀ)[ξ] of the 2×2 output tile g of dy[n, o] (zeros outside the plane),
/// with g = dy where yrelu > 0, else 0, when yrelu is not NULL (the backward of a fused ReLU).
int fl_winograd_output_adjoint_f32(const float *dy, const float *yrelu, long m, long o, long h, long w, float *dm);

/// dx[n, ci] (overwritten) = Σ over the tiles whose window covers a pixel of (B dV Bᵀ) at that
/// pixel (dv: [16, c, T], dx: [m, c, h, w]). Per pixel the order is fixed: in each column the
/// tile on the left, then the one on the right; in each row the tile row above, then below.
int fl_winograd_input_adjoint_f32(const float *dv, long m, long c, long h, long w, float *dx);

#ifdef __cplusplus
}
#endif

#endif
