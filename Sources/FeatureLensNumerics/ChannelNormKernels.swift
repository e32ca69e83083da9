// Per-channel statistics, normalization and its gradient for `[N, C, H, W]` tensors (the inner
// loops of two-dimensional batch normalization). Every pass runs in parallel over the N·C
// planes, each plane handled whole by one thread with a fixed order of operations; per-channel
// totals then add the plane partials in sample order n = 0, 1, …, N − 1. The summation order is
// therefore fixed by the shape alone and the results are bit-identical with any thread count.
//
// Notation: M = N·H·W values per channel, plane p = n·C + c holds x[n, c, :, :] (area H·W).
// Sums over a plane run in Double, in four interleaved partial sums (elements k ≡ 0, 1, 2, 3
// mod 4) added as (s₀ + s₁) + (s₂ + s₃): the passes are then limited by memory, not by the
// latency of one long chain of additions, and the one-pass variance E[x²] − μ² keeps about
// 16 significant digits before its cancellation (a Float result needs 7). The backward sums of
// Float tensors run in eight Float lanes per plane instead (`channelGradientSumKernelFloat`;
// they have no such cancellation), and add the plane totals in Double.

/// Per-channel mean and biased variance over the N, H and W axes of `[N, C, H, W]`, in one pass:
/// μ_c = (1/M) Σ_{n,i,j} x,  σ²_c = max(0, (1/M) Σ_{n,i,j} x² − μ_c²), the sums in Double.
/// Returns C values each.
package func channelMoments<T: TensorScalar>(_ x: Tensor<T>) -> (mean: [T], variance: [T]) {
    let (n, c, area) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let m = Double(n * area)
    var partialSum = [Double](repeating: 0, count: n * c), partialSquares = [Double](repeating: 0, count: n * c)
    x.withUnsafeBufferPointer { xb in
        partialSum.withUnsafeMutableBufferPointer { sb in
            partialSquares.withUnsafeMutableBufferPointer { qb in
                guard let xp = xb.baseAddress else { return }
                let sp = sb.baseAddress!, qp = qb.baseAddress!
                forEachSampleChunk(n * c) { planes in
                    channelPlaneMoments(xp, planes: planes, area: area, sum: sp, sumSquares: qp)
                }
            }
        }
    }
    let sum = combinePlanes(partialSum, samples: n, channels: c)
    let squares = combinePlanes(partialSquares, samples: n, channels: c)
    var mean = [T](repeating: 0, count: c), variance = [T](repeating: 0, count: c)
    for j in 0..<c {
        let mu = sum[j] / m
        mean[j] = T(mu)
        variance[j] = T(Swift.max(0, squares[j] / m - mu * mu))
    }
    return (mean, variance)
}

/// Per-channel normalization of `[N, C, H, W]` with an optional residual sum and ReLU, as one
/// pass: v = (x − mean_c)·(γ_c·inverseStd_c) + β_c, then v + r when `residual` r (x's shape) is
/// given, then max(0, v) when `relu` (NaN propagates, as PyTorch's ReLU). `mean`, `inverseStd`,
/// `gamma`, `beta`: C values each. Returns a tensor of x's shape.
package func channelNormForward<T: TensorScalar>(_ x: Tensor<T>, mean: [T], inverseStd: [T], gamma: [T], beta: [T],
                                                 residual: Tensor<T>?, relu: Bool) -> Tensor<T> {
    let (n, c, area) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    if let residual { precondition(residual.shape == x.shape, "channelNormForward: residual \(residual.shape), input \(x.shape)") }
    var scale = [T](repeating: 0, count: c)
    for j in 0..<c { scale[j] = gamma[j] * inverseStd[j] }
    var y: Tensor<T> = uninitializedTensor(x.shape)
    x.withUnsafeBufferPointer { xb in
        withOptionalBuffer(residual) { rp in
            y.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                forEachSampleChunk(n * c) { planes in
                    channelNormForwardPlanes(xp, rp, yp, planes: planes, area: area, channels: c, mean: mean, scale: scale,
                                             shift: beta, relu: relu)
                }
            }
        }
    }
    return y
}

