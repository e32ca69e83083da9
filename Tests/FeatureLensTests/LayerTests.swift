import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

// MARK: - Finite-difference checks (Double, relative error ≤ 1e-6)

private let fdTolerance = 1e-6

private func expectGradients(_ layer: any Layer<Double>, _ input: Tensor<Double>, training: Bool = true,
                             step: Double = 1e-5, _ label: String) {
    let report = GradientCheck.check(layer: layer, input: input, training: training, step: step)
    #expect(report.maxError <= fdTolerance, "\(label): \(report)")
    #expect(report.parameterErrors.count == layer.parameters.count)
}

private func randomInput(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    GradientCheck.randomTensor(shape, seed: seed)
}

/// Sets every parameter to random N(0, 0.5²) values (so e.g. BatchNorm's γ, β are not 1, 0).
private func randomizeParameters(_ layer: any Layer<Double>, seed: UInt64) {
    var g = SeededGenerator(seed: seed)
    for p in layer.parameters { p.value = Tensor(randomNormal: p.value.shape, standardDeviation: 0.5, using: &g) }
}

@Suite struct LayerGradientTests {
    @Test(arguments: [(1, 3, 2, true), (5, 7, 4, false), (4, 1, 1, true), (3, 6, 5, true)])
    func linear(n: Int, inF: Int, outF: Int, bias: Bool) throws {
        var g = SeededGenerator(seed: 1)
        let layer = try Linear<Double>(inFeatures: inF, outFeatures: outF, bias: bias, using: &g)
        expectGradients(layer, randomInput([n, inF], seed: 2), "Linear \(n)×\(inF)→\(outF) bias \(bias)")
    }

    @Test(arguments: [[1, 5], [3, 7], [2, 3, 3, 3]])
    func relu(shape: [Int]) {
        expectGradients(ReLU<Double>(), randomInput(shape, seed: 3), "ReLU \(shape)")
    }

    @Test(arguments: [[3, 5, 2], [4, 6, 6, 3], [2, 1]])
    func mlp(widths: [Int]) throws {
        var g = SeededGenerator(seed: 4)
        let layer = try MLP<Double>(widths: widths, using: &g)
        for n in [1, 5] {
            expectGradients(layer, randomInput([n, widths[0]], seed: 5), "MLP \(widths) batch \(n)")
        }
    }

    @Test(arguments: [[1, 3], [5, 7], [2, 1]])
    func l2Normalize(shape: [Int]) throws {
        expectGradients(try L2Normalize<Double>(), randomInput(shape, seed: 6), "L2Normalize \(shape)")
    }

    struct ConvCase: Sendable, CustomStringConvertible {
        var n, c, h, w, o, kh, kw, sh, sw, ph, pw: Int
        var bias: Bool
        var description: String { "N\(n) C\(c) \(h)×\(w) → O\(o) k\(kh)×\(kw) s\(sh)×\(sw) p\(ph)×\(pw) bias \(bias)" }
    }

    @Test(arguments: [
        ConvCase(n: 1, c: 1, h: 5, w: 5, o: 2, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0, bias: true),
        ConvCase(n: 3, c: 2, h: 7, w: 6, o: 3, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, bias: true),
        ConvCase(n: 2, c: 3, h: 6, w: 5, o: 2, kh: 2, kw: 3, sh: 2, sw: 1, ph: 1, pw: 0, bias: false),
        ConvCase(n: 2, c: 2, h: 3, w: 4, o: 3, kh: 1, kw: 1, sh: 1, sw: 2, ph: 0, pw: 0, bias: true),
        ConvCase(n: 1, c: 1, h: 2, w: 3, o: 1, kh: 3, kw: 3, sh: 3, sw: 2, ph: 2, pw: 1, bias: true),
    ])
    func conv2D(_ k: ConvCase) throws {
        var g = SeededGenerator(seed: 7)
        let layer = try Conv2D<Double>(inChannels: k.c, outChannels: k.o, kernelSize: (k.kh, k.kw),
                                       stride: (k.sh, k.sw), padding: (k.ph, k.pw), bias: k.bias, using: &g)
        expectGradients(layer, randomInput([k.n, k.c, k.h, k.w], seed: 8), "Conv2D \(k)")
    }

