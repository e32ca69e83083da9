// Per-channel statistics and normalization of `[N, C, H, W]` tensors (the inner loops of
// two-dimensional batch normalization). Every pass runs in parallel over the N·C planes, each
// plane handled whole by one thread; per-channel totals then add the plane partials in sample
// order n = 0, 1, …, N − 1. The summation order is therefore fixed by the shape alone and the
// results are bit-identical with any thread count.
//
// Notation: M = N·H·W values per channel, plane p = n·C + c holds x[n, c, :, :] (area H·W).

/// Per-channel mean and biased variance over the N, H and W axes of `[N, C, H, W]`:
/// μ_c = (1/M) Σ_{n,i,j} x[n, c, i, j],  σ²_c = (1/M) Σ_{n,i,j} (x[n, c, i, j] − μ_c)²  (two passes).
/// Returns C values each.
package func channelMoments<T: TensorScalar>(_ x: Tensor<T>) -> (mean: [T], variance: [T]) {
    let (n, c, area) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let m = T(n * area)
    var partial = [T](repeating: 0, count: n * c)
    var mean = [T](repeating: 0, count: c), variance = [T](repeating: 0, count: c)
    x.withUnsafeBufferPointer { xb in
        partial.withUnsafeMutableBufferPointer { pb in
            guard let xp = xb.baseAddress, let pp = pb.baseAddress else { return }
            forEachSampleChunk(n * c) { planes in
                channelPlaneSums(xp, planes: planes, area: area, center: nil, channels: c, into: pp)
            }
            mean.withUnsafeMutableBufferPointer { mb in
                combinePlanes(pp, samples: n, channels: c, into: mb.baseAddress!)
                for j in 0..<c { mb[j] /= m }
            }
            mean.withUnsafeBufferPointer { mb in
                forEachSampleChunk(n * c) { planes in
                    channelPlaneSums(xp, planes: planes, area: area, center: mb.baseAddress!, channels: c, into: pp)
                }
            }
            variance.withUnsafeMutableBufferPointer { vb in
                combinePlanes(pp, samples: n, channels: c, into: vb.baseAddress!)
                for j in 0..<c { vb[j] /= m }
            }
        }
    }
    return (mean, variance)
}

/// Per-channel normalization of `[N, C, H, W]`: x̂ = (x − mean_c)·inverseStd_c and
/// y = γ_c·x̂ + β_c (`mean`, `inverseStd`, `gamma`, `beta`: C values each). Returns x̂ and y,
/// both of x's shape.
package func channelNormApply<T: TensorScalar>(_ x: Tensor<T>, mean: [T], inverseStd: [T], gamma: [T], beta: [T])
    -> (normalized: Tensor<T>, output: Tensor<T>) {
    let (n, c, area) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    var xhat: Tensor<T> = uninitializedTensor(x.shape), y: Tensor<T> = uninitializedTensor(x.shape)
    // Per-channel affine maps x̂ = a·x + b and y = γ·x̂ + β.
    x.withUnsafeBufferPointer { xb in
        xhat.withUnsafeMutableBufferPointer { hb in
            y.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress, let hp = hb.baseAddress, let yp = yb.baseAddress else { return }
                forEachSampleChunk(n * c) { planes in
                    channelNormApplyPlanes(xp, hp, yp, planes: planes, area: area, channels: c, mean: mean,
                                           inverseStd: inverseStd, gamma: gamma, beta: beta)
                }
            }
        }
    }
    return (xhat, y)
}

/// Per-channel Σ_{n,i,j} a and Σ_{n,i,j} a·b of two `[N, C, H, W]` tensors (C values each);
/// for batch-norm backward, a = ∂L/∂y and b = x̂.
package func channelSums<T: TensorScalar>(_ a: Tensor<T>, _ b: Tensor<T>) -> (sum: [T], sumProduct: [T]) {
    let (n, c, area) = (a.shape[0], a.shape[1], a.shape[2] * a.shape[3])
    var partialSum = [T](repeating: 0, count: n * c), partialProduct = [T](repeating: 0, count: n * c)
    var sum = [T](repeating: 0, count: c), sumProduct = [T](repeating: 0, count: c)
    a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
            partialSum.withUnsafeMutableBufferPointer { sb in
                partialProduct.withUnsafeMutableBufferPointer { pb in
                    guard let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
                    let sp = sb.baseAddress!, pp = pb.baseAddress!
                    forEachSampleChunk(n * c) { planes in
                        channelPlaneSumAndProduct(ap, bp, planes: planes, area: area, sum: sp, sumProduct: pp)
                    }
                    sum.withUnsafeMutableBufferPointer { combinePlanes(sp, samples: n, channels: c, into: $0.baseAddress!) }
                    sumProduct.withUnsafeMutableBufferPointer { combinePlanes(pp, samples: n, channels: c, into: $0.baseAddress!) }
                }
            }
        }
    }
    return (sum, sumProduct)
}

