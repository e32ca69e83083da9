// First-order optimizers with PyTorch's update rules (torch.optim, 2.x, single-tensor path):
//
// SGD (torch.optim.SGD), step t = 1, 2, …, gradient g, parameter θ:
//     g ← g + λ·θ                                   (weight decay λ, coupled / L2)
//     b ← g  (t = 1);   b ← μ·b + (1 − d)·g  (t > 1)   (momentum μ, dampening d; skipped if μ = 0)
//     g ← g + μ·b  (Nesterov)   or   g ← b   (classical momentum)
//     θ ← θ − η·g
//
// Adam (Kingma & Ba, ICLR 2015; torch.optim.Adam) and AdamW (Loshchilov & Hutter, ICLR 2019;
// torch.optim.AdamW):
//     AdamW: θ ← θ·(1 − η·λ)      Adam: g ← g + λ·θ
//     m ← m + (1 − β₁)·(g − m)    v ← β₂·v + (1 − β₂)·g²
//     θ ← θ − (η / (1 − β₁ᵗ)) · m / ( √v / √(1 − β₂ᵗ) + ε )
// (ε is added after the bias correction of √v, as PyTorch does.)

import Foundation
import FeatureLensNumerics

/// Bad optimizer configuration or a checkpoint that does not fit the optimizer.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    /// A hyper-parameter is outside its allowed range.
    case invalidHyperparameter(optimizer: String, field: String, value: Double, expected: String)
    /// A snapshot was taken from another optimizer kind.
    case snapshotKindMismatch(expected: String, got: String)
    /// A snapshot's parameter list does not match the optimizer's (count, names or shapes).
    case snapshotMismatch(String)

    public var description: String {
        switch self {
        case .invalidHyperparameter(let o, let f, let v, let e):
            return "\(o).\(f) = \(v); expected \(e)"
        case .snapshotKindMismatch(let e, let g):
            return "optimizer snapshot field 'kind' is \"\(g)\"; expected \"\(e)\""
        case .snapshotMismatch(let m):
            return "optimizer snapshot does not fit the parameters: \(m)"
        }
    }
}

/// One named state tensor of one parameter (e.g. `"momentum_buffer"`, `"exp_avg"`), stored
/// in `Double` (exact for `Float` state).
public struct OptimizerStateTensor: Codable, Equatable, Sendable {
    /// Shape of the tensor (equal to the parameter's shape).
    public var shape: [Int]
    /// Row-major values.
    public var values: [Double]

    public init(shape: [Int], values: [Double]) {
        self.shape = shape
        self.values = values
    }
}

/// A checkpointable copy of an optimizer's state: hyper-parameters that change during
/// training (learning rate, step count) and the per-parameter buffers, in parameter order.
public struct OptimizerSnapshot: Codable, Equatable, Sendable {
    /// `"sgd"`, `"adam"` or `"adamw"`.
    public var kind: String
    /// Number of `step()` calls so far.
    public var stepCount: Int
    /// Current learning rate η.
    public var learningRate: Double
    /// Parameter names, in the optimizer's order.
    public var parameterNames: [String]
    /// Per parameter (same order): its named state tensors (empty before the first step or
    /// for plain SGD without momentum).
    public var state: [[String: OptimizerStateTensor]]
}

/// An optimizer updating a fixed list of parameters in place from their accumulated gradients.
public protocol Optimizer<Scalar>: AnyObject {
    associatedtype Scalar: TensorScalar
    /// The parameters updated by `step()`, in a fixed order.
    var parameters: [Parameter<Scalar>] { get }
    /// Learning rate η used by the next `step()` (set it from a `LearningRateSchedule`).
    var learningRate: Double { get set }
    /// Number of `step()` calls so far.
    var stepCount: Int { get }
    /// Applies one update using each parameter's current `gradient`.
    func step()
    /// A copy of the optimizer state, for checkpoints.
    func snapshot() -> OptimizerSnapshot
    /// Restores a state taken with `snapshot()` from an optimizer of the same kind over
    /// parameters with the same names and shapes.
    /// - Throws: `OptimizerError.snapshotKindMismatch` or `.snapshotMismatch`.
    func restore(_ snapshot: OptimizerSnapshot) throws
}

extension Optimizer {
    /// Resets every parameter's gradient to zero.
    public func zeroGradients() { for p in parameters { p.zeroGradient() } }
}

// MARK: - Helpers

private func checkHyper(_ optimizer: String, _ field: String, _ value: Double, _ ok: Bool, _ expected: String) throws {
    guard value.isFinite, ok else {
        throw OptimizerError.invalidHyperparameter(optimizer: optimizer, field: field, value: value, expected: expected)
    }
}