    /// Conv2D 3×3, stride 1, padding 1 through Winograd F(2×2, 3×3): chosen by default with 16
    /// channels, set explicitly on fewer than 8; odd, even and 1×1 planes; with a fused ReLU.
    @Test(arguments: [(2, 16, 16, 3, 3, true), (3, 2, 3, 5, 5, true), (2, 3, 2, 4, 6, false), (2, 2, 2, 1, 1, true),
                      (1, 2, 3, 7, 7, false)])
    func conv2DWinograd(n: Int, c: Int, o: Int, h: Int, w: Int, bias: Bool) throws {
        var g = SeededGenerator(seed: 30)
        let layer = try Conv2D<Double>(inChannels: c, outChannels: o, kernelSize: 3, padding: 1, bias: bias, using: &g)
        if min(c, o) >= 8 { #expect(layer.convolutionAlgorithm == .winograd) }
        layer.convolutionAlgorithm = .winograd
        let label = "Winograd Conv2D N\(n) C\(c) \(h)×\(w) → O\(o) bias \(bias)"
        expectGradients(layer, randomInput([n, c, h, w], seed: 31), label)
        let fused = Sequential<Double>([layer, ReLU<Double>()])
        expectGradients(fused, randomInput([n, c, h, w], seed: 32), label + " + fused ReLU")
    }

    @Test func conv2DDefaultAlgorithm() throws {
        var g = SeededGenerator(seed: 33)
        #expect(try Conv2D<Float>(inChannels: 1, outChannels: 64, kernelSize: 3, padding: 1, using: &g).convolutionAlgorithm == .im2col)
        #expect(try Conv2D<Float>(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, using: &g).convolutionAlgorithm == .winograd)
        #expect(try Conv2D<Float>(inChannels: 8, outChannels: 16, kernelSize: 3, padding: 1, using: &g).convolutionAlgorithm == .winograd)
        #expect(try Conv2D<Float>(inChannels: 16, outChannels: 4, kernelSize: 3, padding: 1, using: &g).convolutionAlgorithm == .im2col)
        #expect(try Conv2D<Float>(inChannels: 64, outChannels: 128, kernelSize: 3, stride: 2, padding: 1, using: &g).convolutionAlgorithm == .im2col)
        #expect(try Conv2D<Float>(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 0, using: &g).convolutionAlgorithm == .im2col)
    }

    @Test func maxPool2D() throws {
        expectGradients(try MaxPool2D<Double>(kernelSize: 2), randomInput([1, 1, 4, 4], seed: 9), "MaxPool 2×2")
        expectGradients(try MaxPool2D<Double>(kernelSize: 3, stride: 2, padding: 1), randomInput([2, 3, 7, 5], seed: 10),
                        "MaxPool 3×3 s2 p1")
        expectGradients(try MaxPool2D<Double>(kernelSize: (2, 3), stride: (1, 2)), randomInput([3, 1, 3, 6], seed: 11),
                        "MaxPool 2×3 s1×2")
    }

    @Test(arguments: [[1, 1, 3, 3], [3, 2, 4, 5], [2, 3, 1, 1]])
    func globalAveragePool(shape: [Int]) {
        expectGradients(GlobalAveragePool2D<Double>(), randomInput(shape, seed: 12), "GlobalAveragePool2D \(shape)")
    }

    @Test(arguments: [[1, 2, 3], [3, 2, 2, 2]])
    func flatten(shape: [Int]) {
        expectGradients(Flatten<Double>(), randomInput(shape, seed: 13), "Flatten \(shape)")
    }

    @Test(arguments: [(2, 1), (5, 3), (7, 4)])
    func batchNormTraining(n: Int, f: Int) throws {
        let layer = try BatchNorm1D<Double>(featureCount: f)
        randomizeParameters(layer, seed: 14)
        // With N = 2 every x̂ is ±√(σ²/(σ²+ε)) whatever x, so ∂L/∂x is O(ε/σ²) ≈ 1e-5 while L is O(1):
        // the rounding error ε_mach·|L|/h of the difference quotient needs the larger step h = 1e-4.
        expectGradients(layer, randomInput([n, f], seed: 15), step: n == 2 ? 1e-4 : 1e-5, "BatchNorm1D train \(n)×\(f)")
    }

    @Test(arguments: [(1, 4), (3, 2)])
    func batchNormEval(n: Int, f: Int) throws {
        let layer = try BatchNorm1D<Double>(featureCount: f)
        randomizeParameters(layer, seed: 16)
        layer.runningMean.value = randomInput([f], seed: 17)
        layer.runningVariance.value = randomInput([f], seed: 18).map { $0 * $0 + 0.5 }
        expectGradients(layer, randomInput([n, f], seed: 19), training: false, "BatchNorm1D eval \(n)×\(f)")
    }

    @Test func projectionHead() throws {
        var g = SeededGenerator(seed: 20)
        let withBN = try ProjectionHead<Double>(inputDimension: 5, hiddenDimension: 7, outputDimension: 3,
                                                batchNorm: true, using: &g)
        expectGradients(withBN, randomInput([3, 5], seed: 21), "ProjectionHead BN")
        let plain = try ProjectionHead<Double>(inputDimension: 4, hiddenDimension: 6, outputDimension: 2,
                                               batchNorm: false, using: &g)
        expectGradients(plain, randomInput([1, 4], seed: 22), "ProjectionHead plain batch 1")
    }

    @Test func sequentialConvNet() throws {
        var g = SeededGenerator(seed: 23)
        let net = Sequential<Double>([
            try Conv2D<Double>(inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, using: &g),
            ReLU<Double>(),
            try MaxPool2D<Double>(kernelSize: 2),
            Flatten<Double>(),
            try Linear<Double>(inFeatures: 12, outFeatures: 5, using: &g),
            try L2Normalize<Double>(),
        ])
        #expect(try net.outputShape(for: [2, 2, 9, 8]) == [2, 5])
        expectGradients(net, randomInput([2, 2, 9, 8], seed: 24), "Sequential conv net")
    }

    /// Encoder with both gradients: L = Σ z ⊙ Wz + Σ h ⊙ Wh.
    @Test(arguments: [true, false])
    func encoderBothOutputs(withHead: Bool) throws {
        var g = SeededGenerator(seed: 25)
        let backbone = Sequential<Double>([
            try Conv2D<Double>(inChannels: 1, outChannels: 2, kernelSize: 3, stride: 2, padding: 1, using: &g),
            ReLU<Double>(), Flatten<Double>(),
        ])
        let head: (any Layer<Double>)? = withHead
            ? try ProjectionHead<Double>(inputDimension: 18, hiddenDimension: 6, outputDimension: 4, batchNorm: true, using: &g)
            : nil
        let encoder = Encoder(backbone: backbone, head: head)
        let x = randomInput([3, 1, 5, 6], seed: 26)
        let out = encoder.encode(x, training: true)
        let wz = randomInput(out.embedding.shape, seed: 27), wh = randomInput(out.features.shape, seed: 28)
        encoder.zeroGradients()
        let dx = encoder.backward(gradEmbedding: wz, gradFeatures: wh)
        let analytic = encoder.parameters.map(\.gradient)
        let loss = { (x: Tensor<Double>) -> Double in
            let o = encoder.encode(x, training: true)
            return GradientCheck.dot(o.embedding, wz) + GradientCheck.dot(o.features, wh)
        }
        let dxError = GradientCheck.relativeError(dx, GradientCheck.numericalGradient(at: x, loss))
        #expect(dxError <= fdTolerance, "Encoder dx \(dxError)")
        for (p, grad) in zip(encoder.parameters, analytic) {
            let numeric = GradientCheck.numericalGradient(of: p.value, set: { p.value = $0 }) { loss(x) }
            let e = GradientCheck.relativeError(grad, numeric)
            #expect(e <= fdTolerance, "Encoder \(p.name): \(e)")
        }
    }
}

// MARK: - PyTorch golden fixtures (Float, relative error ≤ 1e-4)

private let goldenTolerance = 1e-4

enum FixtureError: Error, CustomStringConvertible {
    case missing(String), malformed(file: String, field: String)
    var description: String {
        switch self {
        case .missing(let f): return "fixture \(f) not found in the test bundle"
        case let .malformed(file, field): return "fixture \(file): field \(field) missing or malformed"
        }
    }
}

struct LayerFixture {
    let name: String
    let json: [String: Any]