/// ∂L/∂x of per-channel batch normalization, from ∂L/∂y (`gradOutput`, `[N, C, H, W]`), the
/// forward's x̂ (same shape; not read when `training` is false), γ, the inverse standard
/// deviations s and the channel sums Σ dy and Σ dy·x̂ (C values each), M = N·H·W:
///
///     training:  dx = (γ_c·s_c/M)·(M·dy − Σ dy − x̂·Σ dy·x̂)
///     eval:      dx = γ_c·s_c·dy
package func channelNormBackward<T: TensorScalar>(_ gradOutput: Tensor<T>, normalized xhat: Tensor<T>, gamma: [T],
                                                  inverseStd: [T], sumDy: [T], sumDyXhat: [T], training: Bool) -> Tensor<T> {
    let s = gradOutput.shape
    let (n, c, area) = (s[0], s[1], s[2] * s[3])
    let m = T(n * area)
    // dx = a·dy + b + k·x̂ per channel, with a = γs, and in training b = −γs·Σdy/M, k = −γs·Σdy·x̂/M.
    var scale = [T](repeating: 0, count: c), shift = [T](repeating: 0, count: c), slope = [T](repeating: 0, count: c)
    for j in 0..<c {
        let a = gamma[j] * inverseStd[j]
        scale[j] = a
        if training {
            shift[j] = -a * sumDy[j] / m
            slope[j] = -a * sumDyXhat[j] / m
        }
    }
    var dx: Tensor<T> = uninitializedTensor(s)
    gradOutput.withUnsafeBufferPointer { gb in
        xhat.withUnsafeBufferPointer { hb in
            dx.withUnsafeMutableBufferPointer { db in
                guard let gp = gb.baseAddress, let dp = db.baseAddress else { return }
                let hp = training ? hb.baseAddress : nil
                forEachSampleChunk(n * c) { planes in
                    channelAffinePlanes(gp, hp, dp, planes: planes, area: area, channels: c, scale: scale, shift: shift,
                                        slope: slope)
                }
            }
        }
    }
    return dx
}

// MARK: - Dispatchers (Float and Double reach a specialized kernel)

@inline(__always)
func channelPlaneSums<T: TensorScalar>(_ x: UnsafePointer<T>, planes: Range<Int>, area: Int, center: UnsafePointer<T>?,
                                       channels: Int, into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        channelPlaneSumsKernel(x.reinterpreted(Float.self), planes: planes, area: area,
                               center: center?.reinterpreted(Float.self), channels: channels, into: out.reinterpreted(Float.self))
    } else if T.self == Double.self {
        channelPlaneSumsKernel(x.reinterpreted(Double.self), planes: planes, area: area,
                               center: center?.reinterpreted(Double.self), channels: channels, into: out.reinterpreted(Double.self))
    } else {
        channelPlaneSumsKernel(x, planes: planes, area: area, center: center, channels: channels, into: out)
    }
}

@inline(__always)
func channelPlaneSumAndProduct<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, planes: Range<Int>, area: Int,
                                                sum: UnsafeMutablePointer<T>, sumProduct: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        channelPlaneSumAndProductKernel(a.reinterpreted(Float.self), b.reinterpreted(Float.self), planes: planes, area: area,
                                        sum: sum.reinterpreted(Float.self), sumProduct: sumProduct.reinterpreted(Float.self))
    } else if T.self == Double.self {
        channelPlaneSumAndProductKernel(a.reinterpreted(Double.self), b.reinterpreted(Double.self), planes: planes, area: area,
                                        sum: sum.reinterpreted(Double.self), sumProduct: sumProduct.reinterpreted(Double.self))
    } else {
        channelPlaneSumAndProductKernel(a, b, planes: planes, area: area, sum: sum, sumProduct: sumProduct)
    }
}

@inline(__always)
func channelNormApplyPlanes<T: TensorScalar>(_ x: UnsafePointer<T>, _ xhat: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                             planes: Range<Int>, area: Int, channels: Int, mean: [T], inverseStd: [T],
                                             gamma: [T], beta: [T]) {
    if T.self == Float.self {
        channelNormApplyKernel(x.reinterpreted(Float.self), xhat.reinterpreted(Float.self), y.reinterpreted(Float.self),
                               planes: planes, area: area, channels: channels,
                               mean: unsafeBitCast(mean, to: [Float].self), inverseStd: unsafeBitCast(inverseStd, to: [Float].self),
                               gamma: unsafeBitCast(gamma, to: [Float].self), beta: unsafeBitCast(beta, to: [Float].self))
    } else if T.self == Double.self {
        channelNormApplyKernel(x.reinterpreted(Double.self), xhat.reinterpreted(Double.self), y.reinterpreted(Double.self),
                               planes: planes, area: area, channels: channels,
                               mean: unsafeBitCast(mean, to: [Double].self), inverseStd: unsafeBitCast(inverseStd, to: [Double].self),
                               gamma: unsafeBitCast(gamma, to: [Double].self), beta: unsafeBitCast(beta, to: [Double].self))
    } else {
        channelNormApplyKernel(x, xhat, y, planes: planes, area: area, channels: channels, mean: mean, inverseStd: inverseStd,
                               gamma: gamma, beta: beta)
    }
}

