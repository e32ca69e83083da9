import FeatureLensNumerics

// Inner loops shared by the layers. Each is generic over the scalar and carries
// `@_specialize` so that Float and Double callers from any module run specialized code
// (unspecialized generic arithmetic is an order of magnitude slower).

/// dst[r, :] = v for every row r of a `[rows, v.count]` matrix; `columns` = v.count.
@_specialize(where T == Float)
@_specialize(where T == Double)
func broadcastRows<T: TensorScalar>(_ v: UnsafePointer<T>, columns: Int, rows: Int, into dst: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let d = dst + r * columns
        for j in 0..<columns { d[j] = v[j] }
    }
}

/// out[j] += Σ_r src[r, j] for a `[rows, columns]` matrix (rows summed in order).
@_specialize(where T == Float)
@_specialize(where T == Double)
func accumulateColumnSums<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int,
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
@_specialize(where T == Float)
@_specialize(where T == Double)
func reluForward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    for i in 0..<count { let v = x[i]; y[i] = v > 0 || v.isNaN ? v : 0 }
}

/// dx[i] = dy[i] where y[i] > 0, else 0 (PyTorch `threshold_backward` on the output).
@_specialize(where T == Float)
@_specialize(where T == Double)
func reluBackward<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                   count: Int) {
    for i in 0..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
}
