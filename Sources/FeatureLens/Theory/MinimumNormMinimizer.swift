import FeatureLensNumerics

// Minimum-norm minimizers of the spectral contrastive loss for a linear encoder on a fixed
// training set (SCIENCE.md §4). Only n×n, 2n×2n and p×d matrices are formed, never d×d.
//
// Without augmentation (Z₁ = Z₂ = Z = X Wᵀ):  ZZᵀ = n²·(top-p positive part of P),
//     Z* = n·Q_p Λ_p^{1/2},  W* = Z*ᵀ (XXᵀ)⁻¹ X  (= Z*ᵀ (X⁺)ᵀ),  ‖W‖² = tr(Zᵀ (XXᵀ)⁻¹ Z).
// With two views (M = nP, Xs = [X₁; X₂], G = Xs Xsᵀ):  Z₁ = Z₂ = Z = √n·Q Λ_M^{1/2} = n·Q Λ_p^{1/2},
//     Zs = [Z; Z],  W* = Zsᵀ G⁻¹ Xs,  ‖W‖² = 2 tr(Zᵀ H Z),  H = Eᵀ G⁻¹ E,  E = [I; I]/√2.
// In both cases, where the eigenvalue at the rank-p boundary is degenerate, the columns taken
// inside that eigenspace V are the bottom eigenvectors of H restricted to V (H = (XXᵀ)⁻¹
// without augmentation), which minimizes ‖W‖² over all minimizers of this form.
// The optimum is L* = −n² Σ_{i≤p} λᵢ(P)² (positive eigenvalues only).

/// Errors of the theory computations.
public enum TheoryError: Error, CustomStringConvertible, Equatable {
    /// The Gram matrix of the training inputs is singular (n ≥ d or repeated inputs).
    case singularGram(String)
    /// An invalid argument (name, value, expectation).
    case invalidArgument(field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .singularGram(let m): return "theory: the training Gram matrix is singular (\(m)); the closed form needs linearly independent inputs (n < d)"
        case let .invalidArgument(f, v, e): return "theory: \(f) = \(v); expected \(e)"
        }
    }
}

/// The minimum-norm minimizer W* = C*ᵀ Xs, stored by its coefficients in the row space of Xs.
public struct MinimumNormSolution: Sendable {
    /// Embedding size p.
    public var p: Int
    /// C* = G⁻¹ Zs*, `[m, p]` (m = rows of Xs); W* = C*ᵀ Xs.
    public var coefficients: Tensor<Double>
    /// Zs* = Xs W*ᵀ, `[m, p]` (for two views: [Z*; Z*]).
    public var embeddings: Tensor<Double>
    /// The loss at W*, evaluated from its embeddings.
    public var loss: Double
    /// The closed-form optimum −n² Σ_{i≤p} λᵢ(P)².
    public var optimalLoss: Double
    /// ‖W*‖²_F = tr(Zs*ᵀ G⁻¹ Zs*).
    public var squaredNorm: Double

    /// W* itself, `[p, d]`, given the stacked inputs Xs (`[m, d]`) it was computed from.
    public func weights(stackedInputs xs: Tensor<Double>) -> Tensor<Double> {
        var w = Tensor<Double>(zeros: [p, xs.shape[1]])
        narrowGEMM(coefficients.transposed(), xs, into: &w)
        return w
    }
}

/// Computes minimum-norm minimizers for one training problem; caches G's factorization and
/// the eigen-decompositions of H so that several embedding sizes p are cheap.
public final class MinimumNormSolver {
    /// The problem (views and pair weights).
    public let problem: LinearContrastiveProblem
    /// Xs, `[m, d]`.
    public let stackedInputs: Tensor<Double>
    /// G = Xs Xsᵀ, `[m, m]`.
    public let gram: Tensor<Double>
    private var hMatrix: Tensor<Double>?
    private var restrictedEigen: [String: SymmetricEigen] = [:]

    /// - Parameter gram: G = Xs Xsᵀ if already computed (saves O(m²d)).
    /// - Throws: `TheoryError.singularGram` when G is not positive definite.
    public init(problem: LinearContrastiveProblem, gram: Tensor<Double>? = nil, threads: Int = 1) throws {
        self.problem = problem
        stackedInputs = problem.stackedInputs
        self.gram = gram ?? gramOfRows(stackedInputs, threads: threads)
        do { _ = try cholesky(self.gram) } catch {
            throw TheoryError.singularGram("\(stackedInputs.shape[0]) inputs of dimension \(stackedInputs.shape[1])")
        }
    }

