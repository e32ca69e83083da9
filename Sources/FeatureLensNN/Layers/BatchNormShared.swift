import FeatureLensNumerics

// What BatchNorm1D and BatchNorm2D share: the checks of ε and momentum, the affine parameters
// and running buffers (PyTorch's names and initial values), and the per-feature statistics a
// forward pass normalizes with.

/// Checks ε (finite, > 0) and the momentum (in [0, 1]) of the batch-norm layer `layer`.
/// - Throws: `LayerError.invalidConfiguration` naming the field.
func validateBatchNorm<Scalar: TensorScalar>(layer: String, epsilon: Scalar, momentum: Scalar) throws {
    guard epsilon.isFinite, epsilon > 0 else {
        throw LayerError.invalidConfiguration(layer: layer, field: "epsilon", expected: "finite and > 0", got: "\(epsilon)")
    }
    guard momentum >= 0, momentum <= 1 else {
        throw LayerError.invalidConfiguration(layer: layer, field: "momentum", expected: "in [0, 1]", got: "\(momentum)")
    }
}

/// γ = 1 and β = 0 (`weight`, `bias`; nil without `affine`), running mean 0 and running
/// variance 1 (`running_mean`, `running_var`), each `[count]`, as PyTorch initializes them.
func batchNormState<Scalar: TensorScalar>(count: Int, affine: Bool)
    -> (weight: Parameter<Scalar>?, bias: Parameter<Scalar>?, runningMean: Buffer<Scalar>, runningVariance: Buffer<Scalar>) {
    (affine ? Parameter(name: "weight", value: Tensor(repeating: 1, shape: [count])) : nil,
     affine ? Parameter(name: "bias", value: Tensor(zeros: [count])) : nil,
     Buffer(name: "running_mean", value: Tensor(zeros: [count])),
     Buffer(name: "running_var", value: Tensor(repeating: 1, shape: [count])))
}

/// The mean and 1/√(σ² + ε) per feature a forward pass normalizes with. Training (`batch`
/// given: the biased moments over m values per feature): the batch's, and the running buffers
/// move by `momentum` towards the batch mean and the unbiased variance σ²·m/(m − 1). Evaluation
/// (`batch` nil): the running mean and variance.
func batchNormStatistics<Scalar: TensorScalar>(batch: (mean: [Scalar], variance: [Scalar])?, valuesPerFeature m: Int,
                                               epsilon: Scalar, momentum: Scalar, runningMean: Buffer<Scalar>,
                                               runningVariance: Buffer<Scalar>) -> (mean: [Scalar], inverseStd: [Scalar]) {
    let count = runningMean.value.count
    var inverseStd = [Scalar](repeating: 0, count: count)
    guard let batch else {
        for j in 0..<count { inverseStd[j] = 1 / Scalar.sqrt(runningVariance.value.scalars[j] + epsilon) }
        return (runningMean.value.scalars, inverseStd)
    }
    let unbias = Scalar(m) / Scalar(m - 1)
    for j in 0..<count {
        inverseStd[j] = 1 / Scalar.sqrt(batch.variance[j] + epsilon)
        runningMean.value.scalars[j] = (1 - momentum) * runningMean.value.scalars[j] + momentum * batch.mean[j]
        runningVariance.value.scalars[j] = (1 - momentum) * runningVariance.value.scalars[j] + momentum * batch.variance[j] * unbias
    }
    return (batch.mean, inverseStd)
}
