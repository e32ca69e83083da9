import FeatureLensNumerics

// Spectral contrastive loss in the pairing form of SCIENCE.md §3 (HaoChen et al., NeurIPS 2021),
// as used by the fast linear engine of the synthetic experiments:
//
//     L(Z₁, Z₂; P) = −2 Σ_ij P_ij ⟨z₁ᵢ, z₂ⱼ⟩ + (1/n²) Σ_ij ⟨z₁ᵢ, z₂ⱼ⟩²
//                  = −2 ⟨Z₁, P Z₂⟩_F + (1/n²) tr((Z₁ᵀZ₁)(Z₂ᵀZ₂))
//     ∂L/∂Z₁ = −2 P Z₂ + (2/n²) Z₁ (Z₂ᵀZ₂),   ∂L/∂Z₂ = −2 Pᵀ Z₁ + (2/n²) Z₂ (Z₁ᵀZ₁)
//
// Z₁, Z₂: [n, p]. Every term costs O(n·p²); P is never formed.

/// Errors of the spectral objective and its pair weights.
public enum SpectralObjectiveError: Error, CustomStringConvertible, Equatable {
    /// β must lie in [0, 1].
    case betaOutOfRange(Double)
    /// The embeddings do not have the shapes the pair weights expect.
    case shapeMismatch(String)
    /// A class label is negative.
    case negativeClass(index: Int, value: Int)

    public var description: String {
        switch self {
        case .betaOutOfRange(let b): return "spectral loss: beta = \(b); expected a value in [0, 1]"
        case .shapeMismatch(let m): return "spectral loss: \(m)"
        case let .negativeClass(i, v): return "spectral loss: class label \(v) at index \(i); expected ≥ 0"
        }
    }
}

/// The positive-pair weight matrix P = β·P_SCL + (1 − β)·P_UCL of SCIENCE.md §3, stored by
/// its structure (never as a dense matrix):
/// - P_UCL = I/n (each point's two views are its only positives),
/// - P_SCL_ij = 1[yᵢ = yⱼ] / Σ_kl 1[y_k = y_l] (same-class pairs, self included).
///
/// P is symmetric, its entries are ≥ 0 and sum to 1. Its spectrum is known in closed form:
/// on the normalized class indicator q_c = 1_c/√n_c the eigenvalue is β·n_c/S + (1−β)/n
/// (S = Σ_c n_c²), and on the orthogonal complement of the class indicators it is (1−β)/n.
public struct SpectralPairWeights: Sendable, Equatable {
    /// Weight β of the supervised pairing (0: UCL, 1: SCL).
    public let beta: Double
    /// Class index of each point, `[n]` (ignored when β = 0, but still sets n).
    public let classes: [Int]
    /// Number of points per class index.
    public let classCounts: [Int]
    /// S = Σ_c n_c², the number of same-class pairs.
    public let sameClassPairs: Double

    /// Number of points n.
    public var n: Int { classes.count }

    /// - Throws: `SpectralObjectiveError.betaOutOfRange` unless 0 ≤ β ≤ 1;
    ///   `.negativeClass` for a negative label.
    public init(beta: Double, classes: [Int]) throws {
        guard beta >= 0, beta <= 1 else { throw SpectralObjectiveError.betaOutOfRange(beta) }
        if let i = classes.firstIndex(where: { $0 < 0 }) {
            throw SpectralObjectiveError.negativeClass(index: i, value: classes[i])
        }
        self.beta = beta
        self.classes = classes
        var counts = [Int](repeating: 0, count: (classes.max() ?? -1) + 1)
        for c in classes { counts[c] += 1 }
        classCounts = counts
        sameClassPairs = counts.reduce(0.0) { $0 + Double($1 * $1) }
    }

    /// Unsupervised pairing P = I/n for n points.
    public static func unsupervised(n: Int) -> SpectralPairWeights {
        // β = 0 is always valid and the classes are all 0.
        try! SpectralPairWeights(beta: 0, classes: [Int](repeating: 0, count: n))
    }

    /// P·Z for Z: `[n, p]` → `[n, p]` in O(n·p).
    public func apply(_ z: Tensor<Double>) -> Tensor<Double> {
        precondition(z.rank == 2 && z.shape[0] == n, "P·Z: Z has shape \(z.shape), P is \(n)×\(n)")
        return Tensor(shape: z.shape, scalars: applyFlat(z.scalars, p: z.shape[1]))
    }

