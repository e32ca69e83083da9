import CFeatureLensKernels

// The inner loops of the neural-network layers (im2col/col2im, bias and ReLU, batch
// normalization, row L2 normalization, pooling), with the C SIMD kernels where they exist.
// Package API: the layers in the targets above call these and never import the C kernels.
//
// Dispatchers: generic layer code calls these; each forwards Float and Double to a call of the
// `…Kernel` function with a concrete scalar type, which the compiler specializes (unspecialized
// generic arithmetic, as in a `Conv2D<Float>` instantiated from another module, is ~50× slower).


extension UnsafePointer {
    @inline(__always) package func reinterpreted<U>(_: U.Type) -> UnsafePointer<U> { UnsafeRawPointer(self).assumingMemoryBound(to: U.self) }
}
extension UnsafeMutablePointer {
    @inline(__always) package func reinterpreted<U>(_: U.Type) -> UnsafeMutablePointer<U> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: U.self)
    }
}

@inline(__always)
package func batchMoments<T: TensorScalar>(_ x: UnsafePointer<T>, rows: Int, columns: Int, mean: UnsafeMutablePointer<T>, variance: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        batchMomentsKernel(x.reinterpreted(Float.self), rows: rows, columns: columns, mean: mean.reinterpreted(Float.self), variance: variance.reinterpreted(Float.self))
    } else if T.self == Double.self {
        batchMomentsKernel(x.reinterpreted(Double.self), rows: rows, columns: columns, mean: mean.reinterpreted(Double.self), variance: variance.reinterpreted(Double.self))
    } else {
        batchMomentsKernel(x, rows: rows, columns: columns, mean: mean, variance: variance)
    }
}

@inline(__always)
package func batchNormApply<T: TensorScalar>(_ xhat: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, columns: Int, mean: UnsafePointer<T>, inverseStd: UnsafePointer<T>, gamma: UnsafePointer<T>, beta: UnsafePointer<T>) {
    if T.self == Float.self {
        batchNormApplyKernel(xhat.reinterpreted(Float.self), y.reinterpreted(Float.self), rows: rows, columns: columns, mean: mean.reinterpreted(Float.self), inverseStd: inverseStd.reinterpreted(Float.self), gamma: gamma.reinterpreted(Float.self), beta: beta.reinterpreted(Float.self))
    } else if T.self == Double.self {
        batchNormApplyKernel(xhat.reinterpreted(Double.self), y.reinterpreted(Double.self), rows: rows, columns: columns, mean: mean.reinterpreted(Double.self), inverseStd: inverseStd.reinterpreted(Double.self), gamma: gamma.reinterpreted(Double.self), beta: beta.reinterpreted(Double.self))
    } else {
        batchNormApplyKernel(xhat, y, rows: rows, columns: columns, mean: mean, inverseStd: inverseStd, gamma: gamma, beta: beta)
    }
}

@inline(__always)
package func columnSums<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, rows: Int, columns: Int, sum: UnsafeMutablePointer<T>, sumProduct: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        columnSumsKernel(a.reinterpreted(Float.self), b.reinterpreted(Float.self), rows: rows, columns: columns, sum: sum.reinterpreted(Float.self), sumProduct: sumProduct.reinterpreted(Float.self))
    } else if T.self == Double.self {
        columnSumsKernel(a.reinterpreted(Double.self), b.reinterpreted(Double.self), rows: rows, columns: columns, sum: sum.reinterpreted(Double.self), sumProduct: sumProduct.reinterpreted(Double.self))
    } else {
        columnSumsKernel(a, b, rows: rows, columns: columns, sum: sum, sumProduct: sumProduct)
    }
}

