// Elementwise arithmetic, reductions, row-wise softmax/logsumexp/normalization and matmul.

extension Tensor {
    // MARK: Elementwise

    /// Applies `f` to every element.
    @inlinable
    public func map(_ f: (Scalar) -> Scalar) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map(f))
    }

    /// Combines two same-shape tensors elementwise.
    @inlinable
    public func zip(_ other: Tensor, _ f: (Scalar, Scalar) -> Scalar) -> Tensor {
        precondition(shape == other.shape, "shape mismatch \(shape) vs \(other.shape)")
        var out = scalars
        other.scalars.withUnsafeBufferPointer { o in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<d.count { d[i] = f(d[i], o[i]) }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }

    @inlinable
    public static func + (l: Tensor, r: Tensor) -> Tensor { l.zip(r, +) }
    @inlinable
    public static func - (l: Tensor, r: Tensor) -> Tensor { l.zip(r, -) }
    /// Elementwise (Hadamard) product.
    @inlinable
    public static func * (l: Tensor, r: Tensor) -> Tensor { l.zip(r, *) }
    @inlinable
    public static func / (l: Tensor, r: Tensor) -> Tensor { l.zip(r, /) }
    @inlinable
    public static func + (l: Tensor, r: Scalar) -> Tensor { l.map { $0 + r } }
    @inlinable
    public static func - (l: Tensor, r: Scalar) -> Tensor { l.map { $0 - r } }
    @inlinable
    public static func * (l: Tensor, r: Scalar) -> Tensor { l.map { $0 * r } }
    @inlinable
    public static func * (l: Scalar, r: Tensor) -> Tensor { r.map { l * $0 } }
    @inlinable
    public static func / (l: Tensor, r: Scalar) -> Tensor { l.map { $0 / r } }
    @inlinable
    public static prefix func - (t: Tensor) -> Tensor { t.map { -$0 } }

    @inlinable
    public static func += (l: inout Tensor, r: Tensor) {
        precondition(l.shape == r.shape, "shape mismatch \(l.shape) vs \(r.shape)")
        r.scalars.withUnsafeBufferPointer { o in
            l.scalars.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] += o[i] } }
        }
    }
    @inlinable
    public static func -= (l: inout Tensor, r: Tensor) {
        precondition(l.shape == r.shape, "shape mismatch \(l.shape) vs \(r.shape)")
        r.scalars.withUnsafeBufferPointer { o in
            l.scalars.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] -= o[i] } }
        }
    }
    @inlinable
    public static func *= (l: inout Tensor, r: Scalar) {
        l.scalars.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] *= r } }
    }

    /// self ← self + α·x (axpy).
    @inlinable
    public mutating func addScaled(_ x: Tensor, _ alpha: Scalar) {
        precondition(shape == x.shape, "shape mismatch \(shape) vs \(x.shape)")
        x.scalars.withUnsafeBufferPointer { o in
            scalars.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] += alpha * o[i] } }
        }
    }

    /// Adds a length-`rowWidth` vector to every row of a rank-2 tensor (bias broadcast).
    @inlinable
    public func addingRowVector(_ v: [Scalar]) -> Tensor {
        precondition(rank == 2 && v.count == shape[1], "row vector of \(v.count) for shape \(shape)")
        var out = self
        let n = shape[1]
        v.withUnsafeBufferPointer { vb in
            out.scalars.withUnsafeMutableBufferPointer { d in
                for i in 0..<shape[0] { for j in 0..<n { d[i * n + j] += vb[j] } }
            }
        }
        return out
    }

    // MARK: Reductions

    /// Sum of all elements (pairwise-free sequential sum in `Double` for accuracy).
    @inlinable
    public func sum() -> Scalar {
        var s = 0.0
        for x in scalars { s += x.doubleValue }
        return Scalar(s)
    }

    /// Mean of all elements (0 for an empty tensor).
    @inlinable
    public func mean() -> Scalar { count == 0 ? 0 : Scalar(sum().doubleValue / Double(count)) }

    /// Frobenius / L2 norm of all elements.
    @inlinable
    public func norm() -> Scalar {
        var s = 0.0
        for x in scalars { let d = x.doubleValue; s += d * d }
        return Scalar(s.squareRoot())
    }

    /// Sum over axis 0 of a rank-2 tensor: `[m, n]` → `[n]` (column sums).
    @inlinable
    public func sumOverRows() -> [Scalar] {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: 0, count: n)
        scalars.withUnsafeBufferPointer { s in
            for i in 0..<m { for j in 0..<n { out[j] += s[i * n + j] } }
        }
        return out
    }

    /// Sum over axis 1 of a rank-2 tensor: `[m, n]` → `[m]` (row sums).
    @inlinable
    public func sumOverColumns() -> [Scalar] {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: 0, count: m)
        scalars.withUnsafeBufferPointer { s in
            for i in 0..<m {
                var acc: Scalar = 0
                for j in 0..<n { acc += s[i * n + j] }
                out[i] = acc
            }
        }
        return out
    }

    /// Column means of a rank-2 tensor: `[m, n]` → `[n]`.
    @inlinable
    public func meanOverRows() -> [Scalar] {
        let m = Scalar(Swift.max(1, shape[0]))
        return sumOverRows().map { $0 / m }
    }

    /// Row maxima of a rank-2 tensor: `[m, n]` → `[m]` (−∞ for an empty row).
    @inlinable
    public func maxOverColumns() -> [Scalar] {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: -.infinity, count: m)
        for i in 0..<m { for j in 0..<n { out[i] = Swift.max(out[i], scalars[i * n + j]) } }
        return out
    }

    // MARK: Row-wise softmax family

    /// Numerically stable log Σ_j exp(x_ij) for each row of a rank-2 tensor: `[m, n]` → `[m]`.
    /// Rows that are entirely −∞ give −∞; an empty row gives −∞.
    @inlinable
    public func logSumExpRows() -> [Scalar] {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: -.infinity, count: m)
        scalars.withUnsafeBufferPointer { s in
            for i in 0..<m {
                var mx = -Scalar.infinity
                for j in 0..<n { mx = Swift.max(mx, s[i * n + j]) }
                if mx == -.infinity { continue }
                var acc: Scalar = 0
                for j in 0..<n { acc += Scalar.exp(s[i * n + j] - mx) }
                out[i] = mx + Scalar.log(acc)
            }
        }
        return out
    }

    /// Row-wise softmax of a rank-2 tensor (stable: subtracts each row's max).
    @inlinable
    public func softmaxRows() -> Tensor {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = scalars
        out.withUnsafeMutableBufferPointer { d in
            for i in 0..<m {
                var mx = -Scalar.infinity
                for j in 0..<n { mx = Swift.max(mx, d[i * n + j]) }
                var acc: Scalar = 0
                for j in 0..<n { let e = Scalar.exp(d[i * n + j] - mx); d[i * n + j] = e; acc += e }
                for j in 0..<n { d[i * n + j] /= acc }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }

    /// Row-wise log-softmax of a rank-2 tensor.
    @inlinable
    public func logSoftmaxRows() -> Tensor {
        let lse = logSumExpRows()
        let n = shape[1]
        var out = scalars
        for i in 0..<shape[0] { for j in 0..<n { out[i * n + j] -= lse[i] } }
        return Tensor(shape: shape, scalars: out)
    }

    /// Euclidean norm of each row of a rank-2 tensor: `[m, n]` → `[m]`.
    @inlinable
    public func rowNorms() -> [Scalar] {
        precondition(rank == 2, "needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: 0, count: m)
        scalars.withUnsafeBufferPointer { s in
            for i in 0..<m {
                var acc: Scalar = 0
                for j in 0..<n { acc += s[i * n + j] * s[i * n + j] }
                out[i] = Scalar.sqrt(acc)
            }
        }
        return out
    }

    /// Each row divided by max(‖row‖₂, ε) (PyTorch's `F.normalize` convention; ε = 1e-12).
    @inlinable
    public func l2NormalizedRows(epsilon: Scalar = 1e-12) -> Tensor {
        let norms = rowNorms()
        let n = shape[1]
        var out = scalars
        for i in 0..<shape[0] {
            let inv = 1 / Swift.max(norms[i], epsilon)
            for j in 0..<n { out[i * n + j] *= inv }
        }
        return Tensor(shape: shape, scalars: out)
    }

    // MARK: Matrix products

    /// Matrix product op(self)·op(other) of rank-2 tensors, via `gemm`.
    /// - Parameters: `transposeSelf`/`transposeOther` apply op = transpose without copying.
    @inlinable
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false,
                       threads: Int = Parallel.threadCount) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "matmul needs rank 2, got \(shape) and \(other.shape)")
        let m = transposeSelf ? shape[1] : shape[0]
        let k = transposeSelf ? shape[0] : shape[1]
        let k2 = transposeOther ? other.shape[1] : other.shape[0]
        let n = transposeOther ? other.shape[0] : other.shape[1]
        precondition(k == k2, "matmul inner dimensions differ: \(shape)\(transposeSelf ? "ᵀ" : "") · \(other.shape)\(transposeOther ? "ᵀ" : "")")
        var out = [Scalar](repeating: 0, count: m * n)
        scalars.withUnsafeBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    guard let ap = a.baseAddress, let bp = b.baseAddress, let cp = c.baseAddress else { return }
                    Scalar.gemmKernel(transposeA: transposeSelf, transposeB: transposeOther,
                                      m: m, n: n, k: k, alpha: 1, a: ap, lda: shape[1],
                                      b: bp, ldb: other.shape[1], beta: 0, c: cp, ldc: n,
                                      threads: threads)
                }
            }
        }
        return Tensor(shape: [m, n], scalars: out)
    }
}

