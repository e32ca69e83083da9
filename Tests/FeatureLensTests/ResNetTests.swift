// BatchNorm2D, the residual BasicBlock and the ResNet-18 encoder: finite-difference gradients in
// Double (global average pooling's are in LayerGradientTests), one whole PyTorch training step
// (Tools/golden/make_resnet_golden.py writes the fixture; the per-layer PyTorch cases are in
// LayerGoldenTests), batch-norm statistics worked by hand, thread-count invariance, checkpoints
// and configuration errors.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
import FeatureLensNumerics

private func expectGradients(_ layer: any Layer<Double>, _ input: Tensor<Double>, training: Bool = true,
                             step: Double = 1e-5, _ label: String) {
    let report = GradientCheck.check(layer: layer, input: input, training: training, step: step)
    #expect(report.maxError <= 1e-6, "\(label): \(report)")
    #expect(report.parameterErrors.count == layer.parameters.count)
}

/// Random values in every rank-1 parameter (batch-norm γ ~ N(1, 0.5²), β and dense biases
/// ~ N(0, 0.5²)) and every buffer (running means N(0, 1), running variances z² + 0.5), so no
/// batch normalization sits at its default.
private func randomizeBatchNorm(_ layer: any Layer<Double>, seed: UInt64) {
    var g = SeededGenerator(seed: seed)
    for p in layer.parameters where p.value.rank == 1 {
        let r = Tensor<Double>(randomNormal: p.value.shape, standardDeviation: 0.5, using: &g)
        p.value = p.name.hasSuffix("weight") ? r.map { $0 + 1 } : r
    }
    for b in layer.buffers {
        let r = Tensor<Double>(randomNormal: b.value.shape, using: &g)
        b.value = b.name.hasSuffix("running_var") ? r.map { $0 * $0 + 0.5 } : r
    }
}

/// Backbone parameters of the CIFAR ResNet-18 from its layer shapes: stem conv C·w·9 and BN 2w;
/// per block two 3×3 convs and two BNs, plus a 1×1 conv and BN in the first block of stages 2–4.
private func resNet18ParameterCount(inputChannels c: Int, baseWidth w: Int) -> Int {
    var count = c * w * 9 + 2 * w
    var cin = w
    for k in 0..<4 {
        let o = w << k
        count += cin * o * 9 + o * o * 9 + 4 * o   // block 0
        if k > 0 { count += cin * o + 2 * o }      // its projection shortcut
        count += 2 * (o * o * 9) + 4 * o           // block 1
        cin = o
    }
    return count
}

@Suite struct ResNetGradientTests {
    @Test(arguments: [[2, 3, 3, 4], [1, 2, 2, 3], [5, 1, 1, 1]])
    func batchNorm2DTraining(shape: [Int]) throws {
        let bn = try BatchNorm2D<Double>(channelCount: shape[1])
        randomizeBatchNorm(bn, seed: 1)
        expectGradients(bn, GradientCheck.randomTensor(shape, seed: 2, standardDeviation: 2), "BatchNorm2D train \(shape)")
    }

    @Test func batchNorm2DEvaluation() throws {
        let bn = try BatchNorm2D<Double>(channelCount: 3)
        randomizeBatchNorm(bn, seed: 3)
        expectGradients(bn, GradientCheck.randomTensor([2, 3, 2, 3], seed: 4), training: false, "BatchNorm2D eval")
    }

    @Test func batchNorm2DWithoutAffine() throws {
        let bn = try BatchNorm2D<Double>(channelCount: 2, affine: false)
        #expect(bn.parameters.isEmpty && bn.buffers.count == 2)
        expectGradients(bn, GradientCheck.randomTensor([3, 2, 2, 2], seed: 5), "BatchNorm2D no affine")
    }

