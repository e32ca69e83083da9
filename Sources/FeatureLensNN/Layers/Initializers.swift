import FeatureLensNumerics

/// How a weight tensor is initialized. Fans follow PyTorch's `_calculate_fan_in_and_fan_out`:
/// for a weight of shape `[out, in, k₁, k₂, …]`, fan_in = in·k₁·k₂⋯ and fan_out = out·k₁·k₂⋯
/// (a Linear weight `[out, in]` has fan_in = in, fan_out = out).
///
/// Every case draws its numbers in row-major order from the `SeededGenerator` passed to
/// `makeTensor`, so the same seed gives the same weights.
public enum WeightInitialization: Codable, Equatable, Sendable {
    /// I.i.d. N(0, σ²) with σ = `standardDeviation`. The theory's small initialization
    /// (Xue et al. 2023, §3 and SCIENCE.md §3) uses σ = ι = 1e-3.
    case gaussian(standardDeviation: Double)
    /// Kaiming/He normal (He et al. 2015, eq. 10), N(0, σ²) with σ = gain/√fan_in and
    /// gain = √(2/(1+a²)) for a leaky-ReLU slope a (a = 0: ReLU). PyTorch `kaiming_normal_`.
    case kaimingNormal(negativeSlope: Double)
    /// Kaiming/He uniform: U(−b, b) with b = gain·√(3/fan_in), gain as above. PyTorch
    /// `kaiming_uniform_`.
    case kaimingUniform(negativeSlope: Double)
    /// Xavier/Glorot normal (Glorot & Bengio 2010): N(0, σ²), σ = gain·√(2/(fan_in+fan_out)).
    case xavierNormal(gain: Double)
    /// Xavier/Glorot uniform: U(−b, b), b = gain·√(6/(fan_in+fan_out)).
    case xavierUniform(gain: Double)
    /// PyTorch's default for `nn.Linear` and `nn.Conv2d`: Kaiming uniform with a = √5,
    /// i.e. U(−1/√fan_in, 1/√fan_in).
    case pytorchDefault
    /// All zeros.
    case zeros

    /// A tensor of `shape` initialized by this rule.
    /// - Throws: `LayerError.invalidConfiguration` when the shape has rank < 2 for a
    ///   fan-based rule, a fan is zero, or the standard deviation/gain is negative or not finite.
    public func makeTensor<Scalar: TensorScalar>(
        shape: [Int], using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        switch self {
        case .zeros:
            return Tensor(zeros: shape)
        case let .gaussian(std):
            return try Initializers.gaussian(shape: shape, standardDeviation: std, using: &generator)
        case let .kaimingNormal(a):
            return try Initializers.kaimingNormal(shape: shape, negativeSlope: a, using: &generator)
        case let .kaimingUniform(a):
            return try Initializers.kaimingUniform(shape: shape, negativeSlope: a, using: &generator)
        case let .xavierNormal(gain):
            return try Initializers.xavierNormal(shape: shape, gain: gain, using: &generator)
        case let .xavierUniform(gain):
            return try Initializers.xavierUniform(shape: shape, gain: gain, using: &generator)
        case .pytorchDefault:
            return try Initializers.kaimingUniform(shape: shape, negativeSlope: 5.0.squareRoot(),
                                                   using: &generator)
        }
    }
}

/// How a bias vector is initialized.
public enum BiasInitialization: Codable, Equatable, Sendable {
    /// PyTorch's default for `nn.Linear`/`nn.Conv2d`: U(−1/√fan_in, 1/√fan_in) with the
    /// weight's fan_in.
    case pytorchDefault
    /// All zeros.
    case zeros
}

