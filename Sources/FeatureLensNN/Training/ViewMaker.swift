// View makers: how a `Trainer` turns a mini-batch of examples into the two views a contrastive
// loss compares. Layout (ContrastiveLoss.swift): the result is `[2b, …]` stacked as
// [view 1; view 2], so row i and row b + i are the two views of the batch's i-th example.

import FeatureLensNumerics

/// Makes the two views of a mini-batch for a contrastive loss.
///
/// `makeViews` receives the batch's inputs `[b, …]` (gathered from the dataset) and the dataset
/// index of each of its b examples, and returns `[2b, …']` stacked as `[view 1; view 2]`.
/// Every random draw must come from `generator` (the `Trainer` owns it and saves its state in
/// `TrainerState`), and the result must not depend on the thread count.
///
/// Conforming types: `IdentityViews`, `GaussianNoiseViews`, `PrecomputedViews`, `ClosureViews`
/// and `TwoViewAugmenter` (images).
public protocol ViewMaker {
    /// The two views of a batch.
    /// - Parameters:
    ///   - batch: inputs `[b, …]`.
    ///   - exampleIndices: the dataset index of each of the b examples.
    ///   - generator: the source of every random draw.
    /// - Returns: `[2b, …']`, view 1 of every example first, then view 2.
    /// - Throws: whatever the view maker reports for bad input.
    func views(of batch: Tensor<Float>, exampleIndices: [Int],
               using generator: inout SeededGenerator) throws -> Tensor<Float>
    /// True when `views` always returns `[batch; batch]` and draws nothing from the generator
    /// (default false). A `Trainer` then encodes the batch once instead of twice (see
    /// `Trainer`).
    var viewsEqualInput: Bool { get }
}

extension ViewMaker {
    public var viewsEqualInput: Bool { false }
}

extension TwoViewAugmenter: ViewMaker {}

/// Both views are the input itself: `[x; x]` (no augmentation). For supervised losses and the
/// theory's "no augmentation" setting, where the positives come from labels, not from views.
public struct IdentityViews: ViewMaker, Sendable {
    public init() {}

    /// Always true.
    public var viewsEqualInput: Bool { true }

    /// `[batch; batch]`, no random draws.
    public func views(of batch: Tensor<Float>, exampleIndices: [Int],
                      using generator: inout SeededGenerator) throws -> Tensor<Float> {
        Trainer.stackTwice(batch)
    }
}

/// Each view adds independent N(0, σ²) noise to every input value: vᵢ = x + σ·ξ, ξ ~ N(0, I)
/// (the two views of `featurelens bench train`). Any input shape `[b, …]`.
///
/// The normal draws use `NormalSampler` (Box–Muller in single precision, vectorized). The
/// batch is cut into fixed blocks of rows, each with its own generator split from `generator`
/// in block order, so the result is the same for every thread count.
public struct GaussianNoiseViews: ViewMaker, Sendable {
    /// σ ≥ 0, in the input's units.
    public let standardDeviation: Float

    /// - Throws: `TrainerError.invalidConfiguration` unless σ is finite and ≥ 0.
    public init(standardDeviation: Double) throws {
        guard standardDeviation.isFinite, standardDeviation >= 0 else {
            throw TrainerError.invalidConfiguration(field: "GaussianNoiseViews.standardDeviation",
                                                    expected: "a finite number ≥ 0", got: "\(standardDeviation)")
        }
        self.standardDeviation = Float(standardDeviation)
    }

    /// Values per generator block (a multiple of 2 so that Box–Muller pairs never straddle blocks).
    static let blockValues = 1 << 15

    /// `[x + σξ₁; x + σξ₂]`.
    public func views(of batch: Tensor<Float>, exampleIndices: [Int],
                      using generator: inout SeededGenerator) throws -> Tensor<Float> {
        stackedGaussianNoiseViews(of: batch, standardDeviation: standardDeviation, blockValues: Self.blockValues,
                                  using: &generator)
    }
}

/// Views computed beforehand, one tensor per view, indexed by example: the batch's views are
/// rows `exampleIndices` of `first` then the same rows of `second` (the batch's inputs are
/// ignored). For feature-level augmentation models drawn once, or for tests.
public struct PrecomputedViews: ViewMaker, Sendable {
    /// View 1 of every dataset example, `[n, …]`.
    public let first: Tensor<Float>
    /// View 2 of every dataset example, same shape as `first`.
    public let second: Tensor<Float>

    /// - Throws: `TrainerError.invalidConfiguration` if the two shapes differ or have no rows.
    public init(first: Tensor<Float>, second: Tensor<Float>) throws {
        guard first.shape == second.shape, first.rank >= 1 else {
            throw TrainerError.invalidConfiguration(field: "PrecomputedViews.second",
                                                    expected: "the shape of first, \(first.shape)", got: "\(second.shape)")
        }
        self.first = first
        self.second = second
    }

    /// `[first[indices]; second[indices]]`.
    /// - Throws: `TrainerError.invalidConfiguration` if an index is out of range.
    public func views(of batch: Tensor<Float>, exampleIndices: [Int],
                      using generator: inout SeededGenerator) throws -> Tensor<Float> {
        if let bad = exampleIndices.first(where: { $0 < 0 || $0 >= first.rowCount }) {
            throw TrainerError.invalidConfiguration(field: "PrecomputedViews example index",
                                                    expected: "0..<\(first.rowCount)", got: "\(bad)")
        }
        return Tensor.concatenateRows([first.gatherRows(exampleIndices), second.gatherRows(exampleIndices)])
    }
}

/// A view maker given as a closure `(batch, exampleIndices, generator) -> [2b, …]`.
public struct ClosureViews: ViewMaker {
    /// The closure; it must take every random draw from the generator it is given.
    public let body: (Tensor<Float>, [Int], inout SeededGenerator) throws -> Tensor<Float>

    public init(_ body: @escaping (Tensor<Float>, [Int], inout SeededGenerator) throws -> Tensor<Float>) {
        self.body = body
    }

    public func views(of batch: Tensor<Float>, exampleIndices: [Int],
                      using generator: inout SeededGenerator) throws -> Tensor<Float> {
        try body(batch, exampleIndices, &generator)
    }
}
