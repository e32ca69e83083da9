import Foundation
import Testing
@testable import FeatureLensNumerics

// Helpers ---------------------------------------------------------------------------------

private func frobenius(_ t: Tensor<Double>) -> Double {
    t.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
}

private func maxAbs(_ t: Tensor<Double>) -> Double {
    t.scalars.reduce(0) { max($0, abs($1)) }
}

private func minus(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
    precondition(a.shape == b.shape)
    return Tensor(shape: a.shape, scalars: zip(a.scalars, b.scalars).map { $0 - $1 })
}

private func randomSymmetric(_ n: Int, seed: UInt64) -> Tensor<Double> {
    var g = SeededGenerator(seed: seed)
    let r = Tensor<Double>(randomNormal: [n, n], using: &g)
    var s = r
    for i in 0..<n { for j in 0..<n { s.scalars[i * n + j] = r.scalars[i * n + j] + r.scalars[j * n + i] } }
    return s
}

/// Random `[n, k]` matrix with orthonormal columns (modified Gram–Schmidt, twice).
private func randomOrthonormal(_ n: Int, _ k: Int, seed: UInt64) -> Tensor<Double> {
    var g = SeededGenerator(seed: seed)
    let r = Tensor<Double>(randomNormal: [k, n], using: &g)   // rows become the columns
    var rows = (0..<k).map { Array(r.scalars[($0 * n)..<(($0 + 1) * n)]) }
    for i in 0..<k {
        for _ in 0..<2 {
            for j in 0..<i {
                let d = zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 }
                for c in 0..<n { rows[i][c] -= d * rows[j][c] }
            }
        }
        let norm = rows[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
        rows[i] = rows[i].map { $0 / norm }
    }
    return Tensor(rows: rows).transposed()
}

private func diagonal(_ v: [Double]) -> Tensor<Double> {
    var t = Tensor<Double>(zeros: [v.count, v.count])
    for (i, x) in v.enumerated() { t.scalars[i * v.count + i] = x }
    return t
}

/// (‖AV − VΛ‖_F / ‖A‖_F, ‖VᵀV − I‖_F) for an eigendecomposition.
private func eigenResiduals(_ a: Tensor<Double>, _ e: SymmetricEigen) -> (Double, Double) {
    let n = a.shape[0], k = e.values.count
    let av = a.matmul(e.vectors)
    var vl = e.vectors
    for i in 0..<n { for j in 0..<k { vl.scalars[i * k + j] *= e.values[j] } }
    let normA = max(frobenius(a), Double.leastNormalMagnitude)
    let orth = minus(e.vectors.matmul(e.vectors, transposeSelf: true), Tensor.identity(k))
    return (frobenius(minus(av, vl)) / normA, frobenius(orth))
}

