import FeatureLensNumerics

/// Layers applied in order, like PyTorch `nn.Sequential`: forward runs them first to last,
/// backward runs their backward passes last to first.
///
/// At construction every child's parameter and buffer names get the prefix `"i."` (its index),
/// so a Linear at index 2 owns `"2.weight"` and `"2.bias"`, matching a PyTorch `state_dict`.
///
/// A `Conv2D` directly followed by a `ReLU` is fused: the convolution applies the ReLU as it
/// writes its output and the ReLU's backward as it reads its gradient, which saves a pass over
/// the activations each way; the ReLU layer stays in `layers` (names and indices are unchanged)
/// and passes values through. The results are bit-identical to the unfused layers. The children
/// are meant to be called through the `Sequential`.
public final class Sequential<Scalar: TensorScalar>: Layer {
    /// The children, in order.
    public let layers: [any Layer<Scalar>]

    /// Takes ownership of `layers` and prefixes their names with their indices.
    public init(_ layers: [any Layer<Scalar>]) {
        self.layers = layers
        for (i, l) in layers.enumerated() { l.prefixNames("\(i).") }
        for (previous, next) in zip(layers, layers.dropFirst()) {
            if let conv = previous as? Conv2D<Scalar>, let relu = next as? ReLU<Scalar>, !relu.isFusedIntoPreviousLayer {
                conv.fusesReLU = true
                relu.isFusedIntoPreviousLayer = true
            }
        }
    }

    public var parameters: [Parameter<Scalar>] { layers.flatMap { $0.parameters } }
    public var buffers: [Buffer<Scalar>] { layers.flatMap { $0.buffers } }
    /// The first parametric layer of the first member layer that has parameters.
    public var firstParametricLayer: (any Layer<Scalar>)? {
        layers.first(where: { !$0.parameters.isEmpty }).flatMap { $0.firstParametricLayer }
    }

    /// Threads the shape through every child.
    /// - Throws: the first child's `LayerError`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        var s = inputShape
        for l in layers { s = try l.outputShape(for: s) }
        return s
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        var x = input
        for l in layers { x = l.forward(x, training: training) }
        return x
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        var g = gradOutput
        for l in layers.reversed() { g = l.backward(g) }
        return g
    }
}

/// Multi-layer perceptron: Linear(w₀→w₁), ReLU, Linear(w₁→w₂), ReLU, …, Linear(w_{k−1}→w_k),
/// with **no** activation after the last Linear. `[N, w₀]` → `[N, w_k]`.
///
/// Internally a `Sequential`, so parameters are named as in PyTorch
/// `nn.Sequential(Linear, ReLU, Linear, …)`: `"0.weight"`, `"0.bias"`, `"2.weight"`, ….
public final class MLP<Scalar: TensorScalar>: Layer {
    /// Layer widths [w₀, w₁, …, w_k] (input first).
    public let widths: [Int]
    /// The Linear/ReLU stack.
    public let body: Sequential<Scalar>

    /// - Parameters:
    ///   - widths: at least two positive widths, input first.
    ///   - bias: whether every Linear has a bias.
    ///   - weightInit, biasInit: initialization of every Linear (drawn layer by layer, weight then bias).
    /// - Throws: `LayerError.invalidConfiguration` if fewer than two widths or a width ≤ 0.
    public init(widths: [Int], bias: Bool = true, weightInit: WeightInitialization = .pytorchDefault,
                biasInit: BiasInitialization = .pytorchDefault, using generator: inout SeededGenerator) throws {
        guard widths.count >= 2 else {
            throw LayerError.invalidConfiguration(layer: "MLP", field: "widths", expected: "at least 2 widths (input, output)",
                                                  got: "\(widths)")
        }
        for w in widths { try requirePositive(w, "widths", in: "MLP") }
        self.widths = widths
        var layers: [any Layer<Scalar>] = []
        for i in 0..<(widths.count - 1) {
            if i > 0 { layers.append(ReLU<Scalar>()) }
            layers.append(try Linear<Scalar>(inFeatures: widths[i], outFeatures: widths[i + 1], bias: bias,
                                             weightInit: weightInit, biasInit: biasInit, using: &generator))
        }
        body = Sequential(layers)
    }

    public var parameters: [Parameter<Scalar>] { body.parameters }
    /// The body's first parametric layer (its first `Linear`).
    public var firstParametricLayer: (any Layer<Scalar>)? { body.firstParametricLayer }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try body.outputShape(for: inputShape) }
    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        body.forward(input, training: training)
    }
    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> { body.backward(gradOutput) }
}
