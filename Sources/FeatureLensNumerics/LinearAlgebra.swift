import Foundation

/// Errors from the dense linear-algebra routines.
public enum LinearAlgebraError: Error, CustomStringConvertible, Equatable {
    /// The matrix is not square (`shape` given).
    case notSquare(shape: [Int])
    /// A Cholesky factorization met a non-positive pivot at `index`.
    case notPositiveDefinite(index: Int)
    /// Shapes of the operands do not fit together.
    case shapeMismatch(String)
    /// The iteration did not converge within `iterations` sweeps.
    case noConvergence(iterations: Int)

    public var description: String {
        switch self {
        case .notSquare(let s): return "matrix must be square, got shape \(s)"
        case .notPositiveDefinite(let i): return "matrix is not positive definite (pivot \(i))"
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .noConvergence(let it): return "eigensolver did not converge in \(it) iterations"
        }
    }
}

/// Eigendecomposition A = V·diag(λ)·Vᵀ of a symmetric matrix.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues sorted in **descending** order: `[n]`.
    public var values: [Double]
    /// Eigenvectors as **columns**, in the order of `values`: `[n, n]`, orthonormal.
    public var vectors: Tensor<Double>

    /// Decomposes the symmetric matrix `a` (`[n, n]`; only symmetric input is meaningful,
    /// the lower triangle is used). Throws `LinearAlgebraError.notSquare` for other shapes.
    public init(_ a: Tensor<Double>) throws {
        guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
        (values, vectors) = try jacobiEigen(a)
    }
}

/// Cyclic Jacobi eigenvalue algorithm (slow, O(n³) per sweep; a correctness fallback).
func jacobiEigen(_ a: Tensor<Double>) throws -> ([Double], Tensor<Double>) {
    let n = a.shape[0]
    var m = a.scalars
    // Symmetrize from the lower triangle.
    for i in 0..<n { for j in 0..<i { m[j * n + i] = m[i * n + j] } }
    var v = Tensor<Double>.identity(n).scalars
    for sweep in 0..<100 {
        var off = 0.0
        for i in 0..<n { for j in 0..<i { off += m[i * n + j] * m[i * n + j] } }
        var diag = 0.0
        for i in 0..<n { diag += m[i * n + i] * m[i * n + i] }
        if off <= 1e-30 * max(diag, 1e-300) || off == 0 { break }
        if sweep == 99 { throw LinearAlgebraError.noConvergence(iterations: 100) }
        for p in 0..<n {
            for q in (p + 1)..<max(p + 1, n) {
                let apq = m[p * n + q]
                if apq == 0 { continue }
                let app = m[p * n + p], aqq = m[q * n + q]
                let theta = (aqq - app) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {
                    let akp = m[k * n + p], akq = m[k * n + q]
                    m[k * n + p] = c * akp - s * akq
                    m[k * n + q] = s * akp + c * akq
                }
                for k in 0..<n {
                    let apk = m[p * n + k], aqk = m[q * n + k]
                    m[p * n + k] = c * apk - s * aqk
                    m[q * n + k] = s * apk + c * aqk
                }
                for k in 0..<n {
                    let vkp = v[k * n + p], vkq = v[k * n + q]
                    v[k * n + p] = c * vkp - s * vkq
                    v[k * n + q] = s * vkp + c * vkq
                }
            }
        }
    }
    let order = (0..<n).sorted { m[$0 * n + $0] > m[$1 * n + $1] }
    var vs = [Double](repeating: 0, count: n * n)
    for (newCol, oldCol) in order.enumerated() { for k in 0..<n { vs[k * n + newCol] = v[k * n + oldCol] } }
    return (order.map { m[$0 * n + $0] }, Tensor(shape: [n, n], scalars: vs))
}

/// Thin singular value decomposition A = U·diag(σ)·Vᵀ of an `[m, n]` matrix, r = min(m, n).
public struct SVD: Sendable {
    /// Left singular vectors as columns: `[m, r]`.
    public var u: Tensor<Double>
    /// Singular values, descending, ≥ 0: `[r]`.
    public var singularValues: [Double]
    /// Right singular vectors as columns: `[n, r]`.
    public var v: Tensor<Double>

