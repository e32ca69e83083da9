// Checkpoints: bit-identical save/load of an encoder with its optimizer state and generators,
// atomic writes that never leave a partial file, and clear errors when a checkpoint does not
// fit the model. The committed fixture Fixtures/checkpoint/mlp_adam.safetensors (and its probe
// file) is also read by Tools/checkpoint/check_safetensors.py with PyTorch.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// MLP backbone 4→hidden→6, optional BN projection head 6→8→3 (parameters and BN buffers).
private func makeEncoder<S: TensorScalar>(seed: UInt64, hidden: Int = 8, head: Bool = true, backboneBias: Bool = true,
                                          as: S.Type = Float.self) throws -> Encoder<S> {
    var g = SeededGenerator(seed: seed)
    let backbone = try MLP<S>(widths: [4, hidden, 6], bias: backboneBias, using: &g)
    let h = head ? try ProjectionHead<S>(inputDimension: 6, hiddenDimension: 8, outputDimension: 3, batchNorm: true, using: &g) : nil
    return Encoder(backbone: backbone, head: h)
}

/// Training data: x `[5, 4]` and the loss weights r `[5, out]` (L = Σ z ⊙ r, so ∂L/∂z = r).
private func batch<S: TensorScalar>(out: Int = 3, as: S.Type = Float.self) -> (x: Tensor<S>, r: Tensor<S>) {
    var g = SeededGenerator(seed: 1234)
    return (Tensor(randomNormal: [5, 4], using: &g), Tensor(randomNormal: [5, out], using: &g))
}

private func train<S: TensorScalar>(_ e: Encoder<S>, _ opt: any Optimizer, steps: Int, x: Tensor<S>, r: Tensor<S>) {
    for _ in 0..<steps {
        e.zeroGradients()
        _ = e.forward(x, training: true)
        _ = e.backward(r)
        opt.step()
    }
}

private func bits(_ t: Tensor<Float>) -> [UInt32] { t.scalars.map(\.bitPattern) }

