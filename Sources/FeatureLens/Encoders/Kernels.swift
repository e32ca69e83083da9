import FeatureLensNumerics

// Inner loops shared by the layers. Each `…Kernel` is reached through its dispatcher in
// KernelDispatch.swift, which calls it with a concrete Float or Double type.

/// dst[r, :] = v for every row r of a `[rows, v.count]` matrix; `columns` = v.count.
@inline(never)
func broadcastRowsKernel<T: TensorScalar>(_ v: UnsafePointer<T>, columns: Int, rows: Int, into dst: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let d = dst + r * columns
        for j in 0..<columns { d[j] = v[j] }
    }
}

/// out[j] += Σ_r src[r, j] for a `[rows, columns]` matrix (rows summed in order).
@inline(never)
func accumulateColumnSumsKernel<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int,
                                           into out: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let s = src + r * columns
        for j in 0..<columns { out[j] += s[j] }
    }
}

extension Linear {
    @inline(__always)
    func broadcastRows(_ v: UnsafePointer<Scalar>, rows: Int, into dst: UnsafeMutablePointer<Scalar>) {
        FeatureLens.broadcastRows(v, columns: outFeatures, rows: rows, into: dst)
    }
}

/// y[i] = max(0, x[i]) (NaN propagates, as in PyTorch).
@inline(never)
func reluForwardKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    for i in 0..<count { let v = x[i]; y[i] = v > 0 || v.isNaN ? v : 0 }
}

/// dx[i] = dy[i] where y[i] > 0, else 0 (PyTorch `threshold_backward` on the output).
@inline(never)
func reluBackwardKernel<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                   count: Int) {
    for i in 0..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
}

/// A zero-filled tensor, allocated by specialized code: `Tensor(zeros:)` called from generic code
/// fills its storage through the generic value witness, one element at a time.
@inline(__always)
func zerosTensor<T: TensorScalar>(_ shape: [Int]) -> Tensor<T> {
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
func uninitializedTensor<T: TensorScalar>(_ shape: [Int]) -> Tensor<T> {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: [T](unsafeUninitializedCapacity: count) { _, n in n = count })
}
