import FeatureLensNumerics

/// Rectified linear unit, elementwise: y = max(0, x), any shape.
///
/// Backward: dx = dy · 1[y > 0] (the subgradient 0 at x = 0, as PyTorch).
public final class ReLU<Scalar: TensorScalar>: Layer {
    private var cachedOutput: Tensor<Scalar>?

    /// Whether the layer before this one in a `Sequential` (a `Conv2D`) applies this ReLU as it
    /// writes its output and its backward as it reads the gradient; set by `Sequential`. This
    /// layer then passes values and gradients through unchanged.
    var isFusedIntoPreviousLayer = false

    public init() {}

    public var parameters: [Parameter<Scalar>] { [] }

    /// y = max(0, x), same shape as x.
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        if isFusedIntoPreviousLayer { return input }
        let y = reluForward(input)
        cachedOutput = y
        return y
    }

    /// dx = dy · 1[y > 0], same shape.
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        if isFusedIntoPreviousLayer { return gradOutput }
        guard let y = cachedOutput else { preconditionFailure("ReLU.backward called before forward") }
        precondition(gradOutput.shape == y.shape, "ReLU.backward: gradient shape \(gradOutput.shape), expected \(y.shape)")
        return reluBackward(output: y, gradOutput: gradOutput)
    }
}
