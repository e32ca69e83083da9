import FeatureLensNumerics

/// Fully connected layer, PyTorch `nn.Linear` convention:
///
///     y = x · Wᵀ + b,   x: [N, in],  W: [out, in],  b: [out],  y: [N, out]
///
/// Parameters are named `"weight"` and `"bias"` (containers prefix them). The products run
/// through `gemm`, so they use the fast GEMM kernels.
public final class Linear<Scalar: TensorScalar>: Layer {
    /// Input width `in`.
    public let inFeatures: Int
    /// Output width `out`.
    public let outFeatures: Int
    /// W: `[out, in]`.
    public let weight: Parameter<Scalar>
    /// b: `[out]`, or `nil` for a layer without bias.
    public let bias: Parameter<Scalar>?

    /// Whether `backward` computes ∂L/∂x. Set it to false on a first layer whose input
    /// gradient nobody reads (the `Trainer` does, during `run`): `backward` then skips the
    /// product dy·W and returns zeros of the input's shape. Parameter gradients are unaffected.
    public var computesInputGradient = true

    private var cachedInput: Tensor<Scalar>?

    /// A layer initialized by `weightInit` (default PyTorch's Kaiming-uniform, a = √5) and
    /// `biasInit`, drawing weight then bias from `generator`.
    /// - Throws: `LayerError.invalidConfiguration` if a width is not positive.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true,
                weightInit: WeightInitialization = .pytorchDefault,
                biasInit: BiasInitialization = .pytorchDefault,
                using generator: inout SeededGenerator) throws {
        try requirePositive(inFeatures, "inFeatures", in: "Linear")
        try requirePositive(outFeatures, "outFeatures", in: "Linear")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let w: Tensor<Scalar> = try weightInit.makeTensor(shape: [outFeatures, inFeatures], using: &generator)
        weight = Parameter(name: "weight", value: w)
        if bias {
            let b: Tensor<Scalar> = try Initializers.bias(count: outFeatures, fanIn: inFeatures,
                                                          rule: biasInit, using: &generator)
            self.bias = Parameter(name: "bias", value: b)
        } else {
            self.bias = nil
        }
    }

    /// A layer with the given weight `[out, in]` and optional bias `[out]`.
    /// - Throws: `LayerError.invalidConfiguration` if the shapes do not fit.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?) throws {
        guard weight.rank == 2, weight.shape[0] > 0, weight.shape[1] > 0 else {
            throw LayerError.invalidConfiguration(layer: "Linear", field: "weight", expected: "shape [out, in]",
                                                  got: "\(weight.shape)")
        }
        if let b = bias, b.shape != [weight.shape[0]] {
            throw LayerError.invalidConfiguration(layer: "Linear", field: "bias", expected: "shape [\(weight.shape[0])]",
                                                  got: "\(b.shape)")
        }
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.weight = Parameter(name: "weight", value: weight)
        self.bias = bias.map { Parameter(name: "bias", value: $0) }
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    /// `[N, in]` → `[N, out]`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 2, inputShape[1] == inFeatures else {
            throw LayerError.shapeMismatch(layer: "Linear", expected: "[N, \(inFeatures)]", got: inputShape)
        }
        return [inputShape[0], outFeatures]
    }

    /// y[N, out] = x[N, in] · Wᵀ[in, out] + b (broadcast over rows).
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        cachedInput = input
        let n = input.shape[0]
        var y: Tensor<Scalar>
        if let b = bias {
            y = broadcastRows(b.value, rows: n)  // the bias in every row, then y += x·Wᵀ
            gemm(input, weight.value, transposeB: true, beta: 1, into: &y)
        } else {
            y = uninitializedTensor([n, outFeatures])  // β = 0: gemm never reads it
            gemm(input, weight.value, transposeB: true, beta: 0, into: &y)
        }
        return y
    }

    /// Given dy `[N, out]`: dW[out, in] += dyᵀ·x, db[out] += Σₙ dy[n, :], returns dx[N, in] = dy·W.
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let x = cachedInput else { preconditionFailure("Linear.backward called before forward") }
        precondition(gradOutput.shape == [x.shape[0], outFeatures],
                     "Linear.backward: gradient shape \(gradOutput.shape), expected \([x.shape[0], outFeatures])")
        // dW[out, in] += dy[N, out]ᵀ · x[N, in]
        gemm(gradOutput, transposeA: true, x, beta: 1, into: &weight.gradient)
        if let b = bias {
            // db[out] += Σ_n dy[n, out]
            accumulateColumnSums(gradOutput, rows: x.shape[0], into: &b.gradient)
        }
        if !computesInputGradient { return zerosTensor(x.shape) }
        // dx[N, in] = dy[N, out] · W[out, in]
        var dx: Tensor<Scalar> = uninitializedTensor(x.shape)  // β = 0: gemm never reads it
        gemm(gradOutput, weight.value, beta: 0, into: &dx)
        return dx
    }
}
