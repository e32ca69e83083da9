import FeatureLensNumerics

/// The residual basic block of ResNet-18/34 (He et al. 2016, "Deep Residual Learning for Image
/// Recognition", Fig. 2 and §3.3, with batch normalization after every convolution as in §3.4):
///
///     main:     conv1 3×3 (stride s, padding 1, no bias) → bn1 → ReLU → conv2 3×3 (padding 1, no bias) → bn2
///     shortcut: identity when s = 1 and C_in = C_out, else 1×1 conv (stride s, no bias) → BN
///               (the projection shortcut, option B of §3.3)
///     y = ReLU(main(x) + shortcut(x))
///
/// x: `[N, C_in, H, W]` → y: `[N, C_out, H', W']` with H' = ⌊(H − 1)/s⌋ + 1 (likewise W').
/// Backward: g = dy·1[y > 0], dx = ∂main/∂x ᵀ g + ∂shortcut/∂x ᵀ g.
/// bn1 applies the first ReLU, and bn2 the residual sum and the last ReLU, in the pass that
/// writes its output (no separate ReLU or addition passes).
///
/// Parameters and buffers are named as in the usual PyTorch CIFAR ResNet: `conv1.weight`,
/// `bn1.weight`, `bn1.bias`, `bn1.running_mean`, `bn1.running_var`, `conv2.weight`, `bn2.*`,
/// and for a projection shortcut `shortcut.0.weight` and `shortcut.1.*`.
public final class BasicBlock<Scalar: TensorScalar>: Layer {
    /// C_in.
    public let inChannels: Int
    /// C_out.
    public let outChannels: Int
    /// s of the first convolution and of the projection shortcut.
    public let stride: Int
    /// The first 3×3 convolution (C_in → C_out, stride s).
    public let conv1: Conv2D<Scalar>
    /// Batch normalization after `conv1`.
    public let bn1: BatchNorm2D<Scalar>
    /// The second 3×3 convolution (C_out → C_out, stride 1).
    public let conv2: Conv2D<Scalar>
    /// Batch normalization after `conv2`.
    public let bn2: BatchNorm2D<Scalar>
    /// The projection shortcut `[Conv2D 1×1/s, BatchNorm2D]`, or nil for the identity.
    public let shortcut: Sequential<Scalar>?

    private var cachedOutput: Tensor<Scalar>?

    /// Convolution weights by PyTorch's default (Kaiming-uniform, a = √5), drawn conv1, conv2,
    /// then the shortcut convolution from `generator`; batch-norm γ = 1, β = 0.
    /// - Throws: `LayerError.invalidConfiguration` if a channel count or the stride is not positive.
    public init(inChannels: Int, outChannels: Int, stride: Int = 1, using generator: inout SeededGenerator) throws {
        try requirePositive(inChannels, "inChannels", in: "BasicBlock")
        try requirePositive(outChannels, "outChannels", in: "BasicBlock")
        try requirePositive(stride, "stride", in: "BasicBlock")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.stride = stride
        conv1 = try Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride, padding: 1,
                           bias: false, using: &generator)
        bn1 = try BatchNorm2D(channelCount: outChannels)
        conv2 = try Conv2D(inChannels: outChannels, outChannels: outChannels, kernelSize: 3, stride: 1, padding: 1,
                           bias: false, using: &generator)
        bn2 = try BatchNorm2D(channelCount: outChannels)
        if stride != 1 || inChannels != outChannels {
            shortcut = Sequential([
                try Conv2D<Scalar>(inChannels: inChannels, outChannels: outChannels, kernelSize: 1, stride: stride,
                                   bias: false, using: &generator),
                try BatchNorm2D<Scalar>(channelCount: outChannels),
            ])
        } else {
            shortcut = nil
        }
        conv1.prefixNames("conv1.")
        bn1.prefixNames("bn1.")
        conv2.prefixNames("conv2.")
        bn2.prefixNames("bn2.")
        shortcut?.prefixNames("shortcut.")
    }

    public var parameters: [Parameter<Scalar>] {
        conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters + (shortcut?.parameters ?? [])
    }
    public var buffers: [Buffer<Scalar>] { bn1.buffers + bn2.buffers + (shortcut?.buffers ?? []) }

    /// `[N, C_in, H, W]` → `[N, C_out, ⌊(H − 1)/s⌋ + 1, ⌊(W − 1)/s⌋ + 1]`.
    /// - Throws: `LayerError.shapeMismatch` unless the rank is 4 with C_in channels and H, W ≥ 1.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[1] == inChannels, inputShape[2] >= 1, inputShape[3] >= 1 else {
            throw LayerError.shapeMismatch(layer: "BasicBlock", expected: "[N, \(inChannels), H, W] with H, W ≥ 1",
                                           got: inputShape)
        }
        return [inputShape[0], outChannels, (inputShape[2] - 1) / stride + 1, (inputShape[3] - 1) / stride + 1]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        // bn1 applies the ReLU, bn2 the residual sum and its ReLU, as they write their outputs.
        let a = bn1.forward(conv1.forward(input, training: training), training: training, residual: nil, relu: true)
        let skip = shortcut?.forward(input, training: training) ?? input
        let y = bn2.forward(conv2.forward(a, training: training), training: training, residual: skip, relu: true)
        cachedOutput = y
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let y = cachedOutput else { preconditionFailure("BasicBlock.backward called before forward") }
        precondition(gradOutput.shape == y.shape, "BasicBlock.backward: gradient shape \(gradOutput.shape), expected \(y.shape)")
        let g = reluBackward(output: y, gradOutput: gradOutput)
        let dMain = conv1.backward(bn1.backward(conv2.backward(bn2.backward(g))))
        let dSkip = shortcut?.backward(g) ?? g
        return addTensors(dMain, dSkip)
    }
}

