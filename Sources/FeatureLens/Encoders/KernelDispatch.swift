import CFeatureLensKernels
import FeatureLensNumerics

// Dispatchers: generic layer code calls these; each forwards Float and Double to a call of the
// `…Kernel` function with a concrete scalar type, which the compiler specializes (unspecialized
// generic arithmetic, as in a `Conv2D<Float>` instantiated from another module, is ~50× slower).

extension UnsafePointer {
    @inline(__always) func reinterpreted<U>(_: U.Type) -> UnsafePointer<U> { UnsafeRawPointer(self).assumingMemoryBound(to: U.self) }
}
extension UnsafeMutablePointer {
    @inline(__always) func reinterpreted<U>(_: U.Type) -> UnsafeMutablePointer<U> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: U.self)
    }
}

@inline(__always)
func batchMoments<T: TensorScalar>(_ x: UnsafePointer<T>, rows: Int, columns: Int, mean: UnsafeMutablePointer<T>, variance: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        batchMomentsKernel(x.reinterpreted(Float.self), rows: rows, columns: columns, mean: mean.reinterpreted(Float.self), variance: variance.reinterpreted(Float.self))
    } else if T.self == Double.self {
        batchMomentsKernel(x.reinterpreted(Double.self), rows: rows, columns: columns, mean: mean.reinterpreted(Double.self), variance: variance.reinterpreted(Double.self))
    } else {
        batchMomentsKernel(x, rows: rows, columns: columns, mean: mean, variance: variance)
    }
}

@inline(__always)
func batchNormApply<T: TensorScalar>(_ xhat: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, columns: Int, mean: UnsafePointer<T>, inverseStd: UnsafePointer<T>, gamma: UnsafePointer<T>, beta: UnsafePointer<T>) {
    if T.self == Float.self {
        batchNormApplyKernel(xhat.reinterpreted(Float.self), y.reinterpreted(Float.self), rows: rows, columns: columns, mean: mean.reinterpreted(Float.self), inverseStd: inverseStd.reinterpreted(Float.self), gamma: gamma.reinterpreted(Float.self), beta: beta.reinterpreted(Float.self))
    } else if T.self == Double.self {
        batchNormApplyKernel(xhat.reinterpreted(Double.self), y.reinterpreted(Double.self), rows: rows, columns: columns, mean: mean.reinterpreted(Double.self), inverseStd: inverseStd.reinterpreted(Double.self), gamma: gamma.reinterpreted(Double.self), beta: beta.reinterpreted(Double.self))
    } else {
        batchNormApplyKernel(xhat, y, rows: rows, columns: columns, mean: mean, inverseStd: inverseStd, gamma: gamma, beta: beta)
    }
}

@inline(__always)
func columnSums<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, rows: Int, columns: Int, sum: UnsafeMutablePointer<T>, sumProduct: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        columnSumsKernel(a.reinterpreted(Float.self), b.reinterpreted(Float.self), rows: rows, columns: columns, sum: sum.reinterpreted(Float.self), sumProduct: sumProduct.reinterpreted(Float.self))
    } else if T.self == Double.self {
        columnSumsKernel(a.reinterpreted(Double.self), b.reinterpreted(Double.self), rows: rows, columns: columns, sum: sum.reinterpreted(Double.self), sumProduct: sumProduct.reinterpreted(Double.self))
    } else {
        columnSumsKernel(a, b, rows: rows, columns: columns, sum: sum, sumProduct: sumProduct)
    }
}

