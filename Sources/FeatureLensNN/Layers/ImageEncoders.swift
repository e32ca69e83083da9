// Ready-made encoders for images `[N, C, H, W]`:
//
//   MLP on pixels:  Flatten → Linear(C·H·W → w₁) → ReLU → … → Linear(→ d)          h: [N, d]
//   ConvNet:        Conv3×3/2(C → 32) → ReLU → Conv3×3/2(32 → 64) → ReLU
//                   → Conv3×3/2(64 → 64) → ReLU → Flatten → Linear(64·H₃·W₃ → 128)     h: [N, 128]
//                   with padding 1, so H₁ = ⌊(H − 1)/2⌋ + 1 (28 → 14 → 7 → 4)
//   optional head:  ProjectionHead: Linear → [BatchNorm1D] → ReLU → Linear                z: [N, p]
//
// The input channel count is a parameter because RandBits adds constant bit channels.

import FeatureLensNumerics

/// The projection head g of an image encoder (SimCLR's two-layer MLP).
public struct ProjectionHeadSpec: Codable, Equatable, Sendable {
    /// Hidden width.
    public var hiddenDimension: Int
    /// Embedding size p.
    public var outputDimension: Int
    /// BatchNorm1D after the hidden Linear.
    public var batchNorm: Bool

    public init(hiddenDimension: Int, outputDimension: Int, batchNorm: Bool = false) {
        self.hiddenDimension = hiddenDimension
        self.outputDimension = outputDimension
        self.batchNorm = batchNorm
    }
}

/// Factories for the image encoders (shapes in the file header). Layers are
/// initialized as PyTorch's defaults (Kaiming-uniform, a = √5), drawn in layer order from the
/// generator, backbone first, then the head.
public enum ImageEncoders {
    /// The ConvNet: three 3×3 stride-2 convolutions (padding 1) with `channels` output
    /// channels, each followed by ReLU, then a dense layer to `featureDimension`
    /// (the features h), then an optional projection head (z).
    ///
    /// Parameter names match the PyTorch `nn.Sequential` of `Benchmarks/pytorch_conv_bench.py`:
    /// `backbone.0.weight` (conv 1), `backbone.2.*`, `backbone.4.*`, `backbone.7.*` (dense).
    /// - Parameters:
    ///   - inputChannels: C (1 for Fashion-MNIST, + k with k RandBits channels).
    ///   - height, width: H, W of the input images.
    ///   - channels: output channels of the three convolutions (default 32, 64, 64).
    ///   - featureDimension: width of the dense layer (default 128).
    ///   - head: the projection head, or nil (z = h).
    /// - Returns: an encoder mapping `[N, C, H, W]` to h `[N, featureDimension]` and z.
    /// - Throws: `LayerError.invalidConfiguration` for a non-positive size or a channel list
    ///   that does not have three entries.
    public static func convNet<Scalar: TensorScalar>(
        inputChannels: Int, height: Int = 28, width: Int = 28, channels: [Int] = [32, 64, 64],
        featureDimension: Int = 128, head: ProjectionHeadSpec? = nil, using generator: inout SeededGenerator
    ) throws -> Encoder<Scalar> {
        guard channels.count == 3 else {
            throw LayerError.invalidConfiguration(layer: "ConvNet", field: "channels", expected: "three channel counts",
                                                  got: "\(channels)")
        }
        try requirePositive(inputChannels, "inputChannels", in: "ConvNet")
        try requirePositive(height, "height", in: "ConvNet")
        try requirePositive(width, "width", in: "ConvNet")
        var layers: [any Layer<Scalar>] = []
        var c = inputChannels, h = height, w = width
        for out in channels {
            layers.append(try Conv2D<Scalar>(inChannels: c, outChannels: out, kernelSize: 3, stride: 2, padding: 1,
                                             using: &generator))
            layers.append(ReLU<Scalar>())
            c = out
            h = (h - 1) / 2 + 1
            w = (w - 1) / 2 + 1
        }
        layers.append(Flatten<Scalar>())
        layers.append(try Linear<Scalar>(inFeatures: c * h * w, outFeatures: featureDimension, using: &generator))
        let backbone = Sequential(layers)
        return Encoder(backbone: backbone, head: try makeHead(head, input: featureDimension, using: &generator))
    }

    /// The MLP on flattened pixels: Flatten, then Linear/ReLU layers of widths
    /// `[C·H·W] + hiddenWidths + [featureDimension]` (no ReLU after the last), then an
    /// optional projection head.
    /// - Parameters:
    ///   - inputShape: `[C, H, W]` of one image (any rank ≥ 1: the product is the input width).
    ///   - hiddenWidths: hidden layer widths (may be empty: a linear encoder).
    ///   - featureDimension: width of h.
    ///   - bias: whether the Linear layers have biases.
    ///   - head: the projection head, or nil (z = h).
    /// - Throws: `LayerError.invalidConfiguration` for a non-positive width.
    public static func mlp<Scalar: TensorScalar>(
        inputShape: [Int], hiddenWidths: [Int], featureDimension: Int, bias: Bool = true,
        head: ProjectionHeadSpec? = nil, using generator: inout SeededGenerator
    ) throws -> Encoder<Scalar> {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw LayerError.invalidConfiguration(layer: "PixelMLP", field: "inputShape",
                                                  expected: "positive extents [C, H, W]", got: "\(inputShape)")
        }
        let inputWidth = inputShape.reduce(1, *)
        let mlp = try MLP<Scalar>(widths: [inputWidth] + hiddenWidths + [featureDimension], bias: bias,
                                  using: &generator)
        let backbone = Sequential<Scalar>([Flatten<Scalar>(), mlp])
        return Encoder(backbone: backbone, head: try makeHead(head, input: featureDimension, using: &generator))
    }

    private static func makeHead<Scalar: TensorScalar>(_ spec: ProjectionHeadSpec?, input: Int,
                                                       using generator: inout SeededGenerator) throws -> (any Layer<Scalar>)? {
        guard let spec else { return nil }
        return try ProjectionHead<Scalar>(inputDimension: input, hiddenDimension: spec.hiddenDimension,
                                          outputDimension: spec.outputDimension, batchNorm: spec.batchNorm,
                                          using: &generator)
    }
}