    init(_ name: String) throws {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { throw FixtureError.missing(name) }
        let url = dir.appendingPathComponent("golden/layers/\(name).json")
        guard let data = try? Data(contentsOf: url) else { throw FixtureError.missing(url.path) }
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError.malformed(file: name, field: "<root>")
        }
        self.name = name
        json = obj
    }

    static func tensor(_ any: Any?, _ file: String, _ field: String) throws -> Tensor<Float> {
        guard let d = any as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [Double],
              shape.reduce(1, *) == data.count else { throw FixtureError.malformed(file: file, field: field) }
        return Tensor(shape: shape, scalars: data.map { Float($0) })
    }

    func tensor(_ field: String) throws -> Tensor<Float> { try Self.tensor(json[field], name, field) }

    func tensors(_ field: String) throws -> [String: Tensor<Float>] {
        guard let d = json[field] as? [String: Any] else { throw FixtureError.malformed(file: name, field: field) }
        var out: [String: Tensor<Float>] = [:]
        for (k, v) in d { out[k] = try Self.tensor(v, name, "\(field).\(k)") }
        return out
    }

    var layer: [String: Any] { json["layer"] as? [String: Any] ?? [:] }
    var training: Bool { json["training"] as? Bool ?? true }
}

private func pair(_ any: Any?) -> (Int, Int) {
    let a = any as? [Int] ?? [0, 0]
    return (a[0], a[1])
}

