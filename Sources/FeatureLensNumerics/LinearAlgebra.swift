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
    /// An input holds NaN or ±∞ (the message names the routine and the entry).
    case nonFinite(String)
    /// A square system is exactly singular: LU met a zero pivot at column `index`.
    case singular(index: Int)
    /// An argument is outside its valid range (the message names it and the expected value).
    case invalidArgument(String)

    /// A one-line message naming the problem and the expected value.
    public var description: String {
        switch self {
        case .notSquare(let s): return "matrix must be square, got shape \(s)"
        case .notPositiveDefinite(let i): return "matrix is not positive definite (pivot \(i))"
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .noConvergence(let it): return "iteration did not converge in \(it) iterations"
        case .nonFinite(let m): return "non-finite input: \(m)"
        case .singular(let i): return "matrix is singular (zero pivot in column \(i))"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        }
    }
}


/// Throws `.nonFinite` naming `routine` and the first bad entry of `t` (shape `[rows, cols]`).
func laCheckFinite(_ t: Tensor<Double>, _ routine: String) throws {
    let cols = t.rank == 2 ? t.shape[1] : 1
    for (i, v) in t.scalars.enumerated() where !v.isFinite {
        throw LinearAlgebraError.nonFinite("\(routine): entry [\(i / max(cols, 1)), \(i % max(cols, 1))] is \(v)")
    }
}

// MARK: - SVD

/// Thin singular value decomposition A = U·diag(σ)·Vᵀ of an `[m, n]` matrix, r = min(m, n).
///
/// Algorithm: the matrix is scaled by its largest entry; the tall orientation T (A or Aᵀ,
/// `[p, q]`, p ≥ q) is factored T = Q·R by Householder QR, and R is diagonalized by the
/// one-sided Jacobi method of Hestenes applied to Rᵀ (Drmač & Veselić, "New fast and accurate
/// Jacobi SVD algorithm", SIAM J. Matrix Anal. Appl. 29, 2008, §2: QR preconditioning and
/// Jacobi on Rᵀ), preconditioned by the eigenvectors of R·Rᵀ so that two or three sweeps
/// suffice. Sweeps (row-cyclic) run until every pair of columns has |cos angle| ≤ q·ε. This is backward stable and accurate for rank-deficient and
/// ill-conditioned input: each σ_i carries an absolute error of a small multiple of ε·σ_max,
/// and zero singular values come out at the rounding level (≈ ε·σ_max) rather than at
/// √ε·σ_max as with the eigen-decomposition of AᵀA. Singular vectors belonging to exactly
/// zero singular values are completed to an orthonormal set.
/// Cost: 2pq² for the QR, a q×q symmetric eigenproblem and two GEMMs, plus about 3q³ flops
/// per Jacobi sweep (typically 2–4 sweeps).
public struct SVD: Sendable {
    /// Left singular vectors as columns: `[m, r]`, orthonormal.
    public var u: Tensor<Double>
    /// Singular values, descending, ≥ 0: `[r]`.
    public var singularValues: [Double]
    /// Right singular vectors as columns: `[n, r]`, orthonormal.
    public var v: Tensor<Double>

