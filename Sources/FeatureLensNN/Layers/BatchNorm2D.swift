import FeatureLensNumerics

/// Batch normalization of `[N, C, H, W]` images per channel (Ioffe & Szegedy 2015, Alg. 1, with
/// the statistics of a channel taken over the batch and both spatial axes, §3.2), PyTorch
/// `nn.BatchNorm2d` semantics. With M = N·H·W values per channel c:
///
///     training: μ_c = (1/M) Σ_{n,i,j} x,  σ²_c = (1/M) Σ_{n,i,j} (x − μ_c)²  (biased),
///               x̂ = (x − μ_c)/√(σ²_c + ε)
///               running_mean ← (1 − m)·running_mean + m·μ
///               running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)   (unbiased)
///     eval:     x̂ = (x − running_mean_c)/√(running_var_c + ε)
///     y = γ_c·x̂ + β_c   (γ = "weight", β = "bias"; omitted when `affine` is false)
///
/// Backward (training), per channel with s = 1/√(σ² + ε), sums over n, i, j:
/// dx = (γ·s/M)·(M·dy − Σ dy − x̂·Σ dy·x̂); dγ += Σ dy·x̂; dβ += Σ dy.
/// Backward (eval): dx = γ·dy·s with the running statistics' s.
///
/// Parameters and buffers are named as in PyTorch's `state_dict` (`weight`, `bias`,
/// `running_mean`, `running_var`; like `BatchNorm1D`, no `num_batches_tracked`), so checkpoints
/// save and restore the running statistics.
///
/// Implementation: the training statistics take one pass (Σ x and Σ x² per plane, in Double:
/// σ² = Σx²/M − μ², see `channelMoments`) and the normalization another, which can also add a
/// residual and apply a ReLU as it writes y (`forward(_:training:residual:relu:)`, used by
/// `BasicBlock` and `ResNet`). x̂ is not stored: backward recomputes it from the cached input x in
/// its two passes (the channel sums, then dx). Sums run over whole planes and add the planes in
/// sample order, so results do not depend on the thread count.
///
/// Training mode needs M ≥ 2 (as PyTorch: the unbiased variance of one value is undefined);
/// a single value per channel in training mode traps with that message.
public final class BatchNorm2D<Scalar: TensorScalar>: Layer {
    /// Number of channels C.
    public let channelCount: Int
    /// ε added to the variance (default 1e-5).
    public let epsilon: Scalar
    /// Running-statistics momentum m (default 0.1).
    public let momentum: Scalar
    /// γ `[C]` (initialized to 1), or nil when not affine.
    public let weight: Parameter<Scalar>?
    /// β `[C]` (initialized to 0), or nil when not affine.
    public let bias: Parameter<Scalar>?
    /// Running mean `[C]` (initialized to 0).
    public let runningMean: Buffer<Scalar>
    /// Running (unbiased) variance `[C]` (initialized to 1).
    public let runningVariance: Buffer<Scalar>

    private var cachedInput: Tensor<Scalar>?       // x [N, C, H, W]
    private var cachedReLUOutput: Tensor<Scalar>?  // y when the forward applied a ReLU without a residual (its mask)
    private var cachedMean: [Scalar] = []          // μ [C] the forward normalized with (batch or running)
    private var cachedInverseStd: [Scalar] = []    // s [C]
    private var cachedTraining = false

    /// - Throws: `LayerError.invalidConfiguration` if C ≤ 0, ε ≤ 0 or m ∉ [0, 1].
    public init(channelCount: Int, epsilon: Scalar = 1e-5, momentum: Scalar = 0.1, affine: Bool = true) throws {
        try requirePositive(channelCount, "channelCount", in: "BatchNorm2D")
        try validateBatchNorm(layer: "BatchNorm2D", epsilon: epsilon, momentum: momentum)
        self.channelCount = channelCount
        self.epsilon = epsilon
        self.momentum = momentum
        (weight, bias, runningMean, runningVariance) = batchNormState(count: channelCount, affine: affine)
    }

    public var parameters: [Parameter<Scalar>] { [weight, bias].compactMap { $0 } }
    public var buffers: [Buffer<Scalar>] { [runningMean, runningVariance] }

    /// `[N, C, H, W]` → `[N, C, H, W]`.
    /// - Throws: `LayerError.shapeMismatch` unless the rank is 4 with C channels.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[1] == channelCount else {
            throw LayerError.shapeMismatch(layer: "BatchNorm2D", expected: "[N, \(channelCount), H, W]", got: inputShape)
        }
        return inputShape
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        forward(input, training: training, residual: nil, relu: false)
    }

    /// y = BN(x), then y + r when `residual` r (x's shape) is given, then max(0, y) when `relu`,
    /// written in one pass. With `relu` and no residual, `backward` applies the ReLU's mask
    /// 1[y > 0] itself (it takes ∂L/∂ of the ReLU's output); with a residual it takes ∂L/∂ of
    /// the sum's ReLU-masked gradient, which the caller forms (it also feeds the residual branch).
    func forward(_ input: Tensor<Scalar>, training: Bool, residual: Tensor<Scalar>?, relu: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        let c = channelCount, m = input.shape[0] * input.shape[2] * input.shape[3]
        precondition(!training || m >= 2,
                     "BatchNorm2D: training mode needs at least 2 values per channel (N·H·W = \(m)); the unbiased variance is undefined")
        let (mean, inverseStd) = batchNormStatistics(batch: training ? channelMoments(input) : nil, valuesPerFeature: m, epsilon: epsilon,
                                                     momentum: momentum, runningMean: runningMean, runningVariance: runningVariance)
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: c)
        let beta = bias?.value.scalars ?? [Scalar](repeating: 0, count: c)
        let y = channelNormForward(input, mean: mean, inverseStd: inverseStd, gamma: gamma, beta: beta, residual: residual,
                                   relu: relu)
        // x (to recompute x̂) is needed for dγ in either mode and for dx in training.
        cachedInput = input
        cachedReLUOutput = relu && residual == nil ? y : nil
        cachedMean = mean
        cachedInverseStd = inverseStd
        cachedTraining = training
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let x = cachedInput else { preconditionFailure("BatchNorm2D.backward called before forward") }
        precondition(gradOutput.shape == x.shape, "BatchNorm2D.backward: gradient shape \(gradOutput.shape), expected \(x.shape)")
        let c = channelCount
        // dγ[C] += Σ g·x̂, dβ[C] += Σ g (over n, i, j)
        let (sumG, sumGXhat) = channelNormGradientSums(gradOutput, input: x, reluOutput: cachedReLUOutput, mean: cachedMean,
                                                       inverseStd: cachedInverseStd)
        if let w = weight, let b = bias {
            for j in 0..<c {
                w.gradient.scalars[j] += sumGXhat[j]
                b.gradient.scalars[j] += sumG[j]
            }
        }
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: c)
        return channelNormBackward(gradOutput, input: x, reluOutput: cachedReLUOutput, mean: cachedMean, gamma: gamma,
                                   inverseStd: cachedInverseStd, sum: sumG, sumProduct: sumGXhat, training: cachedTraining)
    }
}