/// Builds the Float layer a fixture describes (PyTorch's parameter values are loaded afterwards).
private func makeLayer(_ c: [String: Any]) throws -> any Layer<Float> {
    var g = SeededGenerator(seed: 0)
    switch c["type"] as? String {
    case "linear":
        return try Linear<Float>(inFeatures: c["in"] as! Int, outFeatures: c["out"] as! Int, bias: c["bias"] as! Bool, using: &g)
    case "relu": return ReLU<Float>()
    case "mlp": return try MLP<Float>(widths: c["widths"] as! [Int], bias: c["bias"] as! Bool, using: &g)
    case "l2normalize": return try L2Normalize<Float>(epsilon: Float(c["epsilon"] as! Double))
    case "conv2d":
        return try Conv2D<Float>(inChannels: c["in"] as! Int, outChannels: c["out"] as! Int, kernelSize: pair(c["kernel"]),
                                 stride: pair(c["stride"]), padding: pair(c["padding"]), bias: c["bias"] as! Bool, using: &g)
    case "maxpool2d":
        return try MaxPool2D<Float>(kernelSize: pair(c["kernel"]), stride: pair(c["stride"]), padding: pair(c["padding"]))
    case "global_avgpool": return GlobalAveragePool2D<Float>()
    case "flatten": return Flatten<Float>()
    case "batchnorm1d":
        return try BatchNorm1D<Float>(featureCount: c["features"] as! Int, epsilon: Float(c["epsilon"] as! Double),
                                      momentum: Float(c["momentum"] as! Double))
    case "batchnorm2d":
        return try BatchNorm2D<Float>(channelCount: c["channels"] as! Int, epsilon: Float(c["epsilon"] as! Double),
                                      momentum: Float(c["momentum"] as! Double))
    case "basic_block":
        return try BasicBlock<Float>(inChannels: c["in"] as! Int, outChannels: c["out"] as! Int, stride: c["stride"] as! Int,
                                     using: &g)
    case "projection_head":
        return try ProjectionHead<Float>(inputDimension: c["in"] as! Int, hiddenDimension: c["hidden"] as! Int,
                                         outputDimension: c["out"] as! Int, batchNorm: c["batchnorm"] as! Bool, using: &g)
    case "encoder_conv":
        let ch = c["channels"] as! [Int]
        var layers: [any Layer<Float>] = []
        for i in 0..<(ch.count - 1) {
            layers.append(try Conv2D<Float>(inChannels: ch[i], outChannels: ch[i + 1], kernelSize: 3, stride: 2, padding: 1, using: &g))
            layers.append(ReLU<Float>())
        }
        layers.append(Flatten<Float>())
        let h = c["head"] as! [String: Any]
        let head = try ProjectionHead<Float>(inputDimension: h["in"] as! Int, hiddenDimension: h["hidden"] as! Int,
                                             outputDimension: h["out"] as! Int, batchNorm: h["batchnorm"] as! Bool, using: &g)
        return Encoder(backbone: Sequential(layers), head: head)
    case "encoder_mlp":
        return Encoder<Float>(backbone: try MLP<Float>(widths: c["widths"] as! [Int], using: &g), head: nil)
    default:
        throw FixtureError.malformed(file: "?", field: "layer.type")
    }
}