private func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Checks that `body` throws a `CheckpointError` accepted by `matches` and whose message names `file`.
private func expectCheckpointError(file: String, sourceLocation: SourceLocation = #_sourceLocation,
                                   _ body: () throws -> Void, _ matches: (CheckpointError) -> Bool) {
    do {
        try body()
        Issue.record("expected a CheckpointError", sourceLocation: sourceLocation)
    } catch let e as CheckpointError {
        #expect(matches(e), "unexpected error: \(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix(file + ": "), "message must name the file: \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("wrong error type: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct CheckpointRoundTripTests {
    @Test func adamEncoderRoundTripIsBitIdentical() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, r) = batch()
        let model = try makeEncoder(seed: 3)
        let adam = try Adam(parameters: model.parameters, learningRate: 0.01, weightDecay: 0.001)
        train(model, adam, steps: 3, x: x, r: r)
        var shuffle = SeededGenerator(seed: 42)
        _ = shuffle.next()
        let state = CheckpointState(step: 3, epoch: 1, generators: ["shuffle": shuffle, "augment": SeededGenerator(seed: 9)],
                                    configJSON: #"{"preset":"test","lr":0.01}"#)
        let url = try Checkpoint.save(model: model, optimizer: adam, state: state, to: dir)
        #expect(url.lastPathComponent == "checkpoint.safetensors")
        #expect(Checkpoint.exists(in: dir))

        let fresh = try makeEncoder(seed: 77)
        let freshAdam = try Adam(parameters: fresh.parameters, learningRate: 0.5, weightDecay: 0.001)
        #expect(bits(fresh.parameters[0].value) != bits(model.parameters[0].value))
        let loaded = try Checkpoint.load(from: dir, into: fresh, optimizer: freshAdam)

        #expect(loaded == state)
        #expect(fresh.parameters.map(\.name) == model.parameters.map(\.name))
        for (a, b) in zip(model.parameters, fresh.parameters) { #expect(bits(a.value) == bits(b.value), "\(a.name)") }
        #expect(model.buffers.count == 2)
        for (a, b) in zip(model.buffers, fresh.buffers) { #expect(bits(a.value) == bits(b.value), "\(a.name)") }
        #expect(freshAdam.snapshot() == adam.snapshot())
        #expect(freshAdam.learningRate == 0.01 && freshAdam.stepCount == 3)

        // Resuming continues exactly as the original run.
        train(model, adam, steps: 2, x: x, r: r)
        train(fresh, freshAdam, steps: 2, x: x, r: r)
        for (a, b) in zip(model.parameters, fresh.parameters) { #expect(bits(a.value) == bits(b.value), "\(a.name)") }
        for (a, b) in zip(model.buffers, fresh.buffers) { #expect(bits(a.value) == bits(b.value), "\(a.name)") }
    }

    @Test func sgdMomentumAndDoubleModel() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, r) = batch(as: Double.self)
        let model: Encoder<Double> = try makeEncoder(seed: 5, as: Double.self)
        let sgd = try SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9, nesterov: true)
        // Before the first step SGD has no momentum buffers; that checkpoint loads too.
        try Checkpoint.save(model: model, optimizer: sgd, state: CheckpointState(step: 0, epoch: 0), to: dir)
        let early: Encoder<Double> = try makeEncoder(seed: 6, as: Double.self)
        let earlySGD = try SGD(parameters: early.parameters, learningRate: 0.1, momentum: 0.9, nesterov: true)
        try Checkpoint.load(from: dir, into: early, optimizer: earlySGD)
        #expect(earlySGD.snapshot() == sgd.snapshot())

        train(model, sgd, steps: 2, x: x, r: r)
        try Checkpoint.save(model: model, optimizer: sgd, state: CheckpointState(step: 2, epoch: 0), to: dir)
        let file = try SafeTensors.read(contentsOf: Checkpoint.url(in: dir))
        #expect(file.tensors["backbone.0.weight"]?.dtype == .F64)
        #expect(file.tensors["optimizer.backbone.0.weight.momentum_buffer"]?.shape == [8, 4])
        #expect(file.metadata["optimizer.kind"] == "sgd")
        let fresh: Encoder<Double> = try makeEncoder(seed: 6, as: Double.self)
        let freshSGD = try SGD(parameters: fresh.parameters, learningRate: 0.1, momentum: 0.9, nesterov: true)
        try Checkpoint.load(from: Checkpoint.url(in: dir), into: fresh, optimizer: freshSGD)
        #expect(freshSGD.snapshot() == sgd.snapshot())
        for (a, b) in zip(model.parameters, fresh.parameters) {
            #expect(a.value.scalars.map(\.bitPattern) == b.value.scalars.map(\.bitPattern))
        }
    }

    @Test func loadWithoutOptimizerRestoresTheModelOnly() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try makeEncoder(seed: 3)
        let adam = try Adam(parameters: model.parameters)
        try Checkpoint.save(model: model, optimizer: adam, state: CheckpointState(step: 0, epoch: 0), to: dir)
        let fresh = try makeEncoder(seed: 4)
        try Checkpoint.load(from: dir, into: fresh, optimizer: nil)
        for (a, b) in zip(model.parameters, fresh.parameters) { #expect(bits(a.value) == bits(b.value)) }
    }

    @Test func pytorchStyleNames() throws {
        let model = try makeEncoder(seed: 3)
        let adam = try Adam(parameters: model.parameters)
        let (tensors, metadata) = try Checkpoint.encode(model: model, optimizer: adam,
                                                        state: CheckpointState(step: 7, epoch: 2, generators: ["data": SeededGenerator(seed: 1)]))
        #expect(Set(tensors.keys).isSuperset(of: ["backbone.0.weight", "backbone.2.bias", "head.0.weight", "head.1.weight",
                                                  "head.1.running_mean", "head.1.running_var", "head.3.bias",
                                                  "optimizer.head.3.bias.exp_avg", "optimizer.head.3.bias.exp_avg_sq", "rng.data"]))
        #expect(tensors["rng.data"] == SafeTensor(uint64: SeededGenerator(seed: 1).stateWords, shape: [4]))
        #expect(metadata["step"] == "7" && metadata["epoch"] == "2" && metadata["format"] == "featurelens.checkpoint")
        #expect(metadata["optimizer.kind"] == "adam" && metadata["optimizer.learning_rate"] == "0.001")
    }
}