    /// (C_in, C_out, stride, input [N, C_in, H, W]): identity shortcut, then projections for a
    /// channel change, a stride, and both.
    @Test(arguments: [(3, 3, 1, [2, 3, 5, 4]), (2, 3, 1, [2, 2, 4, 4]), (2, 2, 2, [2, 2, 5, 6]), (2, 4, 2, [3, 2, 4, 3])])
    func basicBlock(inChannels: Int, outChannels: Int, stride: Int, shape: [Int]) throws {
        var g = SeededGenerator(seed: 7)
        let block = try BasicBlock<Double>(inChannels: inChannels, outChannels: outChannels, stride: stride, using: &g)
        #expect((block.shortcut == nil) == (inChannels == outChannels && stride == 1))
        randomizeBatchNorm(block, seed: 8)
        let x = GradientCheck.randomTensor(shape, seed: 9)
        let label = "BasicBlock \(inChannels)→\(outChannels) s\(stride)"
        expectGradients(block, x, label + " train")
        expectGradients(block, x, training: false, label + " eval")
    }

    /// The whole encoder (ResNet-18 at w = 2 on 16×16 images, dense layer, BN projection head),
    /// along random directions: for v over the input and every parameter at once, the central
    /// difference (L(θ + hv) − L(θ − hv))/2h against ⟨∇L, v⟩ from one backward pass. (Element-wise
    /// differences for all 12 000 values would take a minute in a debug build.)
    @Test func resNet18EncoderDirectionalDerivatives() throws {
        var g = SeededGenerator(seed: 10)
        let enc: Encoder<Double> = try ImageEncoders.resnet18(
            inputChannels: 2, height: 16, width: 16, baseWidth: 2, featureDimension: 3,
            head: ProjectionHeadSpec(hiddenDimension: 4, outputDimension: 2, batchNorm: true), using: &g)
        randomizeBatchNorm(enc, seed: 11)
        let x = GradientCheck.randomTensor([2, 2, 16, 16], seed: 12)
        let out = enc.forward(x, training: true)
        let w = GradientCheck.randomTensor(out.shape, seed: 13)
        enc.zeroGradients()
        let dx = enc.backward(w)
        let start = enc.parameters.map(\.value)
        func loss(_ h: Double, _ vx: Tensor<Double>, _ vp: [Tensor<Double>]) -> Double {
            for (p, (v0, d)) in zip(enc.parameters, zip(start, vp)) { p.value = v0 + d * h }
            defer { for (p, v0) in zip(enc.parameters, start) { p.value = v0 } }
            return GradientCheck.dot(enc.forward(x + vx * h, training: true), w)
        }
        for seed in UInt64(20)..<UInt64(24) {
            // Directions: the input only (seed 20), the parameters only (21), both (22, 23).
            var vx = GradientCheck.randomTensor(x.shape, seed: seed) * (seed == 21 ? 0 : 1)
            var vp = enc.parameters.enumerated().map { i, p in
                GradientCheck.randomTensor(p.value.shape, seed: seed &* 1000 &+ UInt64(i)) * (seed == 20 ? 0 : 1)
            }
            // Unit length, so a step h moves every activation by O(h).
            let norm = (vp.reduce(GradientCheck.dot(vx, vx)) { $0 + GradientCheck.dot($1, $1) }).squareRoot()
            vx = vx / norm
            vp = vp.map { $0 / norm }
            let analytic = GradientCheck.dot(dx, vx) + zip(enc.parameters, vp).reduce(0) { $0 + GradientCheck.dot($1.0.gradient, $1.1) }
            // h = 1e-4 gives relative errors ≤ 3e-8 here; at h = 1e-3 curvature and ReLU kinks
            // inside [−h, h] already show (errors up to 5e-4).
            let h = 1e-4
            let numeric = (loss(h, vx, vp) - loss(-h, vx, vp)) / (2 * h)
            let e = abs(numeric - analytic) / max(abs(numeric), abs(analytic))
            #expect(e <= 1e-6, "direction \(seed): numeric \(numeric), analytic \(analytic), relative error \(e)")
        }
    }
}