    /// P·Z on a flat row-major `[n, p]` array.
    func applyFlat(_ z: [Double], p: Int) -> [Double] {
        let n = self.n
        let diag = (1 - beta) / Double(n)
        var out = [Double](repeating: 0, count: n * p)
        for i in 0..<(n * p) { out[i] = diag * z[i] }
        if beta > 0 {
            var sums = [Double](repeating: 0, count: classCounts.count * p)
            for i in 0..<n { let c = classes[i] * p, r = i * p; for j in 0..<p { sums[c + j] += z[r + j] } }
            let w = beta / sameClassPairs
            for i in 0..<n { let c = classes[i] * p, r = i * p; for j in 0..<p { out[r + j] += w * sums[c + j] } }
        }
        return out
    }

    /// The dense matrix P, `[n, n]` (for tests and small problems only).
    public func dense() -> Tensor<Double> {
        var t = Tensor<Double>(zeros: [n, n])
        for i in 0..<n {
            for j in 0..<n where beta > 0 && classes[i] == classes[j] { t[i, j] += beta / sameClassPairs }
            t[i, i] += (1 - beta) / Double(n)
        }
        return t
    }

    /// ‖P‖²_F.
    public var squaredNorm: Double {
        // Same-class entries: β/S + (1−β)/n on the diagonal, β/S off it.
        let a = beta / sameClassPairs, b = (1 - beta) / Double(n)
        let offDiagonal = (sameClassPairs - Double(n)) * a * a
        return offDiagonal + Double(n) * (a + b) * (a + b)
    }

    /// One eigenspace of P: its eigenvalue and either a set of class indicators or the
    /// orthogonal complement of all class indicators.
    public struct Eigenspace: Sendable, Equatable {
        /// Eigenvalue of P on this space.
        public var value: Double
        /// Class indices whose normalized indicators span (part of) the space.
        public var classIndices: [Int]
        /// Whether the space includes the orthogonal complement of all class indicators.
        public var includesComplement: Bool
        /// Dimension of the space.
        public var dimension: Int
    }

    /// The eigenspaces of P, eigenvalues descending; equal eigenvalues (relative tolerance
    /// 1e-9) are merged into one space. Empty classes are skipped.
    public func eigenspaces() -> [Eigenspace] {
        var pieces: [(Double, [Int], Bool, Int)] = []
        let comp = (1 - beta) / Double(n)
        let nonEmpty = classCounts.indices.filter { classCounts[$0] > 0 }
        for c in nonEmpty {
            pieces.append((beta * Double(classCounts[c]) / sameClassPairs + comp, [c], false, 1))
        }
        if n - nonEmpty.count > 0 { pieces.append((comp, [], true, n - nonEmpty.count)) }
        pieces.sort { $0.0 > $1.0 }
        var out: [Eigenspace] = []
        let scale = pieces.map { abs($0.0) }.max() ?? 1
        for piece in pieces {
            if let last = out.last, abs(last.value - piece.0) <= 1e-9 * scale {
                out[out.count - 1].classIndices += piece.1
                out[out.count - 1].includesComplement = last.includesComplement || piece.2
                out[out.count - 1].dimension += piece.3
            } else {
                out.append(Eigenspace(value: piece.0, classIndices: piece.1, includesComplement: piece.2,
                                      dimension: piece.3))
            }
        }
        return out
    }
}