private func expectClose(_ actual: Tensor<Float>, _ expected: Tensor<Float>, _ label: String) {
    #expect(actual.shape == expected.shape, "\(label): shape \(actual.shape) vs \(expected.shape)")
    guard actual.shape == expected.shape else { return }
    let e = GradientCheck.relativeError(actual, expected)
    #expect(e <= goldenTolerance, "\(label): relative error \(e)")
}

@Suite struct LayerGoldenTests {
    static let cases = ["linear_bias", "linear_nobias", "relu", "mlp", "l2normalize", "conv2d_s2p1", "conv2d_rect_nobias",
                        "maxpool2d", "maxpool2d_pad", "global_avgpool", "flatten", "batchnorm1d_train",
                        "batchnorm1d_eval", "projection_head_bn", "projection_head", "encoder_conv_head",
                        "encoder_mlp_nohead", "batchnorm2d_train", "batchnorm2d_eval", "batchnorm2d_momentum",
                        "basic_block_identity", "basic_block_projection", "basic_block_eval"]

    @Test(arguments: cases)
    func matchesPyTorch(_ name: String) throws {
        let fx = try LayerFixture(name)
        let layer = try makeLayer(fx.layer)
        // Load PyTorch's parameter and buffer values by state_dict name; the names must match exactly.
        let params = try fx.tensors("parameters"), buffers = try fx.tensors("buffers")
        #expect(Set(layer.parameters.map(\.name)) == Set(params.keys), "\(name): parameter names")
        #expect(Set(layer.buffers.map(\.name)) == Set(buffers.keys), "\(name): buffer names")
        for p in layer.parameters {
            let v = try #require(params[p.name], "\(name): no value for \(p.name)")
            #expect(v.shape == p.value.shape, "\(name): \(p.name) shape")
            p.value = v
        }
        for b in layer.buffers { b.value = try #require(buffers[b.name]) }
        let x = try fx.tensor("input")
        layer.zeroGradients()
        let dx: Tensor<Float>
        if let encoder = layer as? Encoder<Float> {
            let out = encoder.encode(x, training: fx.training)
            expectClose(out.features, try fx.tensor("features"), "\(name) h")
            expectClose(out.embedding, try fx.tensor("embedding"), "\(name) z")
            dx = encoder.backward(gradEmbedding: try fx.tensor("grad_embedding"), gradFeatures: try fx.tensor("grad_features"))
        } else {
            let y = layer.forward(x, training: fx.training)
            expectClose(y, try fx.tensor("output"), "\(name) output")
            dx = layer.backward(try fx.tensor("grad_output"))
        }
        expectClose(dx, try fx.tensor("grad_input"), "\(name) grad_input")
        let grads = try fx.tensors("parameter_grads")
        for p in layer.parameters {
            expectClose(p.gradient, try #require(grads[p.name]), "\(name) grad \(p.name)")
        }
        let after = try fx.tensors("buffers_after")
        for b in layer.buffers {
            expectClose(b.value, try #require(after[b.name]), "\(name) buffer \(b.name) after forward")
        }
    }
}

// MARK: - Behaviour and errors

@Suite struct LayerBehaviourTests {
    @Test func parameterNamesFollowPyTorch() throws {
        var g = SeededGenerator(seed: 1)
        let backbone = try MLP<Float>(widths: [4, 8, 6], using: &g)
        let head = try ProjectionHead<Float>(inputDimension: 6, hiddenDimension: 5, outputDimension: 3, batchNorm: true, using: &g)
        let e = Encoder(backbone: backbone, head: head)
        #expect(e.parameters.map(\.name) == ["backbone.0.weight", "backbone.0.bias", "backbone.2.weight", "backbone.2.bias",
                                             "head.0.weight", "head.1.weight", "head.1.bias", "head.3.weight", "head.3.bias"])
        #expect(e.buffers.map(\.name) == ["head.1.running_mean", "head.1.running_var"])
        #expect(try e.outputShape(for: [7, 4]) == [7, 3])
        #expect(try e.featureShape(for: [7, 4]) == [7, 6])
    }

    @Test func encoderWithoutHeadSumsGradients() throws {
        var g = SeededGenerator(seed: 2)
        let lin = try Linear<Double>(inFeatures: 3, outFeatures: 2, using: &g)
        let e = Encoder<Double>(backbone: lin, head: nil)
        let x = GradientCheck.randomTensor([4, 3], seed: 3)
        let out = e.encode(x, training: true)
        #expect(out.features == out.embedding)
        let a = GradientCheck.randomTensor([4, 2], seed: 4), b = GradientCheck.randomTensor([4, 2], seed: 5)
        let dxBoth = e.backward(gradEmbedding: a, gradFeatures: b)
        _ = e.encode(x, training: true)
        let dxSum = e.backward(gradEmbedding: a + b, gradFeatures: nil)
        #expect(GradientCheck.relativeError(dxBoth, dxSum) < 1e-15)
    }

    @Test func gradientsAccumulateUntilZeroed() throws {
        var g = SeededGenerator(seed: 6)
        let lin = try Linear<Double>(inFeatures: 3, outFeatures: 2, using: &g)
        let x = GradientCheck.randomTensor([2, 3], seed: 7), w = GradientCheck.randomTensor([2, 2], seed: 8)
        _ = lin.forward(x, training: true); _ = lin.backward(w)
        let once = lin.weight.gradient
        _ = lin.forward(x, training: true); _ = lin.backward(w)
        #expect(GradientCheck.relativeError(lin.weight.gradient, once * 2) < 1e-15)
        lin.zeroGradients()
        #expect(lin.weight.gradient.norm() == 0 && lin.bias!.gradient.norm() == 0)
    }

    @Test func l2NormalizeZeroRowIsFinite() throws {
        let layer = try L2Normalize<Float>()
        let x = Tensor<Float>(rows: [[0, 0, 0], [3, 4, 0]])
        let y = layer.forward(x, training: true)
        #expect(y.row(0) == [0, 0, 0])
        #expect(abs(y[1, 0] - 0.6) < 1e-7 && abs(y[1, 1] - 0.8) < 1e-7)
        let dx = layer.backward(Tensor(rows: [[1e-13, 0, 0], [1, 0, 0]]))
        #expect(dx.scalars.allSatisfy { $0.isFinite })
        #expect(abs(dx[0, 0] - 0.1) < 1e-6)  // dy/ε, PyTorch's convention
    }

    @Test func batchNormRunningStatisticsAndEval() throws {
        let bn = try BatchNorm1D<Double>(featureCount: 1, momentum: 0.5)
        let x = Tensor<Double>(shape: [4, 1], scalars: [1, 2, 3, 6])  // mean 3, biased var 3.5, unbiased 14/3
        let y = bn.forward(x, training: true)
        #expect(abs(bn.runningMean.value.scalars[0] - 1.5) < 1e-12)
        #expect(abs(bn.runningVariance.value.scalars[0] - (0.5 + 0.5 * 14.0 / 3.0)) < 1e-12)
        #expect(abs(y.scalars[3] - 3 / (3.5 + 1e-5).squareRoot()) < 1e-12)
        let e = bn.forward(Tensor(shape: [1, 1], scalars: [1.5]), training: false)
        #expect(abs(e.scalars[0]) < 1e-12)
    }

    @Test func convMatchesDirectLoopAndIsThreadCountInvariant() throws {
        var g = SeededGenerator(seed: 30)
        let conv = try Conv2D<Float>(inChannels: 3, outChannels: 5, kernelSize: 3, stride: 2, padding: 1, using: &g)
        let x = Tensor<Float>(randomNormal: [9, 3, 11, 10], using: &g)
        let dy = Tensor<Float>(randomNormal: try conv.outputShape(for: x.shape), using: &g)
        func run(threads: Int) -> (Tensor<Float>, Tensor<Float>, Tensor<Float>) {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            conv.zeroGradients()
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            return (y, dx, conv.weight.gradient)
        }
        let one = run(threads: 1), two = run(threads: 2)
        #expect(one.0 == two.0 && one.1 == two.1 && one.2 == two.2)
        // Direct definition of the convolution for a few outputs.
        let w = conv.weight.value, b = conv.bias!.value
        for (n, o, i, j) in [(0, 0, 0, 0), (8, 4, 5, 4), (3, 2, 2, 1)] {
            var s = Double(b.scalars[o])
            for c in 0..<3 { for u in 0..<3 { for v in 0..<3 {
                let ih = i * 2 - 1 + u, iw = j * 2 - 1 + v
                guard ih >= 0, ih < 11, iw >= 0, iw < 10 else { continue }
                s += Double(w.scalars[((o * 3 + c) * 3 + u) * 3 + v]) * Double(x.scalars[((n * 3 + c) * 11 + ih) * 10 + iw])
            } } }
            #expect(abs(Double(one.0.scalars[((n * 5 + o) * 6 + i) * 5 + j]) - s) < 1e-5)
        }
    }

    @Test func invalidConfigurationsThrow() throws {
        var g = SeededGenerator(seed: 1)
        #expect(throws: LayerError.self) { try Linear<Float>(inFeatures: 0, outFeatures: 3, using: &g) }
        #expect(throws: LayerError.self) { try MLP<Float>(widths: [3], using: &g) }
        #expect(throws: LayerError.self) { try Conv2D<Float>(inChannels: 1, outChannels: 2, kernelSize: 3, stride: 0, using: &g) }
        #expect(throws: LayerError.self) { try MaxPool2D<Float>(kernelSize: 2, padding: 2) }
        #expect(throws: LayerError.self) { try BatchNorm1D<Float>(featureCount: 4, momentum: 1.5) }
        #expect(throws: LayerError.self) { try L2Normalize<Float>(epsilon: 0) }
        do {
            _ = try Conv2D<Float>(inChannels: 1, outChannels: 2, kernelSize: 3, stride: 0, using: &g)
        } catch {
            #expect("\(error)" == "Conv2D: stride.height must be > 0, got 0")
        }
    }

    @Test func shapeMismatchesThrowFromOutputShape() throws {
        var g = SeededGenerator(seed: 1)
        let conv = try Conv2D<Float>(inChannels: 3, outChannels: 2, kernelSize: 3, using: &g)
        #expect(throws: LayerError.self) { try conv.outputShape(for: [2, 1, 8, 8]) }
        #expect(throws: LayerError.self) { try conv.outputShape(for: [2, 3, 2, 8]) }
        #expect(try conv.outputShape(for: [2, 3, 8, 5]) == [2, 2, 6, 3])
        let lin = try Linear<Float>(inFeatures: 4, outFeatures: 2, using: &g)
        #expect(throws: LayerError.self) { try lin.outputShape(for: [2, 5]) }
        let net = Sequential<Float>([conv, Flatten<Float>(), lin])
        #expect(throws: LayerError.self) { try net.outputShape(for: [2, 3, 8, 8]) }  // 2·6·6 = 72 ≠ 4
    }
}

// MARK: - Initializers

@Suite struct InitializerTests {
    private func stats(_ t: Tensor<Double>) -> (mean: Double, std: Double, maxAbs: Double) {
        let m = t.mean()
        let v = t.scalars.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(t.count)
        return (m, v.squareRoot(), t.scalars.map(abs).max() ?? 0)
    }