@Suite struct ResNetBehaviourTests {
    /// One channel, two 1×2 planes: x = [1, 2 | 3, 6], μ = 3, biased σ² = 3.5, unbiased 14/3.
    @Test func batchNorm2DStatisticsByHand() throws {
        let bn = try BatchNorm2D<Double>(channelCount: 1, momentum: 0.5)
        let x = Tensor<Double>(shape: [2, 1, 1, 2], scalars: [1, 2, 3, 6])
        let y = bn.forward(x, training: true)
        #expect(abs(bn.runningMean.value.scalars[0] - 1.5) < 1e-12)
        #expect(abs(bn.runningVariance.value.scalars[0] - (0.5 + 0.5 * 14.0 / 3.0)) < 1e-12)
        #expect(abs(y.scalars[3] - 3 / (3.5 + 1e-5).squareRoot()) < 1e-12)
        // Evaluation uses the running statistics: (x − 1.5)/√(running_var + ε).
        let e = bn.forward(x, training: false)
        let rv = 0.5 + 0.5 * 14.0 / 3.0
        #expect(abs(e.scalars[3] - 4.5 / (rv + 1e-5).squareRoot()) < 1e-12)
        #expect(abs(e.scalars[3] - y.scalars[3]) > 0.1)
        // Two channels are normalized separately: a channel's statistics ignore the other's values.
        let two = try BatchNorm2D<Double>(channelCount: 2)
        let x2 = Tensor<Double>(shape: [2, 2, 1, 2], scalars: [1, 2, 100, -50, 3, 6, 7, 0])
        let y2 = two.forward(x2, training: true)
        #expect(abs(y2.scalars[1] - (-1) / (3.5 + 1e-5).squareRoot()) < 1e-12)
        #expect(abs(two.runningMean.value.scalars[0] - 0.3) < 1e-12)
        #expect(abs(two.runningMean.value.scalars[1] - 0.1 * 57.0 / 4) < 1e-12)
    }

    @Test func encoderShapesNamesAndSize() throws {
        var g = SeededGenerator(seed: 1)
        let enc: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 3, height: 32, width: 32, baseWidth: 4,
                                                             head: ProjectionHeadSpec(hiddenDimension: 16, outputDimension: 8),
                                                             using: &g)
        #expect(try enc.featureShape(for: [5, 3, 32, 32]) == [5, 32])
        #expect(try enc.outputShape(for: [5, 3, 32, 32]) == [5, 8])
        #expect(try enc.featureShape(for: [2, 3, 8, 11]) == [2, 32])
        #expect(throws: LayerError.self) { _ = try enc.outputShape(for: [2, 3, 7, 32]) }
        #expect(throws: LayerError.self) { _ = try enc.outputShape(for: [2, 1, 32, 32]) }
        let names = enc.parameters.map(\.name)
        #expect(names.count == Set(names).count)
        #expect(names.prefix(3) == ["backbone.conv1.weight", "backbone.bn1.weight", "backbone.bn1.bias"])
        #expect(names.contains("backbone.layer1.1.conv2.weight"))
        #expect(names.contains("backbone.layer4.0.shortcut.0.weight") && names.contains("backbone.layer4.0.shortcut.1.bias"))
        #expect(!names.contains { $0.hasPrefix("backbone.layer1.0.shortcut") })
        // 1 stem BN + 4 stages × 2 blocks × 2 BN + 3 projection BN = 20 BatchNorm2D, 2 buffers each.
        #expect(enc.buffers.count == 40 && enc.buffers.last?.name == "backbone.layer4.1.bn2.running_var")
        // A weight per convolution (1 + 16 + 3), γ and β per BatchNorm2D; the head adds 4.
        #expect(enc.parameters.count == 20 + 40 + 4)
        let out = enc.encode(Tensor<Float>(randomNormal: [2, 3, 32, 32], using: &g), training: true)
        #expect(out.features.shape == [2, 32] && out.embedding.shape == [2, 8])