@inline(__always)
package func batchNormBackward<T: TensorScalar>(_ g: UnsafeMutablePointer<T>, xhat: UnsafePointer<T>, rows: Int, columns: Int, gamma: UnsafePointer<T>, inverseStd: UnsafePointer<T>, sumDy: UnsafePointer<T>, sumDyXhat: UnsafePointer<T>, training: Bool) {
    if T.self == Float.self {
        batchNormBackwardKernel(g.reinterpreted(Float.self), xhat: xhat.reinterpreted(Float.self), rows: rows, columns: columns, gamma: gamma.reinterpreted(Float.self), inverseStd: inverseStd.reinterpreted(Float.self), sumDy: sumDy.reinterpreted(Float.self), sumDyXhat: sumDyXhat.reinterpreted(Float.self), training: training)
    } else if T.self == Double.self {
        batchNormBackwardKernel(g.reinterpreted(Double.self), xhat: xhat.reinterpreted(Double.self), rows: rows, columns: columns, gamma: gamma.reinterpreted(Double.self), inverseStd: inverseStd.reinterpreted(Double.self), sumDy: sumDy.reinterpreted(Double.self), sumDyXhat: sumDyXhat.reinterpreted(Double.self), training: training)
    } else {
        batchNormBackwardKernel(g, xhat: xhat, rows: rows, columns: columns, gamma: gamma, inverseStd: inverseStd, sumDy: sumDy, sumDyXhat: sumDyXhat, training: training)
    }
}

