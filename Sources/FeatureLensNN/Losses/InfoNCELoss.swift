// InfoNCE / NT-Xent, the SimCLR loss (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework
// for Contrastive Learning of Visual Representations", ICML 2020, eq. 1; van den Oord et al.
// 2018 for InfoNCE):
//
//     uᵢ = zᵢ / max(‖zᵢ‖, 1e-12),   s_ik = ⟨uᵢ, u_k⟩ / τ,   a(i) = i + N mod 2N
//     ℓᵢ = −s_{i,a(i)} + log Σ_{k≠i} exp(s_ik)
//     L  = (1/2N) Σ_{i<2N} ℓᵢ
//
// Each of the 2N anchors has its partner view as its one positive and the other 2N − 2 views
// as negatives; the anchor itself is excluded from the denominator. The gradient is written
// by hand (see SoftmaxContrastiveEngine.swift) including the backward of the normalization.

import FeatureLensNumerics

/// NT-Xent (normalized temperature-scaled cross entropy), the InfoNCE loss of SimCLR
/// (Chen et al., ICML 2020, eq. 1).
///
/// `embeddings` is `[2N, p]` stacked as `[view 1; view 2]`; the positive of view i is view
/// i + N (mod 2N). Similarity is cosine similarity divided by the temperature τ; the loss is
/// the mean over all 2N anchors of the cross entropy of picking the partner among the other
/// 2N − 2 + 1 views. With N = 1 the only other view is the partner, so L = 0 and ∂L/∂Z = 0.
/// Labels are ignored.
///
/// Memory: the `[2N, 2N]` similarity matrix is processed in row blocks (at most 4 Mi entries
/// per block and one block per thread alive), so 8192 views with p = 128 need well under
/// 1 GiB beyond the inputs. Results are bit-identical for any thread count.
public struct InfoNCELoss: ContrastiveLoss {
    /// Temperature τ > 0 (SimCLR's default 0.5; 0.1 is common).
    public let temperature: Double
    /// `temperature`.
    public var smallestTemperature: Double? { temperature }
    /// Rows of the similarity matrix per block; `nil` chooses ⌊4 Mi / 2N⌋ automatically.
    public let rowBlockSize: Int?
    /// Threads for the row blocks and GEMMs; `nil` uses `Parallel.threadCount`.
    public let threadCount: Int?

    /// - Throws: `ContrastiveLossError.nonPositiveTemperature` if τ is not finite and > 0;
    ///   `.invalidHyperparameter` if `rowBlockSize` or `threadCount` is < 1.
    public init(temperature: Double, rowBlockSize: Int? = nil, threadCount: Int? = nil) throws {
        guard temperature.isFinite, temperature > 0 else {
            throw ContrastiveLossError.nonPositiveTemperature(loss: "InfoNCELoss", value: temperature)
        }
        if let r = rowBlockSize, r < 1 {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "InfoNCELoss", field: "rowBlockSize", value: Double(r), expected: "an integer ≥ 1 (or nil)")
        }
        if let t = threadCount, t < 1 {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "InfoNCELoss", field: "threadCount", value: Double(t), expected: "an integer ≥ 1 (or nil)")
        }
        self.temperature = temperature
        self.rowBlockSize = rowBlockSize
        self.threadCount = threadCount
    }

    public var name: String { "InfoNCELoss" }
    public var requiresLabels: Bool { false }

    /// L and ∂L/∂Z for `embeddings` `[2N, p]` (labels ignored).
    /// - Throws: `ContrastiveLossError.invalidEmbeddingShape` or `.oddViewCount`.
    public func evaluate<S: TensorScalar>(_ embeddings: Tensor<S>, labels: [Int]? = nil) throws
        -> (value: S, gradient: Tensor<S>)
    {
        let (n, _) = try checkedTwoViewShape(embeddings, loss: name)
        // NT-Xent is the softmax engine with one class per example: the partner is the only positive.
        let classes = (0..<(2 * n)).map { $0 % n }
        let threads = threadCount ?? Parallel.threadCount
        return specializedEvaluation(
            embeddings,
            float: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: n,
                                                       temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) },
            double: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: n,
                                                        temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) },
            generic: { SoftmaxContrastiveEngine.evaluate($0, viewClasses: classes, classCount: n,
                                                         temperature: temperature, rowBlockSize: rowBlockSize, threads: threads) })
    }
}
