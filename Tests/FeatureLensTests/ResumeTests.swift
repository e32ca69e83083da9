// Resuming runs from checkpoints: the linear engine's checkpoints (LinearCheckpoint),
// the Trainer's complete checkpoints, and preset runs stopped at a random step and resumed,
// which must end bit for bit where an uninterrupted run does. (The same through the CLI with
// a real SIGINT: Tests/featurelensTests/ResumeCLITests.swift.)
import Foundation
import Synchronization
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

private func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Every tensor of a checkpoint file as raw bytes (bit-for-bit comparisons).
private func tensorBytes(_ url: URL) throws -> [String: [UInt8]] {
    try SafeTensors.read(contentsOf: url).tensors.mapValues(\.bytes)
}

/// A `shouldStop` that answers true from its `after`-th call on (one call per training step).
private final class StopAfter: Sendable {
    let calls = Atomic<Int>(0)
    let after: Int
    init(after: Int) { self.after = after }
    var closure: @Sendable () -> Bool { { self.calls.add(1, ordering: .relaxed).newValue > self.after } }
}

/// A small class-collapse config (d = 120, n = 24).
private func smallConfig(steps: Int = 300, online: Bool = false) -> SyntheticExperimentConfig {
    var c = SyntheticExperimentConfig()
    c.d = 120; c.n = 24; c.nTest = 60; c.p = 4; c.steps = steps; c.auditSteps = [0, steps / 7, steps / 2, steps]
    c.data = online ? .fsA : .cc; c.k = 2; c.onlineAugmentation = online
    return c
}