@inline(__always)
package func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec, table: UnsafePointer<Int32>? = nil) {
    if T.self == Float.self {
        if fl_im2col_f32(x.reinterpreted(Float.self), col.reinterpreted(Float.self), samples.lowerBound, samples.upperBound,
                         batch, c, h, w, oh, ow, spec.kh, spec.kw, spec.sh, spec.sw, spec.ph, spec.pw, table) != 0 { return }
        im2colKernel(x.reinterpreted(Float.self), col.reinterpreted(Float.self), samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else if T.self == Double.self {
        im2colKernel(x.reinterpreted(Double.self), col.reinterpreted(Double.self), samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else {
        im2colKernel(x, col, samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    }
}

@inline(__always)
package func col2im<T: TensorScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec, table: UnsafePointer<Int32>? = nil) {
    if T.self == Float.self {
        if fl_col2im_f32(col.reinterpreted(Float.self), dx.reinterpreted(Float.self), samples.lowerBound, samples.upperBound,
                         batch, c, h, w, oh, ow, spec.kh, spec.kw, spec.sh, spec.sw, spec.ph, spec.pw, table) != 0 { return }
        col2imKernel(col.reinterpreted(Float.self), dx.reinterpreted(Float.self), samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else if T.self == Double.self {
        col2imKernel(col.reinterpreted(Double.self), dx.reinterpreted(Double.self), samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else {
        col2imKernel(col, dx, samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec)
    }
}

/// dx[n] = col2im(col) for n in `samples`: every element of those samples is written (0 where no
/// column entry reads the pixel), with the bits of zeroing them and running `col2im`. Float on
/// AVX2 (`fl_col2im_assign_f32`) writes stride-2 rows of at most 16 pixels once each, with no
/// zeroing pass.
@inline(__always)
package func col2imAssigning<T: TensorScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec, table: UnsafePointer<Int32>? = nil) {
    if T.self == Float.self,
       fl_col2im_assign_f32(col.reinterpreted(Float.self), dx.reinterpreted(Float.self), samples.lowerBound, samples.upperBound,
                            batch, c, h, w, oh, ow, spec.kh, spec.kw, spec.sh, spec.sw, spec.ph, spec.pw, table) != 0 { return }
    zeroFill(dx + samples.lowerBound * c * h * w, count: samples.count * c * h * w)
    col2im(col, dx, samples: samples, batch: batch, c: c, h: h, w: w, oh: oh, ow: ow, spec: spec, table: table)
}

/// Moves runs of `plane` values between [N, O, P] and [O, N·P] (`permuteBlocksKernel`), with
/// the epilogue of a convolution fused in: `bias` and, with `relu`, ReLU on the way to [N, O, P];
/// with `reluOutput` (the [N, O, P] output of a fused ReLU), ReLU's backward mask on the way to
/// [O, N·P]. Every element gets the bits of the separate passes.
@inline(__always)
package func permuteBlocks<T: TensorScalar>(from: UnsafePointer<T>, to: UnsafeMutablePointer<T>, samples: Range<Int>, channels: Int,
                                            batch: Int, plane: Int, toSampleMajor: Bool, bias: UnsafePointer<T>?,
                                            relu: Bool = false, reluOutput: UnsafePointer<T>? = nil) {
    if T.self == Float.self {
        // Float: the same copies, with the vectorized bias add and ReLU of the C kernels.
        let f = from.reinterpreted(Float.self), t = to.reinterpreted(Float.self)
        let b = bias.map { $0.reinterpreted(Float.self) }
        let y = reluOutput.map { $0.reinterpreted(Float.self) }
        for n in samples {
            for o in 0..<channels {
                let channelMajor = o * batch * plane + n * plane, sampleMajor = (n * channels + o) * plane
                if !toSampleMajor {
                    if let y {
                        fl_relu_backward_f32(y + sampleMajor, f + sampleMajor, t + channelMajor, plane)
                    } else {
                        (t + channelMajor).update(from: f + sampleMajor, count: plane)
                    }
                } else if relu {
                    fl_copy_add_relu_f32(f + channelMajor, t + sampleMajor, plane, b?[o] ?? 0)
                } else if let b {
                    fl_copy_add_scalar_f32(f + channelMajor, t + sampleMajor, plane, b[o])
                } else {
                    (t + sampleMajor).update(from: f + channelMajor, count: plane)
                }
            }
        }
    } else if T.self == Double.self {
        permuteBlocksKernel(from: from.reinterpreted(Double.self), to: to.reinterpreted(Double.self), samples: samples, channels: channels,
                            batch: batch, plane: plane, toSampleMajor: toSampleMajor, bias: bias.map { $0.reinterpreted(Double.self) },
                            relu: relu, reluOutput: reluOutput.map { $0.reinterpreted(Double.self) })
    } else {
        permuteBlocksKernel(from: from, to: to, samples: samples, channels: channels, batch: batch, plane: plane,
                            toSampleMajor: toSampleMajor, bias: bias, relu: relu, reluOutput: reluOutput)
    }
}

/// dW[O, K] = dYᵗ[O, L] · col[K, L]ᵀ, overwriting `dw`, for a `Float` column matrix of fewer than
/// 16 rows (`fl_weight_gradient_small_f32`: a first layer on grey images has K = 9, where the GEMM's
/// 16-wide panels would be mostly padding). Returns false, writing nothing, for other shapes and
/// scalars, where the caller runs the GEMM.
@inline(__always)
package func smallWeightGradient<T: TensorScalar>(_ dy: UnsafePointer<T>, _ col: UnsafePointer<T>, o: Int, k: Int, l: Int,
                                                  into dw: UnsafeMutablePointer<T>) -> Bool {
    guard T.self == Float.self, k < 16 else { return false }
    fl_weight_gradient_small_f32(dy.reinterpreted(Float.self), col.reinterpreted(Float.self), o, k, l, dw.reinterpreted(Float.self))
    return true
}

@inline(__always)
package func accumulateRowSums<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        let s = src.reinterpreted(Float.self), o = out.reinterpreted(Float.self)
        for r in 0..<rows { o[r] += fl_sum_f32(s + r * columns, columns) }
    } else if T.self == Double.self {
        accumulateRowSumsKernel(src.reinterpreted(Double.self), rows: rows, columns: columns, into: out.reinterpreted(Double.self))
    } else {
        accumulateRowSumsKernel(src, rows: rows, columns: columns, into: out)
    }
}

@inline(__always)
package func broadcastRows<T: TensorScalar>(_ v: UnsafePointer<T>, columns: Int, rows: Int, into dst: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        broadcastRowsKernel(v.reinterpreted(Float.self), columns: columns, rows: rows, into: dst.reinterpreted(Float.self))
    } else if T.self == Double.self {
        broadcastRowsKernel(v.reinterpreted(Double.self), columns: columns, rows: rows, into: dst.reinterpreted(Double.self))
    } else {
        broadcastRowsKernel(v, columns: columns, rows: rows, into: dst)
    }
}

@inline(__always)
package func accumulateColumnSums<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        accumulateColumnSumsKernel(src.reinterpreted(Float.self), rows: rows, columns: columns, into: out.reinterpreted(Float.self))
    } else if T.self == Double.self {
        accumulateColumnSumsKernel(src.reinterpreted(Double.self), rows: rows, columns: columns, into: out.reinterpreted(Double.self))
    } else {
        accumulateColumnSumsKernel(src, rows: rows, columns: columns, into: out)
    }
}

@inline(__always)
package func reluForward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
        fl_relu_forward_f32(x.reinterpreted(Float.self), y.reinterpreted(Float.self), count)
    } else if T.self == Double.self {
        reluForwardKernel(x.reinterpreted(Double.self), y.reinterpreted(Double.self), count: count)
    } else {
        reluForwardKernel(x, y, count: count)
    }
}

