// Runs a real-image preset (issue 7 item 5): loads Fashion-MNIST (or any MNIST-layout folder),
// trains one encoder per setting with the `Trainer`, audits the frozen encoder at the audit
// steps, and returns the `report.json` document (docs/REPORT_SCHEMA.md).
//
// Per setting and audit step t (t = 0 is the untrained baseline):
//   h, z ← encoder(x) in eval mode for the probe-train images [n_probe, 1 + k, 28, 28] and the
//          test images [n_test, 1 + k, 28, 28] (k RandBits channels: the example's own bits)
//   probes ← EmbeddingAuditor (ridge, balanced accuracy): class (within coarse, if asked),
//            coarse, bit0…bit{k−1}; metrics ← RepresentationMetrics of the test embeddings;
//   pca    ← PCAProjection of the first `pca_points` test embeddings, labels class and coarse.

import Foundation
import FeatureLensNumerics
import Logging

/// A real-image run that cannot start.
public enum ImageRunnerError: Error, CustomStringConvertible, Equatable {
    /// The dataset folder or one of its files is missing.
    case datasetMissing(folder: String, detail: String)
    /// The preset has no settings.
    case emptyPreset(String)
    /// A setting's config does not fit the loaded data (e.g. a subset larger than the split).
    case invalidSetting(setting: String, detail: String)

    public var description: String {
        switch self {
        case let .datasetMissing(folder, detail):
            return "Fashion-MNIST not found in \(folder): \(detail). Install Debian's package with "
                + "`apt-get install dataset-fashion-mnist` (files under /usr/share/datasets/fashion-mnist), "
                + "or point data=DIR (--data) at a folder holding train-images-idx3-ubyte[.gz], "
                + "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]."
        case let .emptyPreset(name):
            return "preset \(name) has no settings to run"
        case let .invalidSetting(setting, detail):
            return "setting \(setting): \(detail)"
        }
    }
}

/// Trains and audits every setting of an `ImagePreset` and returns its report document.
///
/// Determinism: the same preset, overrides and seed give the same numbers (every random draw
/// comes from generators seeded by the config's `seed`; parallel kernels split over output
/// blocks), whatever the thread count. Settings run one after the other, each using the
/// parallel kernels.
public struct ImageRunner {
    /// Where audits and per-setting timings are logged (nil: silent).
    public var logger: Logger?
    /// Called after every optimizer step with (run label, steps done, total steps, loss).
    /// The run label names the setting, e.g. `"loss=supcon"`.
    public var progress: ((String, Int, Int, Double?) -> Void)?
    /// Checked before every optimizer step (and before each setting); true stops the run
    /// after writing the current setting's checkpoint: the document then holds the settings
    /// run so far, the last one with `interruptedAtStep` and a final audit at that step
    /// (settings not started are left out). For SIGINT/SIGTERM.
    public var shouldStop: (() -> Bool)?
    /// Where the run writes one checkpoint per setting (every `every` steps, at the end of its
    /// training, when stopped) and whether it resumes from them (RunCheckpoints.swift); nil:
    /// no checkpoints.
    public var checkpoints: CheckpointPolicy?

    /// `run.kind` of the image presets' checkpoints.
    public static let checkpointKind = "image"

    /// - Parameters:
    ///   - logger: where audits and per-setting timings are logged (info level).
    ///   - progress: called after every optimizer step with (run label, step, total steps, loss).
    public init(logger: Logger? = nil, progress: ((String, Int, Int, Double?) -> Void)? = nil) {
        self.logger = logger
        self.progress = progress
    }