private func checkSnapshot<S: TensorScalar>(
    _ snap: OptimizerSnapshot, kind: String, parameters: [Parameter<S>], bufferNames: [String]
) throws {
    guard snap.kind == kind else { throw OptimizerError.snapshotKindMismatch(expected: kind, got: snap.kind) }
    guard snap.parameterNames == parameters.map({ $0.name }), snap.state.count == parameters.count else {
        throw OptimizerError.snapshotMismatch(
            "parameterNames \(snap.parameterNames) (\(snap.state.count) states); expected \(parameters.map { $0.name })")
    }
    guard snap.stepCount >= 0, snap.learningRate.isFinite, snap.learningRate >= 0 else {
        throw OptimizerError.snapshotMismatch("stepCount \(snap.stepCount) / learningRate \(snap.learningRate) out of range")
    }
    for (i, st) in snap.state.enumerated() {
        for (key, t) in st {
            guard bufferNames.contains(key) else {
                throw OptimizerError.snapshotMismatch("state[\(i)] has unknown buffer '\(key)'; expected one of \(bufferNames)")
            }
            guard t.shape == parameters[i].value.shape, t.values.count == parameters[i].value.count else {
                throw OptimizerError.snapshotMismatch(
                    "state[\(i)]['\(key)'] has shape \(t.shape); expected \(parameters[i].value.shape) (parameter \(parameters[i].name))")
            }
        }
    }
}

private func stateTensor<S: TensorScalar>(_ values: [S], shape: [Int]) -> OptimizerStateTensor {
    OptimizerStateTensor(shape: shape, values: values.map { $0.doubleValue })
}

// MARK: - SGD

/// Stochastic gradient descent with optional momentum (classical or Nesterov), dampening and
/// coupled weight decay, following `torch.optim.SGD` exactly (see the formulas at the top of
/// this file). The momentum buffer is initialized to the first gradient (no dampening on step 1).
public final class SGD<Scalar: TensorScalar>: Optimizer {
    public let parameters: [Parameter<Scalar>]
    public var learningRate: Double
    /// Momentum μ ≥ 0 (0 disables the buffer).
    public let momentum: Double
    /// Dampening d ∈ [0, 1] applied to the gradient in the momentum update after the first step.
    public let dampening: Double
    /// Coupled (L2) weight decay λ ≥ 0: g ← g + λθ.
    public let weightDecay: Double
    /// Nesterov momentum (requires μ > 0 and d = 0, as in PyTorch).
    public let nesterov: Bool
    public private(set) var stepCount = 0
    private var buffers: [[Scalar]?]

    /// - Throws: `OptimizerError.invalidHyperparameter` for η < 0, μ < 0, d ∉ [0, 1], λ < 0,
    ///   a non-finite value, or Nesterov without momentum / with dampening.
    public init(parameters: [Parameter<Scalar>], learningRate: Double, momentum: Double = 0,
                dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) throws {
        try checkHyper("SGD", "learningRate", learningRate, learningRate >= 0, "a finite number ≥ 0")
        try checkHyper("SGD", "momentum", momentum, momentum >= 0, "a finite number ≥ 0")
        try checkHyper("SGD", "dampening", dampening, dampening >= 0 && dampening <= 1, "a number in [0, 1]")
        try checkHyper("SGD", "weightDecay", weightDecay, weightDecay >= 0, "a finite number ≥ 0")
        if nesterov {
            try checkHyper("SGD", "momentum", momentum, momentum > 0, "> 0 when nesterov is true")
            try checkHyper("SGD", "dampening", dampening, dampening == 0, "0 when nesterov is true")
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.buffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        stepCount += 1
        for (index, param) in parameters.enumerated() {
            let count = param.value.count
            if count == 0 { continue }
            let first = buffers[index] == nil  // PyTorch: the buffer starts as a copy of the first gradient.
            if momentum != 0 && first {
                buffers[index] = [Scalar](repeating: 0, count: count)
            }
            var buf = buffers[index] ?? []
            buffers[index] = nil  // Keep `buf` uniquely referenced while we write it.
            sgdUpdate(&param.value, gradient: param.gradient, buffer: &buf, first: first,
                      learningRate: learningRate, momentum: momentum, dampening: dampening,
                      weightDecay: weightDecay, nesterov: nesterov)
            if momentum != 0 { buffers[index] = buf }
        }
    }

    public func snapshot() -> OptimizerSnapshot {
        OptimizerSnapshot(
            kind: "sgd", stepCount: stepCount, learningRate: learningRate,
            parameterNames: parameters.map { $0.name },
            state: parameters.indices.map { i in
                buffers[i].map { ["momentum_buffer": stateTensor($0, shape: parameters[i].value.shape)] } ?? [:]
            })
    }

    public func restore(_ snapshot: OptimizerSnapshot) throws {
        try checkSnapshot(snapshot, kind: "sgd", parameters: parameters, bufferNames: ["momentum_buffer"])
        stepCount = snapshot.stepCount
        learningRate = snapshot.learningRate
        buffers = snapshot.state.map { st in st["momentum_buffer"].map { $0.values.map { Scalar($0) } } }
    }
}

// MARK: - Adam / AdamW

/// Which weight decay an `Adam` optimizer applies.
public enum AdamVariant: String, Codable, Sendable {
    /// Adam (Kingma & Ba 2015) with coupled L2 weight decay g ← g + λθ (`torch.optim.Adam`).
    case adam
    /// AdamW (Loshchilov & Hutter 2019): decoupled decay θ ← θ(1 − ηλ) (`torch.optim.AdamW`).
    case adamW
}

/// Adam and AdamW with PyTorch's update, bias correction and ε placement (formulas at the top
/// of this file). State per parameter: `exp_avg` (m) and `exp_avg_sq` (v).
public final class Adam<Scalar: TensorScalar>: Optimizer {
    public let parameters: [Parameter<Scalar>]
    public var learningRate: Double
    /// β₁ ∈ [0, 1): decay of the first moment.
    public let beta1: Double
    /// β₂ ∈ [0, 1): decay of the second moment.
    public let beta2: Double
    /// ε > 0, added to √v̂ (after bias correction).
    public let epsilon: Double
    /// Weight decay λ ≥ 0 (coupled for `.adam`, decoupled for `.adamW`).
    public let weightDecay: Double
    /// Adam or AdamW.
    public let variant: AdamVariant
    public private(set) var stepCount = 0
    private var firstMoments: [[Scalar]]
    private var secondMoments: [[Scalar]]