/// The two channel sums of batch-norm backward, recomputing x̂ = (x − mean_c)·inverseStd_c from
/// the forward's input x instead of storing it: with g = ∂L/∂y, or g = ∂L/∂y·1[y > 0] when the
/// forward applied a ReLU and `reluOutput` is its output y,
///
///     sum_c = Σ_{n,i,j} g,   sumProduct_c = Σ_{n,i,j} g·x̂ = inverseStd_c · Σ_{n,i,j} g·(x − mean_c)
///
/// (plane totals added in Double). All tensors `[N, C, H, W]`; `mean`, `inverseStd`: C values; returns C values each.
package func channelNormGradientSums<T: TensorScalar>(_ gradOutput: Tensor<T>, input x: Tensor<T>, reluOutput: Tensor<T>?,
                                                      mean: [T], inverseStd: [T]) -> (sum: [T], sumProduct: [T]) {
    let (n, c, area) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    var partialSum = [Double](repeating: 0, count: n * c), partialProduct = [Double](repeating: 0, count: n * c)
    gradOutput.withUnsafeBufferPointer { gb in
        x.withUnsafeBufferPointer { xb in
            withOptionalBuffer(reluOutput) { yp in
                partialSum.withUnsafeMutableBufferPointer { sb in
                    partialProduct.withUnsafeMutableBufferPointer { pb in
                        guard let gp = gb.baseAddress, let xp = xb.baseAddress else { return }
                        let sp = sb.baseAddress!, pp = pb.baseAddress!
                        forEachSampleChunk(n * c) { planes in
                            channelGradientSumPlanes(gp, xp, yp, planes: planes, area: area, channels: c, mean: mean,
                                                     sum: sp, sumProduct: pp)
                        }
                    }
                }
            }
        }
    }
    let sum = combinePlanes(partialSum, samples: n, channels: c)
    let product = combinePlanes(partialProduct, samples: n, channels: c)
    return (sum.map { T($0) }, (0..<c).map { T(Double(inverseStd[$0]) * product[$0]) })
}

/// ∂L/∂x of per-channel batch normalization from ∂L/∂y (`gradOutput`), the forward's input x
/// and its `mean` (the batch's in training, the running mean in evaluation), γ, the inverse
/// standard deviations s and the channel sums Σ g and Σ g·x̂ of `channelNormGradientSums`
/// (C values each), M = N·H·W, g as there (masked by 1[y > 0] when `reluOutput` is given):
///
///     training:  dx = (γ_c·s_c/M)·(M·g − Σ g − x̂·Σ g·x̂),  x̂ = (x − mean_c)·s_c
///     eval:      dx = γ_c·s_c·g
package func channelNormBackward<T: TensorScalar>(_ gradOutput: Tensor<T>, input x: Tensor<T>, reluOutput: Tensor<T>?,
                                                  mean: [T], gamma: [T], inverseStd: [T], sum: [T], sumProduct: [T],
                                                  training: Bool) -> Tensor<T> {
    let s = gradOutput.shape
    let (n, c, area) = (s[0], s[1], s[2] * s[3])
    let m = T(n * area)
    // dx = a·g + b + k·(x − μ) per channel, with a = γs, and in training b = −γs·Σg/M,
    // k = −γs·s·Σg·x̂/M (k·(x − μ) = −γs·x̂·Σg·x̂/M).
    var scale = [T](repeating: 0, count: c), shift = [T](repeating: 0, count: c), slope = [T](repeating: 0, count: c)
    for j in 0..<c {
        let a = gamma[j] * inverseStd[j]
        scale[j] = a
        if training {
            shift[j] = -a * sum[j] / m
            slope[j] = -a * inverseStd[j] * sumProduct[j] / m
        }
    }
    var dx: Tensor<T> = uninitializedTensor(s)
    gradOutput.withUnsafeBufferPointer { gb in
        x.withUnsafeBufferPointer { xb in
            withOptionalBuffer(reluOutput) { yp in
                dx.withUnsafeMutableBufferPointer { db in
                    guard let gp = gb.baseAddress, let xp = xb.baseAddress, let dp = db.baseAddress else { return }
                    forEachSampleChunk(n * c) { planes in
                        channelNormBackwardPlanes(gp, training ? xp : nil, yp, dp, planes: planes, area: area, channels: c,
                                                  mean: mean, scale: scale, shift: shift, slope: slope)
                    }
                }
            }
        }
    }
    return dx
}