@inline(__always)
func batchNormBackward<T: TensorScalar>(_ g: UnsafeMutablePointer<T>, xhat: UnsafePointer<T>, rows: Int, columns: Int, gamma: UnsafePointer<T>, inverseStd: UnsafePointer<T>, sumDy: UnsafePointer<T>, sumDyXhat: UnsafePointer<T>, training: Bool) {
    if T.self == Float.self {
        batchNormBackwardKernel(g.reinterpreted(Float.self), xhat: xhat.reinterpreted(Float.self), rows: rows, columns: columns, gamma: gamma.reinterpreted(Float.self), inverseStd: inverseStd.reinterpreted(Float.self), sumDy: sumDy.reinterpreted(Float.self), sumDyXhat: sumDyXhat.reinterpreted(Float.self), training: training)
    } else if T.self == Double.self {
        batchNormBackwardKernel(g.reinterpreted(Double.self), xhat: xhat.reinterpreted(Double.self), rows: rows, columns: columns, gamma: gamma.reinterpreted(Double.self), inverseStd: inverseStd.reinterpreted(Double.self), sumDy: sumDy.reinterpreted(Double.self), sumDyXhat: sumDyXhat.reinterpreted(Double.self), training: training)
    } else {
        batchNormBackwardKernel(g, xhat: xhat, rows: rows, columns: columns, gamma: gamma, inverseStd: inverseStd, sumDy: sumDy, sumDyXhat: sumDyXhat, training: training)
    }
}

@inline(__always)
func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec, table: UnsafePointer<Int32>? = nil) {
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
func col2im<T: TensorScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec, table: UnsafePointer<Int32>? = nil) {
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

@inline(__always)
func permuteBlocks<T: TensorScalar>(from: UnsafePointer<T>, to: UnsafeMutablePointer<T>, samples: Range<Int>, channels: Int, batch: Int, plane: Int, toSampleMajor: Bool, bias: UnsafePointer<T>?) {
    if T.self == Float.self {
        // Float: the same copies, with the vectorized bias add of the C kernels.
        let f = from.reinterpreted(Float.self), t = to.reinterpreted(Float.self)
        let b = bias.map { $0.reinterpreted(Float.self) }
        for n in samples {
            for o in 0..<channels {
                let channelMajor = o * batch * plane + n * plane, sampleMajor = (n * channels + o) * plane
                if !toSampleMajor {
                    (t + channelMajor).update(from: f + sampleMajor, count: plane)
                } else if let b {
                    fl_copy_add_scalar_f32(f + channelMajor, t + sampleMajor, plane, b[o])
                } else {
                    (t + sampleMajor).update(from: f + channelMajor, count: plane)
                }
            }
        }
    } else if T.self == Double.self {
        permuteBlocksKernel(from: from.reinterpreted(Double.self), to: to.reinterpreted(Double.self), samples: samples, channels: channels, batch: batch, plane: plane, toSampleMajor: toSampleMajor, bias: bias.map { $0.reinterpreted(Double.self) })
    } else {
        permuteBlocksKernel(from: from, to: to, samples: samples, channels: channels, batch: batch, plane: plane, toSampleMajor: toSampleMajor, bias: bias)
    }
}

@inline(__always)
func accumulateRowSums<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
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
func broadcastRows<T: TensorScalar>(_ v: UnsafePointer<T>, columns: Int, rows: Int, into dst: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        broadcastRowsKernel(v.reinterpreted(Float.self), columns: columns, rows: rows, into: dst.reinterpreted(Float.self))
    } else if T.self == Double.self {
        broadcastRowsKernel(v.reinterpreted(Double.self), columns: columns, rows: rows, into: dst.reinterpreted(Double.self))
    } else {
        broadcastRowsKernel(v, columns: columns, rows: rows, into: dst)
    }
}

@inline(__always)
func accumulateColumnSums<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        accumulateColumnSumsKernel(src.reinterpreted(Float.self), rows: rows, columns: columns, into: out.reinterpreted(Float.self))
    } else if T.self == Double.self {
        accumulateColumnSumsKernel(src.reinterpreted(Double.self), rows: rows, columns: columns, into: out.reinterpreted(Double.self))
    } else {
        accumulateColumnSumsKernel(src, rows: rows, columns: columns, into: out)
    }
}

@inline(__always)
func reluForward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
        fl_relu_forward_f32(x.reinterpreted(Float.self), y.reinterpreted(Float.self), count)
    } else if T.self == Double.self {
        reluForwardKernel(x.reinterpreted(Double.self), y.reinterpreted(Double.self), count: count)
    } else {
        reluForwardKernel(x, y, count: count)
    }
}

