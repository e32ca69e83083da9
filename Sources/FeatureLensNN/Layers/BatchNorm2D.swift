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
/// save and restore the running statistics. Sums run over whole planes and add the planes in
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

    private var cachedNormalized: Tensor<Scalar>?  // x̂ [N, C, H, W] (training only)
    private var cachedInverseStd: [Scalar] = []    // s [C]
    private var cachedTraining = false
    private var cachedShape: [Int]?

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
        checkInputShape(self, input.shape)
        let c = channelCount, m = input.shape[0] * input.shape[2] * input.shape[3]
        precondition(!training || m >= 2,
                     "BatchNorm2D: training mode needs at least 2 values per channel (N·H·W = \(m)); the unbiased variance is undefined")
        let (mean, inverseStd) = batchNormStatistics(batch: training ? channelMoments(input) : nil, valuesPerFeature: m, epsilon: epsilon,
                                                     momentum: momentum, runningMean: runningMean, runningVariance: runningVariance)
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: c)
        let beta = bias?.value.scalars ?? [Scalar](repeating: 0, count: c)
        let (xhat, y) = channelNormApply(input, mean: mean, inverseStd: inverseStd, gamma: gamma, beta: beta)
        // x̂ is needed for dγ in either mode (and for dx in training).
        cachedNormalized = xhat
        cachedInverseStd = inverseStd
        cachedTraining = training
        cachedShape = input.shape
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let shape = cachedShape, let xhat = cachedNormalized else {
            preconditionFailure("BatchNorm2D.backward called before forward")
        }
        precondition(gradOutput.shape == shape, "BatchNorm2D.backward: gradient shape \(gradOutput.shape), expected \(shape)")
        let c = channelCount
        // dγ[C] += Σ dy·x̂, dβ[C] += Σ dy (over n, i, j)
        let (sumDy, sumDyXhat) = channelSums(gradOutput, xhat)
        if let w = weight, let b = bias {
            for j in 0..<c {
                w.gradient.scalars[j] += sumDyXhat[j]
                b.gradient.scalars[j] += sumDy[j]
            }
        }
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: c)
        return channelNormBackward(gradOutput, normalized: xhat, gamma: gamma, inverseStd: cachedInverseStd, sumDy: sumDy,
                                   sumDyXhat: sumDyXhat, training: cachedTraining)
    }
}