    @Test func spreadsMatchTheirFormulas() throws {
        var g = SeededGenerator(seed: 42)
        let shape = [200, 50, 3, 3]  // fan_in 450, fan_out 1800
        let fanIn = 450.0, fanOut = 1800.0
        let cases: [(WeightInitialization, Double, Double?)] = [
            (.gaussian(standardDeviation: 1e-3), 1e-3, nil),
            (.kaimingNormal(negativeSlope: 0), (2 / fanIn).squareRoot(), nil),
            (.kaimingUniform(negativeSlope: 0), (2 / fanIn).squareRoot(), (6 / fanIn).squareRoot()),
            (.pytorchDefault, 1 / (3 * fanIn).squareRoot(), 1 / fanIn.squareRoot()),
            (.xavierNormal(gain: 1), (2 / (fanIn + fanOut)).squareRoot(), nil),
            (.xavierUniform(gain: 2), 2 * (2 / (fanIn + fanOut)).squareRoot(), 2 * (6 / (fanIn + fanOut)).squareRoot()),
        ]
        for (rule, std, bound) in cases {
            let t: Tensor<Double> = try rule.makeTensor(shape: shape, using: &g)
            let s = stats(t)
            #expect(abs(s.std / std - 1) < 0.02, "\(rule): std \(s.std), expected \(std)")
            #expect(abs(s.mean) < 0.05 * std, "\(rule): mean \(s.mean)")
            if let b = bound { #expect(s.maxAbs <= b && s.maxAbs > 0.99 * b, "\(rule): max \(s.maxAbs), bound \(b)") }
        }
        let linear: Tensor<Double> = try Initializers.bias(count: 4000, fanIn: 25, rule: .pytorchDefault, using: &g)
        #expect(stats(linear).maxAbs <= 0.2 && stats(linear).maxAbs > 0.199)
    }

    @Test func sameSeedSameWeights() throws {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        let x = try Linear<Float>(inFeatures: 5, outFeatures: 3, using: &a)
        let y = try Linear<Float>(inFeatures: 5, outFeatures: 3, using: &b)
        #expect(x.weight.value == y.weight.value && x.bias!.value == y.bias!.value)
        let z = try Linear<Float>(inFeatures: 5, outFeatures: 3, using: &a)
        #expect(z.weight.value != x.weight.value)
    }

    @Test func badArgumentsThrow() {
        var g = SeededGenerator(seed: 1)
        #expect(throws: LayerError.self) { let _: Tensor<Float> = try Initializers.gaussian(shape: [2, 2], standardDeviation: -1, using: &g) }
        #expect(throws: LayerError.self) { let _: Tensor<Float> = try Initializers.kaimingNormal(shape: [5], using: &g) }
        #expect(throws: LayerError.self) { let _: Tensor<Float> = try Initializers.xavierUniform(shape: [0, 3], using: &g) }
    }
}