    /// G⁻¹ B for B `[m, k]`.
    public func solveGram(_ b: Tensor<Double>) throws -> Tensor<Double> {
        try choleskySolve(gram, b)
    }

    /// H (`[n, n]`): (XXᵀ)⁻¹ without augmentation, Eᵀ G⁻¹ E with two views.
    public func normMatrix() throws -> Tensor<Double> {
        if let h = hMatrix { return h }
        let n = problem.pairs.n
        let h: Tensor<Double>
        if problem.views.count == 1 {
            h = try solveGram(Tensor.identity(n))
        } else {
            var e = Tensor<Double>(zeros: [2 * n, n])
            let s = 1 / 2.0.squareRoot()
            for i in 0..<n { e[i, i] = s; e[n + i, i] = s }
            let ge = try solveGram(e)                              // G⁻¹E [2n, n]
            var out = Tensor<Double>(zeros: [n, n])
            for i in 0..<n { for j in 0..<n { out[i, j] = s * (ge[i, j] + ge[n + i, j]) } }
            // Symmetrize against rounding.
            for i in 0..<n { for j in 0..<i { let a = 0.5 * (out[i, j] + out[j, i]); out[i, j] = a; out[j, i] = a } }
            h = out
        }
        hMatrix = h
        return h
    }

    /// Projector onto an eigenspace of P, `[n, n]`.
    private func projector(_ space: SpectralPairWeights.Eigenspace) -> Tensor<Double> {
        let pairs = problem.pairs, n = pairs.n
        var proj = Tensor<Double>(zeros: [n, n])
        let nonEmpty = pairs.classCounts.indices.filter { pairs.classCounts[$0] > 0 }
        if space.includesComplement {
            for i in 0..<n { proj[i, i] = 1 }
            for c in nonEmpty {
                let w = 1 / Double(pairs.classCounts[c])
                for i in 0..<n where pairs.classes[i] == c { for j in 0..<n where pairs.classes[j] == c { proj[i, j] -= w } }
            }
        }
        for c in space.classIndices {
            let w = 1 / Double(pairs.classCounts[c])
            for i in 0..<n where pairs.classes[i] == c { for j in 0..<n where pairs.classes[j] == c { proj[i, j] += w } }
        }
        return proj
    }

    /// `count` orthonormal vectors (`[n, count]`) spanning the part of `space` with the
    /// smallest H-energy: the bottom eigenvectors of H restricted to the space.
    private func cheapestBasis(_ space: SpectralPairWeights.Eigenspace, count: Int) throws -> Tensor<Double> {
        let pairs = problem.pairs, n = pairs.n
        // A space spanned only by whole class indicators and taken whole: the indicators.
        if !space.includesComplement && count == space.dimension {
            var q = Tensor<Double>(zeros: [n, count])
            for (k, c) in space.classIndices.enumerated() {
                let w = 1 / Double(pairs.classCounts[c]).squareRoot()
                for i in 0..<n where pairs.classes[i] == c { q[i, k] = w }
            }
            return q
        }
        let key = "\(space.classIndices)-\(space.includesComplement)"
        let eigen: SymmetricEigen
        if let cached = restrictedEigen[key] {
            eigen = cached
        } else {
            // Π H Π + c (I − Π) with c above H's spectrum: the bottom eigenvectors lie in V.
            let h = try normMatrix()
            let proj = projector(space)
            var trace = 0.0
            for i in 0..<n { trace += h[i, i] }
            var a = proj.matmul(h, threads: 1).matmul(proj, threads: 1)
            let c = 2 * trace + 1
            for i in 0..<n { for j in 0..<n { a[i, j] += c * ((i == j ? 1 : 0) - proj[i, j]) } }
            eigen = try SymmetricEigen(a)
            restrictedEigen[key] = eigen
        }
        var q = Tensor<Double>(zeros: [n, count])
        for k in 0..<count {
            let col = n - 1 - k                                   // ascending from the bottom
            for i in 0..<n { q[i, k] = eigen.vectors[i, col] }
        }
        return q
    }