/// Checks that `body` throws an error of type `E` accepted by `matches`, whose message starts with `file`.
private func expectError<E: Error & CustomStringConvertible>(_: E.Type, file: String, sourceLocation: SourceLocation = #_sourceLocation,
                                                             _ body: () throws -> Void, _ matches: (E) -> Bool) {
    do {
        try body()
        Issue.record("expected \(E.self)", sourceLocation: sourceLocation)
    } catch let e as E {
        #expect(matches(e), "unexpected error: \(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix(file + ": "), "message must name the file: \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("wrong error type: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct LinearEngineResumeTests {
    /// One setting stopped at a random step and resumed from its checkpoint ends with the
    /// uninterrupted run's weights, Gram coefficients and audits, bit for bit (Gram-space
    /// step, and the direct step with online augmentation, whose view stream is saved).
    @Test(arguments: [false, true])
    func settingStoppedAtARandomStepResumesBitForBit(online: Bool) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = smallConfig(online: online)
        let preset = SyntheticPreset(name: "x", summary: "", base: config, settings: [PresetSetting(values: [:], overrides: [])])
        func run(_ folder: URL, resume: Bool = false, stop: (@Sendable () -> Bool)? = nil) throws -> RunReport {
            var runner = ExperimentRunner(concurrency: 1, checkpoints: CheckpointPolicy(folder: folder, every: 50, resume: resume))
            runner.shouldStop = stop
            return try runner.run(preset).runs[0]
        }
        let full = dir.appendingPathComponent("full"), part = dir.appendingPathComponent("part")
        let reference = try run(full)

        let stopAt = Int.random(in: 1..<config.steps)
        let stopped = try run(part, stop: StopAfter(after: stopAt).closure)
        #expect(stopped.interruptedAtStep == stopAt, "stopped at \(String(describing: stopped.interruptedAtStep)), asked \(stopAt)")
        #expect(stopped.timeline.last?.step == stopAt)
        let checkpoint = try SafeTensors.read(contentsOf: Checkpoint.url(in: RunCheckpoints.directory(in: part, setting: 0, name: "")))
        #expect(checkpoint.metadata["step"] == String(stopAt))

        let resumed = try run(part, resume: true)
        let same = resumed == reference  // timeline and theory (a Bool, so a failure prints no dump)
        #expect(same, "random stop step \(stopAt)")
        #expect(resumed.interruptedAtStep == nil)
        #expect(reference.theory != nil || online)
        let a = try tensorBytes(Checkpoint.url(in: RunCheckpoints.directory(in: full, setting: 0, name: "")))
        let b = try tensorBytes(Checkpoint.url(in: RunCheckpoints.directory(in: part, setting: 0, name: "")))
        #expect(Set(a.keys) == (online ? ["weight", "gd.initial_weight", "rng.online"] : ["weight", "gd.initial_weight", "gd.gram_coefficients"]))
        let sameTensors = a == b
        #expect(sameTensors, "final checkpoint tensors differ after a stop at step \(stopAt)")
    }

    /// A synthetic checkpoint written before timelines were `TimelineEntry` lists (its
    /// `run.timeline` one flat list of audit records: step, loss, probes, feature_weights,
    /// metrics, pca) still resumes, to the uninterrupted result.
    @Test func oldFormatSyntheticCheckpointStillResumes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = SyntheticPreset(name: "x", summary: "", base: smallConfig(), settings: [PresetSetting(values: [:], overrides: [])])
        func run(_ folder: URL, resume: Bool = false, stop: (@Sendable () -> Bool)? = nil) throws -> RunReport {
            var runner = ExperimentRunner(concurrency: 1, checkpoints: CheckpointPolicy(folder: folder, every: 50, resume: resume))
            runner.shouldStop = stop
            return try runner.run(preset).runs[0]
        }
        let reference = try run(dir.appendingPathComponent("full"))
        let part = dir.appendingPathComponent("part")
        let stopped = try run(part, stop: StopAfter(after: 200).closure)
        #expect(stopped.interruptedAtStep == 200)
        // Rewrite the checkpoint's timeline in the old flat format.
        struct OldAudit: Encodable {
            var step: Int; var loss: Double; var probes: [String: Double]; var feature_weights: [String: Double]
        }
        let url = Checkpoint.url(in: RunCheckpoints.directory(in: part, setting: 0, name: ""))
        let file = try SafeTensors.read(contentsOf: url)
        let entries = try JSONDecoder().decode([[TimelineEntry]].self, from: Data(try #require(file.metadata["run.timeline"]).utf8))
        #expect(entries.count == 1 && entries[0].map(\.step) == [0, 42, 150])
        let old = entries[0].map { OldAudit(step: $0.step, loss: $0.loss!, probes: $0.probes, feature_weights: $0.featureWeights!) }
        var metadata = file.metadata
        metadata["run.timeline"] = String(decoding: try JSONEncoder().encode(old), as: UTF8.self)
        try SafeTensors.write(file.tensors, metadata: metadata, to: url)
        let resumed = try run(part, resume: true)
        // The old format has no standard errors: the audits restored from it (steps ≤ 150)
        // carry none; everything else equals the uninterrupted run.
        var expected = reference
        for i in expected.timeline.indices where expected.timeline[i].step <= 150 { expected.timeline[i].standardError = nil }
        // … and so do the summaries that read them (the baseline's standard error).
        let summaries = try FeatureReport(timeline: expected.timeline, labels: expected.labels, within: expected.within,
                                          thresholds: expected.thresholds)
        expected.features = summaries.features
        expected.verdicts = summaries.verdicts
        #expect(resumed.timeline.filter { $0.step <= 150 }.allSatisfy { $0.standardError == nil })
        #expect(resumed.timeline.filter { $0.step > 150 }.allSatisfy { $0.standardError != nil })
        let same = resumed == expected
        #expect(same)
    }

    @Test func linearCheckpointRoundTripsAndRejectsWhatDoesNotFit() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 5)
        let training = LinearTrainingState(step: 7, method: .gram, initialWeights: Tensor(randomNormal: [3, 10], using: &g),
                                           weights: Tensor(randomNormal: [3, 10], using: &g),
                                           gramCoefficients: Tensor(randomNormal: [8, 3], using: &g), loss: -1.25)
        let state = CheckpointState(step: 0, epoch: 0, configJSON: #"{"lr":0.5}"#, metadata: ["run.note": "x"])
        let url = try LinearCheckpoint.save(training, learningRate: 0.5, state: state, to: dir)
        let file = try SafeTensors.read(contentsOf: url)
        let (back, header) = try LinearCheckpoint.restore(file, p: 3, d: 10, m: 8, method: .gram, learningRate: 0.5, online: false)
        #expect(back == training)
        #expect(header.step == 7 && header.epoch == 7 && header.configJSON == #"{"lr":0.5}"# && header.metadata == ["run.note": "x"])
        #expect(file.tensors["weight"]?.dtype == .F64)

        let path = url.path
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(file, p: 4, d: 10, m: 8, method: .gram, learningRate: 0.5, online: false) }) {
            $0 == .shapeMismatch(file: path, tensor: "weight", expected: [4, 10], found: [3, 10])
        }
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(file, p: 3, d: 10, m: 8, method: .direct, learningRate: 0.5, online: false) }) {
            if case .invalidMetadata(_, "gd.method", _, _) = $0 { return true }; return false
        }
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(file, p: 3, d: 10, m: 8, method: .gram, learningRate: 0.25, online: false) }) {
            if case .invalidMetadata(_, "gd.learning_rate", _, _) = $0 { return true }; return false
        }
        var poisoned = file
        var b = poisoned.tensors["gd.gram_coefficients"]!.float64Values!
        b[4] = .nan
        poisoned.tensors["gd.gram_coefficients"] = SafeTensor(float64: b, shape: [8, 3])
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(poisoned, p: 3, d: 10, m: 8, method: .gram, learningRate: 0.5, online: false) }) {
            $0 == .nonFinite(file: path, tensor: "gd.gram_coefficients", index: 4)
        }
        var extra = file
        extra.tensors["backbone.0.weight"] = SafeTensor(float64: [1], shape: [1])
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(extra, p: 3, d: 10, m: 8, method: .gram, learningRate: 0.5, online: false) }) {
            $0 == .unexpectedTensor(file: path, tensor: "backbone.0.weight")
        }
        var missing = file
        missing.tensors["gd.initial_weight"] = nil
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(missing, p: 3, d: 10, m: 8, method: .gram, learningRate: 0.5, online: false) }) {
            $0 == .missingTensor(file: path, tensor: "gd.initial_weight", expectedShape: [3, 10])
        }
        var direct = training
        direct.method = .direct; direct.gramCoefficients = nil
        let durl = try LinearCheckpoint.save(direct, learningRate: 0.5, state: state, to: dir)
        let dfile = try SafeTensors.read(contentsOf: durl)
        expectError(CheckpointError.self, file: path, { _ = try LinearCheckpoint.restore(dfile, p: 3, d: 10, m: 8, method: .direct, learningRate: 0.5, online: true) }) {
            $0 == .invalidGeneratorState(file: path, tensor: "rng.online", detail: "missing; expected the online-augmentation stream, U64 [4]")
        }
        // Caller metadata may not use the reserved keys.
        #expect(throws: CheckpointError.nameCollision(file: path, name: "gd.method")) {
            try LinearCheckpoint.save(training, learningRate: 0.5, state: CheckpointState(step: 0, epoch: 0, metadata: ["gd.method": "x"]), to: dir)
        }
    }
}