@Suite struct CheckpointAtomicityTests {
    @Test func failedWriteLeavesNoPartialFile() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try makeEncoder(seed: 3)
        // The destination name is taken by a folder: the rename fails after the data was written.
        try FileManager.default.createDirectory(at: Checkpoint.url(in: dir), withIntermediateDirectories: false)
        #expect(throws: OutputError.self) {
            try Checkpoint.save(model: model, optimizer: nil, state: CheckpointState(step: 1, epoch: 0), to: dir)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["checkpoint.safetensors"])
        // A missing run folder: nothing is created.
        let missing = dir.appendingPathComponent("no-such-run")
        #expect(throws: OutputError.self) {
            try Checkpoint.save(model: model, optimizer: nil, state: CheckpointState(step: 1, epoch: 0), to: missing)
        }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
    }

    @Test func failedSaveKeepsThePreviousCheckpoint() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try makeEncoder(seed: 3)
        try Checkpoint.save(model: model, optimizer: nil, state: CheckpointState(step: 1, epoch: 0), to: dir)
        let before = try Data(contentsOf: Checkpoint.url(in: dir))
        expectCheckpointError(file: Checkpoint.url(in: dir).path, {
            try Checkpoint.save(model: model, optimizer: nil,
                                state: CheckpointState(step: 2, epoch: 0, generators: ["bad.name": SeededGenerator(seed: 1)]), to: dir)
        }) { $0 == .nameCollision(file: Checkpoint.url(in: dir).path, name: "rng.bad.name") }
        #expect(try Data(contentsOf: Checkpoint.url(in: dir)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["checkpoint.safetensors"])
    }

    @Test func staleTemporaryFilesAreRemoved() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let stale = dir.appendingPathComponent(".checkpoint.safetensors.tmp-123-456")
        try Data([1, 2, 3]).write(to: stale)
        let other = dir.appendingPathComponent("metrics.csv")
        try Data("step\n".utf8).write(to: other)
        try Checkpoint.save(model: try makeEncoder(seed: 3), optimizer: nil, state: CheckpointState(step: 1, epoch: 0), to: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["checkpoint.safetensors", "metrics.csv"])
    }
}

@Suite struct MalformedCheckpointTests {
    /// A saved checkpoint (model with head, Adam, 1 step) decoded in memory.
    private func saved(head: Bool = true, hidden: Int = 8) throws -> (SafeTensorsFile, Encoder<Float>) {
        let (x, r) = batch()
        let model = try makeEncoder(seed: 3, hidden: hidden, head: head)
        let adam = try Adam(parameters: model.parameters)
        if head { train(model, adam, steps: 1, x: x, r: r) }
        let (t, m) = try Checkpoint.encode(model: model, optimizer: adam,
                                           state: CheckpointState(step: 1, epoch: 0, generators: ["g": SeededGenerator(seed: 2)]))
        return (try SafeTensors.decode(SafeTensors.encode(t, metadata: m), file: "run/checkpoint.safetensors"), model)
    }

    private func values(_ e: Encoder<Float>) -> [[UInt32]] { e.parameters.map { bits($0.value) } + e.buffers.map { bits($0.value) } }