/// C ← α·op(A)·op(B) + β·C on rank-2 tensors (shapes checked).
@inlinable
public func gemm<T: TensorScalar>(
    _ a: Tensor<T>, transposeA: Bool = false, _ b: Tensor<T>, transposeB: Bool = false,
    alpha: T = 1, beta: T = 0, into c: inout Tensor<T>, threads: Int = Parallel.threadCount
) {
    precondition(a.rank == 2 && b.rank == 2 && c.rank == 2, "gemm needs rank-2 tensors")
    let m = transposeA ? a.shape[1] : a.shape[0]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let kb = transposeB ? b.shape[1] : b.shape[0]
    let n = transposeB ? b.shape[0] : b.shape[1]
    precondition(k == kb && c.shape == [m, n],
                 "gemm shapes: op(A) [\(m), \(k)], op(B) [\(kb), \(n)], C \(c.shape)")
    a.scalars.withUnsafeBufferPointer { ab in
        b.scalars.withUnsafeBufferPointer { bb in
            c.scalars.withUnsafeMutableBufferPointer { cb in
                guard let cp = cb.baseAddress else { return }
                // Empty A or B: pass a dummy pointer; k == 0 means only the β scaling happens.
                let dummy = UnsafeMutablePointer<T>.allocate(capacity: 1)
                defer { dummy.deallocate() }
                T.gemmKernel(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                             alpha: alpha, a: ab.baseAddress ?? UnsafePointer(dummy), lda: max(1, a.shape[1]),
                             b: bb.baseAddress ?? UnsafePointer(dummy), ldb: max(1, b.shape[1]),
                             beta: beta, c: cp, ldc: max(1, n), threads: threads)
            }
        }
    }
}