    /// Computes the thin SVD of `a` (`[m, n]`).
    /// - Throws: `LinearAlgebraError.shapeMismatch` unless `a` has rank 2; `.nonFinite` for
    ///   NaN/∞ entries; `.noConvergence` if Jacobi needs more than 60 sweeps.
    public init(_ a: Tensor<Double>) throws {
        guard a.rank == 2 else { throw LinearAlgebraError.shapeMismatch("SVD needs rank 2, got \(a.shape)") }
        try laCheckFinite(a, "SVD")
        let m = a.shape[0], n = a.shape[1]
        let r = min(m, n)
        if r == 0 {
            u = Tensor(zeros: [m, 0]); v = Tensor(zeros: [n, 0]); singularValues = []; return
        }
        let tall = m >= n
        let p = max(m, n), q = r
        // tt = Tᵀ as [q, p] row-major: row j is column j of the tall matrix T.
        var tt = tall ? a.transposed().scalars : a.scalars
        let scale = tt.reduce(0) { max($0, abs($1)) }
        if scale == 0 {
            var uu = Tensor<Double>(zeros: [m, r]), vv = Tensor<Double>(zeros: [n, r])
            for i in 0..<r { uu.scalars[i * r + i] = 1; vv.scalars[i * r + i] = 1 }
            u = uu; v = vv; singularValues = [Double](repeating: 0, count: r); return
        }
        for i in tt.indices { tt[i] /= scale }
        let (sigma, uT, vT) = try tt.withUnsafeMutableBufferPointer { buf in
            try jacobiSVDOfTall(buf.baseAddress!, p: p, q: q)
        }
        // uT: [q, p] rows = left vectors of T; vT: [q, q] rows = right vectors of T.
        let order = (0..<q).sorted { sigma[$0] > sigma[$1] || (sigma[$0] == sigma[$1] && $0 < $1) }
        singularValues = order.map { sigma[$0] * scale }
        func columns(_ rows: [Double], length: Int) -> Tensor<Double> {
            var out = [Double](repeating: 0, count: length * q)
            for (c, src) in order.enumerated() {
                for i in 0..<length { out[i * q + c] = rows[src * length + i] }
            }
            return Tensor(shape: [length, q], scalars: out)
        }
        if tall {
            u = columns(uT, length: p); v = columns(vT, length: q)
        } else {
            u = columns(vT, length: q); v = columns(uT, length: p)
        }
    }
}