    @Test func shapeMismatchNamesTheTensor() throws {
        let (ckpt, _) = try saved()
        let other = try makeEncoder(seed: 1, hidden: 16)
        let before = values(other)
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(ckpt, into: other, optimizer: nil) }) {
            $0 == .shapeMismatch(file: ckpt.file, tensor: "backbone.0.weight", expected: [16, 4], found: [8, 4])
        }
        #expect(values(other) == before, "a failed load changes nothing")
    }

    @Test func missingAndUnexpectedTensors() throws {
        let (noHead, _) = try saved(head: false)
        expectCheckpointError(file: noHead.file, { try Checkpoint.restore(noHead, into: try makeEncoder(seed: 1), optimizer: nil) }) {
            $0 == .missingTensor(file: noHead.file, tensor: "head.0.weight", expectedShape: [8, 6])
        }
        let (withHead, _) = try saved()
        expectCheckpointError(file: withHead.file, { try Checkpoint.restore(withHead, into: try makeEncoder(seed: 1, head: false), optimizer: nil) }) {
            if case let .unexpectedTensor(_, name) = $0 { return name.hasPrefix("head.") }
            return false
        }
    }

    @Test func dtypeMismatch() throws {
        let (ckpt, _) = try saved()
        let double: Encoder<Double> = try makeEncoder(seed: 1, as: Double.self)
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(ckpt, into: double, optimizer: nil) }) {
            $0 == .dtypeMismatch(file: ckpt.file, tensor: "backbone.0.weight", expected: "F64", found: "F32")
        }
    }

    @Test func nonFiniteValuesAreRejected() throws {
        var (ckpt, _) = try saved()
        var w = ckpt.tensors["head.3.bias"]!.float32Values!
        w[2] = .nan
        ckpt.tensors["head.3.bias"] = SafeTensor(float32: w, shape: [3])
        let target = try makeEncoder(seed: 1)
        let before = values(target)
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(ckpt, into: target, optimizer: nil) }) {
            $0 == .nonFinite(file: ckpt.file, tensor: "head.3.bias", index: 2)
        }
        #expect(values(target) == before)
        var (ckpt2, _) = try saved()
        var m = ckpt2.tensors["optimizer.backbone.0.bias.exp_avg_sq"]!.float32Values!
        m[0] = .infinity
        ckpt2.tensors["optimizer.backbone.0.bias.exp_avg_sq"] = SafeTensor(float32: m, shape: [8])
        let t2 = try makeEncoder(seed: 1)
        expectCheckpointError(file: ckpt2.file, { try Checkpoint.restore(ckpt2, into: t2, optimizer: try Adam(parameters: t2.parameters)) }) {
            $0 == .nonFinite(file: ckpt2.file, tensor: "optimizer.backbone.0.bias.exp_avg_sq", index: 0)
        }
    }

    @Test func optimizerMismatches() throws {
        let (ckpt, _) = try saved()
        let target = try makeEncoder(seed: 1)
        let before = values(target)
        // Another optimizer kind.
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(ckpt, into: target, optimizer: try SGD(parameters: target.parameters, learningRate: 0.1)) }) {
            if case let .optimizerMismatch(_, detail) = $0 { return detail.contains("optimizer.kind") && detail.contains("sgd") }
            return false
        }
        // An optimizer over only some parameters.
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(ckpt, into: target, optimizer: try Adam(parameters: Array(target.parameters.prefix(2)))) }) {
            if case let .optimizerMismatch(_, detail) = $0 { return detail.contains("optimizer.parameters") }
            return false
        }
        // Missing state tensor: the optimizer refuses, the model is not touched.
        var partial = ckpt
        partial.tensors["optimizer.head.0.weight.exp_avg_sq"] = nil
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(partial, into: target, optimizer: try Adam(parameters: target.parameters)) }) {
            if case let .optimizerMismatch(_, detail) = $0 { return detail.contains("exp_avg_sq") }
            return false
        }
        // Unknown state name.
        var extra = ckpt
        extra.tensors["optimizer.head.0.weight.momentum"] = ckpt.tensors["optimizer.head.0.weight.exp_avg"]
        expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(extra, into: target, optimizer: try Adam(parameters: target.parameters)) }) {
            if case let .optimizerMismatch(_, detail) = $0 { return detail.contains("momentum") }
            return false
        }
        #expect(values(target) == before)
        // A checkpoint without optimizer state cannot restore an optimizer.
        let model = try makeEncoder(seed: 3)
        let (t, m) = try Checkpoint.encode(model: model, optimizer: nil, state: CheckpointState(step: 0, epoch: 0))
        let bare = SafeTensorsFile(file: "bare.safetensors", metadata: m, tensors: t)
        expectCheckpointError(file: "bare.safetensors", { try Checkpoint.restore(bare, into: target, optimizer: try Adam(parameters: target.parameters)) }) {
            if case .invalidMetadata(_, "optimizer.kind", _, "missing") = $0 { return true }
            return false
        }
    }

    @Test func badMetadata() throws {
        let (ckpt, _) = try saved()
        let cases: [(String, String?, String)] = [
            ("format", "pt", "format"), ("format", nil, "format"), ("format_version", "2", "format_version"),
            ("step", "-1", "step"), ("step", "1.5", "step"), ("epoch", nil, "epoch"), ("config", nil, "config"),
            ("optimizer.learning_rate", "nan", "optimizer.learning_rate"), ("optimizer.step_count", "x", "optimizer.step_count"),
            ("optimizer.parameters", "not json", "optimizer.parameters"),
        ]
        for (key, value, field) in cases {
            var bad = ckpt
            bad.metadata[key] = value
            let target = try makeEncoder(seed: 1)
            expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(bad, into: target, optimizer: try Adam(parameters: target.parameters)) }) {
                if case .invalidMetadata(_, field, _, _) = $0 { return true }
                return false
            }
        }
    }

    @Test func badGeneratorState() throws {
        let (ckpt, _) = try saved()
        for (tensor, detail) in [(SafeTensor(uint64: [0, 0, 0, 0], shape: [4]), "zero"),
                                 (SafeTensor(uint64: [1, 2, 3], shape: [3]), "U64 [4]"),
                                 (SafeTensor(float32: [1, 2, 3, 4], shape: [4]), "U64 [4]")] {
            var bad = ckpt
            bad.tensors["rng.g"] = tensor
            expectCheckpointError(file: ckpt.file, { try Checkpoint.restore(bad, into: try makeEncoder(seed: 1), optimizer: nil) }) {
                if case let .invalidGeneratorState(_, "rng.g", d) = $0 { return d.contains(detail) }
                return false
            }
        }
    }

    @Test func malformedFileIsASafeTensorsError() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data([1, 2, 3]).write(to: Checkpoint.url(in: dir))
        #expect(throws: SafeTensorsError.fileTooSmall(file: Checkpoint.url(in: dir).path, size: 3)) {
            try Checkpoint.load(from: dir, into: try makeEncoder(seed: 1), optimizer: nil)
        }
    }
}

