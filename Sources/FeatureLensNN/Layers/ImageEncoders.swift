// Ready-made encoders for images `[N, C, H, W]`:
//
//   MLP on pixels:  Flatten → Linear(C·H·W → w₁) → ReLU → … → Linear(→ d)          h: [N, d]
//   ConvNet:        Conv3×3/2(C → 32) → ReLU → Conv3×3/2(32 → 64) → ReLU
//                   → Conv3×3/2(64 → 64) → ReLU → Flatten → Linear(64·H₃·W₃ → 128)     h: [N, 128]
//                   with padding 1, so H₁ = ⌊(H − 1)/2⌋ + 1 (28 → 14 → 7 → 4)
//   ResNet-18:      Conv3×3/1(C → w) → BN → ReLU → 4 stages × 2 BasicBlocks (w, 2w, 4w, 8w
//                   filters; strides 1, 2, 2, 2) → global average pooling              h: [N, 8w]
//                   (optionally → Linear(8w → d), h: [N, d]; the standard model has none)
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

    /// ResNet-18 in its CIFAR form (3×3 stride-1 stem without max-pool; see `ResNet`), as the
    /// paper's real-data experiments use it: stem conv 3×3 (C → w, no bias) → BatchNorm2D → ReLU,
    /// four stages of two `BasicBlock`s with w, 2w, 4w, 8w filters and strides 1, 2, 2, 2, global
    /// average pooling to h `[N, 8w]`, then the optional projection head (z). No dense layer
    /// follows the pooling unless `featureDimension` asks for one (the standard ResNet-18 and the
    /// paper's have none before the head).
    ///
    /// Parameter names are those of the PyTorch reference module in
    /// `Tools/golden/make_resnet_golden.py` behind `backbone.`: `backbone.conv1.weight`,
    /// `backbone.bn1.*`, `backbone.layer1.0.conv1.weight`, …, `backbone.layer2.0.shortcut.0.weight`, ….
    /// At w = 64 and C = 3 the backbone has 11 168 832 parameters.
    /// - Parameters:
    ///   - inputChannels: C (3 for colour images, 1 for Fashion-MNIST, + k RandBits channels).
    ///   - height, width: H, W of the input images, each ≥ 8.
    ///   - baseWidth: w, the filters of the first stage (the paper's width; 64 is the standard model).
    ///   - featureDimension: width of a dense layer after the pooling, or nil (h = the 8w pooled features).
    ///   - head: the projection head, or nil (z = h); its input width is the width of h.
    /// - Returns: an encoder mapping `[N, C, H, W]` to h and z.
    /// - Throws: `LayerError.invalidConfiguration` naming the field (`inputChannels`, `height`,
    ///   `width`, `baseWidth`, `featureDimension`) when it is out of range.
    public static func resnet18<Scalar: TensorScalar>(
        inputChannels: Int, height: Int = 32, width: Int = 32, baseWidth: Int = 64, featureDimension: Int? = nil,
        head: ProjectionHeadSpec? = nil, using generator: inout SeededGenerator
    ) throws -> Encoder<Scalar> {
        let minimum = ResNet<Scalar>.minimumImageSize
        try requirePositive(inputChannels, "inputChannels", in: "ResNet18")
        for (field, size) in [("height", height), ("width", width)] where size < minimum {
            throw LayerError.invalidConfiguration(layer: "ResNet18", field: field, expected: "≥ \(minimum)", got: "\(size)")
        }
        try requirePositive(baseWidth, "baseWidth", in: "ResNet18")
        if let d = featureDimension { try requirePositive(d, "featureDimension", in: "ResNet18") }
        let backbone = try ResNet<Scalar>(inputChannels: inputChannels, baseWidth: baseWidth, blockCounts: [2, 2, 2, 2],
                                          featureDimension: featureDimension, using: &generator)
        return Encoder(backbone: backbone, head: try makeHead(head, input: backbone.outputFeatures, using: &generator))
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
