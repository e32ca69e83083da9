import FeatureLensNumerics

/// The two outputs of an `Encoder`.
public struct EncoderOutput<Scalar: TensorScalar> {
    /// Backbone features h `[N, …]` (what a linear probe usually reads).
    public var features: Tensor<Scalar>
    /// Embedding z `[N, p]`: the projection head's output, or h itself when there is no head.
    public var embedding: Tensor<Scalar>
}

/// A backbone f with an optional projection head g: h = f(x), z = g(h) (or z = h without a
/// head), as in SimCLR (Chen et al. 2020, §2.1). The contrastive loss reads z; probes can read
/// h or z.
///
/// Parameter and buffer names get the prefixes `"backbone."` and `"head."`
/// (e.g. `"backbone.0.weight"`, `"head.3.bias"`).
///
/// As a `Layer`, `forward` returns z and `backward` takes ∂L/∂z.
public final class Encoder<Scalar: TensorScalar>: Layer {
    /// f: input → h.
    public let backbone: any Layer<Scalar>
    /// g: h → z, or nil.
    public let head: (any Layer<Scalar>)?
    private var cachedFeatureShape: [Int]?

    /// Takes ownership of `backbone` and `head`, prefixing their names.
    /// Use `outputShape(for:)` to check that the head accepts the backbone's output.
    public init(backbone: any Layer<Scalar>, head: (any Layer<Scalar>)? = nil) {
        self.backbone = backbone
        self.head = head
        backbone.prefixNames("backbone.")
        head?.prefixNames("head.")
    }

    public var parameters: [Parameter<Scalar>] { backbone.parameters + (head?.parameters ?? []) }
    public var buffers: [Buffer<Scalar>] { backbone.buffers + (head?.buffers ?? []) }

    /// Shape of z for an input of `inputShape`.
    /// - Throws: the `LayerError` of the backbone or head that rejects its input.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let h = try backbone.outputShape(for: inputShape)
        return try head?.outputShape(for: h) ?? h
    }

    /// Shape of h for an input of `inputShape`. - Throws: the backbone's `LayerError`.
    public func featureShape(for inputShape: [Int]) throws -> [Int] { try backbone.outputShape(for: inputShape) }

    /// Computes h = f(x) and z = g(h) (z = h without a head), caching activations for `backward`.
    public func encode(_ input: Tensor<Scalar>, training: Bool) -> EncoderOutput<Scalar> {
        let h = backbone.forward(input, training: training)
        cachedFeatureShape = h.shape
        let z = head?.forward(h, training: training) ?? h
        return EncoderOutput(features: h, embedding: z)
    }

    /// Given ∂L/∂z (`[N, p]`, or nil if the loss ignores z) and optionally ∂L/∂h (shape of h),
    /// back-propagates through the head (if any) and the backbone, accumulating every
    /// parameter gradient; returns ∂L/∂x. Without a head, z = h and both gradients are summed.
    public func backward(gradEmbedding: Tensor<Scalar>?, gradFeatures: Tensor<Scalar>? = nil) -> Tensor<Scalar> {
        guard let hShape = cachedFeatureShape else { preconditionFailure("Encoder.backward called before encode") }
        var dh: Tensor<Scalar>?
        if let dz = gradEmbedding {
            dh = head?.backward(dz) ?? dz
        }
        if let extra = gradFeatures {
            precondition(extra.shape == hShape, "Encoder.backward: feature gradient shape \(extra.shape), expected \(hShape)")
            if dh == nil { dh = extra } else { dh! += extra }
        }
        return backbone.backward(dh ?? zerosTensor(hShape))
    }

    /// z = g(f(x)).
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        encode(input, training: training).embedding
    }

    /// Back-propagates ∂L/∂z only.
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        backward(gradEmbedding: gradOutput, gradFeatures: nil)
    }
}
