// Spectral contrastive loss (HaoChen, Wei, Gaidon & Ma, "Provable Guarantees for
// Self-Supervised Deep Learning with Spectral Contrastive Loss", NeurIPS 2021), in the
// pairing form of SCIENCE.md §3 (as used by Xue et al., ICML 2023):
//
//     L(Z₁, Z₂; P) = −2 Σ_ij P_ij ⟨z₁ᵢ, z₂ⱼ⟩ + (1/n²) Σ_ij ⟨z₁ᵢ, z₂ⱼ⟩²
//                  = −2 ⟨Z₁, P Z₂⟩_F + (1/n²) ⟨Z₁ᵀZ₁, Z₂ᵀZ₂⟩_F
//
//     ∂L/∂Z₁ = −2 P Z₂ + (2/n²) Z₁ (Z₂ᵀ Z₂)
//     ∂L/∂Z₂ = −2 Pᵀ Z₁ + (2/n²) Z₂ (Z₁ᵀ Z₁)
//
// Z₁ = rows 0..<n and Z₂ = rows n..<2n of the `[2n, p]` embeddings; P ∈ ℝ^{n×n}, P ≥ 0:
//   UCL:   P = I/n
//   SCL:   P_ij = 1[yᵢ = yⱼ] / Σ_kl 1[y_k = y_l]   (same-class pairs, self included)
//   joint: P = β·P_SCL + (1 − β)·P_UCL
//
// Cost: UCL and SCL never form P (SCL uses per-class sums of Z₁ and Z₂: O(n p)); the
// quadratic term uses the p × p Gram matrices (O(n p²)) when p ≤ n and the n × n cross
// matrix Z₁Z₂ᵀ (O(n² p)) when p > n, whichever is smaller. Only an explicit P costs O(n² p).

import FeatureLensNumerics

/// The positive-pair weight matrix P of the spectral contrastive loss (SCIENCE.md §3).
public enum SpectralPairing: Sendable, Equatable {
    /// UCL: P = I/n; each example's two views are its only positive pair.
    case unsupervised
    /// SCL: P_ij = 1[yᵢ = yⱼ] / Σ_kl 1[y_k = y_l] (all same-class pairs, self included). Needs labels.
    case supervised
    /// Joint: P = β·P_SCL + (1 − β)·P_UCL with β ∈ [0, 1]. Needs labels (unless β = 0).
    case joint(beta: Double)
    /// An explicit `[n, n]` matrix with finite entries ≥ 0 (the formula assumes Σ P_ij = 1,
    /// which is not enforced). Row i refers to view-1 example i, column j to view-2 example j.
    case explicit(Tensor<Double>)
}

/// The spectral contrastive loss of HaoChen et al. (NeurIPS 2021) in the pairing form
/// L = −2 Σ_ij P_ij ⟨z₁ᵢ, z₂ⱼ⟩ + (1/n²) Σ_ij ⟨z₁ᵢ, z₂ⱼ⟩² (SCIENCE.md §3).
///
/// `embeddings` is `[2n, p]` stacked as `[Z₁; Z₂]` (view 1 then view 2). For the CC recipe
/// without augmentation pass the same Z twice (`[Z; Z]`) and add the two gradient halves.
/// The gradient is exact: ∂L/∂Z₁ = −2PZ₂ + (2/n²)Z₁Z₂ᵀZ₂ and ∂L/∂Z₂ = −2PᵀZ₁ + (2/n²)Z₂Z₁ᵀZ₁.
/// All-zero embeddings give L = 0 and ∂L/∂Z = 0.
public struct SpectralContrastiveLoss: ContrastiveLoss {
    /// The positive-pair weights P.
    public let pairing: SpectralPairing