    /// Defaults follow PyTorch: η = 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0 for Adam and
    /// 0.01 for AdamW (when `weightDecay` is nil).
    /// - Throws: `OptimizerError.invalidHyperparameter` for η < 0, β ∉ [0, 1), ε ≤ 0, λ < 0
    ///   or a non-finite value.
    public init(parameters: [Parameter<Scalar>], learningRate: Double = 1e-3, beta1: Double = 0.9,
                beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double? = nil,
                variant: AdamVariant = .adam) throws {
        let name = variant == .adam ? "Adam" : "AdamW"
        let wd = weightDecay ?? (variant == .adam ? 0 : 0.01)
        try checkHyper(name, "learningRate", learningRate, learningRate >= 0, "a finite number ≥ 0")
        try checkHyper(name, "beta1", beta1, beta1 >= 0 && beta1 < 1, "a number in [0, 1)")
        try checkHyper(name, "beta2", beta2, beta2 >= 0 && beta2 < 1, "a number in [0, 1)")
        try checkHyper(name, "epsilon", epsilon, epsilon > 0, "a finite number > 0")
        try checkHyper(name, "weightDecay", wd, wd >= 0, "a finite number ≥ 0")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = wd
        self.variant = variant
        self.firstMoments = parameters.map { [Scalar](repeating: 0, count: $0.value.count) }
        self.secondMoments = parameters.map { [Scalar](repeating: 0, count: $0.value.count) }
    }

    public func step() {
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
        let stepSize = learningRate / bc1, bc2Sqrt = bc2.squareRoot()
        for (index, param) in parameters.enumerated() {
            let count = param.value.count
            if count == 0 { continue }
            var m = firstMoments[index], v = secondMoments[index]
            firstMoments[index] = []; secondMoments[index] = []  // Unique references while writing.
            adamUpdate(&param.value, gradient: param.gradient, firstMoment: &m, secondMoment: &v,
                       stepSize: stepSize, bc2Sqrt: bc2Sqrt, learningRate: learningRate, beta1: beta1,
                       beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, decoupled: variant == .adamW)
            firstMoments[index] = m
            secondMoments[index] = v
        }
    }

    public func snapshot() -> OptimizerSnapshot {
        OptimizerSnapshot(
            kind: variant == .adam ? "adam" : "adamw", stepCount: stepCount, learningRate: learningRate,
            parameterNames: parameters.map { $0.name },
            state: parameters.indices.map { i in
                ["exp_avg": stateTensor(firstMoments[i], shape: parameters[i].value.shape),
                 "exp_avg_sq": stateTensor(secondMoments[i], shape: parameters[i].value.shape)]
            })
    }

    public func restore(_ snapshot: OptimizerSnapshot) throws {
        try checkSnapshot(snapshot, kind: variant == .adam ? "adam" : "adamw", parameters: parameters,
                          bufferNames: ["exp_avg", "exp_avg_sq"])
        for (i, st) in snapshot.state.enumerated() where st["exp_avg"] == nil || st["exp_avg_sq"] == nil {
            throw OptimizerError.snapshotMismatch("state[\(i)] needs both 'exp_avg' and 'exp_avg_sq'")
        }
        stepCount = snapshot.stepCount
        learningRate = snapshot.learningRate
        firstMoments = snapshot.state.map { $0["exp_avg"]!.values.map { Scalar($0) } }
        secondMoments = snapshot.state.map { $0["exp_avg_sq"]!.values.map { Scalar($0) } }
    }
}