@inline(__always)
package func reluBackward<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
        fl_relu_backward_f32(y.reinterpreted(Float.self), dy.reinterpreted(Float.self), dx.reinterpreted(Float.self), count)
    } else if T.self == Double.self {
        reluBackwardKernel(y.reinterpreted(Double.self), dy.reinterpreted(Double.self), dx.reinterpreted(Double.self), count: count)
    } else {
        reluBackwardKernel(y, dy, dx, count: count)
    }
}

@inline(__always)
package func l2NormalizeRows<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, rows: Int, columns: Int, epsilon: T, denominators: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        l2NormalizeRowsKernel(x.reinterpreted(Float.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Float.self), denominators: denominators.reinterpreted(Float.self))
    } else if T.self == Double.self {
        l2NormalizeRowsKernel(x.reinterpreted(Double.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Double.self), denominators: denominators.reinterpreted(Double.self))
    } else {
        l2NormalizeRowsKernel(x, rows: rows, columns: columns, epsilon: epsilon, denominators: denominators)
    }
}

@inline(__always)
package func l2NormalizeBackward<T: TensorScalar>(_ y: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>, rows: Int, columns: Int, epsilon: T, denominators: UnsafePointer<T>) {
    if T.self == Float.self {
        l2NormalizeBackwardKernel(y.reinterpreted(Float.self), g.reinterpreted(Float.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Float.self), denominators: denominators.reinterpreted(Float.self))
    } else if T.self == Double.self {
        l2NormalizeBackwardKernel(y.reinterpreted(Double.self), g.reinterpreted(Double.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Double.self), denominators: denominators.reinterpreted(Double.self))
    } else {
        l2NormalizeBackwardKernel(y, g, rows: rows, columns: columns, epsilon: epsilon, denominators: denominators)
    }
}

@inline(__always)
package func maxPoolForward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ arg: UnsafeMutablePointer<Int32>, planes: Range<Int>, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    if T.self == Float.self {
        maxPoolForwardKernel(x.reinterpreted(Float.self), y.reinterpreted(Float.self), arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else if T.self == Double.self {
        maxPoolForwardKernel(x.reinterpreted(Double.self), y.reinterpreted(Double.self), arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else {
        maxPoolForwardKernel(x, y, arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    }
}

@inline(__always)
package func scatterAdd<T: TensorScalar>(_ g: UnsafePointer<T>, _ arg: UnsafePointer<Int32>, _ dx: UnsafeMutablePointer<T>, planes: Range<Int>, inPlane: Int, outPlane: Int) {
    if T.self == Float.self {
        scatterAddKernel(g.reinterpreted(Float.self), arg, dx.reinterpreted(Float.self), planes: planes, inPlane: inPlane, outPlane: outPlane)
    } else if T.self == Double.self {
        scatterAddKernel(g.reinterpreted(Double.self), arg, dx.reinterpreted(Double.self), planes: planes, inPlane: inPlane, outPlane: outPlane)
    } else {
        scatterAddKernel(g, arg, dx, planes: planes, inPlane: inPlane, outPlane: outPlane)
    }
}

@inline(__always)
package func fillPlanes<T: TensorScalar>(_ g: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, planes: Int, area: Int, scale: T) {
    if T.self == Float.self {
        fillPlanesKernel(g.reinterpreted(Float.self), dx.reinterpreted(Float.self), planes: planes, area: area, scale: unsafeBitCast(scale, to: Float.self))
    } else if T.self == Double.self {
        fillPlanesKernel(g.reinterpreted(Double.self), dx.reinterpreted(Double.self), planes: planes, area: area, scale: unsafeBitCast(scale, to: Double.self))
    } else {
        fillPlanesKernel(g, dx, planes: planes, area: area, scale: scale)
    }
}


// Inner loops shared by the layers. Each `…Kernel` is reached through its dispatcher above,
// which calls it with a concrete Float or Double type.

/// dst[r, :] = v for every row r of a `[rows, v.count]` matrix; `columns` = v.count.
@inline(never)
package func broadcastRowsKernel<T: TensorScalar>(_ v: UnsafePointer<T>, columns: Int, rows: Int, into dst: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let d = dst + r * columns
        for j in 0..<columns { d[j] = v[j] }
    }
}

/// out[j] += Σ_r src[r, j] for a `[rows, columns]` matrix (rows summed in order).
@inline(never)
package func accumulateColumnSumsKernel<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int,
                                           into out: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let s = src + r * columns
        for j in 0..<columns { out[j] += s[j] }
    }
}


/// y[i] = max(0, x[i]) (NaN propagates, as in PyTorch).
@inline(never)
package func reluForwardKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    for i in 0..<count { let v = x[i]; y[i] = v > 0 || v.isNaN ? v : 0 }
}

