import FeatureLensNumerics

/// Flattens every axis after the batch axis: `[N, d₁, d₂, …]` → `[N, d₁·d₂·⋯]`
/// (row-major, as PyTorch `nn.Flatten()`). Backward reshapes the gradient back.
public final class Flatten<Scalar: TensorScalar>: Layer {
    private var cachedShape: [Int]?

    public init() {}

    public var parameters: [Parameter<Scalar>] { [] }

    /// `[N, …]` → `[N, ∏…]`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count >= 1 else {
            throw LayerError.shapeMismatch(layer: "Flatten", expected: "[N, …] (rank ≥ 1)", got: inputShape)
        }
        return [inputShape[0], inputShape.dropFirst().reduce(1, *)]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        cachedShape = input.shape
        return input.reshaped([input.shape[0], input.rowWidth])
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let s = cachedShape else { preconditionFailure("Flatten.backward called before forward") }
        precondition(gradOutput.count == s.reduce(1, *),
                     "Flatten.backward: gradient shape \(gradOutput.shape) does not fit input shape \(s)")
        return gradOutput.reshaped(s)
    }
}
