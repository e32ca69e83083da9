// Joint loss: a weighted sum of two contrastive losses,
//
//     L = w₁·L₁ + w₂·L₂,    ∂L/∂Z = w₁·∂L₁/∂Z + w₂·∂L₂/∂Z
//
// Two conventions are offered (SCIENCE.md §3, "Joint"):
//   - `supConPlusNTXent(λ)`: L = L_SupCon + λ·L_NT-Xent (w₁ = 1, w₂ = λ);
//   - `betaWeighted(β)`:     L = β·L_supervised + (1 − β)·L_unsupervised (Xue et al., ICML 2023, §5).
// For the spectral loss, `betaWeighted` with two `SpectralContrastiveLoss`es (SCL, UCL) is the
// same function as `SpectralContrastiveLoss(pairing: .joint(beta:))`: the loss is affine in P
// and the weights sum to 1, so β·L(P_SCL) + (1 − β)·L(P_UCL) = L(β·P_SCL + (1 − β)·P_UCL).
// The single-loss form is cheaper (the quadratic term is computed once).

import FeatureLensNumerics

/// A weighted sum of two contrastive losses: L = w₁·L₁ + w₂·L₂ (both evaluated on the same
/// embeddings and labels; unsupervised components ignore the labels).
public struct JointLoss: ContrastiveLoss {
    /// The first loss L₁ (the supervised one in the convenience constructors).
    public let first: any ContrastiveLoss
    /// Weight w₁ of the first loss.
    public let firstWeight: Double
    /// The second loss L₂ (the unsupervised one in the convenience constructors).
    public let second: any ContrastiveLoss
    /// Weight w₂ of the second loss.
    public let secondWeight: Double
    /// The smaller of the two losses' temperatures (nil if neither has one).
    public var smallestTemperature: Double? {
        [first.smallestTemperature, second.smallestTemperature].compactMap { $0 }.min()
    }

    /// L = w₁·L₁ + w₂·L₂.
    /// - Throws: `ContrastiveLossError.invalidHyperparameter` if a weight is not finite or is negative.
    public init(_ first: any ContrastiveLoss, weight firstWeight: Double,
                _ second: any ContrastiveLoss, weight secondWeight: Double) throws {
        for (field, w) in [("firstWeight", firstWeight), ("secondWeight", secondWeight)] {
            guard w.isFinite, w >= 0 else {
                throw ContrastiveLossError.invalidHyperparameter(
                    loss: "JointLoss", field: field, value: w, expected: "a finite number ≥ 0")
            }
        }
        self.first = first
        self.firstWeight = firstWeight
        self.second = second
        self.secondWeight = secondWeight
    }

    /// L = L_SupCon + λ·L_NT-Xent with a shared temperature τ (two views per example).
    /// - Throws: `.nonPositiveTemperature` if τ ≤ 0; `.invalidHyperparameter` if λ < 0 or not finite.
    public static func supConPlusNTXent(temperature: Double, lambda: Double) throws -> JointLoss {
        try JointLoss(SupConLoss(temperature: temperature), weight: 1,
                      InfoNCELoss(temperature: temperature), weight: lambda)
    }

    /// L = β·L_supervised + (1 − β)·L_unsupervised, β ∈ [0, 1].
    ///
    /// For two spectral losses (SCL, UCL) this equals the spectral loss with
    /// P = β·P_SCL + (1 − β)·P_UCL (SCIENCE.md §3), since that loss is affine in P.
    /// - Throws: `.invalidHyperparameter` if β ∉ [0, 1].
    public static func betaWeighted(supervised: any ContrastiveLoss, unsupervised: any ContrastiveLoss,
                                    beta: Double) throws -> JointLoss {
        guard beta.isFinite, beta >= 0, beta <= 1 else {
            throw ContrastiveLossError.invalidHyperparameter(
                loss: "JointLoss", field: "beta", value: beta, expected: "a number in [0, 1]")
        }
        return try JointLoss(supervised, weight: beta, unsupervised, weight: 1 - beta)
    }

    public var name: String { "JointLoss(\(first.name), \(second.name))" }
    public var requiresLabels: Bool {
        (firstWeight != 0 && first.requiresLabels) || (secondWeight != 0 && second.requiresLabels)
    }

    /// w₁·L₁ + w₂·L₂ and its gradient; a component with weight 0 is not evaluated.
    /// - Throws: whatever the component losses throw.
    public func evaluate<S: TensorScalar>(_ embeddings: Tensor<S>, labels: [Int]?) throws
        -> (value: S, gradient: Tensor<S>)
    {
        var value = 0.0
        var gradient = Tensor<S>(zeros: embeddings.shape)
        for (loss, w) in [(first, firstWeight), (second, secondWeight)] where w != 0 {
            let r = try loss.evaluate(embeddings, labels: labels)
            value += w * r.value.doubleValue
            gradient.addScaled(r.gradient, S(w))
        }
        if firstWeight == 0 && secondWeight == 0 {
            _ = try first.evaluate(embeddings, labels: labels)  // Still validate the batch.
        }
        return (S(value), gradient)
    }
}