/// dx[i] = dy[i] where y[i] > 0, else 0 (PyTorch `threshold_backward` on the output).
@inline(never)
package func reluBackwardKernel<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                   count: Int) {
    for i in 0..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
}

/// A zero-filled tensor, allocated by specialized code: `Tensor(zeros:)` called from generic code
/// fills its storage through the generic value witness, one element at a time.
@inline(__always)
package func zerosTensor<T: TensorScalar>(_ shape: [Int]) -> Tensor<T> {
    let count = shape.reduce(1, *)
    if T.self == Float.self {
        return Tensor(shape: shape, scalars: unsafeBitCast([Float](repeating: 0, count: count), to: [T].self))
    } else if T.self == Double.self {
        return Tensor(shape: shape, scalars: unsafeBitCast([Double](repeating: 0, count: count), to: [T].self))
    }
    return Tensor(zeros: shape)
}

/// A tensor whose storage is allocated but not initialized; the caller must overwrite every element.
@inline(__always)
package func uninitializedTensor<T: TensorScalar>(_ shape: [Int]) -> Tensor<T> {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: [T](unsafeUninitializedCapacity: count) { _, n in n = count })
}

/// Column means and biased variances (two passes) of a `[rows, columns]` matrix.
@inline(never)
package func batchMomentsKernel<T: TensorScalar>(_ x: UnsafePointer<T>, rows: Int, columns: Int, mean: UnsafeMutablePointer<T>,
                                   variance: UnsafeMutablePointer<T>) {
    for j in 0..<columns { mean[j] = 0; variance[j] = 0 }
    for i in 0..<rows { for j in 0..<columns { mean[j] += x[i * columns + j] } }
    for j in 0..<columns { mean[j] /= T(rows) }
    for i in 0..<rows { for j in 0..<columns { let d = x[i * columns + j] - mean[j]; variance[j] += d * d } }
    for j in 0..<columns { variance[j] /= T(rows) }
}

/// xhat ← (x − μ)·s (in place on a copy of x), y ← γ·xhat + β.
@inline(never)
package func batchNormApplyKernel<T: TensorScalar>(_ xhat: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, columns: Int,
                                     mean: UnsafePointer<T>, inverseStd: UnsafePointer<T>, gamma: UnsafePointer<T>,
                                     beta: UnsafePointer<T>) {
    for i in 0..<rows {
        for j in 0..<columns {
            let k = i * columns + j
            let h = (xhat[k] - mean[j]) * inverseStd[j]
            xhat[k] = h
            y[k] = gamma[j] * h + beta[j]
        }
    }
}

/// Σ_n a and Σ_n a·b per column.
@inline(never)
package func columnSumsKernel<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, rows: Int, columns: Int,
                                 sum: UnsafeMutablePointer<T>, sumProduct: UnsafeMutablePointer<T>) {
    for i in 0..<rows {
        for j in 0..<columns {
            let k = i * columns + j
            sum[j] += a[k]
            sumProduct[j] += a[k] * b[k]
        }
    }
}

/// In place on dy: the batch-norm input gradient (training or eval statistics).
@inline(never)
package func batchNormBackwardKernel<T: TensorScalar>(_ g: UnsafeMutablePointer<T>, xhat: UnsafePointer<T>, rows: Int, columns: Int,
                                        gamma: UnsafePointer<T>, inverseStd: UnsafePointer<T>, sumDy: UnsafePointer<T>,
                                        sumDyXhat: UnsafePointer<T>, training: Bool) {
    let nn = T(rows)
    for i in 0..<rows {
        for j in 0..<columns {
            let k = i * columns + j
            if training {
                // dx = γ s/N · (N dy − Σdy − x̂ Σ dy x̂)
                g[k] = gamma[j] * inverseStd[j] / nn * (nn * g[k] - sumDy[j] - xhat[k] * sumDyXhat[j])
            } else {
                g[k] = gamma[j] * inverseStd[j] * g[k]
            }
        }
    }
}