    /// The minimum-norm minimizer at embedding size `p` (SCIENCE.md §4).
    /// - Throws: `TheoryError.invalidArgument` for p < 1; linear-algebra errors.
    public func solve(p: Int) throws -> MinimumNormSolution {
        guard p >= 1 else { throw TheoryError.invalidArgument(field: "p", value: "\(p)", expected: "≥ 1") }
        let pairs = problem.pairs, n = pairs.n
        let spaces = pairs.eigenspaces()
        let top = spaces.first.map { abs($0.value) } ?? 0
        var z = Tensor<Double>(zeros: [n, p])
        var column = 0
        var optimum = 0.0
        for space in spaces {
            if column >= p || space.value <= 1e-12 * top { break }
            let take = min(space.dimension, p - column)
            let basis = try cheapestBasis(space, count: take)
            let scale = Double(n) * space.value.squareRoot()
            for k in 0..<take { for i in 0..<n { z[i, column + k] = scale * basis[i, k] } }
            column += take
            optimum -= Double(n * n) * Double(take) * space.value * space.value
        }
        let zs = problem.views.count == 1 ? z : Tensor.concatenateRows([z, z])
        let coefficients = try solveGram(zs)
        var norm2 = 0.0
        for i in 0..<zs.count { norm2 += zs.scalars[i] * coefficients.scalars[i] }
        let loss = try problem.lossAndGradient(stackedEmbeddings: zs).value
        return MinimumNormSolution(p: p, coefficients: coefficients, embeddings: zs, loss: loss,
                                   optimalLoss: optimum, squaredNorm: norm2)
    }

    /// How close an encoder W (`[p, d]`, loss `loss`) is to the minimum-norm minimizer
    /// (SCIENCE.md §4), computed through p×p products in the row space of Xs.
    public func compare(weights w: Tensor<Double>, loss: Double, to solution: MinimumNormSolution) throws -> TheoryComparison {
        let zs = embed(stackedInputs, w)                        // Xs Wᵀ [m, p]
        let c = try solveGram(zs)                               // W_row = Cᵀ Xs
        let rowRow = zs.matmul(c, transposeSelf: true, threads: 1)              // W_row W_rowᵀ
        let rowStar = zs.matmul(solution.coefficients, transposeSelf: true, threads: 1) // W_row W*ᵀ
        let starStar = solution.embeddings.matmul(solution.coefficients, transposeSelf: true, threads: 1) // W* W*ᵀ
        func sq(_ t: Tensor<Double>) -> Double { t.scalars.reduce(0) { $0 + $1 * $1 } }
        var rowNorm2 = 0.0
        for i in 0..<rowRow.shape[0] { rowNorm2 += rowRow[i, i] }
        let fullNorm2 = w.scalars.reduce(0) { $0 + $1 * $1 }
        let dist2 = max(0, sq(rowRow) - 2 * sq(rowStar) + sq(starStar))
        let starNorm = solution.squaredNorm.squareRoot()
        return TheoryComparison(
            normRatio: rowNorm2.squareRoot() / starNorm,
            fullNormRatio: fullNorm2.squareRoot() / starNorm,
            gramDistance: dist2.squareRoot() / sq(starStar).squareRoot(),
            lossGap: (loss - solution.optimalLoss) / abs(solution.optimalLoss))
    }
}

/// How a trained encoder compares with the minimum-norm minimizer W* (SCIENCE.md §4).
public struct TheoryComparison: Codable, Equatable, Sendable {
    /// ‖W_row‖/‖W*‖, W_row = W projected onto the row space of Xs (W minus the part of the
    /// initialization outside it).
    public var normRatio: Double
    /// ‖W‖/‖W*‖ including the initialization's part outside the row space.
    public var fullNormRatio: Double
    /// ‖W_rowᵀW_row − W*ᵀW*‖_F / ‖W*ᵀW*‖_F (rotation invariant), via traces of p×p products.
    public var gramDistance: Double
    /// (L(W) − L*)/|L*| with L* the closed-form optimum.
    public var lossGap: Double

    enum CodingKeys: String, CodingKey {
        case normRatio = "norm_ratio", fullNormRatio = "full_norm_ratio"
        case gramDistance = "gram_distance", lossGap = "loss_gap"
    }
}