/// A residual network backbone in its CIFAR form: the ImageNet ResNet of He et al. 2016 (Table 1;
/// basic blocks [2, 2, 2, 2] give ResNet-18) with the stem adapted to small images, a 3×3
/// stride-1 convolution and no max-pool, as in SimCLR's CIFAR-10 experiments (Chen et al. 2020,
/// "A Simple Framework for Contrastive Learning of Visual Representations", appendix):
///
///     conv1 3×3 (stride 1, padding 1, no bias) → bn1 → ReLU          (no max-pool)
///     layer1 … layer4: stage k has `blockCounts[k]` BasicBlocks with w·2^k filters; the first
///                      block of stages 2–4 has stride 2, every other block stride 1
///     global average pooling → h `[N, 8w]`
///     optional `linear`: a dense layer 8w → featureDimension (with bias)
///
/// `blockCounts` [2, 2, 2, 2] is ResNet-18. x: `[N, C, H, W]` with H, W ≥ 8 (three stride-2 stages
/// take 8 to 1) → h `[N, 8w]` (or `[N, featureDimension]`); the last stage's spatial size is
/// ⌈H/8⌉ × ⌈W/8⌉ before pooling.
///
/// Names follow the PyTorch module with the same attribute names: `conv1.weight`, `bn1.*`,
/// `layer1.0.conv1.weight`, `layer2.0.shortcut.0.weight`, …, `linear.weight`, `linear.bias`.
public final class ResNet<Scalar: TensorScalar>: Layer {
    /// Input channels C.
    public let inputChannels: Int
    /// w: filters in the first stage (stage k has w·2^k).
    public let baseWidth: Int
    /// Blocks per stage.
    public let blockCounts: [Int]
    /// The stem convolution.
    public let conv1: Conv2D<Scalar>
    /// The stem's batch normalization.
    public let bn1: BatchNorm2D<Scalar>
    /// The four stages, each a `Sequential` of `BasicBlock`s.
    public let stages: [Sequential<Scalar>]
    /// The dense layer after pooling, or nil (h is the pooled 8w features).
    public let linear: Linear<Scalar>?

    private let pool = GlobalAveragePool2D<Scalar>()

    /// The smallest accepted image height and width.
    public static var minimumImageSize: Int { 8 }