/// Weight initializers (free functions behind `WeightInitialization`).
public enum Initializers {
    /// (fan_in, fan_out) of a weight of shape `[out, in, k…]` (PyTorch convention).
    /// - Throws: `LayerError.invalidConfiguration` if the rank is below 2.
    public static func fans(of shape: [Int]) throws -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2 else {
            throw LayerError.invalidConfiguration(layer: "Initializers", field: "shape",
                                                  expected: "rank ≥ 2 ([out, in, …])", got: "\(shape)")
        }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Gain √(2/(1+a²)) of a leaky ReLU with negative slope a (PyTorch `calculate_gain`).
    public static func leakyReLUGain(negativeSlope a: Double) -> Double { (2 / (1 + a * a)).squareRoot() }

    /// I.i.d. N(0, σ²). - Throws: if σ < 0 or not finite.
    public static func gaussian<Scalar: TensorScalar>(
        shape: [Int], standardDeviation std: Double, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        try check(std, "standardDeviation")
        return Tensor(randomNormal: shape, mean: 0, standardDeviation: std, using: &generator)
    }

    /// I.i.d. U(−b, b). - Throws: if b < 0 or not finite.
    public static func uniform<Scalar: TensorScalar>(
        shape: [Int], bound b: Double, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        try check(b, "bound")
        return Tensor(randomUniform: shape, low: -b, high: b, using: &generator)
    }

    /// Kaiming/He normal, fan_in mode: σ = gain(a)/√fan_in.
    public static func kaimingNormal<Scalar: TensorScalar>(
        shape: [Int], negativeSlope a: Double = 0, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        let fanIn = try positiveFans(shape).fanIn
        return try gaussian(shape: shape, standardDeviation: leakyReLUGain(negativeSlope: a) / Double(fanIn).squareRoot(),
                            using: &generator)
    }

    /// Kaiming/He uniform, fan_in mode: b = gain(a)·√(3/fan_in). With a = √5 this is
    /// PyTorch's default Linear/Conv weight initialization, b = 1/√fan_in.
    public static func kaimingUniform<Scalar: TensorScalar>(
        shape: [Int], negativeSlope a: Double = 0, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        let fanIn = try positiveFans(shape).fanIn
        return try uniform(shape: shape, bound: leakyReLUGain(negativeSlope: a) * (3 / Double(fanIn)).squareRoot(),
                           using: &generator)
    }

    /// Xavier/Glorot normal: σ = gain·√(2/(fan_in+fan_out)).
    public static func xavierNormal<Scalar: TensorScalar>(
        shape: [Int], gain: Double = 1, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        let f = try positiveFans(shape)
        return try gaussian(shape: shape, standardDeviation: gain * (2 / Double(f.fanIn + f.fanOut)).squareRoot(),
                            using: &generator)
    }

    /// Xavier/Glorot uniform: b = gain·√(6/(fan_in+fan_out)).
    public static func xavierUniform<Scalar: TensorScalar>(
        shape: [Int], gain: Double = 1, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        let f = try positiveFans(shape)
        return try uniform(shape: shape, bound: gain * (6 / Double(f.fanIn + f.fanOut)).squareRoot(),
                           using: &generator)
    }

    /// A bias of `count` entries for a weight with fan_in `fanIn`.
    public static func bias<Scalar: TensorScalar>(
        count: Int, fanIn: Int, rule: BiasInitialization, using generator: inout SeededGenerator
    ) throws -> Tensor<Scalar> {
        switch rule {
        case .zeros: return Tensor(zeros: [count])
        case .pytorchDefault:
            let b = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
            return try uniform(shape: [count], bound: b, using: &generator)
        }
    }

    private static func positiveFans(_ shape: [Int]) throws -> (fanIn: Int, fanOut: Int) {
        let f = try fans(of: shape)
        guard f.fanIn > 0, f.fanOut > 0 else {
            throw LayerError.invalidConfiguration(layer: "Initializers", field: "shape",
                                                  expected: "non-zero fan_in and fan_out", got: "\(shape)")
        }
        return f
    }

    private static func check(_ v: Double, _ field: String) throws {
        guard v.isFinite, v >= 0 else {
            throw LayerError.invalidConfiguration(layer: "Initializers", field: field,
                                                  expected: "finite and ≥ 0", got: "\(v)")
        }
    }
}