/// The committed fixture read by Tools/checkpoint/check_safetensors.py. Regenerate with
/// `FEATURELENS_WRITE_CHECKPOINT_FIXTURE=1 swift test --filter CheckpointFixtureTests`.
@Suite struct CheckpointFixtureTests {
    static let config = #"{"preset":"checkpoint-fixture","seed":3,"optimizer":{"kind":"adam","lr":0.01}}"#
    static let folder = "checkpoint"

    /// The fixture's run: 2 Adam steps of the BN encoder; then the probe: x, r, the eval-mode
    /// embedding, and every parameter/buffer after one more training step.
    ///
    /// The backbone has no biases: BatchNorm after the head's first Linear makes the gradient of
    /// any bias that only shifts the whole batch exactly zero, so its computed value is rounding
    /// noise, which Adam (dividing by √v) turns into ±lr steps that no two implementations share.
    static func makeFixture() throws -> (checkpoint: [UInt8], probe: [UInt8]) {
        let (x, r) = batch()
        let model = try makeEncoder(seed: 3, backboneBias: false)
        let adam = try Adam(parameters: model.parameters, learningRate: 0.01)
        train(model, adam, steps: 2, x: x, r: r)
        var g = SeededGenerator(seed: 11)
        _ = g.next()
        let (t, m) = try Checkpoint.encode(model: model, optimizer: adam,
                                           state: CheckpointState(step: 2, epoch: 0, generators: ["shuffle": g], configJSON: config))
        let checkpoint = try SafeTensors.encode(t, metadata: m)
        return (checkpoint, try probe(model, adam, x: x, r: r))
    }

