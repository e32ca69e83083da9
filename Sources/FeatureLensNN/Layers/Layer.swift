import FeatureLensNumerics

/// A trainable tensor and its accumulated gradient. Reference type: layers own their
/// parameters and optimizers update them in place.
public final class Parameter<Scalar: TensorScalar> {
    /// Human-readable name, unique within a model (e.g. `"backbone.0.weight"`); used in checkpoints.
    public var name: String
    /// Current value.
    public var value: Tensor<Scalar>
    /// Gradient accumulated by `backward` calls since the last `zeroGradient()`; same shape as `value`.
    public var gradient: Tensor<Scalar>

    public init(name: String, value: Tensor<Scalar>) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
    }

    /// Resets the accumulated gradient to zero.
    public func zeroGradient() {
        setZero(&gradient)  // one memset
    }
}

/// Non-trainable state a layer keeps between calls and that a checkpoint must save, such as
/// the running mean and variance of `BatchNorm1D` (PyTorch calls these "buffers").
/// Optimizers never touch buffers; layers update them in `forward(_:training: true)`.
public final class Buffer<Scalar: TensorScalar> {
    /// Name, unique within a model (e.g. `"head.1.running_mean"`), as in a PyTorch `state_dict`.
    public var name: String
    /// Current value.
    public var value: Tensor<Scalar>

    public init(name: String, value: Tensor<Scalar>) {
        self.name = name
        self.value = value
    }
}

/// A differentiable layer with a hand-written backward pass next to its forward (llm.c style).
///
/// `forward` caches what `backward` needs; `backward(gradOutput)` returns ∂L/∂input and
/// **accumulates** (adds) parameter gradients into each `Parameter.gradient`. Call
/// `zeroGradients()` before each step. `backward` must follow the `forward` whose
/// activations it uses.
///
/// Shape errors in `forward`/`backward` are programmer errors and trap with a message naming
/// the layer and both shapes; call `outputShape(for:)` first to get a thrown `LayerError`
/// instead (e.g. when the input shape comes from a user's data file).
public protocol Layer<Scalar>: AnyObject {
    associatedtype Scalar: TensorScalar
    /// Computes the output and caches activations. `training` selects e.g. batch statistics.
    func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar>
    /// Given ∂L/∂output, returns ∂L/∂input and accumulates parameter gradients.
    func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar>
    /// Trainable parameters (empty for parameter-free layers).
    var parameters: [Parameter<Scalar>] { get }
    /// Non-trainable state saved in checkpoints (empty by default).
    var buffers: [Buffer<Scalar>] { get }
    /// The output shape for an input of shape `inputShape`.
    /// - Throws: `LayerError.shapeMismatch` naming the layer and the expected input shape.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// Whether `backward` computes ∂L/∂input. A trainer turns it off on the first layer with
    /// parameters, whose input gradient nobody reads. Default: always true (setting it is ignored);
    /// `Linear` and `Conv2D` honour it.
    var computesInputGradient: Bool { get set }
    /// The first layer with parameters in forward order, looking through containers
    /// (`Sequential`, `MLP`); nil if the layer has no parameters. Default: `self` when
    /// `parameters` is non-empty.
    var firstParametricLayer: (any Layer<Scalar>)? { get }
}

extension Layer {
    /// Resets every parameter's gradient to zero.
    public func zeroGradients() { for p in parameters { p.zeroGradient() } }

    /// No buffers by default.
    public var buffers: [Buffer<Scalar>] { [] }

    /// Default: the input gradient is always computed; setting this has no effect.
    public var computesInputGradient: Bool {
        get { true }
        set {}
    }

    /// Default: the layer itself if it has parameters, else nil.
    public var firstParametricLayer: (any Layer<Scalar>)? { parameters.isEmpty ? nil : self }

    /// Default: the layer preserves its input shape and accepts any shape.
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    /// Prepends `prefix` to the name of every parameter and buffer (containers call this
    /// with e.g. `"0."` or `"backbone."`, giving PyTorch `state_dict` names such as
    /// `"backbone.0.weight"`).
    public func prefixNames(_ prefix: String) {
        for p in parameters { p.name = prefix + p.name }
        for b in buffers { b.name = prefix + b.name }
    }

    /// Total number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Traps with the `LayerError` message if `layer` rejects `shape` (used by `forward`).
@inline(__always)
func checkInputShape<L: Layer>(_ layer: L, _ shape: [Int]) {
    do { _ = try layer.outputShape(for: shape) } catch { preconditionFailure("\(error)") }
}