@Suite struct TrainerCheckpointResumeTests {
    private static let d = 8, n = 48

    private static func trainer(initSeed: UInt64, batchSize: Int = 16) throws -> Trainer {
        var g = SeededGenerator(seed: initSeed)
        let encoder = Encoder(backbone: try MLP<Float>(widths: [d, 12, 4], using: &g))
        var dg = SeededGenerator(seed: 7)
        let x = Tensor<Float>(randomNormal: [n, d], using: &dg)
        let adam = try Adam<Float>(parameters: encoder.parameters, learningRate: 0.01)
        return try Trainer(encoder: encoder, loss: try InfoNCELoss(temperature: 0.5), optimizer: adam, inputs: x,
                           viewMaker: try GaussianNoiseViews(standardDeviation: 0.1),
                           configuration: TrainerConfiguration(batchSize: batchSize, seed: 11))
    }

    private static func bits(_ t: Trainer) -> [[UInt32]] { t.encoder.parameters.map { $0.value.scalars.map(\.bitPattern) } }

    /// A trainer saved mid-epoch and restored into a freshly initialized one continues exactly.
    @Test func trainerCheckpointResumesBitForBit() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try Self.trainer(initSeed: 3)
        try reference.run(untilStep: 20)

        let first = try Self.trainer(initSeed: 3)
        try first.run(untilStep: 7)  // 7 = 2 epochs of 3 batches + 1: mid-epoch
        try first.saveCheckpoint(to: dir, configJSON: "{}", metadata: ["run.note": "n"])
        let second = try Self.trainer(initSeed: 99)
        #expect(Self.bits(second) != Self.bits(first))
        let state = try second.restoreCheckpoint(try SafeTensors.read(contentsOf: Checkpoint.url(in: dir)))
        #expect(state.step == 7 && state.metadata["run.note"] == "n" && state.metadata["trainer.position_in_epoch"] == "16")
        #expect(second.state == first.state)
        try second.run(untilStep: 20)
        #expect(Self.bits(second) == Self.bits(reference))
        #expect(second.state == reference.state)
    }

    @Test func trainerCheckpointOfAnotherRunIsRefusedBeforeAnythingChanges() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Self.trainer(initSeed: 3)
        try first.run(untilStep: 2)
        let url = try first.saveCheckpoint(to: dir, configJSON: "{}")
        let other = try Self.trainer(initSeed: 4, batchSize: 8)
        let before = Self.bits(other)
        expectError(CheckpointError.self, file: url.path, { try other.restoreCheckpoint(try SafeTensors.read(contentsOf: url)) }) {
            if case .invalidMetadata(_, "trainer.batch_size", _, "\"16\"") = $0 { return true }; return false
        }
        #expect(Self.bits(other) == before && other.step == 0)
        #expect(throws: CheckpointError.nameCollision(file: url.path, name: "trainer.seed")) {
            try first.saveCheckpoint(to: dir, configJSON: "{}", metadata: ["trainer.seed": "1"])
        }
    }
}