    /// Runs every setting of `preset`.
    /// - Parameters:
    ///   - preset: base config and grid.
    ///   - overrides: `(key, value)` pairs applied after each setting's own (and to the
    ///     document's `config`), as `--set KEY=VALUE` gives them.
    ///   - seed: replaces the config's seed when given.
    /// - Returns: one `RunReport` per setting (two with `probe_layer = both` and a head: one per
    ///   layer, `settings.layer` telling them apart), in grid order.
    ///   A setting whose training diverges (non-finite loss or gradient) gets a run with
    ///   `divergence` set and its audits before the divergence; the other settings still run.
    /// - Throws: `ConfigError` (bad key or value), `ImageRunnerError.datasetMissing` (naming
    ///   the folder and the Debian package), `IDXError` / `ImageDatasetError` for damaged
    ///   files, `TrainerError` (divergence before any audit), `ContrastiveLossError`,
    ///   `ProbeError`; with `checkpoints`: `ResumeError`, `CheckpointError`,
    ///   `SafeTensorsError` for checkpoints that do not fit, `OutputError` when one cannot be
    ///   written.
    public func run(_ preset: ImagePreset, overrides: [(String, String)], seed: UInt64?) throws
        -> ReportDocument<ImageExperimentConfig>
    {
        guard !preset.settings.isEmpty else { throw ImageRunnerError.emptyPreset(preset.name) }
        let documentConfig = try preset.baseConfig(overrides: overrides, seed: seed)
        try documentConfig.validate()
        let configs = try preset.settings.indices.map { try preset.config(setting: $0, overrides: overrides, seed: seed) }
        for c in configs { try c.validate() }
        let labels = configs.indices.map { i in
            preset.settings[i].keys.sorted().map { "\($0)=\(configs[i].value(forKey: $0) ?? "?")" }.joined(separator: ",")
        }
        // Resume: check every checkpoint before any work.
        var resumeFiles = [SafeTensorsFile?](repeating: nil, count: configs.count)
        if let policy = checkpoints, policy.resume {
            let expected = try configs.indices.map {
                RunCheckpoints.Expected(name: labels[$0], configJSON: try RunCheckpoints.json(configs[$0]))
            }
            resumeFiles = try RunCheckpoints.checkResume(policy, kind: Self.checkpointKind, settings: expected)
        }

        // Load once: the largest subsets any setting uses, from one folder.
        let folders = Set(configs.map(\.data))
        guard folders.count == 1, let folder = folders.first else {
            throw ImageRunnerError.invalidSetting(setting: "data", detail: "every setting must read the same folder, got \(folders.sorted())")
        }
        let trainLimit = configs.contains { $0.trainLimit == 0 } ? nil : configs.map(\.trainLimit).max()
        let testLimit = configs.contains { $0.testLimit == 0 } ? nil : configs.map(\.testLimit).max()
        let loadStart = Date()
        let (train, test) = try Self.loadFashionMNIST(folder: folder, trainLimit: trainLimit, testLimit: testLimit)
        logger?.info("loaded \(folder): \(train.count) training and \(test.count) test images in \(String(format: "%.1f", Date().timeIntervalSince(loadStart))) s")
        for c in configs where c.batchSize > min(train.count, c.trainLimit == 0 ? train.count : c.trainLimit) {
            throw ImageRunnerError.invalidSetting(setting: "batch_size",
                                                  detail: "\(c.batchSize) is larger than the \(min(train.count, c.trainLimit == 0 ? train.count : c.trainLimit)) training images")
        }
        // Only now that the data loaded and fits, clear an earlier run's checkpoints (a typo in
        // `data` must not destroy resumable state); the folder is created once, here.
        if let policy = checkpoints {
            if !policy.resume { RunCheckpoints.removeAll(in: policy.folder) }
            try AtomicFile.prepareDirectory(policy.folder.appendingPathComponent(RunCheckpoints.folderName))
        }

        let savedThreads = Parallel.threadCount
        defer { Parallel.threadCount = savedThreads }
        var runs: [RunReport] = []
        for (i, config) in configs.enumerated() {
            // Settings not started when a signal arrives are left out of the partial report.
            if i > 0, shouldStop?() == true { break }
            if config.threads > 0 { Parallel.threadCount = config.threads }
            let keys = preset.settings[i].keys.sorted()
            let label = labels[i]
            let settings = Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.settingValue(config.value(forKey: $0) ?? "")) })
            let start = Date()
            let setting = try runSetting(config, settings: settings, label: label, train: train, test: test,
                                         checkpointDirectory: checkpoints.map { RunCheckpoints.directory(in: $0.folder, setting: i, name: label) },
                                         checkpointEvery: checkpoints?.every ?? 0, resumeFrom: resumeFiles[i])
            runs += setting
            logger?.info("\(preset.name) [\(label)]: \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            if setting.contains(where: { $0.interruptedAtStep != nil }) { break }
        }
        return ReportDocument(preset: preset.name, config: documentConfig, runs: runs,
                              provenance: Provenance.current(seed: documentConfig.seed))
    }

    /// Loads Fashion-MNIST (label sets `class` and `coarse`) from `folder`.
    /// - Throws: `ImageRunnerError.datasetMissing` when the folder or a file is missing;
    ///   `IDXError` / `ImageDatasetError` for damaged files.
    public static func loadFashionMNIST(folder: String, trainLimit: Int?, testLimit: Int?) throws
        -> (train: ImageDataset, test: ImageDataset)
    {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ImageRunnerError.datasetMissing(folder: folder, detail: "the folder does not exist")
        }
        do {
            return try FashionMNIST.load(directory: URL(fileURLWithPath: folder), trainLimit: trainLimit, testLimit: testLimit)
        } catch let ImageDatasetError.missingFile(directory, candidates) {
            throw ImageRunnerError.datasetMissing(folder: directory,
                                                  detail: "no file named \(candidates.joined(separator: " or "))")
        }
    }

    /// A setting value as a typed report value: Int, then Double, then Bool, else String.
    static func settingValue(_ s: String) -> SettingValue {
        if let i = Int(s) { return .int(i) }
        if let d = Double(s) { return .double(d) }
        if s == "true" || s == "false" { return .bool(s == "true") }
        return .string(s)
    }

    // MARK: One setting

    /// Trains one config and audits it; one `RunReport` per probed layer. With a checkpoint
    /// directory it saves there every `checkpointEvery` steps (0: only at the end and when
    /// stopped); with `resumeFrom` it continues from that checkpoint and keeps its audits.
    func runSetting(_ config: ImageExperimentConfig, settings: [String: SettingValue], label: String,
                    train fullTrain: ImageDataset, test fullTest: ImageDataset,
                    checkpointDirectory: URL? = nil, checkpointEvery: Int = 0,
                    resumeFrom: SafeTensorsFile? = nil) throws -> [RunReport] {
        let n = config.trainCount(available: fullTrain.count)
        let nTest = config.testLimit == 0 ? fullTest.count : min(config.testLimit, fullTest.count)
        let nProbe = config.probeTrain == 0 ? n : min(config.probeTrain, n)
        guard n >= config.batchSize else {
            throw ImageRunnerError.invalidSetting(setting: label, detail: "batch_size \(config.batchSize) exceeds the \(n) training images")
        }
        guard nTest >= 2, nProbe >= 2 else {
            throw ImageRunnerError.invalidSetting(setting: label, detail: "probes need ≥ 2 training and ≥ 2 test images (probe_train \(nProbe), test_limit \(nTest))")
        }
        let train = n == fullTrain.count ? fullTrain : fullTrain.subset(Array(0..<n))
        let test = nTest == fullTest.count ? fullTest : fullTest.subset(Array(0..<nTest))
        let probeSet = nProbe == n ? train : train.subset(Array(0..<nProbe))
        let total = config.totalSteps(trainCount: n)
        let auditSteps = try config.resolvedAuditSteps(totalSteps: total)

        // RandBits: the training bits (shared or per view), and each audit image's own bits
        // (the probe-train images carry the same bits as in training; the test split its own).
        let k = config.bits
        let trainBitsSeed = config.seed &+ 0xB175_0000_0000_0001
        let testBitsSeed = config.seed &+ 0x7E57_B175_0000_0002
        let trainingBits = k > 0 ? try RandBits(bitCount: k, mode: config.bitsMode.randBitsMode, seed: trainBitsSeed) : nil
        let probeBits = try RandBits(bitCount: k, mode: .shared, seed: trainBitsSeed)
        let testBits = try RandBits(bitCount: k, mode: .shared, seed: testBitsSeed)
        var unused = SeededGenerator(seed: 0)  // Shared-mode bits draw nothing from it.
        let probeImages = k > 0 ? probeBits.appending(to: probeSet.images, exampleIndices: Array(0..<nProbe), using: &unused)
                                : probeSet.images
        let testImages = k > 0 ? testBits.appending(to: test.images, exampleIndices: Array(0..<nTest), using: &unused)
                               : test.images

        // Label sets read by the probes.
        var auditTrainLabels = [try probeSet.labels("class"), try probeSet.labels("coarse")]
        var auditTestLabels = [try test.labels("class"), try test.labels("coarse")]
        if k > 0 {
            auditTrainLabels += try probeBits.labelSets(forExamples: Array(0..<nProbe))
            auditTestLabels += try testBits.labelSets(forExamples: Array(0..<nTest))
        }
        let within = config.classWithin == "none" ? [:] : ["class": config.classWithin]
        let auditor = EmbeddingAuditor(configuration: AuditConfiguration(probe: config.probe, measure: .balanced, within: within))
        let pcaLabels = ["class": try test.labels("class").codes, "coarse": try test.labels("coarse").codes]

        // Model, loss, optimizer, views.
        var initGenerator = SeededGenerator(seed: config.seed)
        let headSpec = config.hasHead ? ProjectionHeadSpec(hiddenDimension: config.backboneWidth, outputDimension: config.p) : nil
        let channels = train.channels + k
        let encoder: Encoder<Float>
        switch config.encoder {
        case .convnet:
            encoder = try ImageEncoders.convNet(inputChannels: channels, height: train.height, width: train.width,
                                                featureDimension: config.featureWidth, head: headSpec, using: &initGenerator)
        case .mlp:
            encoder = try ImageEncoders.mlp(inputShape: [channels, train.height, train.width], hiddenWidths: config.mlpHidden,
                                            featureDimension: config.featureWidth, head: headSpec, using: &initGenerator)
        }
        let loss = try Self.makeLoss(config)
        let labels = loss.requiresLabels ? try train.labels(config.trainLabel).codes : nil
        let viewMaker = TwoViewAugmenter(augmentation: try Self.makeAugmentation(config), randBits: trainingBits)
        let trainerConfiguration = TrainerConfiguration(batchSize: config.batchSize, shuffle: true, dropLast: true,
                                                        seed: config.seed, callbacks: .steps(auditSteps))
        let trainer: Trainer
        switch config.optimizer {
        case .adam:
            let adam = try Adam<Float>(parameters: encoder.parameters, learningRate: config.lr, weightDecay: config.weightDecay)
            trainer = try Trainer(encoder: encoder, loss: loss, optimizer: adam, inputs: train.images, labels: labels,
                                  viewMaker: viewMaker, configuration: trainerConfiguration)
        case .sgd:
            let sgd = try SGD<Float>(parameters: encoder.parameters, learningRate: config.lr, momentum: config.momentum,
                                     weightDecay: config.weightDecay)
            trainer = try Trainer(encoder: encoder, loss: loss, optimizer: sgd, inputs: train.images, labels: labels,
                                  viewMaker: viewMaker, configuration: trainerConfiguration)
        }
        trainer.logger = logger

        // Layers probed.
        let layers: [String]
        switch config.probeLayer {
        case .backbone: layers = ["backbone"]
        case .head: layers = [config.hasHead ? "head" : "backbone"]
        case .both: layers = config.hasHead ? ["backbone", "head"] : ["backbone"]
        }
        var timelines = [[TimelineEntry]](repeating: [], count: layers.count)
        let pcaPoints = config.pcaPoints
        let logger = self.logger
        let learningRate = config.lr
        trainer.callback = { event in
            let probeOut = Self.embed(event.encoder, probeImages)
            let testOut = Self.embed(event.encoder, testImages)
            // Non-finite embeddings (the weights blew up before the loss did) are a divergence,
            // reported like one, with the audits before it kept.
            for layer in layers {
                let useHead = layer == "head"
                for t in useHead ? [probeOut.z, testOut.z] : [probeOut.h, testOut.h] where Trainer.firstNonFinite(t) != nil {
                    let e = TrainerError.nonFinite(step: event.step, quantity: "\(layer) embedding",
                                                   hint: "Likely cause: the learning rate \(learningRate) is too large (try 10× smaller).")
                    logger?.error("[\(label)] \(e.description)")
                    throw e
                }
            }
            for (li, layer) in layers.enumerated() {
                let useHead = layer == "head"
                let tr = useHead ? probeOut.z : probeOut.h
                let te = useHead ? testOut.z : testOut.h
                var entry = try auditor.audit(step: event.step, loss: event.loss.map(Double.init), train: tr,
                                              trainLabels: auditTrainLabels, test: te, testLabels: auditTestLabels,
                                              layer: layer)
                if pcaPoints > 0 {
                    entry.pca = try PCAProjection.compute(Tensor<Double>(te), labels: pcaLabels, maxPoints: pcaPoints)
                }
                timelines[li].append(entry)
                let shown = ["class", "coarse"].compactMap { l in entry.probes[l].map { "\(l) \(String(format: "%.3f", $0))" } }
                logger?.info("[\(label)] step \(event.step)/\(total) \(layer): \(shown.joined(separator: ", "))")
            }
        }
        if let progress {
            trainer.stepObserver = { record in progress(label, record.step + 1, total, Double(record.loss)) }
        }
        trainer.shouldStop = shouldStop

        // Resume: weights, optimizer, position, view generator and the audits so far.
        let start = Date()
        var priorSeconds = 0.0
        if let file = resumeFrom {
            let state = try trainer.restoreCheckpoint(file)
            guard state.step <= total else {
                throw CheckpointError.invalidMetadata(file: file.file, field: "step", expected: "≤ \(total) (the run's total steps)", found: "\(state.step)")
            }
            let saved = try RunCheckpoints.decode([[TimelineEntry]].self, field: "run.timeline", of: file)
            guard saved.count == layers.count else {
                throw ResumeError.unreadable(file: file.file, field: "run.timeline",
                                             detail: "holds \(saved.count) layer timelines; expected \(layers.count) (\(layers.joined(separator: ", ")))")
            }
            // Resumed at step 0 (and not finished) the trainer audits the baseline again.
            if state.step > 0 || total == 0 { timelines = saved }
            priorSeconds = Double(state.metadata["run.wall_seconds"] ?? "") ?? 0
        }
        let configJSON = try RunCheckpoints.json(config)
        let scheduled = Set(auditSteps)
        func save() throws {
            guard let dir = checkpointDirectory else { return }
            try AtomicFile.prepareDirectory(dir)
            let audits = timelines.map { $0.filter { scheduled.contains($0.step) } }
            try trainer.saveCheckpoint(to: dir, configJSON: configJSON, metadata: [
                "run.kind": Self.checkpointKind, "run.setting": label,
                "run.timeline": try RunCheckpoints.json(audits),
                "run.wall_seconds": "\(priorSeconds + Date().timeIntervalSince(start))",
            ])
        }

        var interruptedAt: Int? = nil
        var divergence: String? = nil
        if resumeFrom == nil || trainer.step < total {
            let every = checkpointDirectory == nil ? 0 : checkpointEvery
            do {
                repeat {
                    let target = every > 0 ? min(total, (trainer.step / every + 1) * every) : total
                    let summary = try trainer.run(untilStep: target)
                    if summary.cancelled { interruptedAt = trainer.step; break }
                    try save()
                } while trainer.step < total
            } catch let e as TrainerError {
                // Divergence: the last good checkpoint stays; report the audits before it.
                guard case .nonFinite = e, timelines.allSatisfy({ !$0.isEmpty }) else { throw e }
                divergence = e.description  // the trainer has logged it
            }
        }
        if let t = interruptedAt {
            try save()
            // The partial report ends at the step reached.
            if !scheduled.contains(t) {
                try trainer.callback?(TrainingEvent(step: t, epoch: trainer.epoch, loss: trainer.lastLoss, encoder: encoder))
            }
        }

        let labelNames = auditTrainLabels.map(\.name)
        return try layers.indices.map { li in
            var s = settings
            if layers.count > 1 { s["layer"] = .string(layers[li]) }
            var run = try RunReport(settings: s, probe: config.probe, measure: .balanced, labels: labelNames,
                                    within: within, layer: layers[li], timeline: timelines[li])
            run.interruptedAtStep = interruptedAt
            run.divergence = divergence
            return run
        }
    }

    /// The loss of `config`.
    /// - Throws: `ContrastiveLossError` for a bad temperature or weight.
    static func makeLoss(_ config: ImageExperimentConfig) throws -> any ContrastiveLoss {
        switch config.loss {
        case .supcon: return try SupConLoss(temperature: config.temperature)
        case .ntxent: return try InfoNCELoss(temperature: config.temperature)
        case .joint: return try JointLoss.supConPlusNTXent(temperature: config.temperature, lambda: config.lambda)
        case .spectralSCL: return try SpectralContrastiveLoss(pairing: .supervised)
        case .spectralUCL: return try SpectralContrastiveLoss(pairing: .unsupervised)
        case .spectralJoint: return try SpectralContrastiveLoss(pairing: .joint(beta: config.beta))
        }
    }

    /// The per-view augmentation of `config` (`none` → identity).
    /// - Throws: `AugmentationError` or `ConfigError` for bad parameters.
    static func makeAugmentation(_ config: ImageExperimentConfig) throws -> any ImageAugmentation {
        try ImageExperimentConfig.checkAugmentation(config.augmentation)
        if config.augmentation == "none" { return Compose([]) }
        let tokens = Set(config.augmentation.split(separator: "+").map(String.init))
        var steps: [any ImageAugmentation] = []
        if tokens.contains("crop") { steps.append(try RandomResizedCrop(scale: config.cropScale...1.0)) }
        if tokens.contains("flip") { steps.append(try HorizontalFlip(probability: 0.5)) }
        if tokens.contains("noise") { steps.append(try GaussianNoise(standardDeviation: config.noiseStd)) }
        if tokens.contains("erase") { steps.append(try RandomErasing(probability: 0.5)) }
        return Compose(steps)
    }

    /// Eval-mode features h `[n, embedding]` and embeddings z `[n, p]` of `images`, in chunks
    /// of 500 images (bounded memory).
    static func embed(_ encoder: Encoder<Float>, _ images: Tensor<Float>) -> (h: Tensor<Float>, z: Tensor<Float>) {
        let n = images.shape[0], chunk = 500
        var h: [Float] = [], z: [Float] = []
        var hw = 0, zw = 0
        var start = 0
        while start < n {
            let end = min(n, start + chunk)
            let out = encoder.encode(images.rows(start..<end), training: false)
            hw = out.features.rowWidth
            zw = out.embedding.rowWidth
            h += out.features.scalars
            z += out.embedding.scalars
            start = end
        }
        return (Tensor(shape: [n, hw], scalars: h), Tensor(shape: [n, zw], scalars: z))
    }
}
