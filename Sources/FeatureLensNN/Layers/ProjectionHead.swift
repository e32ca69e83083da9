import FeatureLensNumerics

/// The SimCLR projection head g(h) (Chen et al. 2020, "A Simple Framework for Contrastive
/// Learning of Visual Representations", §2.1): a two-layer MLP mapping backbone features h
/// `[N, in]` to the embedding z `[N, out]` on which the contrastive loss is computed.
///
/// - `batchNorm == false` (SimCLR v1, z = W₂·ReLU(W₁h + b₁) + b₂):
///   `0: Linear(in→hidden, bias) · 1: ReLU · 2: Linear(hidden→out, bias)`.
/// - `batchNorm == true` (BN after the hidden Linear, as in SimCLR v2 / common practice; the
///   hidden Linear drops its bias, which BN's β makes redundant):
///   `0: Linear(in→hidden, no bias) · 1: BatchNorm1D(hidden) · 2: ReLU · 3: Linear(hidden→out, bias)`.
///
/// Parameter names follow the indices above (e.g. `"1.running_mean"`), as the equivalent
/// PyTorch `nn.Sequential` would name them.
public final class ProjectionHead<Scalar: TensorScalar>: Layer {
    /// Input (backbone feature) width.
    public let inputDimension: Int
    /// Hidden width.
    public let hiddenDimension: Int
    /// Output (embedding) width p.
    public let outputDimension: Int
    /// Whether a BatchNorm1D follows the hidden Linear.
    public let usesBatchNorm: Bool
    /// The layers described above.
    public let body: Sequential<Scalar>

    /// - Throws: `LayerError.invalidConfiguration` if a width is not positive.
    public init(inputDimension: Int, hiddenDimension: Int, outputDimension: Int, batchNorm: Bool = false,
                weightInit: WeightInitialization = .pytorchDefault, biasInit: BiasInitialization = .pytorchDefault,
                using generator: inout SeededGenerator) throws {
        self.inputDimension = inputDimension
        self.hiddenDimension = hiddenDimension
        self.outputDimension = outputDimension
        self.usesBatchNorm = batchNorm
        var layers: [any Layer<Scalar>] = []
        layers.append(try Linear<Scalar>(inFeatures: inputDimension, outFeatures: hiddenDimension, bias: !batchNorm,
                                         weightInit: weightInit, biasInit: biasInit, using: &generator))
        if batchNorm { layers.append(try BatchNorm1D<Scalar>(featureCount: hiddenDimension)) }
        layers.append(ReLU<Scalar>())
        layers.append(try Linear<Scalar>(inFeatures: hiddenDimension, outFeatures: outputDimension, bias: true,
                                         weightInit: weightInit, biasInit: biasInit, using: &generator))
        body = Sequential(layers)
    }

    public var parameters: [Parameter<Scalar>] { body.parameters }
    public var buffers: [Buffer<Scalar>] { body.buffers }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try body.outputShape(for: inputShape) }
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        body.forward(input, training: training)
    }
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> { body.backward(gradOutput) }
}
