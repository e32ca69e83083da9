import FeatureLensNumerics

/// Row-wise L2 normalization, PyTorch `F.normalize(x, p=2, dim=1, eps)`:
///
///     y_i = x_i / max(‖x_i‖₂, ε),   x, y: [N, D]
///
/// Backward, with r = ‖x_i‖: if r > ε, dx_i = (dy_i − y_i ⟨y_i, dy_i⟩) / r (projection onto the
/// tangent space of the sphere); if r ≤ ε the denominator is the constant ε and
/// dx_i = dy_i / ε (PyTorch's `clamp_min` passes no gradient to the norm there). A zero row thus
/// gives y = 0 and a finite gradient.
public final class L2Normalize<Scalar: TensorScalar>: Layer {
    /// ε of the denominator (default 1e-12, PyTorch's default).
    public let epsilon: Scalar
    private var cachedOutput: Tensor<Scalar>?
    private var cachedDenominators: [Scalar] = []

    /// - Throws: `LayerError.invalidConfiguration` if ε is not finite and > 0.
    public init(epsilon: Scalar = 1e-12) throws {
        guard epsilon.isFinite, epsilon > 0 else {
            throw LayerError.invalidConfiguration(layer: "L2Normalize", field: "epsilon", expected: "finite and > 0",
                                                  got: "\(epsilon)")
        }
        self.epsilon = epsilon
    }

    public var parameters: [Parameter<Scalar>] { [] }

    /// `[N, D]` → `[N, D]`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 2 else {
            throw LayerError.shapeMismatch(layer: "L2Normalize", expected: "[N, D]", got: inputShape)
        }
        return inputShape
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        let (y, denominators) = l2NormalizeRows(input, epsilon: epsilon)
        cachedOutput = y
        cachedDenominators = denominators
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let y = cachedOutput else { preconditionFailure("L2Normalize.backward called before forward") }
        precondition(gradOutput.shape == y.shape,
                     "L2Normalize.backward: gradient shape \(gradOutput.shape), expected \(y.shape)")
        return l2NormalizeBackward(output: y, gradOutput: gradOutput, epsilon: epsilon, denominators: cachedDenominators)
    }
}