/// In place: row_i ← row_i / max(‖row_i‖, ε); records the denominators.
@inline(never)
package func l2NormalizeRowsKernel<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, rows: Int, columns: Int, epsilon: T,
                                      denominators: UnsafeMutablePointer<T>) {
    for i in 0..<rows {
        let r = x + i * columns
        var ss: T = 0
        for j in 0..<columns { ss += r[j] * r[j] }
        let den = Swift.max(T.sqrt(ss), epsilon)
        denominators[i] = den
        for j in 0..<columns { r[j] /= den }
    }
}

/// In place on g = dy: g_i ← (g_i − y_i⟨y_i, g_i⟩)/r where r > ε, else g_i/ε.
@inline(never)
package func l2NormalizeBackwardKernel<T: TensorScalar>(_ y: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>, rows: Int, columns: Int,
                                          epsilon: T, denominators: UnsafePointer<T>) {
    for i in 0..<rows {
        let yr = y + i * columns, gr = g + i * columns
        let den = denominators[i]
        if den > epsilon {
            var dot: T = 0
            for j in 0..<columns { dot += yr[j] * gr[j] }
            for j in 0..<columns { gr[j] = (gr[j] - yr[j] * dot) / den }
        } else {
            for j in 0..<columns { gr[j] /= den }
        }
    }
}

@inline(never)
package func maxPoolForwardKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ arg: UnsafeMutablePointer<Int32>,
                                     planes: Range<Int>, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    for pl in planes {
        let xp = x + pl * h * w
        for i in 0..<oh {
            for j in 0..<ow {
                var best = -T.infinity
                var bestIndex = -1
                for u in 0..<spec.kh {
                    let ih = i * spec.sh - spec.ph + u
                    if ih < 0 || ih >= h { continue }
                    for v in 0..<spec.kw {
                        let iw = j * spec.sw - spec.pw + v
                        if iw < 0 || iw >= w { continue }
                        let val = xp[ih * w + iw]
                        if val > best || val.isNaN || bestIndex < 0 {
                            best = val
                            bestIndex = ih * w + iw
                            if val.isNaN { break }
                        }
                    }
                    if best.isNaN { break }
                }
                let o = pl * oh * ow + i * ow + j
                y[o] = best
                arg[o] = Int32(bestIndex)
            }
        }
    }
}

@inline(never)
package func scatterAddKernel<T: TensorScalar>(_ g: UnsafePointer<T>, _ arg: UnsafePointer<Int32>, _ dx: UnsafeMutablePointer<T>,
                                 planes: Range<Int>, inPlane: Int, outPlane: Int) {
    for pl in planes {
        let d = dx + pl * inPlane
        for k in (pl * outPlane)..<((pl + 1) * outPlane) { d[Int(arg[k])] += g[k] }
    }
}

@inline(never)
package func fillPlanesKernel<T: TensorScalar>(_ g: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, planes: Int, area: Int, scale: T) {
    for pl in 0..<planes {
        let v = g[pl] * scale
        let d = dx + pl * area
        for k in 0..<area { d[k] = v }
    }
}

// MARK: - Kernels

/// The geometry of a 2-D window: kernel height/width, stride and zero padding (in elements).
package struct ConvSpec {
    package var kh, kw, sh, sw, ph, pw: Int
    package init(kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int) {
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw; self.ph = ph; self.pw = pw
    }
}

/// The im2col/col2im gather table for chunks of `samples` samples (Float on the AVX-512 path
/// only; nil on other CPUs, whose paths do not use it): `[Int32]` offsets for
/// `im2col`/`col2im`'s `table` argument.
package func convGatherTable(samples: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec s: ConvSpec) -> [Int32]? {
    guard fl_conv_path() == FL_CONV_PATH_AVX512 else { return nil }
    let count = fl_conv_table_ints(samples, oh, ow, s.kh, s.kw)
    var t = [Int32](repeating: 0, count: count)
    let ok = t.withUnsafeMutableBufferPointer {
        fl_conv_table_build($0.baseAddress!, samples, c, h, w, oh, ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw)
    }
    return ok != 0 ? t : nil
}