/// Value and gradients of the spectral contrastive loss (SCIENCE.md §3) for given embeddings.
public enum LinearSpectralObjective {
    /// Loss and gradients for two views' embeddings.
    /// - Parameters:
    ///   - z1: view-1 embeddings `[n, p]`.
    ///   - z2: view-2 embeddings `[n, p]`.
    ///   - pairs: the positive-pair weights P (n × n).
    /// - Returns: L and ∂L/∂Z₁, ∂L/∂Z₂ (each `[n, p]`).
    /// - Throws: `SpectralObjectiveError.shapeMismatch` when the shapes disagree.
    public static func evaluate(_ z1: Tensor<Double>, _ z2: Tensor<Double>, pairs: SpectralPairWeights)
        throws -> (value: Double, gradient1: Tensor<Double>, gradient2: Tensor<Double>)
    {
        guard z1.rank == 2, z1.shape == z2.shape, z1.shape[0] == pairs.n else {
            throw SpectralObjectiveError.shapeMismatch(
                "view embeddings \(z1.shape) and \(z2.shape); expected two [\(pairs.n), p] tensors")
        }
        let p = z1.shape[1]
        let r = evaluateFlat(z1.scalars, z2.scalars, p: p, pairs: pairs)
        return (r.value, Tensor(shape: z1.shape, scalars: r.gradient1), Tensor(shape: z1.shape, scalars: r.gradient2))
    }

    /// The same on flat row-major `[n, p]` arrays (the engine's hot path; concrete `Double`
    /// loops plus `narrowGEMM` for the p×p products).
    /// `identicalViews`: the caller passes the same array as `z1` and `z2` (one input, no
    /// augmentation); the shared products are then computed once, with the same result.
    static func evaluateFlat(_ z1: [Double], _ z2: [Double], p: Int, pairs: SpectralPairWeights,
                             identicalViews: Bool = false)
        -> (value: Double, gradient1: [Double], gradient2: [Double])
    {
        let count = pairs.n
        let n2 = Double(count * count)
        let g1 = gramOfColumns(z1, rows: count, p: p)    // Z₁ᵀZ₁ [p, p]
        let g2 = identicalViews ? g1 : gramOfColumns(z2, rows: count, p: p)    // Z₂ᵀZ₂ [p, p]
        let pz2 = pairs.applyFlat(z2, p: p)
        let pz1 = identicalViews ? pz2 : pairs.applyFlat(z1, p: p)  // P symmetric: Pᵀ Z₁ = P Z₁
        var positive = 0.0
        for i in 0..<(count * p) { positive += z1[i] * pz2[i] }
        var quad = 0.0
        for i in 0..<(p * p) { quad += g1[i] * g2[i] }  // tr(G₁G₂), both symmetric
        let value = -2 * positive + quad / n2
        // ∂L/∂Z₁ = (2/n²)·(Z₁G₂ − n²·P Z₂), likewise for Z₂.
        func gradient(_ z: [Double], _ g: [Double], _ pz: [Double]) -> [Double] {
            var d = Tensor<Double>(shape: [count, p], scalars: pz)
            d *= -n2
            narrowGEMM(Tensor(shape: [count, p], scalars: z), Tensor(shape: [p, p], scalars: g), beta: 1, into: &d)
            d *= 2 / n2
            return d.scalars
        }
        let gradient1 = gradient(z1, g2, pz2)
        return (value, gradient1, identicalViews ? gradient1 : gradient(z2, g1, pz1))
    }

    /// Loss and gradient in the stacked layout of the standalone losses: `zs` = [Z₁; Z₂],
    /// `[2n, p]`; `labels` (nil for UCL) give the classes; `beta` the SCL weight.
    /// - Returns: L and ∂L/∂[Z₁; Z₂], `[2n, p]`.
    /// - Throws: `SpectralObjectiveError` for odd row counts, bad β or label counts.
    public static func evaluateStacked(_ zs: Tensor<Double>, labels: [Int]?, beta: Double) throws
        -> (value: Double, gradient: Tensor<Double>)
    {
        guard zs.rank == 2, zs.shape[0] % 2 == 0 else {
            throw SpectralObjectiveError.shapeMismatch("stacked embeddings \(zs.shape); expected [2n, p]")
        }
        let n = zs.shape[0] / 2
        if let labels = labels, labels.count != n && labels.count != 2 * n {
            throw SpectralObjectiveError.shapeMismatch("\(labels.count) labels for n = \(n) pairs; expected n or 2n")
        }
        let pairs = try SpectralPairWeights(beta: labels == nil ? 0 : beta,
                                            classes: labels.map { Array($0.prefix(n)) } ?? [Int](repeating: 0, count: n))
        let r = try evaluate(zs.rows(0..<n), zs.rows(n..<(2 * n)), pairs: pairs)
        return (r.value, Tensor.concatenateRows([r.gradient1, r.gradient2]))
    }
}
