import FeatureLensNumerics

/// 2-D convolution (cross-correlation, as PyTorch `nn.Conv2d`, groups = 1, dilation = 1) on
/// NCHW images:
///
///     y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s_h − p_h + u, j·s_w − p_w + v]
///
/// x: `[N, C, H, W]`, W: `[O, C, K_h, K_w]`, b: `[O]`, y: `[N, O, H_out, W_out]` with
/// H_out = ⌊(H + 2p_h − K_h)/s_h⌋ + 1 (likewise W_out); out-of-range x are zeros (padding).
///
/// Implementation: im2col + GEMM, a chunk of samples at a time. With P = H_out·W_out and
/// K = C·K_h·K_w, a chunk of m samples has the column matrix `col` `[K, m·P]` (row (c, u, v),
/// column (n, i, j)), and
///
///     forward:  Yᵗ[O, m·P] = W[O, K] · col[K, m·P],   y[n, o, :] = Yᵗ[o, n·P ..< (n+1)·P] + b[o]
///     backward: dYᵗ[O, m·P] from dy;  dW_chunk[O, K] = dYᵗ · colᵀ;  db_chunk[o] = Σ dYᵗ[o, :]
///               dcol[K, m·P] = Wᵀ · dYᵗ;  dx = col2im(dcol)
///
/// then dW += dW_chunk and db += db_chunk for the chunks in order. The chunk holds about 1 MiB
/// of `col` (`chunkElements`), but at least 256 columns (`minimumChunkColumns`, for deep layers
/// with small planes), so the column matrix never leaves the cache: the whole-batch
/// matrix (58 MB for the second ConvNet layer at batch 1024) made every step stream it from
/// memory five times. The backward pass recomputes `col` from the cached input instead of
/// keeping it. Chunks run in parallel, each on one thread with its own workspace; the chunk
/// size depends only on K, P and the batch, so results do not depend on the thread count.
///
/// A 3×3 convolution with stride 1 and padding 1 and at least 8 input and output channels
/// (ResNet-18's, but not its stem on grey images) uses Winograd's F(2×2, 3×3) instead: 16 GEMMs
/// over 4×4 transformed tiles with 2.25× fewer multiplications (Lavin & Gray, CVPR 2016;
/// `WinogradConvolution` in FeatureLensNumerics, error bounds in docs/NUMERICS.md).
public final class Conv2D<Scalar: TensorScalar>: Layer {
    /// C.
    public let inChannels: Int
    /// O.
    public let outChannels: Int
    /// (K_h, K_w).
    public let kernelSize: (height: Int, width: Int)
    /// (s_h, s_w).
    public let stride: (height: Int, width: Int)
    /// (p_h, p_w): zero padding on each side.
    public let padding: (height: Int, width: Int)
    /// W: `[O, C, K_h, K_w]`.
    public let weight: Parameter<Scalar>
    /// b: `[O]`, or nil.
    public let bias: Parameter<Scalar>?

    /// Whether `backward` computes ∂L/∂x. Set it to false on a first layer whose input
    /// gradient nobody reads (the `Trainer` does, during `run`): `backward` then skips
    /// Wᵀ·dYᵗ and col2im and returns zeros of the input's shape. Parameter gradients are unaffected.
    public var computesInputGradient = true

    /// Whether the ReLU that follows this layer in a `Sequential` is applied here, as the output
    /// is written (forward) and as dy is read (backward), instead of in passes of its own; set
    /// by `Sequential` together with that ReLU's `isFusedIntoPreviousLayer`. The results are
    /// bit-identical to the separate layers.
    var fusesReLU = false
    /// The output of the last forward pass with the fused ReLU (its backward mask).
    private var fusedOutput: Tensor<Scalar>?

    private var engine: ConvolutionEngine<Scalar>

    /// The algorithm of the forward and backward passes (default: Winograd where it applies and
    /// pays, see the type's description). Setting it starts a new engine: call it between a
    /// backward pass and the next forward pass. Winograd requires a 3×3 kernel, stride 1 and
    /// padding 1.
    var convolutionAlgorithm: ConvolutionAlgorithm {
        get { engine.algorithm }
        set {
            engine = ConvolutionEngine(inChannels: inChannels, outChannels: outChannels, spec: engine.spec,
                                       algorithm: newValue)
        }
    }

