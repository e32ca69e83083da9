import FeatureLensNumerics

/// Rectified linear unit, elementwise: y = max(0, x), any shape.
///
/// Backward: dx = dy · 1[y > 0] (the subgradient 0 at x = 0, as PyTorch).
public final class ReLU<Scalar: TensorScalar>: Layer {
    private var cachedOutput: Tensor<Scalar>?

    public init() {}

    public var parameters: [Parameter<Scalar>] { [] }

    /// y = max(0, x), same shape as x.
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        var y: Tensor<Scalar> = uninitializedTensor(input.shape)
        input.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { yb in
                guard let xp = x.baseAddress, let yp = yb.baseAddress else { return }
                forEachElementChunk(x.count) { r in reluForward(xp + r.lowerBound, yp + r.lowerBound, count: r.count) }
            }
        }
        cachedOutput = y
        return y
    }

    /// dx = dy · 1[y > 0], same shape.
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let y = cachedOutput else { preconditionFailure("ReLU.backward called before forward") }
        precondition(gradOutput.shape == y.shape, "ReLU.backward: gradient shape \(gradOutput.shape), expected \(y.shape)")
        var dx: Tensor<Scalar> = uninitializedTensor(y.shape)
        y.withUnsafeBufferPointer { yb in
            gradOutput.withUnsafeBufferPointer { g in
                dx.withUnsafeMutableBufferPointer { d in
                    guard let yp = yb.baseAddress, let gp = g.baseAddress, let dp = d.baseAddress else { return }
                    forEachElementChunk(yb.count) { r in
                        reluBackward(yp + r.lowerBound, gp + r.lowerBound, dp + r.lowerBound, count: r.count)
                    }
                }
            }
        }
        return dx
    }
}
