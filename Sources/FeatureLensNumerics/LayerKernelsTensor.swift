// Tensor-level entry points of the layer kernels (LayerKernels.swift): the layers in the
// targets above call these with tensors and arrays and never touch a pointer. Each one runs the
// same chunked kernels the layers used to call directly, so results are bit-identical.

/// y = max(0, x) elementwise (NaN propagates, as in PyTorch); any shape, in parallel chunks.
package func reluForward<T: TensorScalar>(_ input: Tensor<T>) -> Tensor<T> {
    var y: Tensor<T> = uninitializedTensor(input.shape)
    input.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { yb in
            guard let xp = x.baseAddress, let yp = yb.baseAddress else { return }
            forEachElementChunk(x.count) { r in reluForward(xp + r.lowerBound, yp + r.lowerBound, count: r.count) }
        }
    }
    return y
}

/// dx = dy · 1[y > 0] for the ReLU output `y`; `gradOutput` has y's shape.
package func reluBackward<T: TensorScalar>(output y: Tensor<T>, gradOutput: Tensor<T>) -> Tensor<T> {
    var dx: Tensor<T> = uninitializedTensor(y.shape)
    y.withUnsafeBufferPointer { yb in
        gradOutput.withUnsafeBufferPointer { g in
            dx.withUnsafeMutableBufferPointer { d in
                guard let yp = yb.baseAddress, let gp = g.baseAddress, let dp = d.baseAddress else { return }
                forEachElementChunk(yb.count) { r in
                    reluBackward(yp + r.lowerBound, gp + r.lowerBound, dp + r.lowerBound, count: r.count)
                }
            }
        }
    }
    return dx
}

/// Row-wise y_i = x_i / max(‖x_i‖₂, ε) of a `[rows, columns]` matrix, with the denominators
/// (`rows` values) that `l2NormalizeBackward` needs.
package func l2NormalizeRows<T: TensorScalar>(_ input: Tensor<T>, epsilon: T) -> (output: Tensor<T>, denominators: [T]) {
    let n = input.shape[0], d = input.shape[1]
    var y = input
    var denominators = [T](repeating: 0, count: n)
    y.withUnsafeMutableBufferPointer { yb in
        guard let yp = yb.baseAddress else { return }
        denominators.withUnsafeMutableBufferPointer { db in
            l2NormalizeRows(yp, rows: n, columns: d, epsilon: epsilon, denominators: db.baseAddress!)
        }
    }
    return (y, denominators)
}

/// ∂L/∂x of the row normalization, given its output `y` (`[rows, columns]`), ∂L/∂y of the same
/// shape and the forward's denominators.
package func l2NormalizeBackward<T: TensorScalar>(output y: Tensor<T>, gradOutput: Tensor<T>, epsilon: T,
                                                  denominators: [T]) -> Tensor<T> {
    let n = y.shape[0], d = y.shape[1]
    var dx = gradOutput
    y.withUnsafeBufferPointer { yb in
        dx.withUnsafeMutableBufferPointer { db in
            guard let yp = yb.baseAddress, let dp = db.baseAddress else { return }
            l2NormalizeBackward(yp, dp, rows: n, columns: d, epsilon: epsilon, denominators: denominators)
        }
    }
    return dx
}

/// 2-D max pooling of `[N, C, H, W]` into `outputShape` (`[N, C, H_out, W_out]`), with the index
/// of each maximum inside its input plane (`argmax`, one per output element) for the backward pass.
package func maxPool2DForward<T: TensorScalar>(_ input: Tensor<T>, outputShape: [Int], spec: ConvSpec)
    -> (output: Tensor<T>, argmax: [Int32]) {
    let planes = input.shape[0] * input.shape[1]
    let h = input.shape[2], w = input.shape[3], oh = outputShape[2], ow = outputShape[3]
    var y: Tensor<T> = uninitializedTensor(outputShape)  // every element written below
    var argmax = [Int32](repeating: 0, count: y.count)
    input.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            argmax.withUnsafeMutableBufferPointer { ab in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress, let ap = ab.baseAddress else { return }
                forEachSampleChunk(planes) { range in
                    maxPoolForward(xp, yp, ap, planes: range, h: h, w: w, oh: oh, ow: ow, spec: spec)
                }
            }
        }
    }
    return (y, argmax)
}

