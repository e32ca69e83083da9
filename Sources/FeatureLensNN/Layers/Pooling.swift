import FeatureLensNumerics

/// 2-D max pooling on NCHW images, PyTorch `nn.MaxPool2d(kernel, stride, padding)` semantics
/// (floor mode, dilation 1):
///
///     y[n, c, i, j] = max_{u < K_h, v < K_w} x[n, c, i·s_h − p_h + u, j·s_w − p_w + v]
///
/// x: `[N, C, H, W]` → y: `[N, C, H_out, W_out]`, H_out = ⌊(H + 2p_h − K_h)/s_h⌋ + 1. Padding
/// counts as −∞. Ties go to the first maximum in row-major window order; NaN propagates.
/// Backward routes dy to the recorded arg-max: dx[argmax] += dy.
public final class MaxPool2D<Scalar: TensorScalar>: Layer {
    /// (K_h, K_w).
    public let kernelSize: (height: Int, width: Int)
    /// (s_h, s_w).
    public let stride: (height: Int, width: Int)
    /// (p_h, p_w).
    public let padding: (height: Int, width: Int)

    private var argmax: [Int32] = []  // index within the input plane, per output element
    private var cachedInputShape: [Int]?

    /// - Parameters: stride defaults to the kernel size (PyTorch's default).
    /// - Throws: `LayerError.invalidConfiguration` if an extent or stride is not positive or the
    ///   padding is negative or more than half the kernel (PyTorch's rule).
    public init(kernelSize: (height: Int, width: Int), stride: (height: Int, width: Int)? = nil,
                padding: (height: Int, width: Int) = (0, 0)) throws {
        try requirePositive(kernelSize.height, "kernelSize.height", in: "MaxPool2D")
        try requirePositive(kernelSize.width, "kernelSize.width", in: "MaxPool2D")
        let s = stride ?? kernelSize
        try requirePositive(s.height, "stride.height", in: "MaxPool2D")
        try requirePositive(s.width, "stride.width", in: "MaxPool2D")
        guard padding.height >= 0, padding.width >= 0, 2 * padding.height <= kernelSize.height,
              2 * padding.width <= kernelSize.width else {
            throw LayerError.invalidConfiguration(layer: "MaxPool2D", field: "padding",
                                                  expected: "between 0 and half the kernel size", got: "\(padding)")
        }
        self.kernelSize = kernelSize
        self.stride = s
        self.padding = padding
    }

    /// Square kernel; stride defaults to the kernel size.
    /// - Throws: as the general initializer.
    public convenience init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) throws {
        try self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }

    public var parameters: [Parameter<Scalar>] { [] }

    /// `[N, C, H, W]` → `[N, C, H_out, W_out]`.
    /// - Throws: `LayerError.shapeMismatch` if the rank is not 4 or the padded image is smaller than the kernel.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[2] + 2 * padding.height >= kernelSize.height,
              inputShape[3] + 2 * padding.width >= kernelSize.width else {
            throw LayerError.shapeMismatch(layer: "MaxPool2D",
                                           expected: "[N, C, H, W] with H ≥ \(kernelSize.height - 2 * padding.height) and W ≥ \(kernelSize.width - 2 * padding.width)",
                                           got: inputShape)
        }
        return [inputShape[0], inputShape[1],
                (inputShape[2] + 2 * padding.height - kernelSize.height) / stride.height + 1,
                (inputShape[3] + 2 * padding.width - kernelSize.width) / stride.width + 1]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        let outShape: [Int]
        do { outShape = try outputShape(for: input.shape) } catch { preconditionFailure("\(error)") }
        cachedInputShape = input.shape
        let spec = ConvSpec(kh: kernelSize.height, kw: kernelSize.width, sh: stride.height, sw: stride.width,
                            ph: padding.height, pw: padding.width)
        let (y, argmax) = maxPool2DForward(input, outputShape: outShape, spec: spec)
        self.argmax = argmax
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let s = cachedInputShape else { preconditionFailure("MaxPool2D.backward called before forward") }
        precondition(gradOutput.count == argmax.count && gradOutput.rank == 4 && gradOutput.shape[0] == s[0],
                     "MaxPool2D.backward: gradient shape \(gradOutput.shape) does not match the forward output")
        return maxPool2DBackward(gradOutput, argmax: argmax, inputShape: s)
    }
}

/// Global average pooling over the spatial axes: `[N, C, H, W]` → `[N, C]`,
/// y[n, c] = (1/(H·W)) Σ_{i,j} x[n, c, i, j]; backward dx[n, c, i, j] = dy[n, c]/(H·W).
public final class GlobalAveragePool2D<Scalar: TensorScalar>: Layer {
    private var cachedInputShape: [Int]?

    public init() {}

    public var parameters: [Parameter<Scalar>] { [] }

    /// `[N, C, H, W]` → `[N, C]`. - Throws: `LayerError.shapeMismatch` unless rank 4 with H·W > 0.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[2] > 0, inputShape[3] > 0 else {
            throw LayerError.shapeMismatch(layer: "GlobalAveragePool2D", expected: "[N, C, H, W] with H, W > 0",
                                           got: inputShape)
        }
        return [inputShape[0], inputShape[1]]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        checkInputShape(self, input.shape)
        cachedInputShape = input.shape
        return globalAveragePoolForward(input)
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let s = cachedInputShape else { preconditionFailure("GlobalAveragePool2D.backward called before forward") }
        precondition(gradOutput.shape == [s[0], s[1]],
                     "GlobalAveragePool2D.backward: gradient shape \(gradOutput.shape), expected \([s[0], s[1]])")
        return globalAveragePoolBackward(gradOutput, inputShape: s)
    }
}