    /// Layers are drawn from `generator` in forward order (stem, stages block by block, the dense
    /// layer); convolution and dense weights by PyTorch's defaults, batch-norm γ = 1, β = 0.
    /// - Parameters:
    ///   - inputChannels: C.
    ///   - baseWidth: w (64 in the standard ResNet-18).
    ///   - blockCounts: BasicBlocks per stage (four positive counts; [2, 2, 2, 2] for ResNet-18).
    ///   - featureDimension: width of a dense layer after pooling, or nil for none.
    /// - Throws: `LayerError.invalidConfiguration` naming the field if a count or width is not positive
    ///   or `blockCounts` does not have four entries.
    public init(inputChannels: Int, baseWidth: Int = 64, blockCounts: [Int] = [2, 2, 2, 2], featureDimension: Int? = nil,
                using generator: inout SeededGenerator) throws {
        try requirePositive(inputChannels, "inputChannels", in: "ResNet")
        try requirePositive(baseWidth, "baseWidth", in: "ResNet")
        guard blockCounts.count == 4, blockCounts.allSatisfy({ $0 > 0 }) else {
            throw LayerError.invalidConfiguration(layer: "ResNet", field: "blockCounts", expected: "four positive counts",
                                                  got: "\(blockCounts)")
        }
        if let d = featureDimension { try requirePositive(d, "featureDimension", in: "ResNet") }
        self.inputChannels = inputChannels
        self.baseWidth = baseWidth
        self.blockCounts = blockCounts
        conv1 = try Conv2D(inChannels: inputChannels, outChannels: baseWidth, kernelSize: 3, stride: 1, padding: 1,
                           bias: false, using: &generator)
        bn1 = try BatchNorm2D(channelCount: baseWidth)
        var stages: [Sequential<Scalar>] = []
        var channels = baseWidth
        for (k, count) in blockCounts.enumerated() {
            let out = baseWidth << k
            var blocks: [any Layer<Scalar>] = []
            for b in 0..<count {
                blocks.append(try BasicBlock<Scalar>(inChannels: channels, outChannels: out,
                                                     stride: b == 0 && k > 0 ? 2 : 1, using: &generator))
                channels = out
            }
            stages.append(Sequential(blocks))
        }
        self.stages = stages
        linear = try featureDimension.map { try Linear<Scalar>(inFeatures: channels, outFeatures: $0, using: &generator) }
        conv1.prefixNames("conv1.")
        bn1.prefixNames("bn1.")
        for (k, s) in stages.enumerated() { s.prefixNames("layer\(k + 1).") }
        linear?.prefixNames("linear.")
    }

    /// Width of h: `featureDimension`, or 8w without a dense layer.
    public var outputFeatures: Int { linear?.outFeatures ?? baseWidth << 3 }

    public var parameters: [Parameter<Scalar>] {
        conv1.parameters + bn1.parameters + stages.flatMap(\.parameters) + (linear?.parameters ?? [])
    }
    public var buffers: [Buffer<Scalar>] { bn1.buffers + stages.flatMap(\.buffers) }
    /// The stem convolution.
    public var firstParametricLayer: (any Layer<Scalar>)? { conv1 }

    /// `[N, C, H, W]` → `[N, outputFeatures]`.
    /// - Throws: `LayerError.shapeMismatch` unless the rank is 4 with C channels and H, W ≥ 8.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let m = Self.minimumImageSize
        guard inputShape.count == 4, inputShape[1] == inputChannels, inputShape[2] >= m, inputShape[3] >= m else {
            throw LayerError.shapeMismatch(layer: "ResNet", expected: "[N, \(inputChannels), H, W] with H, W ≥ \(m)",
                                           got: inputShape)
        }
        return [inputShape[0], outputFeatures]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        var x = bn1.forward(conv1.forward(input, training: training), training: training, residual: nil, relu: true)  // BN + ReLU
        for s in stages { x = s.forward(x, training: training) }
        x = pool.forward(x, training: training)
        return linear?.forward(x, training: training) ?? x
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        var g = linear?.backward(gradOutput) ?? gradOutput
        g = pool.backward(g)
        for s in stages.reversed() { g = s.backward(g) }
        return conv1.backward(bn1.backward(g))
    }
}
