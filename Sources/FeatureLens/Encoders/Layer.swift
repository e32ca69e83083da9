import FeatureLensNumerics

/// A trainable tensor and its accumulated gradient. Reference type: layers own their
/// parameters and optimizers update them in place.
public final class Parameter<Scalar: TensorScalar> {
    /// Human-readable name, unique within a model (e.g. `"backbone.0.weight"`); used in checkpoints.
    public var name: String
    /// Current value.
    public var value: Tensor<Scalar>
    /// Gradient accumulated by `backward` calls since the last `zeroGradient()`; same shape as `value`.
    public var gradient: Tensor<Scalar>

    public init(name: String, value: Tensor<Scalar>) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
    }

    /// Resets the accumulated gradient to zero.
    public func zeroGradient() {
        gradient.withUnsafeMutableBufferPointer { b in
            for i in 0..<b.count { b[i] = 0 }
        }
    }
}

/// A differentiable layer with a hand-written backward pass next to its forward (llm.c style).
///
/// `forward` caches what `backward` needs; `backward(gradOutput)` returns ∂L/∂input and
/// **accumulates** (adds) parameter gradients into each `Parameter.gradient`. Call
/// `zeroGradients()` before each step. `backward` must follow the `forward` whose
/// activations it uses.
public protocol Layer: AnyObject {
    associatedtype Scalar: TensorScalar
    /// Computes the output and caches activations. `training` selects e.g. batch statistics.
    func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar>
    /// Given ∂L/∂output, returns ∂L/∂input and accumulates parameter gradients.
    func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar>
    /// Trainable parameters (empty for parameter-free layers).
    var parameters: [Parameter<Scalar>] { get }
}

extension Layer {
    /// Resets every parameter's gradient to zero.
    public func zeroGradients() { for p in parameters { p.zeroGradient() } }
}
