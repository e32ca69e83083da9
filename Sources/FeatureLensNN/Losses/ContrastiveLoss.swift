// The contract every contrastive loss follows, its errors, and the shared input checks.
//
// Conventions (fixed for every loss in this folder):
// - `embeddings` is `[2N, p]`: the 2N views stacked as blocks [view 1; view 2], so view i's
//   partner (its positive in the unsupervised losses) is row i + N (and row i − N for i ≥ N).
// - Supervised losses take N labels, one per example, shared by both of its views.
// - Each loss returns its value and ∂L/∂embeddings (same shape as `embeddings`).

import FeatureLensNumerics

/// A contrastive loss: maps a batch of view embeddings (and, for supervised losses, labels)
/// to a scalar and its gradient.
///
/// Layout: `embeddings` is `[2N, p]`, the two views stacked as blocks `[view 1; view 2]`;
/// row i and row i + N are the two views of example i. `labels`, when the loss uses them,
/// has N entries (one per example, shared by both views); any `Int` values may be used as
/// class ids. Unsupervised losses ignore `labels`.
///
/// The same loss runs in `Float` (training) and `Double` (finite-difference checks and theory).
public protocol ContrastiveLoss: Sendable {
    /// Short name used in logs and error messages (e.g. `"InfoNCELoss"`).
    var name: String { get }
    /// Whether `evaluate` needs `labels`.
    var requiresLabels: Bool { get }
    /// Computes the loss value L and ∂L/∂embeddings.
    ///
    /// - Parameters:
    ///   - embeddings: `[2N, p]` view embeddings, stacked as `[view 1; view 2]`.
    ///   - labels: N class ids (one per example) for supervised losses; ignored otherwise.
    /// - Returns: `value` (a scalar) and `gradient` (`[2N, p]`, same shape as `embeddings`).
    /// - Throws: `ContrastiveLossError` on a malformed batch (not rank 2, empty, odd row
    ///   count, missing labels or a label count different from N, a pairing matrix of the
    ///   wrong size).
    func evaluate<S: TensorScalar>(_ embeddings: Tensor<S>, labels: [Int]?) throws
        -> (value: S, gradient: Tensor<S>)
    /// The smallest softmax temperature τ the loss divides similarities by (logits reach 1/τ),
    /// or nil if it has none; a trainer names a small τ as a likely cause of divergence.
    /// Default: nil.
    var smallestTemperature: Double? { get }
}

extension ContrastiveLoss {
    /// Default: no temperature.
    public var smallestTemperature: Double? { nil }
}

/// Bad input to a contrastive loss. Each message names the loss, the field and what was expected.
public enum ContrastiveLossError: Error, CustomStringConvertible, Equatable {
    /// The temperature τ must be finite and > 0.
    case nonPositiveTemperature(loss: String, value: Double)
    /// `embeddings` must be a non-empty rank-2 tensor `[2N, p]` with p ≥ 1.
    case invalidEmbeddingShape(loss: String, shape: [Int])
    /// The number of embedding rows must be even (2N views stacked as [view 1; view 2]).
    case oddViewCount(loss: String, rows: Int)
    /// A supervised loss was called without labels.
    case missingLabels(loss: String, expected: Int)
    /// `labels` must have one entry per example.
    case labelCountMismatch(loss: String, expected: Int, got: Int)
    /// The explicit pairing matrix P must be `[N, N]` for a batch of N examples.
    case pairingShapeMismatch(expected: [Int], got: [Int])
    /// Entries of an explicit pairing matrix P must be finite and ≥ 0.
    case invalidPairingEntry(row: Int, column: Int, value: Double)
    /// A numeric hyper-parameter is outside its allowed range.
    case invalidHyperparameter(loss: String, field: String, value: Double, expected: String)

    public var description: String {
        switch self {
        case .nonPositiveTemperature(let loss, let v):
            return "\(loss).temperature must be a finite number > 0 (got \(v))"
        case .invalidEmbeddingShape(let loss, let s):
            return "\(loss): embeddings must be a non-empty rank-2 tensor [2N, p] with p ≥ 1 (got shape \(s))"
        case .oddViewCount(let loss, let rows):
            return "\(loss): embeddings has \(rows) rows; expected an even count 2N (two views stacked as [view 1; view 2])"
        case .missingLabels(let loss, let n):
            return "\(loss): labels are required (expected \(n) labels, one per example)"
        case .labelCountMismatch(let loss, let n, let got):
            return "\(loss): labels has \(got) entries; expected \(n) (one per example, shared by its views)"
        case .pairingShapeMismatch(let e, let g):
            return "SpectralContrastiveLoss.pairing: explicit P has shape \(g); expected \(e) (N × N for N examples)"
        case .invalidPairingEntry(let i, let j, let v):
            return "SpectralContrastiveLoss.pairing: P[\(i), \(j)] = \(v); entries must be finite and ≥ 0"
        case .invalidHyperparameter(let loss, let field, let v, let expected):
            return "\(loss).\(field) = \(v); expected \(expected)"
        }
    }
}

// MARK: - Shared checks and helpers (internal)

/// Checks `[2N, p]` with N ≥ 1, p ≥ 1 and returns (N, p).
func checkedTwoViewShape<S: TensorScalar>(_ z: Tensor<S>, loss: String) throws -> (n: Int, p: Int) {
    guard z.rank == 2, z.shape[0] > 0, z.shape[1] > 0 else {
        throw ContrastiveLossError.invalidEmbeddingShape(loss: loss, shape: z.shape)
    }
    guard z.shape[0] % 2 == 0 else {
        throw ContrastiveLossError.oddViewCount(loss: loss, rows: z.shape[0])
    }
    return (z.shape[0] / 2, z.shape[1])
}

/// Checks that `labels` is present and has `expected` entries.
func checkedLabels(_ labels: [Int]?, expected: Int, loss: String) throws -> [Int] {
    guard let labels else { throw ContrastiveLossError.missingLabels(loss: loss, expected: expected) }
    guard labels.count == expected else {
        throw ContrastiveLossError.labelCountMismatch(loss: loss, expected: expected, got: labels.count)
    }
    return labels
}

/// Maps arbitrary class ids to dense ids 0..<C in order of first appearance.
func denseClassIDs(_ labels: [Int]) -> (ids: [Int], classCount: Int) {
    var map: [Int: Int] = [:]
    var ids = [Int](repeating: 0, count: labels.count)
    for (i, y) in labels.enumerated() {
        if let c = map[y] { ids[i] = c } else { let c = map.count; map[y] = c; ids[i] = c }
    }
    return (ids, map.count)
}

/// Runs `body` specialized for `Float` or `Double` when `S` is one of them, so the hot loops
/// are compiled for a concrete scalar even when the caller is generic or in another module.
@inline(__always)
func specializedEvaluation<S: TensorScalar>(
    _ z: Tensor<S>,
    float: (Tensor<Float>) throws -> (Float, Tensor<Float>),
    double: (Tensor<Double>) throws -> (Double, Tensor<Double>),
    generic: (Tensor<S>) throws -> (S, Tensor<S>)
) rethrows -> (value: S, gradient: Tensor<S>) {
    if S.self == Float.self {
        let r = try float(z as! Tensor<Float>)
        return (r.0 as! S, r.1 as! Tensor<S>)
    }
    if S.self == Double.self {
        let r = try double(z as! Tensor<Double>)
        return (r.0 as! S, r.1 as! Tensor<S>)
    }
    let r = try generic(z)
    return (r.0, r.1)
}
