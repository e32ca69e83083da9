import Foundation

/// The rows the representation metrics are computed on.
public enum MetricsRows: String, Codable, Sendable, CaseIterable {
    /// The test rows: the held-out rows the probes are scored on (the default of every audit).
    case test
    /// Every row: for `featurelens audit`, the rows of the embedding files and of the test files.
    case all

    /// "the test split (n = 80)" or "all rows (n = 400)", for the terminal and report.html.
    public func describe(n: Int?) -> String {
        let count = n.map { " (n = \($0))" } ?? ""
        switch self {
        case .test: return "the test split" + count
        case .all: return "all rows" + count
        }
    }
}

/// Health metrics of an embedding matrix `[n, p]`, as reported in `report.json`
/// (`final.metrics` and, per audit, `timeline[].metrics`).
///
/// JSON keys: `rankme`, `effective_rank`, `uniformity`, `collapse_std`, `computed_on` (`test` or
/// `all`) and `n` (rows), and when available `alignment` and `spectrum`. Reports written before
/// `computed_on` and `n` existed decode with both nil (their metrics used the test rows).
public struct RepresentationMetrics: Codable, Sendable, Equatable {
    /// RankMe (Garrido et al. 2023), see `EmbeddingMetrics.rankMe`.
    public var rankme: Double
    /// Effective rank (Roy & Vetterli 2007), see `EmbeddingMetrics.effectiveRank`.
    public var effectiveRank: Double
    /// Uniformity (Wang & Isola 2020, t = 2), see `EmbeddingMetrics.uniformity`.
    public var uniformity: Double
    /// Mean per-dimension std of the L2-normalized embeddings, see `EmbeddingMetrics.collapseStd`.
    public var collapseStd: Double
    /// Alignment (Wang & Isola 2020, α = 2) when positive pairs were available, else nil.
    public var alignment: Double?
    /// Singular values of the covariance of the L2-normalized embeddings, descending (Jing et
    /// al. 2022), or nil when not recorded.
    public var spectrum: [Double]?
    /// The rows the metrics were computed on (nil: not recorded, as in older reports).
    public var computedOn: MetricsRows?
    /// Number of rows the metrics were computed on (nil: not recorded).
    public var n: Int?

    enum CodingKeys: String, CodingKey {
        case rankme, effectiveRank = "effective_rank", uniformity, collapseStd = "collapse_std", alignment, spectrum
        case computedOn = "computed_on", n
    }

    /// Creates the record.
    public init(rankme: Double, effectiveRank: Double, uniformity: Double, collapseStd: Double,
                alignment: Double? = nil, spectrum: [Double]? = nil, computedOn: MetricsRows? = nil, n: Int? = nil) {
        self.rankme = rankme
        self.effectiveRank = effectiveRank
        self.uniformity = uniformity
        self.collapseStd = collapseStd
        self.alignment = alignment
        self.spectrum = spectrum
        self.computedOn = computedOn
        self.n = n
    }

    /// Computes every metric of `embeddings` `[n, p]` (alignment only when `positives`, the
    /// `[n, p]` embeddings of each row's positive view, is given); `computedOn` says which rows
    /// they are, and `n` is set to their count.
    /// - Throws: `ProbeError.badShape` when the shapes do not fit, `LinearAlgebraError` if the
    ///   eigensolver fails.
    public init<T: TensorScalar>(embeddings: Tensor<T>, positives: Tensor<T>? = nil,
                                 uniformity options: EmbeddingMetrics.UniformityOptions = .init(),
                                 includeSpectrum: Bool = true, computedOn: MetricsRows? = nil) throws {
        let z = asDouble(embeddings)
        guard z.rank == 2 else { throw ProbeError.badShape("metrics need [n, p], got \(z.shape)") }
        let sv = try EmbeddingMetrics.singularValues(z)
        let zn = z.l2NormalizedRows()
        self.init(rankme: EmbeddingMetrics.rankMe(singularValues: sv),
                  effectiveRank: EmbeddingMetrics.effectiveRank(singularValues: sv),
                  uniformity: try EmbeddingMetrics.uniformity(zn, options: options, normalized: true),
                  collapseStd: EmbeddingMetrics.collapseStd(zn, normalized: true),
                  alignment: try positives.map { try EmbeddingMetrics.alignment(z, asDouble($0)) },
                  spectrum: includeSpectrum ? try EmbeddingMetrics.normalizedCovarianceSpectrum(zn, normalized: true) : nil,
                  computedOn: computedOn, n: z.shape[0])
    }
}

/// Representation metrics on embeddings `[n, p]`.
public enum EmbeddingMetrics {
    /// The ε added to each normalized singular value in RankMe (Garrido et al. 2023, Eq. 1).
    public static let rankMeEpsilon = 1e-7