/// One-sided Jacobi SVD of the tall matrix T (`[p, q]`, p ≥ q) given as `tt` = Tᵀ (`[q, p]`,
/// overwritten). Returns σ (`[q]`, unsorted), the left vectors as rows (`[q, p]`) and the right
/// vectors as rows (`[q, q]`), so that T = Σ_i σ_i·u_i·v_iᵀ.
func jacobiSVDOfTall(_ tt: UnsafeMutablePointer<Double>, p: Int, q: Int) throws
    -> ([Double], [Double], [Double]) {
    // 1. Householder QR of T, computed as the LQ factorization of Tᵀ (rows contiguous).
    var tau = [Double](repeating: 0, count: q)
    for j in 0..<q {
        let row = tt + j * p
        let len = p - j
        let alpha = row[j]
        let xnorm = len > 1 ? laDot(row + j + 1, row + j + 1, len - 1).squareRoot() : 0
        if xnorm == 0 { tau[j] = 0; continue }
        let beta = -(alpha >= 0 ? 1 : -1) * hypot(alpha, xnorm)
        let t = (beta - alpha) / beta
        laScale(1 / (alpha - beta), row + j + 1, len - 1)
        row[j] = beta
        tau[j] = t
        let jj = j
        laParallelBlocks(q - j - 1, block: 16) { r0, r1 in
            for i in (jj + 1 + r0)..<(jj + 1 + r1) {
                let other = tt + i * p
                let s = t * (other[jj] + laDot(other + jj + 1, row + jj + 1, len - 1))
                other[jj] -= s
                laAxpy(-s, row + jj + 1, other + jj + 1, len - 1)
            }
        }
    }
    // R[j][i] = Tᵀ[i][j] for i ≥ j. Jacobi works on the rows of R (the columns of Rᵀ).
    let rb = LABuffer(q * q), vacc = LABuffer(q * q)
    for j in 0..<q {
        for i in j..<q { rb.p[j * q + i] = tt[i * p + j] }
        vacc.p[j * q + j] = 1
    }
    // Preconditioning: start from rows U0ᵀ·R with U0 the eigenvectors of R·Rᵀ (descending).
    // Those rows are orthogonal up to the rounding of the Gram matrix, so Jacobi then needs
    // two or three sweeps instead of about ten; its convergence test alone decides the final
    // orthogonality, so accuracy is that of plain Jacobi (invariant: rows = vacc·R).
    if q >= 16 {
        let g = LABuffer(q * q)
        laGemm(transposeA: false, transposeB: true, m: q, n: q, k: q, alpha: 1,
               a: rb.p, lda: q, b: rb.p, ldb: q, beta: 0, c: g.p, ldc: q)
        let gram = Tensor<Double>(shape: [q, q], scalars: Array(UnsafeBufferPointer(start: g.p, count: q * q)))
        let u0t = try symmetricEigenDecompose(gram, topK: q, wantVectors: true, vectorsAsRows: true).1
        u0t.scalars.withUnsafeBufferPointer { vacc.p.update(from: $0.baseAddress!, count: q * q) }
        g.p.update(from: rb.p, count: q * q)
        laGemm(m: q, n: q, k: q, alpha: 1, a: vacc.p, lda: q, b: g.p, ldb: q, beta: 0, c: rb.p, ldc: q)
    }
    // 2. One-sided Jacobi on the columns of G = Rᵀ (the rows of rb): G·J₁J₂⋯ = B with
    //    orthogonal columns; the same rotations are applied to the rows of vacc.
    let tol = Double.ulpOfOne * Double(max(q, 1))
    var converged = q < 2
    var sweep = 0
    while !converged {
        sweep += 1
        if sweep > 60 { throw LinearAlgebraError.noConvergence(iterations: 60) }
        var rotations = 0
        for i in 0..<(q - 1) {
            for j in (i + 1)..<q {
                let bi = rb.p + i * q, bj = rb.p + j * q
                let (alpha, beta, gamma) = laDot3(bi, bj, q)
                if alpha == 0 || beta == 0 { continue }
                if abs(gamma) <= tol * alpha.squareRoot() * beta.squareRoot() { continue }
                let zeta = (beta - alpha) / (2 * gamma)
                let root = abs(zeta) < 1e150 ? (1 + zeta * zeta).squareRoot() : abs(zeta)
                let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + root)
                let c = 1 / (1 + t * t).squareRoot(), s = c * t
                // b_i ← c·b_i − s·b_j, b_j ← s·b_i + c·b_j (and the same on the accumulated rotation).
                laRotate(bj, bi, q, c: c, s: s)
                laRotate(vacc.p + j * q, vacc.p + i * q, q, c: c, s: s)
                rotations += 1
            }
        }
        if rotations == 0 { converged = true }
    }
    // 3. σ_i = ‖b_i‖, right vectors of R = b_i/σ_i, left vectors of R = rows of vacc.
    var sigma = [Double](repeating: 0, count: q)
    var vRows = [Double](repeating: 0, count: q * q)
    var zeroRows: [Int] = []
    for i in 0..<q {
        let b = rb.p + i * q
        let s = laDot(b, b, q).squareRoot()
        sigma[i] = s
        if s > 0 { for c in 0..<q { vRows[i * q + c] = b[c] / s } } else { zeroRows.append(i) }
    }
    if !zeroRows.isEmpty { completeOrthonormalRows(&vRows, length: q, missing: zeroRows) }
    // 4. Left vectors of T: rows of [vacc | 0]·H_{q−1}⋯H_0 (Q = H_0⋯H_{q−1} from step 1).
    var uRows = [Double](repeating: 0, count: q * p)
    uRows.withUnsafeMutableBufferPointer { ub in
        let up = ub.baseAddress!
        for r in 0..<q { (up + r * p).update(from: vacc.p + r * q, count: q) }
        laParallelBlocks(q, block: 8) { r0, r1 in
            for r in r0..<r1 {
                let x = up + r * p
                for j in stride(from: q - 1, through: 0, by: -1) where tau[j] != 0 {
                    let v = tt + j * p
                    let len = p - j
                    let s = tau[j] * (x[j] + laDot(x + j + 1, v + j + 1, len - 1))
                    x[j] -= s
                    laAxpy(-s, v + j + 1, x + j + 1, len - 1)
                }
            }
        }
    }
    return (sigma, uRows, vRows)
}

/// Fills the rows `missing` of `rows` (`[count, length]`, the other rows orthonormal) with unit
/// vectors orthogonal to all other rows (Gram–Schmidt, twice, on the standard basis).
func completeOrthonormalRows(_ rows: inout [Double], length: Int, missing: [Int]) {
    let count = rows.count / max(length, 1)
    var filled = Set((0..<count).filter { !missing.contains($0) })
    var candidate = 0
    for target in missing {
        while candidate < length {
            var x = [Double](repeating: 0, count: length)
            x[candidate] = 1
            candidate += 1
            for _ in 0..<2 {
                for f in filled {
                    var dot = 0.0
                    for c in 0..<length { dot += x[c] * rows[f * length + c] }
                    for c in 0..<length { x[c] -= dot * rows[f * length + c] }
                }
            }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0.5 {
                for c in 0..<length { rows[target * length + c] = x[c] / norm }
                filled.insert(target)
                break
            }
        }
    }
}

// MARK: - Pseudo-inverse