        let dense: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 1, height: 28, width: 28, baseWidth: 2,
                                                               featureDimension: 5, using: &g)
        #expect(try dense.featureShape(for: [3, 1, 28, 28]) == [3, 5])
        #expect(dense.parameters.suffix(2).map(\.name) == ["backbone.linear.weight", "backbone.linear.bias"])
        #expect((dense.backbone as? ResNet<Float>)?.firstParametricLayer === (dense.backbone as? ResNet<Float>)?.conv1)
    }

    /// The standard model (w = 64, C = 3) has the 11 168 832 backbone parameters of the PyTorch
    /// reference (the generator script asserts the same count of its module).
    @Test func standardWidthParameterCount() throws {
        #expect(resNet18ParameterCount(inputChannels: 3, baseWidth: 64) == 11_168_832)
        // Built models (narrow: the standard one takes seconds to initialize in a debug build).
        var g = SeededGenerator(seed: 2)
        for (c, w) in [(3, 2), (5, 3)] {
            let e: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: c, baseWidth: w, using: &g)
            #expect(e.parameterCount == resNet18ParameterCount(inputChannels: c, baseWidth: w), "C \(c), w \(w)")
            #expect(try e.featureShape(for: [1, c, 32, 32]) == [1, 8 * w])
        }
    }

    @Test func invalidConfigurationsNameTheField() throws {
        var g = SeededGenerator(seed: 3)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        #expect(message { let _: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 3, height: 7, using: &g) }
                == "ResNet18: height must be ≥ 8, got 7")
        #expect(message { let _: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 3, width: 4, using: &g) }
                == "ResNet18: width must be ≥ 8, got 4")
        #expect(message { let _: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 0, using: &g) }
                == "ResNet18: inputChannels must be > 0, got 0")
        #expect(message { let _: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 1, baseWidth: 0, using: &g) }
                == "ResNet18: baseWidth must be > 0, got 0")
        #expect(message { let _: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 1, featureDimension: 0, using: &g) }
                == "ResNet18: featureDimension must be > 0, got 0")
        #expect(message { _ = try BatchNorm2D<Float>(channelCount: 2, momentum: -0.1) }
                == "BatchNorm2D: momentum must be in [0, 1], got -0.1")
        #expect(message { _ = try BatchNorm2D<Float>(channelCount: 0) } == "BatchNorm2D: channelCount must be > 0, got 0")
        #expect(message { _ = try BatchNorm2D<Float>(channelCount: 2, epsilon: 0) }
                == "BatchNorm2D: epsilon must be finite and > 0, got 0.0")
        #expect(message { _ = try BasicBlock<Float>(inChannels: 2, outChannels: 2, stride: 0, using: &g) }
                == "BasicBlock: stride must be > 0, got 0")
        let bn = try BatchNorm2D<Float>(channelCount: 3)
        #expect(throws: LayerError.self) { _ = try bn.outputShape(for: [2, 4, 5, 5]) }
        #expect(throws: LayerError.self) { _ = try bn.outputShape(for: [2, 3]) }
    }

    /// Two SGD steps of ResNet-18 (w = 4, batch 4 of 3×16×16: 16 to 128 planes per batch
    /// normalization, split across threads) and an evaluation-mode forward give the same bits
    /// with 1 and 2 threads.
    @Test func trainingStepIsThreadCountInvariant() throws {
        var g = SeededGenerator(seed: 4)
        let enc: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: 3, height: 16, width: 16, baseWidth: 4,
                                                             head: ProjectionHeadSpec(hiddenDimension: 16, outputDimension: 8,
                                                                                      batchNorm: true), using: &g)
        let x = Tensor<Float>(randomNormal: [4, 3, 16, 16], using: &g)
        let dz = Tensor<Float>(randomNormal: [4, 8], using: &g)
        let start = enc.parameters.map(\.value), startBuffers = enc.buffers.map(\.value)
        func run(threads: Int) throws -> [[UInt32]] {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            for (p, v) in zip(enc.parameters, start) { p.value = v }
            for (b, v) in zip(enc.buffers, startBuffers) { b.value = v }
            let sgd = try SGD(parameters: enc.parameters, learningRate: 0.1, momentum: 0.9)
            var out: [Tensor<Float>] = []
            for _ in 0..<2 {
                enc.zeroGradients()
                let o = enc.encode(x, training: true)
                out += [o.features, o.embedding, enc.backward(gradEmbedding: dz)]
                sgd.step()
            }
            out += [enc.forward(x, training: false)]
            out += enc.parameters.map(\.value) + enc.buffers.map(\.value)
            return out.map { $0.scalars.map(\.bitPattern) }
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.count == two.count)
        let differing = one.indices.filter { $0 >= two.count || one[$0] != two[$0] }
        #expect(differing.isEmpty, "tensors differing between 1 and 2 threads (output order): \(differing)")
    }

    /// Save after two SGD steps, load into a differently seeded encoder: parameters and running
    /// statistics come back bit for bit, and one more step agrees bit for bit.
    @Test func checkpointRoundTripResumesBitForBit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resnet-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func make(_ seed: UInt64) throws -> Encoder<Float> {
            var g = SeededGenerator(seed: seed)
            return try ImageEncoders.resnet18(inputChannels: 1, height: 12, width: 10, baseWidth: 2,
                                              head: ProjectionHeadSpec(hiddenDimension: 8, outputDimension: 4, batchNorm: true),
                                              using: &g)
        }
        var g = SeededGenerator(seed: 5)
        let x = Tensor<Float>(randomNormal: [4, 1, 12, 10], using: &g), dz = Tensor<Float>(randomNormal: [4, 4], using: &g)
        func step(_ e: Encoder<Float>, _ opt: SGD<Float>) {
            e.zeroGradients()
            _ = e.encode(x, training: true)
            _ = e.backward(gradEmbedding: dz)
            opt.step()
        }
        let model = try make(6)
        let sgd = try SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
        step(model, sgd); step(model, sgd)
        try Checkpoint.save(model: model, optimizer: sgd, state: CheckpointState(step: 2, epoch: 0), to: dir)
        let file = try SafeTensors.read(contentsOf: Checkpoint.url(in: dir))
        #expect(file.tensors["backbone.layer2.0.shortcut.1.running_var"]?.shape == [4])
        let fresh = try make(7)
        let freshSGD = try SGD(parameters: fresh.parameters, learningRate: 0.05, momentum: 0.9)
        try Checkpoint.load(from: dir, into: fresh, optimizer: freshSGD)
        func bits(_ e: Encoder<Float>) -> [[UInt32]] {
            (e.parameters.map(\.value) + e.buffers.map(\.value)).map { $0.scalars.map(\.bitPattern) }
        }
        #expect(bits(fresh) == bits(model))
        step(model, sgd); step(fresh, freshSGD)
        #expect(bits(fresh) == bits(model))
    }
}

