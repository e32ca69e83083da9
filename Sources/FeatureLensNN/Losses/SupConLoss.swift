// Supervised contrastive loss, L_out (Khosla, Teterwak, Wang, Sarna, Tian, Isola, Maschinot,
// Liu & Krishnan, "Supervised Contrastive Learning", NeurIPS 2020, eq. 2):
//
//     uᵢ = zᵢ / max(‖zᵢ‖, 1e-12),   s_ik = ⟨uᵢ, u_k⟩ / τ
//     P(i) = { k ≠ i : y_k = yᵢ }   (all other views with the anchor's label)
//     ℓᵢ   = −(1/|P(i)|) Σ_{k∈P(i)} [ s_ik − log Σ_{a≠i} exp(s_ia) ]
//     L    = (1/|I|) Σ_{i∈I} ℓᵢ,    I = { i : |P(i)| ≥ 1 }
//
// Conventions: no τ/τ_base rescaling (the reference code multiplies by τ/τ_base; we do not);
// an anchor without positives is excluded from both the sum and the count |I| (never NaN);
// if no anchor has a positive, L = 0 and ∂L/∂Z = 0. Gradient by hand (SoftmaxContrastiveEngine.swift).

import FeatureLensNumerics

/// SupCon, the supervised contrastive loss L_out of Khosla et al. (NeurIPS 2020, eq. 2).
///
/// With the default two views per example, `embeddings` is `[2N, p]` stacked as
/// `[view 1; view 2]` and `labels` has N entries, one per example, shared by its two views.
/// Positives of an anchor are all other views with the same label, so with two views every
/// anchor has at least its partner (a label that appears once in the batch still has one
/// positive pair). With `viewsPerExample: 1`, `embeddings` is `[N, p]` with N labels; an
/// anchor whose label appears once then has no positive and is excluded. The loss is the
/// mean over anchors with at least one positive; there is no τ/τ_base rescaling.
///
/// Memory: as `InfoNCELoss`, the similarity matrix is processed in row blocks (≤ 4 Mi
/// entries each, one per thread alive). Bit-identical for any thread count.
public struct SupConLoss: ContrastiveLoss {
    /// Temperature τ > 0 (Khosla et al. use 0.1).
    public let temperature: Double
    /// `temperature`.
    public var smallestTemperature: Double? { temperature }
    /// Views per example: 2 (default, `[view 1; view 2]` blocks) or 1 (`[N, p]`, one row per label).
    public let viewsPerExample: Int
    /// Rows of the similarity matrix per block; `nil` chooses ⌊4 Mi / rows⌋ automatically.
    public let rowBlockSize: Int?
    /// Threads for the row blocks and GEMMs; `nil` uses `Parallel.threadCount`.
    public let threadCount: Int?

    /// - Throws: `ContrastiveLossError.nonPositiveTemperature` if τ is not finite and > 0;
    ///   `.invalidHyperparameter` if `viewsPerExample` ∉ {1, 2} or `rowBlockSize`/`threadCount` < 1.
    public init(temperature: Double, viewsPerExample: Int = 2, rowBlockSize: Int? = nil,
                threadCount: Int? = nil) throws {
        guard temperature.isFinite, temperature > 0 else {
            throw ContrastiveLossError.nonPositiveTemperature(loss: "SupConLoss", value: temperature)
        }
        guard viewsPerExample == 1 || viewsPerExample == 2 else {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "SupConLoss", field: "viewsPerExample", value: Double(viewsPerExample), expected: "1 or 2")
        }
        if let r = rowBlockSize, r < 1 {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "SupConLoss", field: "rowBlockSize", value: Double(r), expected: "an integer ≥ 1 (or nil)")
        }
        if let t = threadCount, t < 1 {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "SupConLoss", field: "threadCount", value: Double(t), expected: "an integer ≥ 1 (or nil)")
        }
        self.temperature = temperature
        self.viewsPerExample = viewsPerExample
        self.rowBlockSize = rowBlockSize
        self.threadCount = threadCount
    }

    public var name: String { "SupConLoss" }
    public var requiresLabels: Bool { true }

    /// L and ∂L/∂Z for `embeddings` (`[2N, p]`, or `[N, p]` with one view per example) and N labels.
    /// - Throws: `ContrastiveLossError.invalidEmbeddingShape`, `.oddViewCount` (two views),
    ///   `.missingLabels` or `.labelCountMismatch`.
    public func evaluate<S: TensorScalar>(_ embeddings: Tensor<S>, labels: [Int]?) throws
        -> (value: S, gradient: Tensor<S>)
    {
        let n: Int
        if viewsPerExample == 2 {
            n = try checkedTwoViewShape(embeddings, loss: name).n
        } else {
            guard embeddings.rank == 2, embeddings.shape[0] > 0, embeddings.shape[1] > 0 else {
                throw ContrastiveLossError.invalidEmbeddingShape(loss: name, shape: embeddings.shape)
            }
            n = embeddings.shape[0]
        }
        let y = try checkedLabels(labels, expected: n, loss: name)
        let (ids, classCount) = denseClassIDs(y)
        let classes = viewsPerExample == 2 ? ids + ids : ids
        let threads = threadCount ?? Parallel.threadCount
        return specializedEvaluation(
            embeddings,
            float: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: classCount,
                                                       temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) },
            double: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: classCount,
                                                        temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) },
            generic: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: classCount,
                                                         temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) })
    }
}
