import Foundation
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

/// The Gram-space quantities of one fixed training set, shared by every loss and embedding
/// size trained on it: Xs, G = Xs Xsᵀ, H and the eigen-decompositions of H restricted to the
/// eigenspaces of P (computed once, thread-safe).
public final class GramSpace: @unchecked Sendable {
    /// The training views (1 without augmentation, else 2), each `[n, d]`.
    public let views: [Tensor<Double>]
    /// Xs, `[m, d]`.
    public let stackedInputs: Tensor<Double>
    /// G = Xs Xsᵀ, `[m, m]`.
    public let gram: Tensor<Double>
    private let lock = NSLock()
    private var hMatrix: Tensor<Double>?
    private var restricted: [String: SymmetricEigen] = [:]

    /// - Parameter gram: G if already computed (saves O(m²d)).
    /// - Throws: `TheoryError.singularGram` when G is not positive definite.
    public init(views: [Tensor<Double>], gram: Tensor<Double>? = nil, threads: Int = 1) throws {
        self.views = views
        stackedInputs = views.count == 1 ? views[0] : Tensor.concatenateRows(views)
        self.gram = gram ?? gramOfRows(stackedInputs, threads: threads)
        do { _ = try cholesky(self.gram) } catch {
            throw TheoryError.singularGram("\(stackedInputs.shape[0]) inputs of dimension \(stackedInputs.shape[1])")
        }
    }

    /// G⁻¹ B for B `[m, k]`.
    public func solveGram(_ b: Tensor<Double>) throws -> Tensor<Double> {
        try choleskySolve(gram, b)
    }

    /// H (`[n, n]`): G⁻¹ = (XXᵀ)⁻¹ without augmentation, Eᵀ G⁻¹ E with two views.
    public func normMatrix() throws -> Tensor<Double> {
        lock.lock(); defer { lock.unlock() }
        return try normMatrixLocked()
    }

    private func normMatrixLocked() throws -> Tensor<Double> {
        if let h = hMatrix { return h }
        let n = views[0].shape[0]
        let h: Tensor<Double>
        if views.count == 1 {
            h = try solveGram(Tensor.identity(n))
        } else {
            var e = Tensor<Double>(zeros: [2 * n, n])
            let s = 1 / 2.0.squareRoot()
            for i in 0..<n { e[i, i] = s; e[n + i, i] = s }
            let ge = try solveGram(e)                              // G⁻¹E [2n, n]
            var out = Tensor<Double>(zeros: [n, n])
            for i in 0..<n { for j in 0..<n { out[i, j] = s * (ge[i, j] + ge[n + i, j]) } }
            h = out
        }
        var sym = h                                                // symmetrize against rounding
        for i in 0..<n { for j in 0..<i { let a = 0.5 * (h[i, j] + h[j, i]); sym[i, j] = a; sym[j, i] = a } }
        hMatrix = sym
        return sym
    }

    /// Eigen-decomposition of Π H Π + c (I − Π) for the projector Π (`[n, n]`) named `key`,
    /// with c = 2·tr(H) + 1 above H's spectrum, so that its bottom eigenvectors lie in range(Π).
    func restrictedEigen(key: String, projector: () -> Tensor<Double>) throws -> SymmetricEigen {
        lock.lock(); defer { lock.unlock() }
        if let e = restricted[key] { return e }
        let h = try normMatrixLocked()
        let n = h.shape[0]
        let proj = projector()
        var trace = 0.0
        for i in 0..<n { trace += h[i, i] }
        var a = proj.matmul(h, threads: 1).matmul(proj, threads: 1)
        let c = 2 * trace + 1
        for i in 0..<n { for j in 0..<n { a[i, j] += c * ((i == j ? 1 : 0) - proj[i, j]) } }
        for i in 0..<n { for j in 0..<i { let v = 0.5 * (a[i, j] + a[j, i]); a[i, j] = v; a[j, i] = v } }
        let e = try SymmetricEigen(a)
        restricted[key] = e
        return e
    }
}

/// Computes minimum-norm minimizers for one training problem (views + pair weights); the
/// Gram-space work is shared through a `GramSpace`, so several embedding sizes p or several
/// pairings on the same data are cheap.
public final class MinimumNormSolver {
    /// The problem (views and pair weights).
    public let problem: LinearContrastiveProblem
    /// The shared Gram-space quantities of the problem's views.
    public let space: GramSpace
    /// Xs, `[m, d]`.
    public var stackedInputs: Tensor<Double> { space.stackedInputs }
    /// G = Xs Xsᵀ, `[m, m]`.
    public var gram: Tensor<Double> { space.gram }

    /// - Parameters:
    ///   - space: a `GramSpace` of the same views (shared across settings), or nil to build one.
    ///   - gram: G = Xs Xsᵀ if already computed (used only when `space` is nil).
    /// - Throws: `TheoryError.singularGram` when G is not positive definite;
    ///   `.invalidArgument` when `space` holds other views.
    public init(problem: LinearContrastiveProblem, space: GramSpace? = nil, gram: Tensor<Double>? = nil,
                threads: Int = 1) throws {
        self.problem = problem
        if let space = space {
            guard space.views.count == problem.views.count, space.views[0].shape == problem.views[0].shape else {
                throw TheoryError.invalidArgument(field: "space", value: "views \(space.views.map { $0.shape })",
                                                  expected: "the problem's views \(problem.views.map { $0.shape })")
            }
            self.space = space
        } else {
            self.space = try GramSpace(views: problem.views, gram: gram, threads: threads)
        }
    }

    /// G⁻¹ B for B `[m, k]`.
    public func solveGram(_ b: Tensor<Double>) throws -> Tensor<Double> { try space.solveGram(b) }

    /// H (`[n, n]`): (XXᵀ)⁻¹ without augmentation, Eᵀ G⁻¹ E with two views.
    public func normMatrix() throws -> Tensor<Double> { try space.normMatrix() }

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
        let key = "\(pairs.classes.hashValue)-\(space.classIndices)-\(space.includesComplement)"
        let eigen = try self.space.restrictedEigen(key: key) { projector(space) }
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