/// ∂L/∂x (`inputShape`, `[N, C, H, W]`) of max pooling: each output gradient added at its argmax.
package func maxPool2DBackward<T: TensorScalar>(_ gradOutput: Tensor<T>, argmax: [Int32], inputShape s: [Int]) -> Tensor<T> {
    var dx: Tensor<T> = zerosTensor(s)
    let planes = s[0] * s[1], inPlane = s[2] * s[3], outPlane = gradOutput.shape[2] * gradOutput.shape[3]
    gradOutput.withUnsafeBufferPointer { gb in
        dx.withUnsafeMutableBufferPointer { db in
            argmax.withUnsafeBufferPointer { ab in
                guard let gp = gb.baseAddress, let dp = db.baseAddress, let ap = ab.baseAddress else { return }
                forEachSampleChunk(planes) { range in
                    scatterAdd(gp, ap, dp, planes: range, inPlane: inPlane, outPlane: outPlane)
                }
            }
        }
    }
    return dx
}

/// The mean of each H×W plane: `[N, C, H, W]` → `[N, C]`.
package func globalAveragePoolForward<T: TensorScalar>(_ input: Tensor<T>) -> Tensor<T> {
    let planes = input.shape[0] * input.shape[1], area = input.shape[2] * input.shape[3]
    var y: Tensor<T> = zerosTensor([input.shape[0], input.shape[1]])
    input.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
            accumulateRowSums(xp, rows: planes, columns: area, into: yp)
            let inv = 1 / T(area)
            for i in 0..<planes { yp[i] *= inv }
        }
    }
    return y
}

/// ∂L/∂x of global average pooling: dx[n, c, i, j] = dy[n, c] / (H·W), `inputShape` `[N, C, H, W]`.
package func globalAveragePoolBackward<T: TensorScalar>(_ gradOutput: Tensor<T>, inputShape s: [Int]) -> Tensor<T> {
    let area = s[2] * s[3]
    var dx: Tensor<T> = uninitializedTensor(s)  // every element written by fillPlanes
    let inv = 1 / T(area)
    gradOutput.withUnsafeBufferPointer { gb in
        dx.withUnsafeMutableBufferPointer { db in
            guard let gp = gb.baseAddress, let dp = db.baseAddress else { return }
            fillPlanes(gp, dp, planes: s[0] * s[1], area: area, scale: inv)
        }
    }
    return dx
}

/// A `[rows, v.count]` matrix whose every row is `v`.
package func broadcastRows<T: TensorScalar>(_ v: Tensor<T>, rows: Int) -> Tensor<T> {
    let columns = v.count
    var y: Tensor<T> = uninitializedTensor([rows, columns])
    y.withUnsafeMutableBufferPointer { yb in
        v.withUnsafeBufferPointer { vb in
            guard let yp = yb.baseAddress, let vp = vb.baseAddress else { return }
            broadcastRows(vp, columns: columns, rows: rows, into: yp)
        }
    }
    return y
}

/// out[j] += Σ_r src[r, j] for a `[rows, out.count]` matrix `src` (rows summed in order).
package func accumulateColumnSums<T: TensorScalar>(_ src: Tensor<T>, rows: Int, into out: inout Tensor<T>) {
    let columns = out.count
    src.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            guard let sp = s.baseAddress, let op = o.baseAddress else { return }
            accumulateColumnSums(sp, rows: rows, columns: columns, into: op)
        }
    }
}

/// Column means and biased variances of a `[rows, columns]` matrix (`columns` values each).
package func batchMoments<T: TensorScalar>(_ x: Tensor<T>) -> (mean: [T], variance: [T]) {
    let rows = x.shape[0], columns = x.shape[1]
    var mean = [T](repeating: 0, count: columns), variance = [T](repeating: 0, count: columns)
    x.withUnsafeBufferPointer { xb in
        mean.withUnsafeMutableBufferPointer { mb in
            variance.withUnsafeMutableBufferPointer { vb in
                batchMoments(xb.baseAddress!, rows: rows, columns: columns, mean: mb.baseAddress!, variance: vb.baseAddress!)
            }
        }
    }
    return (mean, variance)
}

/// Batch normalization of the row-major `[rows, columns]` matrix `x`: x̂ = (x − mean)·inverseStd
/// and y = γ·x̂ + β per column (`mean`, `inverseStd`, `gamma`, `beta`: `columns` values each).
package func batchNormApply<T: TensorScalar>(_ x: [T], rows: Int, columns: Int, mean: [T], inverseStd: [T],
                                             gamma: [T], beta: [T]) -> (normalized: [T], output: [T]) {
    var xhat = x, y = x
    xhat.withUnsafeMutableBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            batchNormApply(xb.baseAddress!, yb.baseAddress!, rows: rows, columns: columns, mean: mean, inverseStd: inverseStd,
                           gamma: gamma, beta: beta)
        }
    }
    return (xhat, y)
}

/// Σ_r a[r, j] and Σ_r a[r, j]·b[r, j] per column of two `[rows, columns]` matrices.
package func columnSums<T: TensorScalar>(_ a: [T], _ b: [T], rows: Int, columns: Int) -> (sum: [T], sumProduct: [T]) {
    var sum = [T](repeating: 0, count: columns), sumProduct = [T](repeating: 0, count: columns)
    sum.withUnsafeMutableBufferPointer { sb in
        sumProduct.withUnsafeMutableBufferPointer { pb in
            columnSums(a, b, rows: rows, columns: columns, sum: sb.baseAddress!, sumProduct: pb.baseAddress!)
        }
    }
    return (sum, sumProduct)
}

