import FeatureLensNumerics

/// Batch normalization over the batch axis of `[N, F]` inputs (Ioffe & Szegedy 2015, Alg. 1),
/// PyTorch `nn.BatchNorm1d` semantics:
///
///     training: μ = mean_n x,  σ² = mean_n (x − μ)²  (biased),  x̂ = (x − μ)/√(σ² + ε)
///               running_mean ← (1 − m)·running_mean + m·μ
///               running_var  ← (1 − m)·running_var  + m·σ²·N/(N − 1)   (unbiased)
///     eval:     x̂ = (x − running_mean)/√(running_var + ε)
///     y = γ ⊙ x̂ + β   (γ = "weight", β = "bias"; omitted when `affine` is false)
///
/// Backward (training), per feature with s = 1/√(σ² + ε) and g = γ·dy:
/// dx = (s/N)·(N·g − Σ_n g − x̂·Σ_n g x̂); dγ += Σ_n dy·x̂; dβ += Σ_n dy.
/// Backward (eval): dx = γ·dy·s with the running statistics' s.
///
/// Training mode needs N ≥ 2 (as PyTorch: the unbiased variance of one value is undefined);
/// a batch of 1 in training mode traps with that message.
public final class BatchNorm1D<Scalar: TensorScalar>: Layer {
    /// Number of features F.
    public let featureCount: Int
    /// ε added to the variance (default 1e-5).
    public let epsilon: Scalar
    /// Running-statistics momentum m (default 0.1).
    public let momentum: Scalar
    /// γ `[F]` (initialized to 1), or nil when not affine.
    public let weight: Parameter<Scalar>?
    /// β `[F]` (initialized to 0), or nil when not affine.
    public let bias: Parameter<Scalar>?
    /// Running mean `[F]` (initialized to 0).
    public let runningMean: Buffer<Scalar>
    /// Running (unbiased) variance `[F]` (initialized to 1).
    public let runningVariance: Buffer<Scalar>

    private var cachedNormalized: [Scalar] = []   // x̂ [N, F]
    private var cachedInverseStd: [Scalar] = []   // s [F]
    private var cachedTraining = false
    private var cachedBatch = 0

    /// - Throws: `LayerError.invalidConfiguration` if F ≤ 0, ε ≤ 0 or m ∉ [0, 1].
    public init(featureCount: Int, epsilon: Scalar = 1e-5, momentum: Scalar = 0.1, affine: Bool = true) throws {
        try requirePositive(featureCount, "featureCount", in: "BatchNorm1D")
        try validateBatchNorm(layer: "BatchNorm1D", epsilon: epsilon, momentum: momentum)
        self.featureCount = featureCount
        self.epsilon = epsilon
        self.momentum = momentum
        (weight, bias, runningMean, runningVariance) = batchNormState(count: featureCount, affine: affine)
    }

    public var parameters: [Parameter<Scalar>] { [weight, bias].compactMap { $0 } }
    public var buffers: [Buffer<Scalar>] { [runningMean, runningVariance] }

    /// `[N, F]` → `[N, F]`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 2, inputShape[1] == featureCount else {
            throw LayerError.shapeMismatch(layer: "BatchNorm1D", expected: "[N, \(featureCount)]", got: inputShape)
        }
        return inputShape
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        let n = input.shape[0], f = featureCount
        precondition(!training || n >= 2,
                     "BatchNorm1D: training mode needs a batch of at least 2 (got \(n)); the unbiased variance is undefined")
        let (mean, inverseStd) = batchNormStatistics(batch: training ? batchMoments(input) : nil, valuesPerFeature: n, epsilon: epsilon,
                                                     momentum: momentum, runningMean: runningMean, runningVariance: runningVariance)
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: f)
        let beta = bias?.value.scalars ?? [Scalar](repeating: 0, count: f)
        let (xhat, y) = batchNormApply(input.scalars, rows: n, columns: f, mean: mean, inverseStd: inverseStd,
                                       gamma: gamma, beta: beta)
        cachedNormalized = xhat
        cachedInverseStd = inverseStd
        cachedTraining = training
        cachedBatch = n
        return Tensor(shape: input.shape, scalars: y)
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        let n = cachedBatch, f = featureCount
        precondition(cachedNormalized.count == n * f && n > 0, "BatchNorm1D.backward called before forward")
        precondition(gradOutput.shape == [n, f], "BatchNorm1D.backward: gradient shape \(gradOutput.shape), expected \([n, f])")
        let dy = gradOutput.scalars
        // dγ[F] += Σ_n dy·x̂, dβ[F] += Σ_n dy
        let (sumDy, sumDyXhat) = columnSums(dy, cachedNormalized, rows: n, columns: f)
        if let w = weight, let b = bias {
            for j in 0..<f {
                w.gradient.scalars[j] += sumDyXhat[j]
                b.gradient.scalars[j] += sumDy[j]
            }
        }
        let gamma = weight?.value.scalars ?? [Scalar](repeating: 1, count: f)
        let dx = batchNormBackward(dy, xhat: cachedNormalized, rows: n, columns: f, gamma: gamma,
                                   inverseStd: cachedInverseStd, sumDy: sumDy, sumDyXhat: sumDyXhat, training: cachedTraining)
        return Tensor(shape: [n, f], scalars: dx)
    }
}