// MARK: - One PyTorch training step of the whole encoder

@Suite struct ResNetGoldenTests {
    /// ResNet-18 (w = 2) with a BN projection head on two 3×16×16 images against PyTorch: h and z,
    /// L = mean((z − t)²), every parameter gradient and the running statistics; after one SGD
    /// step (momentum 0.9) z and L of a second training-mode forward, the running statistics
    /// after it, and z in evaluation mode. With `winogradEverywhere`, every 3×3 stride-1
    /// convolution (also those with fewer than 8 channels, im2col by default) uses Winograd.
    @Test(arguments: [false, true])
    func oneTrainingStepMatchesPyTorch(winogradEverywhere: Bool) throws {
        let fx = try LayerFixture("resnet18_step")
        let c = fx.layer
        guard let h = c["head"] as? [String: Any], let sgdConfig = fx.json["sgd"] as? [String: Any],
              let lr = sgdConfig["learning_rate"] as? Double, let momentum = sgdConfig["momentum"] as? Double,
              let expectedLoss = fx.json["loss"] as? Double, let expectedLossAfter = fx.json["loss_after_step"] as? Double
        else { throw FixtureError.malformed(file: fx.name, field: "head/sgd/loss") }
        var g = SeededGenerator(seed: 0)
        let enc: Encoder<Float> = try ImageEncoders.resnet18(
            inputChannels: c["input_channels"] as! Int, height: c["height"] as! Int, width: c["width"] as! Int,
            baseWidth: c["base_width"] as! Int,
            head: ProjectionHeadSpec(hiddenDimension: h["hidden"] as! Int, outputDimension: h["out"] as! Int,
                                     batchNorm: h["batchnorm"] as! Bool), using: &g)
        if winogradEverywhere {
            let resnet = try #require(enc.backbone as? ResNet<Float>)
            var convs = [resnet.conv1]
            for stage in resnet.stages {
                for case let block as BasicBlock<Float> in stage.layers { convs += [block.conv1, block.conv2] }
            }
            let eligible = convs.filter { $0.stride == (1, 1) }
            #expect(eligible.count == 14)
            for conv in eligible { conv.convolutionAlgorithm = .winograd }
        }
        let params = try fx.tensors("parameters"), buffers = try fx.tensors("buffers")
        #expect(Set(enc.parameters.map(\.name)) == Set(params.keys))
        #expect(Set(enc.buffers.map(\.name)) == Set(buffers.keys))
        for p in enc.parameters {
            let v = try #require(params[p.name])
            #expect(v.shape == p.value.shape, "\(p.name) shape")
            p.value = v
        }
        for b in enc.buffers { b.value = try #require(buffers[b.name]) }

        let x = try fx.tensor("input"), t = try fx.tensor("target")
        func lossAndGradient(_ z: Tensor<Float>) -> (Double, Tensor<Float>) {
            let d = z - t
            let loss = d.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(d.count)
            return (loss, d * (2 / Float(d.count)))
        }
        enc.zeroGradients()
        let out = enc.encode(x, training: true)
        expectClose(out.features, try fx.tensor("features"), "h")
        expectClose(out.embedding, try fx.tensor("embedding"), "z")
        let (loss, dz) = lossAndGradient(out.embedding)
        #expect(abs(loss - expectedLoss) <= 1e-4 * abs(expectedLoss), "loss \(loss) vs \(expectedLoss)")
        _ = enc.backward(gradEmbedding: dz)
        let grads = try fx.tensors("parameter_grads")
        for p in enc.parameters { expectClose(p.gradient, try #require(grads[p.name]), "grad \(p.name)") }
        let after = try fx.tensors("buffers_after")
        for b in enc.buffers { expectClose(b.value, try #require(after[b.name]), "\(b.name) after the forward") }

        let sgd = try SGD(parameters: enc.parameters, learningRate: lr, momentum: momentum)
        sgd.step()
        let z2 = enc.forward(x, training: true)
        expectClose(z2, try fx.tensor("embedding_after_step"), "z after the step")
        let loss2 = lossAndGradient(z2).0
        #expect(abs(loss2 - expectedLossAfter) <= 1e-4 * abs(expectedLossAfter), "loss after the step \(loss2) vs \(expectedLossAfter)")
        #expect(loss2 < loss)
        let afterStep = try fx.tensors("buffers_after_step")
        for b in enc.buffers { expectClose(b.value, try #require(afterStep[b.name]), "\(b.name) after the second forward") }
        let zEval = enc.forward(x, training: false)
        expectClose(zEval, try fx.tensor("eval_embedding"), "z in evaluation mode")
        #expect(GradientCheck.relativeError(zEval, z2) > 1e-2, "evaluation mode must use the running statistics")
    }
}

private func expectClose(_ actual: Tensor<Float>, _ expected: Tensor<Float>, _ label: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(label): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let e = GradientCheck.relativeError(actual, expected)
    #expect(e <= 1e-4, "\(label): relative error \(e)", sourceLocation: sourceLocation)
}