/// `body` with the base address of `tensor`'s scalars, or nil when there is no tensor.
private func withOptionalBuffer<T: TensorScalar, R>(_ tensor: Tensor<T>?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// out[c] = Σ_n partial[n·channels + c], samples added in order n = 0, 1, ….
func combinePlanes(_ partial: [Double], samples: Int, channels: Int) -> [Double] {
    var out = [Double](repeating: 0, count: channels)
    for n in 0..<samples { for c in 0..<channels { out[c] += partial[n * channels + c] } }
    return out
}

// MARK: - Dispatchers (Float and Double reach a specialized kernel)

@inline(__always)
func channelPlaneMoments<T: TensorScalar>(_ x: UnsafePointer<T>, planes: Range<Int>, area: Int,
                                          sum: UnsafeMutablePointer<Double>, sumSquares: UnsafeMutablePointer<Double>) {
    if T.self == Float.self {
        channelPlaneMomentsKernel(x.reinterpreted(Float.self), planes: planes, area: area, sum: sum, sumSquares: sumSquares)
    } else if T.self == Double.self {
        channelPlaneMomentsKernel(x.reinterpreted(Double.self), planes: planes, area: area, sum: sum, sumSquares: sumSquares)
    } else {
        channelPlaneMomentsKernel(x, planes: planes, area: area, sum: sum, sumSquares: sumSquares)
    }
}

@inline(__always)
func channelNormForwardPlanes<T: TensorScalar>(_ x: UnsafePointer<T>, _ r: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>,
                                               planes: Range<Int>, area: Int, channels: Int, mean: [T], scale: [T],
                                               shift: [T], relu: Bool) {
    if T.self == Float.self {
        channelNormForwardKernel(x.reinterpreted(Float.self), r?.reinterpreted(Float.self), y.reinterpreted(Float.self),
                                 planes: planes, area: area, channels: channels, mean: unsafeBitCast(mean, to: [Float].self),
                                 scale: unsafeBitCast(scale, to: [Float].self), shift: unsafeBitCast(shift, to: [Float].self),
                                 relu: relu)
    } else if T.self == Double.self {
        channelNormForwardKernel(x.reinterpreted(Double.self), r?.reinterpreted(Double.self), y.reinterpreted(Double.self),
                                 planes: planes, area: area, channels: channels, mean: unsafeBitCast(mean, to: [Double].self),
                                 scale: unsafeBitCast(scale, to: [Double].self), shift: unsafeBitCast(shift, to: [Double].self),
                                 relu: relu)
    } else {
        channelNormForwardKernel(x, r, y, planes: planes, area: area, channels: channels, mean: mean, scale: scale, shift: shift,
                                 relu: relu)
    }
}

@inline(__always)
func channelGradientSumPlanes<T: TensorScalar>(_ g: UnsafePointer<T>, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>?,
                                               planes: Range<Int>, area: Int, channels: Int, mean: [T],
                                               sum: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>) {
    if T.self == Float.self {
        channelGradientSumKernelFloat(g.reinterpreted(Float.self), x.reinterpreted(Float.self), y?.reinterpreted(Float.self),
                                      planes: planes, area: area, channels: channels, mean: unsafeBitCast(mean, to: [Float].self),
                                      sum: sum, sumProduct: sumProduct)
    } else if T.self == Double.self {
        channelGradientSumKernel(g.reinterpreted(Double.self), x.reinterpreted(Double.self), y?.reinterpreted(Double.self),
                                 planes: planes, area: area, channels: channels, mean: unsafeBitCast(mean, to: [Double].self),
                                 sum: sum, sumProduct: sumProduct)
    } else {
        channelGradientSumKernel(g, x, y, planes: planes, area: area, channels: channels, mean: mean, sum: sum, sumProduct: sumProduct)
    }
}

@inline(__always)
func channelNormBackwardPlanes<T: TensorScalar>(_ g: UnsafePointer<T>, _ x: UnsafePointer<T>?, _ y: UnsafePointer<T>?,
                                                _ dx: UnsafeMutablePointer<T>, planes: Range<Int>, area: Int, channels: Int,
                                                mean: [T], scale: [T], shift: [T], slope: [T]) {
    if T.self == Float.self {
        channelNormBackwardKernel(g.reinterpreted(Float.self), x?.reinterpreted(Float.self), y?.reinterpreted(Float.self),
                                  dx.reinterpreted(Float.self), planes: planes, area: area, channels: channels,
                                  mean: unsafeBitCast(mean, to: [Float].self), scale: unsafeBitCast(scale, to: [Float].self),
                                  shift: unsafeBitCast(shift, to: [Float].self), slope: unsafeBitCast(slope, to: [Float].self))
    } else if T.self == Double.self {
        channelNormBackwardKernel(g.reinterpreted(Double.self), x?.reinterpreted(Double.self), y?.reinterpreted(Double.self),
                                  dx.reinterpreted(Double.self), planes: planes, area: area, channels: channels,
                                  mean: unsafeBitCast(mean, to: [Double].self), scale: unsafeBitCast(scale, to: [Double].self),
                                  shift: unsafeBitCast(shift, to: [Double].self), slope: unsafeBitCast(slope, to: [Double].self))
    } else {
        channelNormBackwardKernel(g, x, y, dx, planes: planes, area: area, channels: channels, mean: mean, scale: scale,
                                  shift: shift, slope: slope)
    }
}

// MARK: - Kernels

/// sum[p] = Σ_k x[p, k] and sumSquares[p] = Σ_k x[p, k]² in Double for each plane p in `planes`
/// (four interleaved partial sums, see the top of this file).
@inline(never)
func channelPlaneMomentsKernel<T: TensorScalar>(_ x: UnsafePointer<T>, planes: Range<Int>, area: Int,
                                                sum: UnsafeMutablePointer<Double>, sumSquares: UnsafeMutablePointer<Double>) {
    let body = area & ~3
    for p in planes {
        let src = x + p * area
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, q0 = 0.0, q1 = 0.0, q2 = 0.0, q3 = 0.0
        var k = 0
        while k < body {
            let a = Double(src[k]), b = Double(src[k + 1]), c = Double(src[k + 2]), d = Double(src[k + 3])
            s0 += a; s1 += b; s2 += c; s3 += d
            q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d
            k += 4
        }
        while k < area {
            let a = Double(src[k])
            s0 += a; q0 += a * a
            k += 1
        }
        sum[p] = (s0 + s1) + (s2 + s3)
        sumSquares[p] = (q0 + q1) + (q2 + q3)
    }
}

/// y = (x − mean_c)·scale_c + shift_c, then + r (when given), then max(0, ·) (when `relu`) on the
/// planes in `planes`.
@inline(never)
func channelNormForwardKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ r: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>,
                                               planes: Range<Int>, area: Int, channels: Int, mean: [T], scale: [T],
                                               shift: [T], relu: Bool) {
    for p in planes {
        let c = p % channels
        let mu = mean[c], a = scale[c], b = shift[c]
        let src = x + p * area, dst = y + p * area
        if let r {
            let res = r + p * area
            if relu {
                for k in 0..<area { let v = (src[k] - mu) * a + b + res[k]; dst[k] = v > 0 || v.isNaN ? v : 0 }
            } else {
                for k in 0..<area { dst[k] = (src[k] - mu) * a + b + res[k] }
            }
        } else if relu {
            for k in 0..<area { let v = (src[k] - mu) * a + b; dst[k] = v > 0 || v.isNaN ? v : 0 }
        } else {
            for k in 0..<area { dst[k] = (src[k] - mu) * a + b }
        }
    }
}