    /// Singular values of `z` (`[n, p]`, raw: neither centered nor normalized), descending,
    /// `min(n, p)` of them, from the eigenvalues of the smaller Gram matrix (zᵀz or zzᵀ) in
    /// `Double`. Eigenvalues below 1e-13 · λ_max are round-off and reported as 0.
    /// - Throws: `LinearAlgebraError` from the eigensolver.
    public static func singularValues(_ z: Tensor<Double>) throws -> [Double] {
        let n = z.shape[0], p = z.shape[1]
        if n == 0 || p == 0 { return [] }
        let gram = p <= n ? z.matmul(z, transposeSelf: true) : z.matmul(z, transposeOther: true)
        let eig = try SymmetricEigen(gram).values
        let top = max(eig.first ?? 0, 0)
        return eig.map { $0 > 1e-13 * top ? $0.squareRoot() : 0 }
    }

    /// RankMe (Garrido, Balestriero, Najman & LeCun 2023, "RankMe: assessing the downstream
    /// performance of pretrained self-supervised representations by their rank", Eq. 1):
    /// exp(−Σ_k p_k log p_k) with p_k = σ_k / ‖σ‖₁ + ε, ε = `rankMeEpsilon` = 1e-7.
    /// All-zero singular values give 0 (no rank). A rank-k matrix with equal singular values
    /// gives k·exp(≈ (min(n,p) − k)·ε·|log ε|), i.e. k to about 2e-6 · min(n, p) relative.
    public static func rankMe(singularValues sv: [Double]) -> Double {
        let total = sv.reduce(0, +)
        guard total > 0 else { return 0 }
        var h = 0.0
        for s in sv {
            let pk = s / total + rankMeEpsilon
            h -= pk * Foundation.log(pk)
        }
        return Foundation.exp(h)
    }

    /// Effective rank (Roy & Vetterli 2007, "The effective rank: a measure of effective
    /// dimensionality", Def. 1): exp of the Shannon entropy of p_k = σ_k / ‖σ‖₁ (0·log 0 = 0;
    /// no ε). All-zero singular values give 0.
    public static func effectiveRank(singularValues sv: [Double]) -> Double {
        let total = sv.reduce(0, +)
        guard total > 0 else { return 0 }
        var h = 0.0
        for s in sv where s > 0 {
            let pk = s / total
            h -= pk * Foundation.log(pk)
        }
        return Foundation.exp(h)
    }

    /// Convenience: RankMe of an embedding matrix `[n, p]`. Throws from the eigensolver.
    public static func rankMe<T: TensorScalar>(_ z: Tensor<T>) throws -> Double {
        rankMe(singularValues: try singularValues(asDouble(z)))
    }

    /// Convenience: effective rank of an embedding matrix `[n, p]`. Throws from the eigensolver.
    public static func effectiveRank<T: TensorScalar>(_ z: Tensor<T>) throws -> Double {
        effectiveRank(singularValues: try singularValues(asDouble(z)))
    }

    /// How uniformity pairs are chosen.
    public struct UniformityOptions: Sendable, Equatable {
        /// Up to this many rows, all n(n−1)/2 distinct pairs are used (exact).
        public var exactLimit: Int
        /// Above `exactLimit`, this many pairs (i, j), i ≠ j, are drawn uniformly with replacement.
        public var sampledPairs: Int
        /// Seed of the `SeededGenerator` that draws the pairs (fixed, so the metric is
        /// deterministic for given embeddings).
        public var seed: UInt64
        /// Creates the options (defaults: exact up to 2000 rows, else 500 000 pairs, seed 0).
        public init(exactLimit: Int = 2000, sampledPairs: Int = 500_000, seed: UInt64 = 0) {
            self.exactLimit = exactLimit
            self.sampledPairs = sampledPairs
            self.seed = seed
        }
    }

    /// Uniformity (Wang & Isola 2020, "Understanding contrastive representation learning
    /// through alignment and uniformity on the hypersphere", Eq. 5):
    /// log E_{i≠j} exp(−t‖ẑ_i − ẑ_j‖²) over distinct pairs of L2-normalized rows ẑ, t = 2.
    /// Exact over all pairs when n ≤ `options.exactLimit`, else over `options.sampledPairs`
    /// pairs drawn with a `SeededGenerator(seed: options.seed)`. 0 for total collapse;
    /// −1.575 for the uniform distribution on S¹ and −2.080 on S² (e^{−4}I₀(4), e^{−4}sinh(4)/4).
    /// - Parameters: `normalized`: the rows are already L2-normalized.
    /// - Throws: `ProbeError.empty` for fewer than two rows, `ProbeError.invalidParameter` for t ≤ 0.
    public static func uniformity<T: TensorScalar>(_ z: Tensor<T>, t: Double = 2, options: UniformityOptions = .init(),
                                                   normalized: Bool = false) throws -> Double {
        guard t > 0 else { throw ProbeError.invalidParameter("uniformity t must be > 0, got \(t)") }
        var zn = asDouble(z)
        guard zn.rank == 2, zn.shape[0] >= 2 else { throw ProbeError.empty("uniformity needs at least two rows") }
        if !normalized { zn = zn.l2NormalizedRows() }
        let n = zn.shape[0]
        let sq = zn.rowNorms().map { $0 * $0 }
        if n <= options.exactLimit {
            let gram = zn.matmul(zn, transposeOther: true)
            let total = gaussianPotentialSum(gram: gram, squaredNorms: sq, t: t)
            return Foundation.log(total / Double(n * (n - 1) / 2))
        }
        var rng = SeededGenerator(seed: options.seed)
        var total = 0.0
        for _ in 0..<max(1, options.sampledPairs) {
            let i = rng.nextInt(below: n)
            var j = rng.nextInt(below: n - 1)
            if j >= i { j += 1 }
            total += Foundation.exp(-t * squaredRowDistance(zn, i, j))
        }
        return Foundation.log(total / Double(max(1, options.sampledPairs)))
    }