@Suite struct PresetResumeTests {
    /// Three settings run one after the other; a stop at a random step leaves one finished,
    /// one stopped and one barely started (or, depending on the step, other mixes). Resuming
    /// restores the finished ones, continues the rest, and gives the uninterrupted result,
    /// the same metrics.csv, and the same final weights bit for bit.
    @Test func presetStoppedAtARandomStepResumesToTheUninterruptedResult() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = SyntheticPreset(name: "t", summary: "", base: smallConfig(steps: 200),
                                     settings: ["0.5", "0.6", "0.7"].map { PresetSetting(values: ["rho": $0], overrides: [("rho", $0)]) })
        let full = dir.appendingPathComponent("full"), part = dir.appendingPathComponent("part")
        var runner = ExperimentRunner(concurrency: 1, recordsRepresentation: true)
        runner.checkpoints = CheckpointPolicy(folder: full, every: 30)
        let reference = try runner.run(preset)

        let stopAt = Int.random(in: 1..<(3 * 200))  // shouldStop is asked once per step of each setting
        var stopping = ExperimentRunner(concurrency: 1, recordsRepresentation: true)
        stopping.checkpoints = CheckpointPolicy(folder: part, every: 30)
        stopping.shouldStop = StopAfter(after: stopAt).closure
        let stopped = try stopping.run(preset)
        // A stop inside a setting leaves it interrupted; a stop that lands between two settings
        // (the runner asks once more before starting each) leaves the rest not started.
        #expect(stopped.runs.contains { $0.interruptedAtStep != nil } || stopped.runs.count < preset.settings.count,
                "stop after \(stopAt) steps")

        var resuming = ExperimentRunner(concurrency: 2, recordsRepresentation: true)  // another thread count
        resuming.checkpoints = CheckpointPolicy(folder: part, every: 30, resume: true)
        let resumed = try resuming.run(preset)
        let same = resumed.runs == reference.runs
        #expect(same, "resumed result differs; stop after \(stopAt) steps")
        #expect(resumed.runs.count == 3 && resumed.runs.allSatisfy { $0.interruptedAtStep == nil && $0.divergence == nil })
        let docA = reference, docB = resumed
        let sameCSV = RunOutput.metricsCSV(docA) == RunOutput.metricsCSV(docB)
        #expect(sameCSV, "metrics.csv differs; stop after \(stopAt) steps")
        for (i, s) in preset.settings.enumerated() {
            let a = try tensorBytes(Checkpoint.url(in: RunCheckpoints.directory(in: full, setting: i, name: s.name)))
            let b = try tensorBytes(Checkpoint.url(in: RunCheckpoints.directory(in: part, setting: i, name: s.name)))
            let sameTensors = a == b
            #expect(sameTensors, "final checkpoint of \(s.name) differs; stop after \(stopAt) steps")
        }
        // Resuming a finished run retrains nothing and gives the same result again.
        let again = try resuming.run(preset)
        let sameAgain = again.runs == reference.runs
        #expect(sameAgain)
    }

    @Test func resumeRefusesAnotherConfigAnEmptyFolderAndAnotherGrid() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = SyntheticPreset(name: "t", summary: "", base: smallConfig(steps: 20),
                                     settings: ["0.5", "0.6"].map { PresetSetting(values: ["rho": $0], overrides: [("rho", $0)]) })
        var runner = ExperimentRunner(concurrency: 1)
        runner.checkpoints = CheckpointPolicy(folder: dir, every: 0)
        _ = try runner.run(preset)
        #expect(RunCheckpoints.existing(in: dir).map(\.lastPathComponent) == ["0-rho-0.5", "1-rho-0.6"])

        runner.checkpoints?.resume = true
        let file0 = Checkpoint.url(in: RunCheckpoints.directory(in: dir, setting: 0, name: "rho=0.5")).path
        expectError(ResumeError.self, file: file0, { _ = try runner.run(preset.applying(set: [("lr", "0.04")], grid: [])) }) {
            $0 == .configMismatch(file: file0, field: "lr", checkpoint: "0.05", requested: "0.04")
        }
        // Thread counts do not change results, so they may differ.
        #expect(try runner.run(preset.applying(set: [("threads", "2")], grid: [])).runs.count == 2)
        // Another grid: the checkpoint of rho=0.5 is not the requested setting 0.
        var other = preset
        other.settings.swapAt(0, 1)
        expectError(ResumeError.self, file: file0, { _ = try runner.run(other) }) {
            if case .settingMismatch(_, _, "rho=0.5") = $0 { return true }; return false
        }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        runner.checkpoints = CheckpointPolicy(folder: empty, every: 0, resume: true)
        expectError(ResumeError.self, file: empty.path, { _ = try runner.run(preset) }) { $0 == .nothingToResume(folder: empty.path) }

        // A fresh run (no resume) removes an earlier run's checkpoints first.
        let stray = RunCheckpoints.directory(in: dir, setting: 5, name: "gone")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file0, toPath: Checkpoint.url(in: stray).path)
        runner.checkpoints = CheckpointPolicy(folder: dir, every: 0)
        _ = try runner.run(preset)
        #expect(RunCheckpoints.existing(in: dir).map(\.lastPathComponent) == ["0-rho-0.5", "1-rho-0.6"])
        #expect(!FileManager.default.fileExists(atPath: stray.path))
    }

    @Test func checkpointFolderNames() {
        let root = URL(fileURLWithPath: "/r")
        #expect(RunCheckpoints.directory(in: root, setting: 2, name: "data=cc,beta=0.25").path == "/r/checkpoints/2-data-cc-beta-0.25")
        #expect(RunCheckpoints.directory(in: root, setting: 0, name: "").path == "/r/checkpoints/0-default")
        #expect(RunCheckpoints.slug("bits_mode=per-view/ä") == "bits_mode-per-view--")
    }
}