    /// Computes the thin SVD (via the eigendecomposition of the smaller Gram matrix).
    public init(_ a: Tensor<Double>) throws {
        guard a.rank == 2 else { throw LinearAlgebraError.shapeMismatch("SVD needs rank 2, got \(a.shape)") }
        let m = a.shape[0], n = a.shape[1]
        let r = min(m, n)
        if r == 0 {
            u = Tensor(zeros: [m, 0]); v = Tensor(zeros: [n, 0]); singularValues = []; return
        }
        if m >= n {
            let e = try SymmetricEigen(a.matmul(a, transposeSelf: true))
            singularValues = e.values.map { max($0, 0).squareRoot() }
            v = e.vectors
            let av = a.matmul(v)
            var us = av.scalars
            let smax = singularValues.first ?? 0
            for j in 0..<r {
                let s = singularValues[j]
                for i in 0..<m { us[i * r + j] = s > smax * 1e-300 && s > 0 ? us[i * r + j] / s : 0 }
            }
            u = Tensor(shape: [m, r], scalars: us)
        } else {
            let t = try SVD(a.transposed())
            u = t.v; v = t.u; singularValues = t.singularValues
        }
    }
}

/// Moore–Penrose pseudo-inverse A⁺ (`[n, m]` for `a`: `[m, n]`). Singular values below
/// `relativeCutoff · σ_max` are treated as zero (default: max(m, n) · ε_Double, NumPy's rule).
public func pseudoInverse(_ a: Tensor<Double>, relativeCutoff: Double? = nil) throws -> Tensor<Double> {
    let m = a.shape[0], n = a.shape[1]
    let svd = try SVD(a)
    let r = svd.singularValues.count
    let cutoff = (relativeCutoff ?? Double(max(m, n)) * Double.ulpOfOne) * (svd.singularValues.first ?? 0)
    var vs = svd.v.scalars
    for j in 0..<r {
        let s = svd.singularValues[j]
        let inv = s > cutoff ? 1 / s : 0
        for i in 0..<n { vs[i * r + j] *= inv }
    }
    return Tensor(shape: [n, r], scalars: vs).matmul(svd.u, transposeOther: true)
}

/// Cholesky factor L (lower triangular, A = L·Lᵀ) of a symmetric positive-definite `[n, n]` matrix.
public func cholesky(_ a: Tensor<Double>) throws -> Tensor<Double> {
    guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
    let n = a.shape[0]
    var l = [Double](repeating: 0, count: n * n)
    for j in 0..<n {
        var d = a.scalars[j * n + j]
        for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
        guard d > 0, d.isFinite else { throw LinearAlgebraError.notPositiveDefinite(index: j) }
        let ljj = d.squareRoot()
        l[j * n + j] = ljj
        for i in (j + 1)..<max(j + 1, n) {
            var s = a.scalars[i * n + j]
            for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
            l[i * n + j] = s / ljj
        }
    }
    return Tensor(shape: [n, n], scalars: l)
}

/// Solves A·X = B for symmetric positive-definite A (`[n, n]`), B: `[n, k]`, by Cholesky.
public func choleskySolve(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> Tensor<Double> {
    let l = try cholesky(a)
    let n = a.shape[0]
    guard b.rank == 2, b.shape[0] == n else {
        throw LinearAlgebraError.shapeMismatch("A is [\(n), \(n)], B is \(b.shape)")
    }
    let k = b.shape[1]
    var x = b.scalars
    for c in 0..<k {
        for i in 0..<n { // forward: L y = b
            var s = x[i * k + c]
            for j in 0..<i { s -= l.scalars[i * n + j] * x[j * k + c] }
            x[i * k + c] = s / l.scalars[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) { // backward: Lᵀ x = y
            var s = x[i * k + c]
            for j in (i + 1)..<max(i + 1, n) { s -= l.scalars[j * n + i] * x[j * k + c] }
            x[i * k + c] = s / l.scalars[i * n + i]
        }
    }
    return Tensor(shape: [n, k], scalars: x)
}

/// Ridge least squares: argmin_W ‖X·W − Y‖²_F + λ‖W‖²_F, X: `[n, d]`, Y: `[n, k]` → W: `[d, k]`.
/// Solved through the normal equations (XᵀX + λI)W = XᵀY by Cholesky (λ > 0), or by the
/// pseudo-inverse when λ = 0.
public func ridgeLeastSquares(_ x: Tensor<Double>, _ y: Tensor<Double>, lambda: Double) throws -> Tensor<Double> {
    guard x.rank == 2, y.rank == 2, x.shape[0] == y.shape[0] else {
        throw LinearAlgebraError.shapeMismatch("X is \(x.shape), Y is \(y.shape)")
    }
    if lambda <= 0 { return try pseudoInverse(x).matmul(y) }
    var g = x.matmul(x, transposeSelf: true)
    let d = x.shape[1]
    for i in 0..<d { g.scalars[i * d + i] += lambda }
    return try choleskySolve(g, x.matmul(y, transposeSelf: true))
}