    /// Alignment (Wang & Isola 2020, Eq. 4): E‖ẑ_i − ẑ⁺_i‖^α over positive pairs (row i of `z`
    /// and row i of `positives`, both L2-normalized), α = 2 by default.
    /// - Throws: `ProbeError.badShape` when the shapes differ, `ProbeError.empty` for no rows.
    public static func alignment<T: TensorScalar>(_ z: Tensor<T>, _ positives: Tensor<T>, alpha: Double = 2) throws -> Double {
        guard z.shape == positives.shape, z.rank == 2 else {
            throw ProbeError.badShape("alignment needs two [n, p] matrices of one shape, got \(z.shape) and \(positives.shape)")
        }
        guard z.shape[0] > 0 else { throw ProbeError.empty("alignment needs at least one pair") }
        let a = asDouble(z).l2NormalizedRows(), b = asDouble(positives).l2NormalizedRows()
        let n = a.shape[0], p = a.shape[1]
        var total = 0.0
        for i in 0..<n {
            var d2 = 0.0
            for k in 0..<p { let d = a.scalars[i * p + k] - b.scalars[i * p + k]; d2 += d * d }
            total += alpha == 2 ? d2 : Foundation.pow(d2.squareRoot(), alpha)
        }
        return total / Double(n)
    }

    /// Collapse standard deviation (as in lightly's `std_of_l2_normalized`): the mean over
    /// the p dimensions of the standard deviation (unbiased, 1/(n−1)) of the L2-normalized
    /// embeddings. 0 for total collapse; ≈ 1/√p for embeddings spread over the sphere.
    /// 0 when n < 2.
    public static func collapseStd<T: TensorScalar>(_ z: Tensor<T>, normalized: Bool = false) -> Double {
        var zn = asDouble(z)
        if !normalized { zn = zn.l2NormalizedRows() }
        let n = zn.shape[0], p = zn.shape[1]
        guard n >= 2, p > 0 else { return 0 }
        // Shifted by the first row, so identical rows give exactly 0 (no rounding in a mean).
        let (sum, ss) = firstRowShiftedMoments(zn)
        var total = 0.0
        for j in 0..<p { total += (max(0, ss[j] - sum[j] * sum[j] / Double(n)) / Double(n - 1)).squareRoot() }
        return total / Double(p)
    }

    /// Singular-value spectrum of the covariance matrix C = (1/n)Σ(ẑ − m)(ẑ − m)ᵀ of the
    /// L2-normalized embeddings ẑ (Jing, Vincent, LeCun & Tian 2022, "Understanding dimensional
    /// collapse in contrastive self-supervised learning", §3). C is symmetric positive
    /// semi-definite, so its singular values are its eigenvalues; returned descending, p of them
    /// (when p > n, the p − n trailing values are exactly 0 and are filled in).
    /// - Throws: `LinearAlgebraError` from the eigensolver.
    public static func normalizedCovarianceSpectrum<T: TensorScalar>(_ z: Tensor<T>, normalized: Bool = false) throws -> [Double] {
        var zn = asDouble(z)
        if !normalized { zn = zn.l2NormalizedRows() }
        let n = zn.shape[0], p = zn.shape[1]
        guard n > 0, p > 0 else { return Array(repeating: 0, count: p) }
        let mean = zn.meanOverRows()
        var c = zn.scalars
        for i in 0..<n { for j in 0..<p { c[i * p + j] -= mean[j] } }
        let zc = Tensor<Double>(shape: [n, p], scalars: c)
        let gram = p <= n ? zc.matmul(zc, transposeSelf: true) : zc.matmul(zc, transposeOther: true)
        var values = try SymmetricEigen(gram).values.map { max(0, $0) / Double(n) }
        if values.count < p { values += Array(repeating: 0, count: p - values.count) }
        return values
    }
}

/// The tensor as `Tensor<Double>`, without copying when it already is one.
func asDouble<T: TensorScalar>(_ t: Tensor<T>) -> Tensor<Double> {
    (t as? Tensor<Double>) ?? Tensor<Double>(t)
}