    /// - Parameters: square or rectangular kernel, stride (default 1) and padding (default 0);
    ///   weights by `weightInit` (default PyTorch's Kaiming-uniform a = √5, fan_in = C·K_h·K_w),
    ///   bias by `biasInit`, drawn weight then bias from `generator`.
    /// - Throws: `LayerError.invalidConfiguration` if a channel count, kernel extent or stride
    ///   is not positive or a padding is negative.
    public init(inChannels: Int, outChannels: Int, kernelSize: (height: Int, width: Int),
                stride: (height: Int, width: Int) = (1, 1), padding: (height: Int, width: Int) = (0, 0),
                bias: Bool = true, weightInit: WeightInitialization = .pytorchDefault,
                biasInit: BiasInitialization = .pytorchDefault, using generator: inout SeededGenerator) throws {
        try requirePositive(inChannels, "inChannels", in: "Conv2D")
        try requirePositive(outChannels, "outChannels", in: "Conv2D")
        try requirePositive(kernelSize.height, "kernelSize.height", in: "Conv2D")
        try requirePositive(kernelSize.width, "kernelSize.width", in: "Conv2D")
        try requirePositive(stride.height, "stride.height", in: "Conv2D")
        try requirePositive(stride.width, "stride.width", in: "Conv2D")
        guard padding.height >= 0, padding.width >= 0 else {
            throw LayerError.invalidConfiguration(layer: "Conv2D", field: "padding", expected: "≥ 0",
                                                  got: "\(padding)")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        engine = ConvolutionEngine(inChannels: inChannels, outChannels: outChannels,
                                   spec: ConvSpec(kh: kernelSize.height, kw: kernelSize.width, sh: stride.height,
                                                  sw: stride.width, ph: padding.height, pw: padding.width))
        let shape = [outChannels, inChannels, kernelSize.height, kernelSize.width]
        let w: Tensor<Scalar> = try weightInit.makeTensor(shape: shape, using: &generator)
        weight = Parameter(name: "weight", value: w)
        if bias {
            let b: Tensor<Scalar> = try Initializers.bias(count: outChannels, fanIn: inChannels * kernelSize.height * kernelSize.width,
                                                          rule: biasInit, using: &generator)
            self.bias = Parameter(name: "bias", value: b)
        } else {
            self.bias = nil
        }
    }

    /// Square kernel, stride and padding.
    /// - Throws: as the general initializer.
    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true, weightInit: WeightInitialization = .pytorchDefault,
                            biasInit: BiasInitialization = .pytorchDefault, using generator: inout SeededGenerator) throws {
        try self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize),
                      stride: (stride, stride), padding: (padding, padding), bias: bias, weightInit: weightInit,
                      biasInit: biasInit, using: &generator)
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    /// How the engine cuts a batch of `n` samples into chunks (K = `k`, P = `p`).
    func chunkPlan(n: Int, k: Int, p: Int) -> ConvolutionEngine<Scalar>.ChunkPlan { engine.chunkPlan(n: n, k: k, p: p) }

    /// `[N, C, H, W]` → `[N, O, H_out, W_out]`.
    /// - Throws: `LayerError.shapeMismatch` if the rank or C differs or the padded image is
    ///   smaller than the kernel.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[1] == inChannels,
              inputShape[2] + 2 * padding.height >= kernelSize.height,
              inputShape[3] + 2 * padding.width >= kernelSize.width else {
            throw LayerError.shapeMismatch(
                layer: "Conv2D", expected: "[N, \(inChannels), H, W] with H + 2·\(padding.height) ≥ \(kernelSize.height) and W + 2·\(padding.width) ≥ \(kernelSize.width)",
                got: inputShape)
        }
        return [inputShape[0], outChannels,
                (inputShape[2] + 2 * padding.height - kernelSize.height) / stride.height + 1,
                (inputShape[3] + 2 * padding.width - kernelSize.width) / stride.width + 1]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        let outShape: [Int]
        do { outShape = try outputShape(for: input.shape) } catch { preconditionFailure("\(error)") }
        let y = engine.forward(input, outputShape: outShape, weight: weight.value, bias: bias?.value, relu: fusesReLU)
        fusedOutput = fusesReLU ? y : nil
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        if let b = bias {
            return engine.backward(gradOutput, weight: weight.value, weightGradient: &weight.gradient,
                                   biasGradient: &b.gradient, hasBias: true, computesInputGradient: computesInputGradient,
                                   reluOutput: fusedOutput)
        }
        var noBias = Tensor<Scalar>(shape: [0], scalars: [])
        return engine.backward(gradOutput, weight: weight.value, weightGradient: &weight.gradient,
                               biasGradient: &noBias, hasBias: false, computesInputGradient: computesInputGradient,
                               reluOutput: fusedOutput)
    }
}