/// ∂L/∂x of batch normalization from ∂L/∂y (`dy`, `[rows, columns]`), the forward's x̂ and
/// inverse standard deviations, γ, and the column sums of dy and dy·x̂; `training` selects batch
/// statistics (their gradient included) over running ones.
package func batchNormBackward<T: TensorScalar>(_ dy: [T], xhat: [T], rows: Int, columns: Int, gamma: [T], inverseStd: [T],
                                                sumDy: [T], sumDyXhat: [T], training: Bool) -> [T] {
    var dx = dy
    dx.withUnsafeMutableBufferPointer { db in
        batchNormBackward(db.baseAddress!, xhat: xhat, rows: rows, columns: columns, gamma: gamma,
                          inverseStd: inverseStd, sumDy: sumDy, sumDyXhat: sumDyXhat, training: training)
    }
    return dx
}

/// Sets every element of `t` to +0 with one memset (all-zero bytes are +0.0 for IEEE Float and
/// Double; a generic loop would copy element by element through the value witness table).
package func setZero<T: TensorScalar>(_ t: inout Tensor<T>) {
    t.withUnsafeMutableBufferPointer { b in
        _ = UnsafeMutableRawBufferPointer(b).initializeMemory(as: UInt8.self, repeating: 0)
    }
}

/// Rows `indices` of `x` (whole-row copies; every index must be in range).
package func copyRows(_ x: Tensor<Float>, _ indices: [Int]) -> Tensor<Float> {
    let w = x.rowWidth
    var shape = x.shape
    shape[0] = indices.count
    let out = [Float](unsafeUninitializedCapacity: indices.count * w) { b, count in
        x.withUnsafeBufferPointer { src in
            for (r, i) in indices.enumerated() {
                (b.baseAddress! + r * w).initialize(from: src.baseAddress! + i * w, count: w)
            }
        }
        count = indices.count * w
    }
    return Tensor(shape: shape, scalars: out)
}

/// Index of the first NaN or ±∞ in `t`, or nil (a fast scan of the exponent bits first).
package func firstNonFiniteIndex(_ t: Tensor<Float>) -> Int? {
    t.withUnsafeBufferPointer { b -> Int? in
        // Fast scan: any non-finite value has an all-ones exponent.
        let n = b.count
        guard let p = b.baseAddress else { return nil }
        let bits = UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
        var i = 0
        while i < n {
            let end = min(n, i + 4096)
            var hit = false
            for j in i..<end where bits[j] & 0x7F80_0000 == 0x7F80_0000 { hit = true }
            if hit { for j in i..<end where !p[j].isFinite { return j } }
            i = end
        }
        return nil
    }
}

/// a + b elementwise (same shape), or max(0, a + b) when `relu` is true (NaN propagates, as
/// PyTorch's ReLU): the sum at the end of a residual block. Any shape, in parallel chunks.
package func addTensors<T: TensorScalar>(_ a: Tensor<T>, _ b: Tensor<T>, relu: Bool = false) -> Tensor<T> {
    precondition(a.shape == b.shape, "addTensors: shapes \(a.shape) and \(b.shape)")
    var y: Tensor<T> = uninitializedTensor(a.shape)
    a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
            y.withUnsafeMutableBufferPointer { yb in
                guard let ap = ab.baseAddress, let bp = bb.baseAddress, let yp = yb.baseAddress else { return }
                forEachElementChunk(ab.count) { r in
                    addElements(ap + r.lowerBound, bp + r.lowerBound, yp + r.lowerBound, count: r.count, relu: relu)
                }
            }
        }
    }
    return y
}

@inline(__always)
func addElements<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int,
                                  relu: Bool) {
    if T.self == Float.self {
        addElementsKernel(a.reinterpreted(Float.self), b.reinterpreted(Float.self), y.reinterpreted(Float.self), count: count,
                          relu: relu)
    } else if T.self == Double.self {
        addElementsKernel(a.reinterpreted(Double.self), b.reinterpreted(Double.self), y.reinterpreted(Double.self), count: count,
                          relu: relu)
    } else {
        addElementsKernel(a, b, y, count: count, relu: relu)
    }
}

/// y[i] = a[i] + b[i], then max(0, ·) when `relu` (NaN propagates).
@inline(never)
func addElementsKernel<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int,
                                        relu: Bool) {
    if relu {
        for i in 0..<count { let v = a[i] + b[i]; y[i] = v > 0 || v.isNaN ? v : 0 }
    } else {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }
}