@Suite struct ResNetRunResumeTests {
    /// Every checkpoint file under `folder` (relative path → tensor bytes).
    private static func checkpointTensors(_ folder: URL) throws -> [String: [String: [UInt8]]] {
        var out: [String: [String: [UInt8]]] = [:]
        let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for file in files where file.pathExtension == "safetensors" {
            out[String(file.path.dropFirst(folder.path.count))] = try tensorBytes(file)
        }
        return out
    }

    /// ResNet-18 (w = 2, BatchNorm in training mode) trained through the image run pipeline on a
    /// tiny random folder in Fashion-MNIST's layout (48 training images, batch 8, 6 steps, the
    /// backbone and the BN head audited): a run stopped at a random step and resumed ends with the
    /// uninterrupted run's report and final checkpoint (weights, running statistics, momentum)
    /// bit for bit, and the uninterrupted run gives the same bits with 1 and 2 threads.
    @Test func resnet18RunResumesBitForBitAndIsThreadCountInvariant() throws {
        let data = try writeTinyFashionFolder(train: 48, test: 24)
        let dir = try tempDir()
        defer {
            try? FileManager.default.removeItem(at: data)
            try? FileManager.default.removeItem(at: dir)
        }
        var preset = ImagePresets.fashionCollapse
        preset.settings = [["loss": "supcon"]]
        preset = try preset.applying(set: [
            ("data", data.path), ("train_limit", "0"), ("test_limit", "0"), ("probe_train", "0"), ("batch_size", "8"),
            ("steps", "6"), ("audit_steps", "0,3,6"), ("pca_points", "0"), ("encoder", "resnet18"), ("resnet_width", "2"),
            ("backbone_width", "16"), ("p", "4"), ("optimizer", "sgd"), ("lr", "0.05"),
        ], grid: [])
        func run(_ folder: URL, threads: Int, resume: Bool = false, stop: (@Sendable () -> Bool)? = nil) throws -> [RunReport] {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            var runner = ExperimentRunner(concurrency: 1, checkpoints: CheckpointPolicy(folder: folder, every: 2, resume: resume))
            runner.shouldStop = stop
            return try runner.run(preset).runs
        }
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two"), part = dir.appendingPathComponent("part")
        let reference = try run(one, threads: 1)
        #expect(reference.count == 2 && reference.allSatisfy { $0.interruptedAtStep == nil && $0.timeline.map(\.step) == [0, 3, 6] })
        let referenceTensors = try Self.checkpointTensors(one)
        #expect(!referenceTensors.isEmpty)
        #expect(referenceTensors.values.contains { $0.keys.contains { $0.hasSuffix("layer4.1.bn2.running_var") } })

        let sameWithTwoThreads = try run(two, threads: 2) == reference
        #expect(sameWithTwoThreads, "the report differs between 1 and 2 threads")
        let sameTensorsWithTwoThreads = try Self.checkpointTensors(two) == referenceTensors
        #expect(sameTensorsWithTwoThreads, "the final checkpoint differs between 1 and 2 threads")

        let stopAt = Int.random(in: 1..<6)
        let stopped = try run(part, threads: 2, stop: StopAfter(after: stopAt).closure)
        #expect(stopped.contains { $0.interruptedAtStep == stopAt }, "asked to stop after \(stopAt) steps")
        let resumed = try run(part, threads: 1, resume: true)
        let same = resumed == reference
        #expect(same, "resumed report differs; stop after \(stopAt) steps")
        let sameTensors = try Self.checkpointTensors(part) == referenceTensors
        #expect(sameTensors, "resumed final checkpoint differs; stop after \(stopAt) steps")
    }
}