@inline(__always)
func reluBackward<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
        fl_relu_backward_f32(y.reinterpreted(Float.self), dy.reinterpreted(Float.self), dx.reinterpreted(Float.self), count)
    } else if T.self == Double.self {
        reluBackwardKernel(y.reinterpreted(Double.self), dy.reinterpreted(Double.self), dx.reinterpreted(Double.self), count: count)
    } else {
        reluBackwardKernel(y, dy, dx, count: count)
    }
}

@inline(__always)
func l2NormalizeRows<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, rows: Int, columns: Int, epsilon: T, denominators: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        l2NormalizeRowsKernel(x.reinterpreted(Float.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Float.self), denominators: denominators.reinterpreted(Float.self))
    } else if T.self == Double.self {
        l2NormalizeRowsKernel(x.reinterpreted(Double.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Double.self), denominators: denominators.reinterpreted(Double.self))
    } else {
        l2NormalizeRowsKernel(x, rows: rows, columns: columns, epsilon: epsilon, denominators: denominators)
    }
}

@inline(__always)
func l2NormalizeBackward<T: TensorScalar>(_ y: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>, rows: Int, columns: Int, epsilon: T, denominators: UnsafePointer<T>) {
    if T.self == Float.self {
        l2NormalizeBackwardKernel(y.reinterpreted(Float.self), g.reinterpreted(Float.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Float.self), denominators: denominators.reinterpreted(Float.self))
    } else if T.self == Double.self {
        l2NormalizeBackwardKernel(y.reinterpreted(Double.self), g.reinterpreted(Double.self), rows: rows, columns: columns, epsilon: unsafeBitCast(epsilon, to: Double.self), denominators: denominators.reinterpreted(Double.self))
    } else {
        l2NormalizeBackwardKernel(y, g, rows: rows, columns: columns, epsilon: epsilon, denominators: denominators)
    }
}

@inline(__always)
func maxPoolForward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ arg: UnsafeMutablePointer<Int32>, planes: Range<Int>, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    if T.self == Float.self {
        maxPoolForwardKernel(x.reinterpreted(Float.self), y.reinterpreted(Float.self), arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else if T.self == Double.self {
        maxPoolForwardKernel(x.reinterpreted(Double.self), y.reinterpreted(Double.self), arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    } else {
        maxPoolForwardKernel(x, y, arg, planes: planes, h: h, w: w, oh: oh, ow: ow, spec: spec)
    }
}

@inline(__always)
func scatterAdd<T: TensorScalar>(_ g: UnsafePointer<T>, _ arg: UnsafePointer<Int32>, _ dx: UnsafeMutablePointer<T>, planes: Range<Int>, inPlane: Int, outPlane: Int) {
    if T.self == Float.self {
        scatterAddKernel(g.reinterpreted(Float.self), arg, dx.reinterpreted(Float.self), planes: planes, inPlane: inPlane, outPlane: outPlane)
    } else if T.self == Double.self {
        scatterAddKernel(g.reinterpreted(Double.self), arg, dx.reinterpreted(Double.self), planes: planes, inPlane: inPlane, outPlane: outPlane)
    } else {
        scatterAddKernel(g, arg, dx, planes: planes, inPlane: inPlane, outPlane: outPlane)
    }
}

@inline(__always)
func fillPlanes<T: TensorScalar>(_ g: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, planes: Int, area: Int, scale: T) {
    if T.self == Float.self {
        fillPlanesKernel(g.reinterpreted(Float.self), dx.reinterpreted(Float.self), planes: planes, area: area, scale: unsafeBitCast(scale, to: Float.self))
    } else if T.self == Double.self {
        fillPlanesKernel(g.reinterpreted(Double.self), dx.reinterpreted(Double.self), planes: planes, area: area, scale: unsafeBitCast(scale, to: Double.self))
    } else {
        fillPlanesKernel(g, dx, planes: planes, area: area, scale: scale)
    }
}
