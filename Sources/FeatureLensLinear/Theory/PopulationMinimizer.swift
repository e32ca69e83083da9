import FeatureLensNumerics

/// The population minimizer of the spectral contrastive loss for a linear encoder on a
/// synthetic model (SCIENCE.md §4):
///
///     L(W) = −2 tr(W M Wᵀ) + ‖W Σ Wᵀ‖²_F,  M = E[x x⁺ᵀ] (positive pairs),  Σ = E[x xᵀ],
///
/// minimized by W Σ^{1/2} = R·diag(√λᵢ)·U_pᵀ over the top-p eigenpairs of N = Σ^{−1/2} M Σ^{−1/2},
/// with minimum value −Σ_{i≤p} λᵢ². For the models of §2 (coordinate-axis directions) M and
/// Σ are diagonal, so N is diagonal and nothing d×d is formed. M for the pairing
/// P = β·P_SCL + (1−β)·P_UCL is β·M_SCL + (1−β)·M_UCL, with
/// - M_UCL: the second moments of the components both views keep (class a_c², subclass a_s²,
///   easy a_e², ζ a_z²/m per axis when kept); without augmentation also the noise σ²/d;
/// - M_SCL: two independent points of the same class: class a_c², subclass a_s²(2ρ−1)².
/// Small-W gradient descent behaves like power iteration on M, so `learningOrder` (the planted
/// features by decreasing M) predicts which features are learned first.
public struct PopulationMinimizer: Codable, Equatable, Sendable {
    /// Top-p eigenvalues λᵢ of N, descending.
    public var eigenvalues: [Double]
    /// The minimum population loss −Σ λᵢ².
    public var minimumValue: Double
    /// ‖W* e_f‖ per planted feature (for a block such as `zeta`: ‖W* E_block‖_F); 0 when the
    /// feature is not among the top-p directions.
    public var featureWeights: [String: Double]
    /// Planted features ordered by their positive-pair moment M (largest first).
    public var learningOrder: [String]

    enum CodingKeys: String, CodingKey {
        case eigenvalues, minimumValue = "minimum_value", featureWeights = "feature_weights"
        case learningOrder = "learning_order"
    }

    /// Computes the population minimizer.
    /// - Throws: `TheoryError.invalidArgument` for p < 1 or β outside [0, 1].
    public init(model: SyntheticModel, augmentation: AugmentationKind, beta: Double, p: Int) throws {
        guard p >= 1 else { throw TheoryError.invalidArgument(field: "p", value: "\(p)", expected: "≥ 1") }
        guard beta >= 0, beta <= 1 else { throw TheoryError.invalidArgument(field: "beta", value: "\(beta)", expected: "in [0, 1]") }
        let noise = model.sigma * model.sigma / Double(model.d)
        // Groups of axes: (name, axis count, M per axis, Σ per axis).
        var groups: [(String, Int, Double, Double)] = []
        let keepAll = augmentation == .none
        func m(ucl: Double, scl: Double) -> Double { beta * scl + (1 - beta) * ucl }
        let a2 = model.aC * model.aC
        groups.append(("class", 1, m(ucl: a2 + (keepAll ? noise : 0), scl: a2), a2 + noise))
        if model.kind.hasSubclass {
            let s2 = model.aS * model.aS, mean = 2 * model.rho - 1
            groups.append(("subclass", 1, m(ucl: s2 + (keepAll ? noise : 0), scl: s2 * mean * mean), s2 + noise))
        }
        let e2 = model.aE * model.aE
        for k in 0..<model.easyCount {
            groups.append(("easy\(k)", 1, m(ucl: e2 + (keepAll ? noise : 0), scl: 0), e2 + noise))
        }
        if model.kind.hasNuisance {
            let z2 = model.aZ * model.aZ / Double(model.m)
            let kept = augmentation != .perfect
            groups.append(("zeta", model.m, m(ucl: (kept ? z2 : 0) + (keepAll ? noise : 0), scl: 0), z2 + noise))
        }
        let used = groups.reduce(0) { $0 + $1.1 }
        if model.d > used { groups.append(("noise", model.d - used, m(ucl: keepAll ? noise : 0, scl: 0), noise)) }
        // N per axis = M/Σ; take the top p axes (ties keep the group order above).
        let ranked = groups.enumerated().sorted { (a, b) in
            let va = a.element.3 > 0 ? a.element.2 / a.element.3 : 0
            let vb = b.element.3 > 0 ? b.element.2 / b.element.3 : 0
            return va != vb ? va > vb : a.offset < b.offset
        }
        var remaining = p
        var values: [Double] = []
        var weights: [String: Double] = [:]
        for (_, g) in ranked {
            let lambda = g.3 > 0 ? g.2 / g.3 : 0
            let take = min(remaining, g.1)
            if take > 0 && lambda > 0 {
                values += [Double](repeating: lambda, count: take)
                remaining -= take
                // Row i of W* is √λᵢ e_fᵀ / √Σ_f: ‖W* E‖_F² = take·λ/Σ_f.
                if g.0 != "noise" { weights[g.0] = (Double(take) * lambda / g.3).squareRoot() }
            }
            if g.0 != "noise" && weights[g.0] == nil { weights[g.0] = 0 }
        }
        eigenvalues = values
        minimumValue = -values.reduce(0) { $0 + $1 * $1 }
        featureWeights = weights
        learningOrder = groups.filter { $0.0 != "noise" }.enumerated()
            .sorted { $0.element.2 != $1.element.2 ? $0.element.2 > $1.element.2 : $0.offset < $1.offset }
            .map { $0.element.0 }
    }
}