/// Moore–Penrose pseudo-inverse A⁺ = V·Σ⁺·Uᵀ (`[n, m]` for `a`: `[m, n]`) from the thin `SVD`.
///
/// Cutoff: a singular value σ_i counts as zero when σ_i ≤ `relativeCutoff`·σ_max. The default
/// `relativeCutoff` is max(m, n)·ε_Double (ε = 2.22e-16), the tolerance of NumPy's
/// `matrix_rank` and of `numpy.linalg.pinv(rtol=None)`: above the rounding level of a backward
/// stable SVD, so that an exactly rank-deficient matrix gets the pseudo-inverse of its rank-r
/// part and satisfies the four Penrose conditions (AXA = A, XAX = X, (AX)ᵀ = AX, (XA)ᵀ = XA)
/// to working precision. Raise it (e.g. 1e-10) for numerically rank-deficient data.
/// - Throws: `.shapeMismatch` unless rank 2, `.invalidArgument` for a negative or non-finite
///   cutoff, and whatever `SVD` throws.
public func pseudoInverse(_ a: Tensor<Double>, relativeCutoff: Double? = nil) throws -> Tensor<Double> {
    guard a.rank == 2 else { throw LinearAlgebraError.shapeMismatch("pseudoInverse needs rank 2, got \(a.shape)") }
    if let c = relativeCutoff, !(c >= 0 && c.isFinite) {
        throw LinearAlgebraError.invalidArgument("pseudoInverse relativeCutoff must be finite and ≥ 0, got \(c)")
    }
    let m = a.shape[0], n = a.shape[1]
    let svd = try SVD(a)
    let r = svd.singularValues.count
    let cutoff = (relativeCutoff ?? Double(max(m, n)) * Double.ulpOfOne) * (svd.singularValues.first ?? 0)
    // Keep only the columns with σ > cutoff: X = V_k·Σ_k⁻¹·U_kᵀ.
    let keep = (0..<r).filter { svd.singularValues[$0] > cutoff }
    let kk = keep.count
    var vs = [Double](repeating: 0, count: n * kk)
    var ut = [Double](repeating: 0, count: kk * m)
    for (c, j) in keep.enumerated() {
        let inv = 1 / svd.singularValues[j]
        for i in 0..<n { vs[i * kk + c] = svd.v.scalars[i * r + j] * inv }
        for i in 0..<m { ut[c * m + i] = svd.u.scalars[i * r + j] }
    }
    if kk == 0 { return Tensor(zeros: [n, m]) }
    return Tensor(shape: [n, kk], scalars: vs).matmul(Tensor(shape: [kk, m], scalars: ut))
}

// MARK: - Cholesky and linear systems

/// Cholesky factor L (lower triangular, A = L·Lᵀ) of a symmetric positive-definite `[n, n]`
/// matrix; only the lower triangle of `a` is read. Row-oriented (contiguous dot products),
/// n³/3 flops.
/// - Throws: `.notSquare` unless `[n, n]`; `.notPositiveDefinite(index: j)` when the j-th
///   pivot is ≤ 0 or not finite (A is not SPD, or singular to working precision).
public func cholesky(_ a: Tensor<Double>) throws -> Tensor<Double> {
    guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
    let n = a.shape[0]
    var l = [Double](repeating: 0, count: n * n)
    try a.scalars.withUnsafeBufferPointer { src in
        try l.withUnsafeMutableBufferPointer { lb in
            let lp = lb.baseAddress!
            for i in 0..<n {
                let li = lp + i * n
                for j in 0..<i {
                    li[j] = (src[i * n + j] - laDot(li, lp + j * n, j)) / lp[j * n + j]
                }
                let dd = src[i * n + i] - laDot(li, li, i)
                guard dd > 0, dd.isFinite else { throw LinearAlgebraError.notPositiveDefinite(index: i) }
                li[i] = dd.squareRoot()
            }
        }
    }
    return Tensor(shape: [n, n], scalars: l)
}