/// Calls `body` with the table's storage, or nil.
@inline(__always)
package func withTable<R>(_ t: [Int32]?, _ body: (UnsafePointer<Int32>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Sets `count` elements to +0 with one memset (`update(repeating:)` in generic code would copy
/// element by element through the value witness table).
@inline(__always)
package func zeroFill<T: TensorScalar>(_ p: UnsafeMutablePointer<T>, count: Int) {
    UnsafeMutableRawPointer(p).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<T>.stride)
}

/// Makes `a.count ≥ count`, without initializing new storage when it must grow (contents are
/// then undefined).
package func growUninitialized<T: TensorScalar>(_ a: inout [T], _ count: Int) {
    if a.count >= count { return }
    a = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
}

/// Runs `body` over contiguous sample ranges covering 0..<n, in parallel. Callers only write
/// per-sample outputs, so the result does not depend on the split.
package func forEachSampleChunk(_ n: Int, _ body: (Range<Int>) -> Void) {
    let threads = Parallel.threadCount
    let chunks = min(n, threads == 1 ? 1 : threads * 4)
    guard chunks > 0 else { return }
    Parallel.forEach(chunks: chunks, threads: threads) { i in
        body((i * n / chunks)..<((i + 1) * n / chunks))
    }
}

/// Runs `body` over contiguous element ranges covering 0..<count: in parallel for large counts
/// (elementwise kernels, so the split never changes a result).
package func forEachElementChunk(_ count: Int, _ body: (Range<Int>) -> Void) {
    let threads = Parallel.threadCount
    guard threads > 1, count >= 1 << 16 else {
        if count > 0 { body(0..<count) }
        return
    }
    let chunks = threads * 2
    Parallel.forEach(chunks: chunks, threads: threads) { i in
        body((i * count / chunks)..<((i + 1) * count / chunks))
    }
}

/// The output columns j ∈ [lo, hi) whose input column j·s − p + v lies in [0, w).
@inline(__always)
package func validRange(out: Int, stride s: Int, pad p: Int, offset v: Int, extent w: Int) -> (Int, Int) {
    // j·s − p + v ≥ 0  ⇔  j ≥ ⌈(p − v)/s⌉;   j·s − p + v ≤ w − 1  ⇔  j ≤ ⌊(w − 1 + p − v)/s⌋
    let a = p - v
    let lo = a <= 0 ? 0 : (a + s - 1) / s
    let b = w - 1 + p - v
    let hi = b < 0 ? 0 : Swift.min(out, b / s + 1)
    return (Swift.min(lo, hi), hi)
}

/// Samples handled together by im2col/col2im: for each column-matrix row the block's runs are
/// contiguous in `col` (about 4096 values, so the hardware prefetcher follows them instead of
/// missing the TLB at every short run) while the block's planes of one channel (≤ 256 KiB of
/// Float) stay in cache. The block does not change the results (each output element is
/// written or summed in the same order).
@inline(__always)
package func im2colSampleBlock(plane p: Int, inputPlane hw: Int) -> Int {
    Swift.max(1, Swift.min(4096 / Swift.max(p, 1), 65536 / Swift.max(hw, 1), 256))
}

/// col[(c, u, v), n·P + i·OW + j] = x[n, c, i·s_h − p_h + u, j·s_w − p_w + v] (0 outside), for n in
/// `samples`; col has row stride N·P (`batch` = N).
@inline(never)
package func im2colKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int,
                             c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    let p = oh * ow, rowStride = batch * p, sw = spec.sw
    let block = im2colSampleBlock(plane: p, inputPlane: h * w)
    var n0 = samples.lowerBound
    while n0 < samples.upperBound {
        let n1 = Swift.min(n0 + block, samples.upperBound)
        for ci in 0..<c {
            for u in 0..<spec.kh {
                for v in 0..<spec.kw {
                    let r = (ci * spec.kh + u) * spec.kw + v
                    let (jlo, jhi) = validRange(out: ow, stride: sw, pad: spec.pw, offset: v, extent: w)
                    for n in n0..<n1 {
                        let plane = x + (n * c + ci) * h * w
                        let dst = col + r * rowStride + n * p
                        for i in 0..<oh {
                            let d = dst + i * ow
                            let ih = i * spec.sh - spec.ph + u
                            if ih < 0 || ih >= h {
                                for j in 0..<ow { d[j] = 0 }
                                continue
                            }
                            let src = plane + (ih * w - spec.pw + v)
                            for j in 0..<jlo { d[j] = 0 }
                            if sw == 1 {
                                for j in jlo..<jhi { d[j] = src[j] }
                            } else {
                                for j in jlo..<jhi { d[j] = src[j &* sw] }
                            }
                            for j in jhi..<ow { d[j] = 0 }
                        }
                    }
                }
            }
        }
        n0 = n1
    }
}

/// dx[n, c, ih, iw] = Σ over (u, v, i, j) mapping to (ih, iw) of dcol[(c, u, v), n·P + i·OW + j], for n in
/// `samples` (dx must be zero on entry; each element sums its terms in a fixed order).
@inline(never)
package func col2imKernel<T: TensorScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int,
                             c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    let p = oh * ow, rowStride = batch * p, sw = spec.sw
    let block = im2colSampleBlock(plane: p, inputPlane: h * w)
    var n0 = samples.lowerBound
    while n0 < samples.upperBound {
        let n1 = Swift.min(n0 + block, samples.upperBound)
        for ci in 0..<c {
            for u in 0..<spec.kh {
                for v in 0..<spec.kw {
                    let r = (ci * spec.kh + u) * spec.kw + v
                    let (jlo, jhi) = validRange(out: ow, stride: sw, pad: spec.pw, offset: v, extent: w)
                    if jlo >= jhi { continue }
                    for n in n0..<n1 {
                        let plane = dx + (n * c + ci) * h * w
                        let srcRow = col + r * rowStride + n * p
                        for i in 0..<oh {
                            let ih = i * spec.sh - spec.ph + u
                            if ih < 0 || ih >= h { continue }
                            let s = srcRow + i * ow
                            let d = plane + (ih * w - spec.pw + v)
                            if sw == 1 {
                                for j in jlo..<jhi { d[j] += s[j] }
                            } else {
                                for j in jlo..<jhi { d[j &* sw] += s[j] }
                            }
                        }
                    }
                }
            }
        }
        n0 = n1
    }
}