private func expectDescending(_ v: [Double]) {
    for i in 1..<max(1, v.count) { #expect(v[i - 1] >= v[i]) }
}

// Symmetric eigendecomposition ---------------------------------------------------------

@Suite("Symmetric eigendecomposition")
struct SymmetricEigenTests {
    // The acceptance size is 500; the unoptimized debug build runs the same check at 200
    // (see Benchmarks/ or `swift test -c release` for 500).
    #if DEBUG
    static let largeN = 200
    #else
    static let largeN = 500
    #endif

    @Test func randomLargeResidualAndOrthogonality() throws {
        let n = Self.largeN
        let a = randomSymmetric(n, seed: 42)
        let e = try SymmetricEigen(a)
        #expect(e.values.count == n && e.vectors.shape == [n, n])
        let (res, orth) = eigenResiduals(a, e)
        #expect(res <= 1e-10, "‖AV − VΛ‖/‖A‖ = \(res)")
        #expect(orth <= 1e-10, "‖VᵀV − I‖ = \(orth)")
        expectDescending(e.values)
        let trace = (0..<n).reduce(0.0) { $0 + a.scalars[$1 * n + $1] }
        #expect(abs(e.values.reduce(0, +) - trace) <= 1e-9 * frobenius(a))
    }

    @Test(arguments: [2, 3, 5, 31, 32, 33, 47, 64, 65, 97])
    func randomSmallSizes(n: Int) throws {
        let a = randomSymmetric(n, seed: UInt64(1000 + n))
        let e = try SymmetricEigen(a)
        let (res, orth) = eigenResiduals(a, e)
        #expect(res <= 1e-12, "n = \(n): residual \(res)")
        #expect(orth <= 1e-12, "n = \(n): orthogonality \(orth)")
        expectDescending(e.values)
    }

    /// T = tridiag(−1, 2, −1) of size n has eigenvalues 2 − 2·cos(jπ/(n+1)), j = 1…n.
    @Test func analyticTridiagonalToeplitz() throws {
        let n = 120
        var a = Tensor<Double>(zeros: [n, n])
        for i in 0..<n {
            a.scalars[i * n + i] = 2
            if i + 1 < n { a.scalars[i * n + i + 1] = -1; a.scalars[(i + 1) * n + i] = -1 }
        }
        let e = try SymmetricEigen(a)
        let exact = (1...n).map { 2 - 2 * cos(Double($0) * Double.pi / Double(n + 1)) }.sorted(by: >)
        for (x, y) in zip(e.values, exact) { #expect(abs(x - y) <= 1e-13, "\(x) vs \(y)") }
        let (res, orth) = eigenResiduals(a, e)
        #expect(res <= 1e-13 && orth <= 1e-12)
    }

    @Test func emptyAndOneByOne() throws {
        let e0 = try SymmetricEigen(Tensor<Double>(zeros: [0, 0]))
        #expect(e0.values.isEmpty && e0.vectors.shape == [0, 0])
        let e1 = try SymmetricEigen(Tensor<Double>(shape: [1, 1], scalars: [-3.5]))
        #expect(e1.values == [-3.5] && e1.vectors.scalars == [1])
    }

    @Test func zeroAndIdentity() throws {
        for n in [7, 80] {
            let z = try SymmetricEigen(Tensor<Double>(zeros: [n, n]))
            #expect(z.values == [Double](repeating: 0, count: n))
            #expect(frobenius(minus(z.vectors.matmul(z.vectors, transposeSelf: true), .identity(n))) <= 1e-14)
            let i = try SymmetricEigen(Tensor<Double>.identity(n) * 3)
            #expect(i.values.allSatisfy { abs($0 - 3) <= 1e-14 })
            let (res, orth) = eigenResiduals(Tensor<Double>.identity(n) * 3, i)
            #expect(res <= 1e-14 && orth <= 1e-13)
        }
    }

    /// A rank-10 orthogonal projector in 90 dimensions: eigenvalue 1 ten times, 0 eighty times.
    @Test func projectorWithDegenerateEigenvalues() throws {
        let q = randomOrthonormal(90, 10, seed: 7)
        let p = q.matmul(q, transposeOther: true)
        let e = try SymmetricEigen(p)
        for (i, v) in e.values.enumerated() { #expect(abs(v - (i < 10 ? 1 : 0)) <= 1e-13, "λ_\(i) = \(v)") }
        let (res, orth) = eigenResiduals(p, e)
        #expect(res <= 1e-13 && orth <= 1e-12, "\(res) \(orth)")
        // The top-10 eigenvectors span the range of the projector.
        let top = try SymmetricEigen(p, topK: 10)
        let overlap = top.vectors.matmul(q, transposeSelf: true)   // [10, 10], orthogonal
        let gram = overlap.matmul(overlap, transposeOther: true)
        #expect(frobenius(minus(gram, .identity(10))) <= 1e-12)
    }

    /// Clusters of nearly equal eigenvalues (gaps 1e-13) and large ones exercise deflation.
    @Test func clusteredSpectrum() throws {
        let n = 90
        let q = randomOrthonormal(n, n, seed: 11)
        let lambdas = (0..<n).map { i -> Double in Double(i / 30) + Double(i % 30) * 1e-13 }
        let a = q.matmul(diagonal(lambdas)).matmul(q, transposeOther: true)
        let e = try SymmetricEigen(a)
        let (res, orth) = eigenResiduals(a, e)
        #expect(res <= 1e-12 && orth <= 1e-12, "\(res) \(orth)")
        for (x, y) in zip(e.values, lambdas.sorted(by: >)) { #expect(abs(x - y) <= 1e-12) }
    }

    /// Wilkinson's matrix W⁺₁₀₁ (diagonal |50 − i|, off-diagonal 1) has pairs of eigenvalues
    /// that agree to many digits: a classic test of deflation and orthogonality.
    @Test func wilkinsonMatrix() throws {
        let n = 101
        var a = Tensor<Double>(zeros: [n, n])
        for i in 0..<n {
            a.scalars[i * n + i] = Double(abs(50 - i))
            if i + 1 < n { a.scalars[i * n + i + 1] = 1; a.scalars[(i + 1) * n + i] = 1 }
        }
        let e = try SymmetricEigen(a)
        let (res, orth) = eigenResiduals(a, e)
        #expect(res <= 1e-13 && orth <= 1e-12, "\(res) \(orth)")
        // The top pair agrees to about 1e-14 (Wilkinson, The Algebraic Eigenvalue Problem, §5.45).
        #expect(abs(e.values[0] - e.values[1]) <= 1e-12 && e.values[0] > 50)
    }

    @Test func topKMatchesFullDecomposition() throws {
        let a = randomSymmetric(70, seed: 5)
        let full = try SymmetricEigen(a)
        let top = try SymmetricEigen(a, topK: 6)
        #expect(top.values.count == 6 && top.vectors.shape == [70, 6])
        for j in 0..<6 {
            #expect(abs(top.values[j] - full.values[j]) <= 1e-12 * abs(full.values[0]))
            // Same vector up to sign.
            var dot = 0.0
            for i in 0..<70 { dot += top.vectors.scalars[i * 6 + j] * full.vectors.scalars[i * 70 + j] }
            #expect(abs(abs(dot) - 1) <= 1e-10)
        }
        let none = try SymmetricEigen(a, topK: 0)
        #expect(none.values.isEmpty && none.vectors.shape == [70, 0])
        let values = try SymmetricEigen.eigenvalues(of: a)
        for (x, y) in zip(values, full.values) { #expect(abs(x - y) <= 1e-12 * abs(full.values[0])) }
    }

    @Test func readsOnlyTheLowerTriangle() throws {
        var a = randomSymmetric(40, seed: 9)
        let reference = try SymmetricEigen(a)
        for i in 0..<40 { for j in (i + 1)..<40 { a.scalars[i * 40 + j] = 1e6 } }  // garbage above
        let e = try SymmetricEigen(a)
        for (x, y) in zip(e.values, reference.values) { #expect(abs(x - y) <= 1e-12 * abs(y) + 1e-12) }
    }

    @Test func scaleInvariance() throws {
        let a = randomSymmetric(50, seed: 3)
        let e = try SymmetricEigen(a)
        for s in [1e-200, 1e200] {
            let es = try SymmetricEigen(a * s)
            for (x, y) in zip(es.values, e.values) { #expect(abs(x / s - y) <= 1e-12 * abs(e.values[0])) }
        }
    }

    @Test func badInputThrows() {
        #expect(throws: LinearAlgebraError.notSquare(shape: [3, 4])) { try SymmetricEigen(Tensor<Double>(zeros: [3, 4])) }
        var a = Tensor<Double>.identity(4)
        a.scalars[2 * 4 + 1] = .nan
        #expect(throws: LinearAlgebraError.self) { try SymmetricEigen(a) }
        #expect(throws: LinearAlgebraError.self) { try SymmetricEigen(Tensor<Double>.identity(4), topK: 5) }
    }

    @Test func bitIdenticalForOneAndTwoThreads() throws {
        let a = randomSymmetric(150, seed: 21)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let e1 = try SymmetricEigen(a)
        Parallel.threadCount = 2
        let e2 = try SymmetricEigen(a)
        #expect(e1.values == e2.values)
        #expect(e1.vectors == e2.vectors)
    }
}

// SVD and pseudo-inverse ------------------------------------------------------------------

@Suite("SVD and pseudo-inverse")
struct SVDTests {
    private func checkSVD(_ a: Tensor<Double>, tolerance: Double = 1e-13) throws -> SVD {
        let m = a.shape[0], n = a.shape[1], r = min(m, n)
        let s = try SVD(a)
        #expect(s.u.shape == [m, r] && s.v.shape == [n, r] && s.singularValues.count == r)
        var us = s.u
        for i in 0..<m { for j in 0..<r { us.scalars[i * r + j] *= s.singularValues[j] } }
        let rec = us.matmul(s.v, transposeOther: true)
        let scale = max(frobenius(a), 1e-300)
        #expect(frobenius(minus(rec, a)) <= tolerance * scale, "reconstruction \(frobenius(minus(rec, a)) / scale)")
        #expect(frobenius(minus(s.u.matmul(s.u, transposeSelf: true), .identity(r))) <= 1e-12)
        #expect(frobenius(minus(s.v.matmul(s.v, transposeSelf: true), .identity(r))) <= 1e-12)
        expectDescending(s.singularValues)
        #expect(s.singularValues.allSatisfy { $0 >= 0 })
        return s
    }

    @Test(arguments: [(40, 25), (25, 40), (33, 33), (1, 7), (7, 1), (1, 1), (100, 3)])
    func reconstruction(shape: (Int, Int)) throws {
        var g = SeededGenerator(seed: UInt64(shape.0 * 100 + shape.1))
        _ = try checkSVD(Tensor(randomNormal: [shape.0, shape.1], using: &g))
    }

    @Test func emptyAndZero() throws {
        let e = try SVD(Tensor<Double>(zeros: [0, 5]))
        #expect(e.singularValues.isEmpty && e.u.shape == [0, 0] && e.v.shape == [5, 0])
        let z = try checkSVD(Tensor<Double>(zeros: [6, 4]))
        #expect(z.singularValues == [0, 0, 0, 0])
    }

    /// Known singular values spanning 12 orders of magnitude are recovered to ≈ ε·σ_max
    /// (the Gram-matrix route would lose everything below √ε·σ_max ≈ 1.5e-8).
    @Test func illConditionedSingularValues() throws {
        let m = 60, n = 30
        let u = randomOrthonormal(m, n, seed: 1), v = randomOrthonormal(n, n, seed: 2)
        let sigma = (0..<n).map { pow(10.0, -12.0 * Double($0) / Double(n - 1)) }
        let a = u.matmul(diagonal(sigma)).matmul(v, transposeOther: true)
        let s = try checkSVD(a)
        for (x, y) in zip(s.singularValues, sigma) { #expect(abs(x - y) <= 1e-14, "\(x) vs \(y)") }
    }

    /// Rank-deficient products B·C (rank r) in tall, wide and square shapes.
    @Test(arguments: [(60, 40, 7), (30, 50, 9), (45, 45, 20), (80, 5, 1)])
    func penroseConditionsOnRankDeficientInput(shape: (Int, Int, Int)) throws {
        let (m, n, r) = shape
        var g = SeededGenerator(seed: UInt64(m * 1000 + n * 10 + r))
        let b = Tensor<Double>(randomNormal: [m, r], using: &g)
        let c = Tensor<Double>(randomNormal: [r, n], using: &g)
        let a = b.matmul(c)
        let s = try checkSVD(a)
        // The trailing singular values are at the rounding level, below the documented cutoff.
        #expect(s.singularValues[r - 1] > 1e-3 * s.singularValues[0])
        if r < min(m, n) { #expect(s.singularValues[r] <= Double(max(m, n)) * Double.ulpOfOne * s.singularValues[0]) }
        let x = try pseudoInverse(a)
        #expect(x.shape == [n, m])
        let ax = a.matmul(x), xa = x.matmul(a)
        let na = frobenius(a), nx = frobenius(x)
        #expect(frobenius(minus(ax.matmul(a), a)) <= 1e-9 * na, "AXA = A")
        #expect(frobenius(minus(xa.matmul(x), x)) <= 1e-9 * nx, "XAX = X")
        #expect(frobenius(minus(ax, ax.transposed())) <= 1e-9 * frobenius(ax), "(AX)ᵀ = AX")
        #expect(frobenius(minus(xa, xa.transposed())) <= 1e-9 * frobenius(xa), "(XA)ᵀ = XA")
        // AX and XA are orthogonal projectors of rank r.
        let traceAX = (0..<m).reduce(0.0) { $0 + ax.scalars[$1 * m + $1] }
        #expect(abs(traceAX - Double(r)) <= 1e-9)
    }

    @Test func pseudoInverseOfInvertibleAndZeroMatrices() throws {
        var g = SeededGenerator(seed: 77)
        let a = Tensor<Double>(randomNormal: [12, 12], using: &g)
        let x = try pseudoInverse(a)
        #expect(maxAbs(minus(a.matmul(x), .identity(12))) <= 1e-11)
        #expect(try pseudoInverse(Tensor<Double>(zeros: [3, 5])) == Tensor<Double>(zeros: [5, 3]))
        // A cutoff above σ_min drops that direction: pinv(diag(1, 1e-6)) with cutoff 1e-3.
        let d = try pseudoInverse(diagonal([1, 1e-6]), relativeCutoff: 1e-3)
        #expect(abs(d.scalars[0] - 1) <= 1e-15 && d.scalars[3] == 0)
        #expect(throws: LinearAlgebraError.self) { try pseudoInverse(a, relativeCutoff: -1) }
    }
}

// Cholesky, solves, ridge ----------------------------------------------------------------

@Suite("Cholesky, solves and ridge")
struct LinearSystemTests {
    private func randomSPD(_ n: Int, seed: UInt64) throws -> Tensor<Double> {
        var g = SeededGenerator(seed: seed)
        let r = Tensor<Double>(randomNormal: [n + 5, n], using: &g)
        return try gramMatrix(r) + Tensor<Double>.identity(n) * 0.1
    }

    @Test func choleskyFactorAndSolve() throws {
        let a = try randomSPD(30, seed: 1)
        let l = try cholesky(a)
        for i in 0..<30 { for j in (i + 1)..<30 { #expect(l.scalars[i * 30 + j] == 0) } }
        #expect(frobenius(minus(l.matmul(l, transposeOther: true), a)) <= 1e-13 * frobenius(a))
        var g = SeededGenerator(seed: 2)
        let b = Tensor<Double>(randomNormal: [30, 4], using: &g)
        let x = try choleskySolve(a, b)
        #expect(frobenius(minus(a.matmul(x), b)) <= 1e-11 * frobenius(b))
        let inv = try inverseSPD(a)
        #expect(maxAbs(minus(a.matmul(inv), .identity(30))) <= 1e-10)
    }

    @Test func choleskyRejectsNonSPD() {
        // Indefinite: eigenvalues 3 and −1; the second pivot is 1 − 4 = −3.
        let indefinite = Tensor<Double>(rows: [[1, 2], [2, 1]])
        #expect(throws: LinearAlgebraError.notPositiveDefinite(index: 1)) { try cholesky(indefinite) }
        // Positive semidefinite but singular.
        let singular = Tensor<Double>(rows: [[1, 1, 0], [1, 1, 0], [0, 0, 1]])
        #expect(throws: LinearAlgebraError.notPositiveDefinite(index: 1)) { try cholesky(singular) }
        #expect(throws: LinearAlgebraError.notPositiveDefinite(index: 0)) { try cholesky(Tensor<Double>(rows: [[-1]])) }
        #expect(throws: LinearAlgebraError.notSquare(shape: [2, 3])) { try cholesky(Tensor<Double>(zeros: [2, 3])) }
        #expect(throws: LinearAlgebraError.self) { try choleskySolve(.identity(3), Tensor<Double>(zeros: [4, 1])) }
    }

    @Test func gramMatrixIsSymmetricProduct() throws {
        var g = SeededGenerator(seed: 8)
        let x = Tensor<Double>(randomNormal: [9, 4], using: &g)
        let cols = try gramMatrix(x), rows = try gramMatrix(x, ofRows: true)
        #expect(cols.shape == [4, 4] && rows.shape == [9, 9])
        #expect(maxAbs(minus(cols, x.transposed().matmul(x))) <= 1e-13)
        #expect(maxAbs(minus(rows, x.matmul(x.transposed()))) <= 1e-13)
        #expect(cols == cols.transposed() && rows == rows.transposed())
        #expect(throws: LinearAlgebraError.self) { try gramMatrix(Tensor<Double>(zeros: [2, 2, 2])) }
    }

    @Test func generalSolve() throws {
        var g = SeededGenerator(seed: 3)
        let a = Tensor<Double>(randomNormal: [25, 25], using: &g)
        let b = Tensor<Double>(randomNormal: [25, 3], using: &g)
        let x = try solve(a, b)
        #expect(frobenius(minus(a.matmul(x), b)) <= 1e-11 * frobenius(b))
        let singular = Tensor<Double>(rows: [[1, 2], [2, 4]])
        #expect(throws: LinearAlgebraError.singular(index: 1)) { try solve(singular, Tensor<Double>(zeros: [2, 1])) }
    }

    /// With X = Q·diag(s) (orthonormal Q), ridge has the closed form W = diag(s/(s²+λ))·QᵀY;
    /// with X = diag(s)·Qᵀ (d > n) it is W = Q·diag(s/(s²+λ))·Y.
    @Test func ridgeAgainstClosedForm() throws {
        let lambda = 0.7
        var g = SeededGenerator(seed: 4)
        // Tall: n = 40, d = 6.
        let q = randomOrthonormal(40, 6, seed: 5)
        let s = [3.0, 2, 1, 0.5, 0.1, 0.01]
        let x = q.matmul(diagonal(s))
        let y = Tensor<Double>(randomNormal: [40, 3], using: &g)
        let expected = diagonal(s.map { $0 / ($0 * $0 + lambda) }).matmul(q.matmul(y, transposeSelf: true))
        for form in [RidgeForm.automatic, .primal, .dual] {
            let w = try ridgeLeastSquares(x, y, lambda: lambda, form: form)
            #expect(w.shape == [6, 3])
            #expect(maxAbs(minus(w, expected)) <= 1e-12, "\(form)")
        }
        // Wide: n = 6, d = 40 (automatic picks the dual).
        let xw = diagonal(s).matmul(q, transposeOther: true)   // [6, 40]
        let yw = Tensor<Double>(randomNormal: [6, 2], using: &g)
        let expectedW = q.matmul(diagonal(s.map { $0 / ($0 * $0 + lambda) })).matmul(yw)
        for form in [RidgeForm.automatic, .primal, .dual] {
            let w = try ridgeLeastSquares(xw, yw, lambda: lambda, form: form)
            #expect(w.shape == [40, 2])
            #expect(maxAbs(minus(w, expectedW)) <= 1e-12, "\(form)")
        }
        // λ = 0: minimum-norm solution X⁺Y = Q·diag(1/s)·Y for the wide case.
        let w0 = try ridgeLeastSquares(xw, yw, lambda: 0)
        #expect(maxAbs(minus(w0, q.matmul(diagonal(s.map { 1 / $0 })).matmul(yw))) <= 1e-10)
        #expect(throws: LinearAlgebraError.self) { try ridgeLeastSquares(x, y, lambda: -1) }
        #expect(throws: LinearAlgebraError.self) { try ridgeLeastSquares(x, yw, lambda: 1) }
    }
}