/// Solves L·Lᵀ·X = B in place (`x`: `[n, k]` holding B on entry) given the Cholesky factor.
func choleskySubstitute(_ l: Tensor<Double>, _ x: inout [Double], n: Int, k: Int) {
    l.scalars.withUnsafeBufferPointer { lb in
        x.withUnsafeMutableBufferPointer { xb in
            let lp = lb.baseAddress!, xp = xb.baseAddress!
            for i in 0..<n {  // forward: L·Y = B, row by row
                let xi = xp + i * k
                for j in 0..<i { laAxpy(-lp[i * n + j], xp + j * k, xi, k) }
                laScale(1 / lp[i * n + i], xi, k)
            }
            for i in stride(from: n - 1, through: 0, by: -1) {  // backward: Lᵀ·X = Y
                let xi = xp + i * k
                for j in (i + 1)..<max(i + 1, n) { laAxpy(-lp[j * n + i], xp + j * k, xi, k) }
                laScale(1 / lp[i * n + i], xi, k)
            }
        }
    }
}

/// Solves A·X = B for symmetric positive-definite A (`[n, n]`, lower triangle read),
/// B: `[n, k]` → X: `[n, k]`, by Cholesky.
/// - Throws: `.shapeMismatch` if B is not `[n, k]`; whatever `cholesky` throws.
public func choleskySolve(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> Tensor<Double> {
    guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
    let n = a.shape[0]
    guard b.rank == 2, b.shape[0] == n else {
        throw LinearAlgebraError.shapeMismatch("choleskySolve: A is [\(n), \(n)], B is \(b.shape); expected B [\(n), k]")
    }
    let l = try cholesky(a)
    let k = b.shape[1]
    var x = b.scalars
    choleskySubstitute(l, &x, n: n, k: k)
    return Tensor(shape: [n, k], scalars: x)
}

/// Inverse of a symmetric positive-definite `[n, n]` matrix (lower triangle read), by Cholesky.
/// - Throws: whatever `cholesky` throws.
public func inverseSPD(_ a: Tensor<Double>) throws -> Tensor<Double> {
    guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
    let n = a.shape[0]
    var inv = try choleskySolve(a, Tensor<Double>.identity(n))
    // Symmetrize away the rounding asymmetry of the two triangular solves.
    for i in 0..<n { for j in 0..<i {
        let s = 0.5 * (inv.scalars[i * n + j] + inv.scalars[j * n + i])
        inv.scalars[i * n + j] = s; inv.scalars[j * n + i] = s
    } }
    return inv
}

/// Solves A·X = B for a general square A (`[n, n]`), B: `[n, k]` → X: `[n, k]`, by LU
/// factorization with partial (row) pivoting (Golub & Van Loan, Matrix Computations, Alg. 3.4.1).
/// - Throws: `.notSquare`, `.shapeMismatch` for B, `.nonFinite`, and `.singular(index:)` when a
///   pivot is exactly zero (use `pseudoInverse` for singular systems).
public func solve(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> Tensor<Double> {
    guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
    let n = a.shape[0]
    guard b.rank == 2, b.shape[0] == n else {
        throw LinearAlgebraError.shapeMismatch("solve: A is [\(n), \(n)], B is \(b.shape); expected B [\(n), k]")
    }
    try laCheckFinite(a, "solve(A)")
    try laCheckFinite(b, "solve(B)")
    let k = b.shape[1]
    var lu = a.scalars
    var x = b.scalars
    try lu.withUnsafeMutableBufferPointer { lb in
        try x.withUnsafeMutableBufferPointer { xb in
            let lp = lb.baseAddress!, xp = xb.baseAddress!
            let tmp = LABuffer(max(n, k))
            for c in 0..<n {
                var piv = c
                var best = abs(lp[c * n + c])
                for r in (c + 1)..<max(c + 1, n) where abs(lp[r * n + c]) > best { best = abs(lp[r * n + c]); piv = r }
                if best == 0 { throw LinearAlgebraError.singular(index: c) }
                if piv != c {
                    tmp.p.update(from: lp + c * n, count: n)
                    (lp + c * n).update(from: lp + piv * n, count: n)
                    (lp + piv * n).update(from: tmp.p, count: n)
                    tmp.p.update(from: xp + c * k, count: k)
                    (xp + c * k).update(from: xp + piv * k, count: k)
                    (xp + piv * k).update(from: tmp.p, count: k)
                }
                let pivot = lp[c * n + c]
                for r in (c + 1)..<max(c + 1, n) {
                    let f = lp[r * n + c] / pivot
                    if f == 0 { continue }
                    lp[r * n + c] = f
                    laAxpy(-f, lp + c * n + c + 1, lp + r * n + c + 1, n - c - 1)
                    laAxpy(-f, xp + c * k, xp + r * k, k)
                }
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                let xi = xp + i * k
                for j in (i + 1)..<max(i + 1, n) { laAxpy(-lp[i * n + j], xp + j * k, xi, k) }
                laScale(1 / lp[i * n + i], xi, k)
            }
        }
    }
    return Tensor(shape: [n, k], scalars: x)
}

/// Gram matrix of the rows or columns of `x` (`[n, d]`): XᵀX (`[d, d]`) by default, or
/// X·Xᵀ (`[n, n]`) when `ofRows` is true. One `dgemm`; exactly symmetric (the upper triangle is
/// copied from the lower one).
/// - Throws: `.shapeMismatch` unless `x` has rank 2.
public func gramMatrix(_ x: Tensor<Double>, ofRows: Bool = false) throws -> Tensor<Double> {
    guard x.rank == 2 else { throw LinearAlgebraError.shapeMismatch("gramMatrix needs a rank-2 [n, d] matrix, got \(x.shape)") }
    var g = ofRows ? x.matmul(x.transposed()) : x.matmul(x, transposeSelf: true)
    let s = g.shape[0]
    for i in 0..<s { for j in 0..<i { g.scalars[j * s + i] = g.scalars[i * s + j] } }
    return g
}

// MARK: - Ridge

/// How `ridgeLeastSquares` solves its normal equations.
public enum RidgeForm: Sendable, Equatable {
    /// Primal when d ≤ n, dual when d > n (the smaller of the two systems).
    case automatic
    /// (XᵀX + λI)·W = XᵀY: a `[d, d]` system; cost ≈ n·d² + d³/3.
    case primal
    /// W = Xᵀ·(XXᵀ + λI)⁻¹·Y: an `[n, n]` system; cost ≈ d·n² + n³/3.
    case dual
}

/// Ridge least squares: W = argmin_W ‖X·W − Y‖²_F + λ‖W‖²_F for X: `[n, d]`, Y: `[n, k]`
/// → W: `[d, k]`. Both forms give the same W, (XᵀX + λI)⁻¹XᵀY = Xᵀ(XXᵀ + λI)⁻¹Y (push-through
/// identity); `form` picks the smaller system. For λ > 0 the system is SPD and solved by
/// Cholesky. λ = 0 gives the minimum-norm least-squares solution W = X⁺·Y (`pseudoInverse`,
/// default cutoff).
/// - Throws: `.shapeMismatch` unless X and Y are rank 2 with equal row counts;
///   `.invalidArgument` for λ < 0 or non-finite; `.nonFinite` for NaN/∞ data; whatever the
///   solvers throw.
public func ridgeLeastSquares(_ x: Tensor<Double>, _ y: Tensor<Double>, lambda: Double,
                              form: RidgeForm = .automatic) throws -> Tensor<Double> {
    guard x.rank == 2, y.rank == 2, x.shape[0] == y.shape[0] else {
        throw LinearAlgebraError.shapeMismatch("ridgeLeastSquares: X is \(x.shape), Y is \(y.shape); expected X [n, d], Y [n, k]")
    }
    guard lambda >= 0, lambda.isFinite else {
        throw LinearAlgebraError.invalidArgument("ridgeLeastSquares lambda must be finite and ≥ 0, got \(lambda)")
    }
    try laCheckFinite(x, "ridgeLeastSquares(X)")
    try laCheckFinite(y, "ridgeLeastSquares(Y)")
    let n = x.shape[0], d = x.shape[1]
    if lambda == 0 { return try pseudoInverse(x).matmul(y) }
    let useDual: Bool
    switch form {
    case .automatic: useDual = d > n
    case .primal: useDual = false
    case .dual: useDual = true
    }
    if useDual {
        var g = try gramMatrix(x, ofRows: true)
        for i in 0..<n { g.scalars[i * n + i] += lambda }
        let alpha = try choleskySolve(g, y)                 // [n, k]
        return x.matmul(alpha, transposeSelf: true)         // [d, k]
    }
    var g = try gramMatrix(x)
    for i in 0..<d { g.scalars[i * d + i] += lambda }
    return try choleskySolve(g, x.matmul(y, transposeSelf: true))
}