@inline(__always)
func channelAffinePlanes<T: TensorScalar>(_ g: UnsafePointer<T>, _ xhat: UnsafePointer<T>?, _ dx: UnsafeMutablePointer<T>,
                                          planes: Range<Int>, area: Int, channels: Int, scale: [T], shift: [T], slope: [T]) {
    if T.self == Float.self {
        channelAffineKernel(g.reinterpreted(Float.self), xhat?.reinterpreted(Float.self), dx.reinterpreted(Float.self),
                            planes: planes, area: area, channels: channels, scale: unsafeBitCast(scale, to: [Float].self),
                            shift: unsafeBitCast(shift, to: [Float].self), slope: unsafeBitCast(slope, to: [Float].self))
    } else if T.self == Double.self {
        channelAffineKernel(g.reinterpreted(Double.self), xhat?.reinterpreted(Double.self), dx.reinterpreted(Double.self),
                            planes: planes, area: area, channels: channels, scale: unsafeBitCast(scale, to: [Double].self),
                            shift: unsafeBitCast(shift, to: [Double].self), slope: unsafeBitCast(slope, to: [Double].self))
    } else {
        channelAffineKernel(g, xhat, dx, planes: planes, area: area, channels: channels, scale: scale, shift: shift, slope: slope)
    }
}

// MARK: - Kernels

/// out[p] = Σ_k x[p, k] (or Σ_k (x[p, k] − center[p mod channels])² when `center` is given) for
/// each plane p in `planes`, each plane summed in index order.
@inline(never)
func channelPlaneSumsKernel<T: TensorScalar>(_ x: UnsafePointer<T>, planes: Range<Int>, area: Int, center: UnsafePointer<T>?,
                                             channels: Int, into out: UnsafeMutablePointer<T>) {
    for p in planes {
        let src = x + p * area
        var acc: T = 0
        if let center {
            let mu = center[p % channels]
            for k in 0..<area { let d = src[k] - mu; acc += d * d }
        } else {
            for k in 0..<area { acc += src[k] }
        }
        out[p] = acc
    }
}

/// sum[p] = Σ_k a[p, k] and sumProduct[p] = Σ_k a[p, k]·b[p, k] for each plane p in `planes`.
@inline(never)
func channelPlaneSumAndProductKernel<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, planes: Range<Int>,
                                                      area: Int, sum: UnsafeMutablePointer<T>, sumProduct: UnsafeMutablePointer<T>) {
    for p in planes {
        let pa = a + p * area, pb = b + p * area
        var s: T = 0, sp: T = 0
        for k in 0..<area { s += pa[k]; sp += pa[k] * pb[k] }
        sum[p] = s
        sumProduct[p] = sp
    }
}

/// out[c] = Σ_n partial[n·channels + c], samples added in order n = 0, 1, ….
func combinePlanes<T: TensorScalar>(_ partial: UnsafePointer<T>, samples: Int, channels: Int, into out: UnsafeMutablePointer<T>) {
    for c in 0..<channels {
        var acc: T = 0
        for n in 0..<samples { acc += partial[n * channels + c] }
        out[c] = acc
    }
}

/// x̂ = (x − μ_c)·s_c and y = γ_c·x̂ + β_c on the planes in `planes`.
@inline(never)
func channelNormApplyKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ xhat: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                             planes: Range<Int>, area: Int, channels: Int, mean: [T], inverseStd: [T],
                                             gamma: [T], beta: [T]) {
    for p in planes {
        let c = p % channels
        let mu = mean[c], s = inverseStd[c], g = gamma[c], b = beta[c]
        let src = x + p * area, h = xhat + p * area, dst = y + p * area
        for k in 0..<area {
            let v = (src[k] - mu) * s
            h[k] = v
            dst[k] = g * v + b
        }
    }
}

/// dx = scale_c·g + shift_c + slope_c·x̂ on the planes in `planes` (dx = scale_c·g when `xhat` is nil).
@inline(never)
func channelAffineKernel<T: TensorScalar>(_ g: UnsafePointer<T>, _ xhat: UnsafePointer<T>?, _ dx: UnsafeMutablePointer<T>,
                                          planes: Range<Int>, area: Int, channels: Int, scale: [T], shift: [T], slope: [T]) {
    for p in planes {
        let c = p % channels
        let a = scale[c], src = g + p * area, dst = dx + p * area
        if let xhat {
            let b = shift[c], k = slope[c], h = xhat + p * area
            for i in 0..<area { dst[i] = a * src[i] + b + k * h[i] }
        } else {
            for i in 0..<area { dst[i] = a * src[i] }
        }
    }
}