    static func probe(_ model: Encoder<Float>, _ adam: any Optimizer, x: Tensor<Float>, r: Tensor<Float>) throws -> [UInt8] {
        var probe: [String: SafeTensor] = ["x": SafeTensor(x), "r": SafeTensor(r), "z_eval": SafeTensor(model.forward(x, training: false))]
        train(model, adam, steps: 1, x: x, r: r)
        for p in model.parameters { probe["after." + p.name] = SafeTensor(p.value) }
        for b in model.buffers { probe["after." + b.name] = SafeTensor(b.value) }
        return try SafeTensors.encode(probe, metadata: ["loss": "sum(z * r), training-mode forward", "optimizer": "adam lr=0.01"])
    }

    @Test func fixtureLoadsReencodesAndContinues() throws {
        var fixtureDir = fixtureURL(Self.folder)
        if ProcessInfo.processInfo.environment["FEATURELENS_WRITE_CHECKPOINT_FIXTURE"] == "1" {
            let (c, p) = try Self.makeFixture()
            fixtureDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(Self.folder)")
            try FileManager.default.createDirectory(at: fixtureDir, withIntermediateDirectories: true)
            try Data(c).write(to: fixtureDir.appendingPathComponent("mlp_adam.safetensors"))
            try Data(p).write(to: fixtureDir.appendingPathComponent("mlp_adam_probe.safetensors"))
        }
        let url = fixtureDir.appendingPathComponent("mlp_adam.safetensors")
        let fixture = try [UInt8](Data(contentsOf: url))
        let model = try makeEncoder(seed: 99, backboneBias: false)
        let adam = try Adam(parameters: model.parameters, learningRate: 0.5)
        let state = try Checkpoint.load(from: url, into: model, optimizer: adam)
        #expect(state.step == 2 && state.epoch == 0 && state.configJSON == Self.config)
        var g = SeededGenerator(seed: 11)
        _ = g.next()
        #expect(state.generators == ["shuffle": g])
        // The writer reproduces the fixture byte for byte from the loaded state.
        let (t, m) = try Checkpoint.encode(model: model, optimizer: adam, state: state)
        #expect(try SafeTensors.encode(t, metadata: m) == fixture)
        // The loaded model and optimizer continue as the run that wrote the fixture did.
        let probe = try SafeTensors.read(contentsOf: fixtureDir.appendingPathComponent("mlp_adam_probe.safetensors"))
        let x = try probe.tensor("x", as: Float.self), r = try probe.tensor("r", as: Float.self)
        let z = model.forward(x, training: false).scalars
        let zRef = try probe.tensor("z_eval", as: Float.self).scalars
        #expect(zip(z, zRef).allSatisfy { abs($0 - $1) <= 1e-5 })
        train(model, adam, steps: 1, x: x, r: r)
        for p in model.parameters {
            let ref = try probe.tensor("after." + p.name, as: Float.self).scalars
            #expect(zip(p.value.scalars, ref).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(p.name)")
        }
        for b in model.buffers {
            let ref = try probe.tensor("after." + b.name, as: Float.self).scalars
            #expect(zip(b.value.scalars, ref).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(b.name)")
        }
    }
}