/// sum[p] = Σ_k g[p, k] and sumProduct[p] = Σ_k g[p, k]·(x[p, k] − mean_c) in Double, with
/// g = dy·1[y > 0] when `y` is given (four interleaved partial sums, see the top of this file).
@inline(never)
func channelGradientSumKernel<T: TensorScalar>(_ dy: UnsafePointer<T>, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>?,
                                               planes: Range<Int>, area: Int, channels: Int, mean: [T],
                                               sum: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>) {
    let body = area & ~3
    for p in planes {
        let mu = mean[p % channels]
        let gp = dy + p * area, xp = x + p * area
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, q0 = 0.0, q1 = 0.0, q2 = 0.0, q3 = 0.0
        if let y {
            let yp = y + p * area
            var k = 0
            while k < body {
                // Every value is loaded and then selected (no conditional loads), so the loop vectorizes.
                let g0 = gp[k], g1 = gp[k + 1], g2 = gp[k + 2], g3 = gp[k + 3]
                let a = yp[k] > 0 ? Double(g0) : 0, b = yp[k + 1] > 0 ? Double(g1) : 0
                let c = yp[k + 2] > 0 ? Double(g2) : 0, d = yp[k + 3] > 0 ? Double(g3) : 0
                s0 += a; s1 += b; s2 += c; s3 += d
                q0 += a * Double(xp[k] - mu); q1 += b * Double(xp[k + 1] - mu)
                q2 += c * Double(xp[k + 2] - mu); q3 += d * Double(xp[k + 3] - mu)
                k += 4
            }
            while k < area {
                let g0 = gp[k]
                let a = yp[k] > 0 ? Double(g0) : 0
                s0 += a; q0 += a * Double(xp[k] - mu)
                k += 1
            }
        } else {
            var k = 0
            while k < body {
                let a = Double(gp[k]), b = Double(gp[k + 1]), c = Double(gp[k + 2]), d = Double(gp[k + 3])
                s0 += a; s1 += b; s2 += c; s3 += d
                q0 += a * Double(xp[k] - mu); q1 += b * Double(xp[k + 1] - mu)
                q2 += c * Double(xp[k + 2] - mu); q3 += d * Double(xp[k + 3] - mu)
                k += 4
            }
            while k < area {
                let a = Double(gp[k])
                s0 += a; q0 += a * Double(xp[k] - mu)
                k += 1
            }
        }
        sum[p] = (s0 + s1) + (s2 + s3)
        sumProduct[p] = (q0 + q1) + (q2 + q3)
    }
}