/// Moves contiguous runs of `plane` values between the sample-major layout [N, O, P] and the
/// channel-major layout [O, N·P] for the samples in `samples`. With `toSampleMajor`, `from` is
/// [O, N·P], `to` is [N, O, P], `bias[o]` (if any) is added and then, with `relu`, ReLU applied
/// (NaN propagating, as `reluForwardKernel`). Otherwise `from` is [N, O, P] and, with
/// `reluOutput` (y, [N, O, P]), an element is copied where y > 0 and is 0 elsewhere
/// (`reluBackwardKernel`).
@inline(never)
package func permuteBlocksKernel<T: TensorScalar>(from: UnsafePointer<T>, to: UnsafeMutablePointer<T>, samples: Range<Int>,
                                    channels: Int, batch: Int, plane: Int, toSampleMajor: Bool,
                                    bias: UnsafePointer<T>?, relu: Bool = false, reluOutput: UnsafePointer<T>? = nil) {
    for n in samples {
        for o in 0..<channels {
            let channelMajor = o * batch * plane + n * plane
            let sampleMajor = (n * channels + o) * plane
            if toSampleMajor {
                let s = from + channelMajor, d = to + sampleMajor
                if let b = bias {
                    let bo = b[o]
                    for k in 0..<plane { d[k] = s[k] + bo }
                } else {
                    for k in 0..<plane { d[k] = s[k] }
                }
                if relu { for k in 0..<plane { let v = d[k]; d[k] = v > 0 || v.isNaN ? v : 0 } }
            } else {
                let s = from + sampleMajor, d = to + channelMajor
                if let y = reluOutput.map({ $0 + sampleMajor }) {
                    for k in 0..<plane { d[k] = y[k] > 0 ? s[k] : 0 }
                } else {
                    for k in 0..<plane { d[k] = s[k] }
                }
            }
        }
    }
}

/// out[r] += Σ_j src[r, j] for a `[rows, columns]` matrix.
@inline(never)
package func accumulateRowSumsKernel<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let s = src + r * columns
        var acc: T = 0
        for j in 0..<columns { acc += s[j] }
        out[r] += acc
    }
}