    /// - Throws: `ContrastiveLossError.invalidHyperparameter` if β ∉ [0, 1];
    ///   `.pairingShapeMismatch` if an explicit P is not square; `.invalidPairingEntry` if
    ///   an explicit P has a negative or non-finite entry.
    public init(pairing: SpectralPairing) throws {
        switch pairing {
        case .unsupervised, .supervised: break
        case .joint(let beta):
            guard beta.isFinite, beta >= 0, beta <= 1 else {
                throw ContrastiveLossError.invalidHyperparameter(
                    loss: "SpectralContrastiveLoss", field: "beta", value: beta, expected: "a number in [0, 1]")
            }
        case .explicit(let p):
            guard p.rank == 2, p.shape[0] == p.shape[1], p.shape[0] > 0 else {
                let n = p.rank == 2 ? p.shape[0] : (p.shape.first ?? 0)
                throw ContrastiveLossError.pairingShapeMismatch(expected: [n, n], got: p.shape)
            }
            let n = p.shape[0]
            for i in 0..<n {
                for j in 0..<n where !(p[i, j].isFinite && p[i, j] >= 0) {
                    throw ContrastiveLossError.invalidPairingEntry(row: i, column: j, value: p[i, j])
                }
            }
        }
        self.pairing = pairing
    }

    public var name: String { "SpectralContrastiveLoss" }
    public var requiresLabels: Bool {
        switch pairing {
        case .supervised: return true
        case .joint(let beta): return beta != 0
        case .unsupervised, .explicit: return false
        }
    }

    /// The dense P `[n, n]` this loss uses for a batch of n examples (for tests and theory;
    /// `evaluate` never forms it for UCL/SCL/joint).
    /// - Throws: as `evaluate` (missing labels, label count, explicit P of another size).
    public func pairingMatrix(n: Int, labels: [Int]?) throws -> Tensor<Double> {
        var out = Tensor<Double>(zeros: [n, n])
        switch pairing {
        case .explicit(let p):
            guard p.shape == [n, n] else { throw ContrastiveLossError.pairingShapeMismatch(expected: [n, n], got: p.shape) }
            return p
        case .unsupervised:
            for i in 0..<n { out[i, i] = 1 / Double(n) }
        case .supervised, .joint:
            let beta: Double
            if case .joint(let b) = pairing { beta = b } else { beta = 1 }
            if beta != 0 {
                let y = try checkedLabels(labels, expected: n, loss: name)
                let (ids, k) = denseClassIDs(y)
                var size = [Int](repeating: 0, count: k)
                for c in ids { size[c] += 1 }
                let pairs = Double(size.reduce(0) { $0 + $1 * $1 })
                for i in 0..<n { for j in 0..<n where ids[i] == ids[j] { out[i, j] = beta / pairs } }
            }
            for i in 0..<n { out[i, i] += (1 - beta) / Double(n) }
        }
        return out
    }

    /// L and ∂L/∂Z for `embeddings` `[2n, p]` (`[Z₁; Z₂]`) and, for SCL/joint, n labels.
    /// - Throws: `ContrastiveLossError.invalidEmbeddingShape`, `.oddViewCount`,
    ///   `.missingLabels`, `.labelCountMismatch`, or `.pairingShapeMismatch` (explicit P ≠ `[n, n]`).
    public func evaluate<S: TensorScalar>(_ embeddings: Tensor<S>, labels: [Int]?) throws
        -> (value: S, gradient: Tensor<S>)
    {
        let (n, _) = try checkedTwoViewShape(embeddings, loss: name)
        // Resolve the structured form of P once (labels → dense class ids).
        var classIDs: [Int] = [], classCount = 0, beta = 0.0
        switch pairing {
        case .unsupervised: break
        case .supervised, .joint:
            if case .joint(let b) = pairing { beta = b } else { beta = 1 }
            if beta != 0 {
                (classIDs, classCount) = denseClassIDs(try checkedLabels(labels, expected: n, loss: name))
            }
        case .explicit(let p):
            guard p.shape == [n, n] else { throw ContrastiveLossError.pairingShapeMismatch(expected: [n, n], got: p.shape) }
        }
        let plan = Plan(beta: beta, classIDs: classIDs, classCount: classCount)
        return specializedEvaluation(
            embeddings,
            float: { compute($0, plan: plan) }, double: { compute($0, plan: plan) },
            generic: { compute($0, plan: plan) })
    }

    private struct Plan { var beta: Double; var classIDs: [Int]; var classCount: Int }