/// `channelGradientSumKernel` for Float, in eight Float lanes per plane (element k in lane
/// k mod 8, the tail in lane 0; lanes added by `SIMD8.sum()`), each plane's totals then in
/// Double: a plane holds at most a few thousand values, and the lanes keep the loop vectorized.
@inline(never)
func channelGradientSumKernelFloat(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>?,
                                   planes: Range<Int>, area: Int, channels: Int, mean: [Float],
                                   sum: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>) {
    let body = area & ~7
    for p in planes {
        let mu = mean[p % channels], muv = SIMD8<Float>(repeating: mu)
        let gp = dy + p * area, xp = x + p * area
        var s = SIMD8<Float>(), q = SIMD8<Float>()
        var tailSum: Float = 0, tailProduct: Float = 0
        if let y {
            let yp = y + p * area
            var k = 0
            while k < body {
                let g = UnsafeRawPointer(gp + k).loadUnaligned(as: SIMD8<Float>.self)
                let yv = UnsafeRawPointer(yp + k).loadUnaligned(as: SIMD8<Float>.self)
                let xv = UnsafeRawPointer(xp + k).loadUnaligned(as: SIMD8<Float>.self)
                let masked = SIMD8<Float>().replacing(with: g, where: yv .> 0)
                s += masked
                q += masked * (xv - muv)
                k += 8
            }
            while k < area {
                let g = gp[k], a: Float = yp[k] > 0 ? g : 0
                tailSum += a; tailProduct += a * (xp[k] - mu)
                k += 1
            }
        } else {
            var k = 0
            while k < body {
                let g = UnsafeRawPointer(gp + k).loadUnaligned(as: SIMD8<Float>.self)
                let xv = UnsafeRawPointer(xp + k).loadUnaligned(as: SIMD8<Float>.self)
                s += g
                q += g * (xv - muv)
                k += 8
            }
            while k < area {
                tailSum += gp[k]; tailProduct += gp[k] * (xp[k] - mu)
                k += 1
            }
        }
        sum[p] = Double(s.sum()) + Double(tailSum)
        sumProduct[p] = Double(q.sum()) + Double(tailProduct)
    }
}

/// dx = scale_c·g + shift_c + slope_c·(x − mean_c) on the planes in `planes` (dx = scale_c·g when
/// `x` is nil), g = dy·1[y > 0] when `y` is given, else dy.
@inline(never)
func channelNormBackwardKernel<T: TensorScalar>(_ dy: UnsafePointer<T>, _ x: UnsafePointer<T>?, _ y: UnsafePointer<T>?,
                                                _ dx: UnsafeMutablePointer<T>, planes: Range<Int>, area: Int, channels: Int,
                                                mean: [T], scale: [T], shift: [T], slope: [T]) {
    for p in planes {
        let c = p % channels
        let a = scale[c], gp = dy + p * area, dst = dx + p * area
        let yp = y.map { $0 + p * area }
        if let x {
            let b = shift[c], k = slope[c], mu = mean[c], xp = x + p * area
            if let yp {
                // g loaded, then selected (no conditional load), so the loop vectorizes.
                for i in 0..<area { let dy = gp[i], g = yp[i] > 0 ? dy : 0; dst[i] = a * g + b + k * (xp[i] - mu) }
            } else {
                for i in 0..<area { dst[i] = a * gp[i] + b + k * (xp[i] - mu) }
            }
        } else if let yp {
            for i in 0..<area { let v = a * gp[i]; dst[i] = yp[i] > 0 ? v : 0 }
        } else {
            for i in 0..<area { dst[i] = a * gp[i] }
        }
    }
}