    private func compute<S: TensorScalar>(_ z: Tensor<S>, plan: Plan) -> (S, Tensor<S>) {
        let n = z.shape[0] / 2, p = z.shape[1]
        let z1 = z.rows(0..<n), z2 = z.rows(n..<(2 * n))
        // pz2 = P Z₂, ptz1 = Pᵀ Z₁ (both [n, p]).
        var pz2 = Tensor<S>(zeros: [n, p]), ptz1 = Tensor<S>(zeros: [n, p])
        switch pairing {
        case .explicit(let pd):
            let pm = Tensor<S>(pd)
            gemm(pm, z2, into: &pz2)
            gemm(pm, transposeA: true, z1, into: &ptz1)
        case .unsupervised, .supervised, .joint:
            let beta = plan.beta
            let ucl = S((1 - beta) / Double(n))
            if ucl != 0 {
                pz2.addScaled(z2, ucl)
                ptz1.addScaled(z1, ucl)
            }
            if beta != 0 {
                // Class sums S₁[c] = Σ_{yᵢ=c} z₁ᵢ, S₂[c] = Σ_{yⱼ=c} z₂ⱼ;
                // (P_SCL Z₂)ᵢ = S₂[yᵢ] / pairs, (P_SCLᵀ Z₁)ⱼ = S₁[yⱼ] / pairs.
                let k = plan.classCount, ids = plan.classIDs
                var sizes = [Int](repeating: 0, count: k)
                for c in ids { sizes[c] += 1 }
                let pairs = Double(sizes.reduce(0) { $0 + $1 * $1 })
                let scale = S(beta / pairs)
                var s1 = [S](repeating: 0, count: k * p), s2 = [S](repeating: 0, count: k * p)
                z1.withUnsafeBufferPointer { a in
                    z2.withUnsafeBufferPointer { b in
                        for i in 0..<n {
                            let c = ids[i]
                            for j in 0..<p { s1[c * p + j] += a[i * p + j]; s2[c * p + j] += b[i * p + j] }
                        }
                    }
                }
                pz2.withUnsafeMutableBufferPointer { d in
                    for i in 0..<n { let c = ids[i]; for j in 0..<p { d[i * p + j] += scale * s2[c * p + j] } }
                }
                ptz1.withUnsafeMutableBufferPointer { d in
                    for i in 0..<n { let c = ids[i]; for j in 0..<p { d[i * p + j] += scale * s1[c * p + j] } }
                }
            }
        }
        // Positive term Σ_ij P_ij ⟨z₁ᵢ, z₂ⱼ⟩ = ⟨Z₁, P Z₂⟩_F.
        var positive = 0.0
        z1.withUnsafeBufferPointer { a in
            pz2.withUnsafeBufferPointer { b in for i in 0..<a.count { positive += (a[i] * b[i]).doubleValue } }
        }

        var g1 = pz2 * S(-2), g2 = ptz1 * S(-2)
        let c = S(2 / (Double(n) * Double(n)))
        var quadratic = 0.0
        if p <= n {
            // Gram matrices A = Z₁ᵀZ₁, B = Z₂ᵀZ₂ ([p, p]); Σ_ij ⟨z₁ᵢ, z₂ⱼ⟩² = ⟨A, B⟩_F.
            var a = Tensor<S>(zeros: [p, p]), b = Tensor<S>(zeros: [p, p])
            gemm(z1, transposeA: true, z1, into: &a)
            gemm(z2, transposeA: true, z2, into: &b)
            for i in 0..<(p * p) { quadratic += (a.scalars[i] * b.scalars[i]).doubleValue }
            gemm(z1, b, alpha: c, beta: 1, into: &g1)
            gemm(z2, a, alpha: c, beta: 1, into: &g2)
        } else {
            // Cross matrix K = Z₁Z₂ᵀ ([n, n], smaller than p × p here).
            var k = Tensor<S>(zeros: [n, n])
            gemm(z1, z2, transposeB: true, into: &k)
            for x in k.scalars { quadratic += (x * x).doubleValue }
            gemm(k, z2, alpha: c, beta: 1, into: &g1)
            gemm(k, transposeA: true, z1, alpha: c, beta: 1, into: &g2)
        }
        let value = -2 * positive + quadratic / (Double(n) * Double(n))
        return (S(value), Tensor.concatenateRows([g1, g2]))
    }
}
