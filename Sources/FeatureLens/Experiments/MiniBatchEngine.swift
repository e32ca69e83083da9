// The mini-batch engine: an encoder (ConvNet, MLP or ResNet-18) trained with the `Trainer` on
// Fashion-MNIST (or any MNIST-layout folder), CIFAR, an image-folder tree, or the MLP on a user's feature matrix
// (TabularDataset: rows as [n, 1, 1, d]), audited frozen at the audit steps.
//
// Per setting and audit step t (t = 0 is the untrained baseline):
//   h, z ← encoder(x) in eval mode for the probe-train inputs [n_probe, c + k, h, w] and the
//          test inputs [n_test, c + k, h, w] (k RandBits channels: the example's own bits)
//   probes ← EmbeddingAuditor (config.probe, logistic by default; balanced accuracy): every
//            label set of the data (class and its coarse grouping, or the columns of the labels
//            file), each FINE within COARSE of `within`, bit0…bit{k−1};
//            metrics ← RepresentationMetrics of the test embeddings;
//            geometry ← CollapseGeometry of the test embeddings (every audited label set;
//            FINE within COARSE for each `within` pair);
//            at the last step only: subclass merging ← SubclassMerging of each `within` pair;
//   pca    ← PCAProjection of the first `pca_points` test embeddings, coloured by the data's label sets.

import Foundation
import FeatureLensNumerics
import Logging

/// A real-image run that cannot start.
public enum ImageRunnerError: Error, CustomStringConvertible, Equatable {
    /// The dataset folder or one of its files is missing.
    case datasetMissing(folder: String, detail: String)
    /// A CIFAR binary folder (`data_format` = cifar10 or cifar100, or detected) or one of its
    /// files is missing; `detail` says which.
    case cifarMissing(folder: String, format: ImageDataFormat, detail: String)
    /// The preset has no settings.
    case emptyPreset(String)
    /// A setting's config does not fit the loaded data (e.g. a subset larger than the split).
    case invalidSetting(setting: String, detail: String)

    public var description: String {
        switch self {
        case let .datasetMissing(folder, detail)
            where URL(fileURLWithPath: folder).standardizedFileURL.path != FashionMNIST.defaultDirectory.standardizedFileURL.path:
            // A folder the user named: no claim that it was meant to be Fashion-MNIST.
            return "data = \(folder): \(detail). `--set data=DIR` takes a folder of PNG/JPEG images with one sub-folder "
                + "per class, a folder holding the MNIST-layout files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                + "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] (Fashion-MNIST: `apt-get install dataset-fashion-mnist` "
                + "puts them in /usr/share/datasets/fashion-mnist), or a CIFAR-10 / CIFAR-100 binary folder (data_format); "
                + "`--set data=FEATURES.npy --set labels=LABELS.csv` takes your own feature matrix."
        case let .datasetMissing(folder, detail):
            return "Fashion-MNIST not found in \(folder): \(detail). Install Debian's package with "
                + "`apt-get install dataset-fashion-mnist` (files under /usr/share/datasets/fashion-mnist), "
                + "or pass `--set data=DIR` (the config key `data`) for a folder holding train-images-idx3-ubyte[.gz], "
                + "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz], "
                + "or `--set data=DIR` for a folder of PNG/JPEG images with one sub-folder per class, "
                + "or `--set data=DIR` for a CIFAR-10 or CIFAR-100 binary folder (data_format), "
                + "or `--set data=FEATURES.npy --set labels=LABELS.csv` for your own feature matrix."
        case let .cifarMissing(folder, format, detail):
            let source = CIFARSource(format)
            return "\(source.datasetName) not found in \(folder): \(detail). --set data=DIR takes \(source.help)."
        case let .emptyPreset(name):
            return "preset \(name) has no settings to run"
        case let .invalidSetting(setting, detail):
            return "setting \(setting): \(detail)"
        }
    }
}

/// The images one setting reads: its training subset, the probe-train subset and the test
/// subset, with each audit image's RandBits channels appended.
struct ImageSplits {
    /// Training images of the setting (the first `train_limit`).
    var train: ImageDataset
    /// Test images (the first `test_limit`; all when 0).
    var test: ImageDataset
    /// Probe-train images (the first `probe_train` training images; all when 0).
    var probe: ImageDataset
    /// RandBits of training (nil when k = 0).
    var trainingBits: RandBits?
    /// The per-channel normalization of `normalize = per-channel` (nil for `none`): the config's
    /// μ and σ, or those of the setting's training images.
    var normalization: ChannelNormalization?
    /// Probe-train images `[n_probe, c + k, h, w]` with their own bits.
    var probeImages: Tensor<Float>
    /// Test images `[n_test, c + k, h, w]` with their own bits.
    var testImages: Tensor<Float>
    /// The label sets the probes read on the probe-train images: the data's (`labelNames`), bit0…
    var auditTrainLabels: [LabelSet]
    /// The same label sets on the test images.
    var auditTestLabels: [LabelSet]

    /// The subsets and audit inputs of `config`.
    /// - Throws: `ImageRunnerError.invalidSetting` when the subsets are too small for the batch
    ///   or the probes; `ImageDatasetError` for a missing label set; `RandBitsError`.
    init(_ config: ImageExperimentConfig, label: String, train fullTrain: ImageDataset, test fullTest: ImageDataset,
         labelNames: [String]) throws {
        let n = config.trainCount(available: fullTrain.count)
        let nTest = config.testCount(available: fullTest.count)
        let nProbe = config.probeTrain == 0 ? n : min(config.probeTrain, n)
        guard n >= config.batchSize else {
            throw ImageRunnerError.invalidSetting(setting: label, detail: "batch_size \(config.batchSize) exceeds the \(n) training images")
        }
        guard nTest >= 2, nProbe >= 2 else {
            throw ImageRunnerError.invalidSetting(setting: label, detail: "probes need ≥ 2 training and ≥ 2 test images (probe_train \(nProbe), test_limit \(nTest))")
        }
        train = n == fullTrain.count ? fullTrain : fullTrain.subset(Array(0..<n))
        test = nTest == fullTest.count ? fullTest : fullTest.subset(Array(0..<nTest))
        probe = nProbe == n ? train : train.subset(Array(0..<nProbe))
        normalization = try Self.normalization(config, trainImages: train.images)
        let normalize = normalization
        func prepared(_ images: Tensor<Float>) -> Tensor<Float> { normalize?.normalized(images) ?? images }

        // RandBits: the training bits (shared or per view), and each audit image's own bits
        // (the probe-train images carry the same bits as in training; the test split its own).
        let k = config.bits
        let trainBitsSeed = config.seed &+ 0xB175_0000_0000_0001
        let testBitsSeed = config.seed &+ 0x7E57_B175_0000_0002
        trainingBits = k > 0 ? try RandBits(bitCount: k, mode: config.bitsMode.randBitsMode, seed: trainBitsSeed) : nil
        let probeBits = try RandBits(bitCount: k, mode: .shared, seed: trainBitsSeed)
        let testBits = try RandBits(bitCount: k, mode: .shared, seed: testBitsSeed)
        var unused = SeededGenerator(seed: 0)  // Shared-mode bits draw nothing from it.
        // Normalized first: the bits are appended as they are (0/1), as in the training views.
        probeImages = k > 0 ? probeBits.appending(to: prepared(probe.images), exampleIndices: Array(0..<nProbe), using: &unused)
                            : prepared(probe.images)
        testImages = k > 0 ? testBits.appending(to: prepared(test.images), exampleIndices: Array(0..<nTest), using: &unused)
                           : prepared(test.images)
        let probeSet = probe, testSet = test
        auditTrainLabels = try labelNames.map { try probeSet.labels($0) }
        auditTestLabels = try labelNames.map { try testSet.labels($0) }
        if k > 0 {
            auditTrainLabels += try probeBits.labelSets(forExamples: Array(0..<nProbe))
            auditTestLabels += try testBits.labelSets(forExamples: Array(0..<nTest))
        }
    }

    /// The normalization of `config` for images whose training set is `trainImages`
    /// `[n, c, h, w]`: nil for `normalize = none`; else `normalize_mean` / `normalize_std`, or
    /// when they are `auto` the per-channel statistics of `trainImages` (`ChannelNormalization.fit`).
    /// - Throws: `ConfigError.invalidValue` naming `normalize` (a feature matrix) or
    ///   `normalize_mean` (not one value per channel).
    static func normalization(_ config: ImageExperimentConfig, trainImages: Tensor<Float>) throws -> ChannelNormalization? {
        guard config.normalize == .perChannel else { return nil }
        if config.isFeatureMatrix {
            throw ConfigError.invalidValue(key: "normalize", value: config.normalize.rawValue,
                                           expected: "none for a feature matrix (data = \(config.data) is standardized per column on its training rows already)")
        }
        let c = trainImages.shape[1]
        var mean = config.normalizeMean.values, std = config.normalizeStd.values
        if mean.isEmpty {
            (mean, std) = ChannelNormalization.fit(trainImages)
        } else if mean.count != c || std.count != c {
            throw ConfigError.invalidValue(key: "normalize_mean", value: config.normalizeMean.configString,
                                           expected: "\(c) values (one per channel of the images of \(config.data)), or auto")
        }
        return try ChannelNormalization(mean: mean, standardDeviation: std)
    }
}

/// The mini-batch engine: one image encoder trained with the `Trainer` (Adam or SGD, two
/// augmented views per example), audited frozen in eval mode at the audit steps on the
/// backbone features h and/or the head output z (`probe_layer`).
///
/// Determinism: every random draw comes from generators seeded by the config's `seed`;
/// parallel kernels split over output blocks, so the numbers do not depend on the thread count.
public final class MiniBatchEngine: TrainingEngine {
    /// `run.kind` of the image presets' checkpoints.
    public static let checkpointKind = "image"
    /// The config of this setting.
    public let config: ImageExperimentConfig
    /// The setting's label in logs (e.g. `loss=supcon`).
    public let label: String
    /// `TrainingEngine.layers` (see the protocol).
    public let layers: [String]
    /// `TrainingEngine.totalSteps` (see the protocol).
    public let totalSteps: Int
    /// `TrainingEngine.auditSteps` (see the protocol).
    public let auditSteps: [Int]
    /// `TrainingEngine.step` (see the protocol).
    public var step: Int { trainer.step }
    /// Number of test images the probes are scored on (the real count, also with `test_limit = 0`).
    public var testCount: Int { splits.test.count }

    let splits: ImageSplits
    let encoder: Encoder<Float>
    let trainer: Trainer
    let auditor: EmbeddingAuditor
    let within: [String: String]
    let pcaLabels: [String: [Int]]
    /// The data's label sets, in report order (class first for images; the labels file's
    /// column order for a feature matrix).
    let labelNames: [String]
    let logger: Logger?
    /// The scheduled audits, run behind training on a copy of the weights (`AuditPipeline`).
    let pipeline: AuditPipeline
    /// The encoder the queued audits load their snapshots into (used by the pipeline's queue only).
    let auditEncoder: Encoder<Float>

    /// Prepares a setting: subsets, audit inputs, encoder, loss, optimizer and trainer.
    /// - Parameters:
    ///   - label: the setting's label in logs and progress.
    ///   - train, test: the loaded splits (subsets are taken per `config`).
    ///   - labelNames: the label sets to audit, in report order; nil = every label set of
    ///     `train`, `class` first, the others sorted by name.
    ///   - progress: called after every optimizer step with (label, steps done, total steps, loss).
    /// - Throws: `ImageRunnerError.invalidSetting`, `ConfigError` (also for a `train_label` or
    ///   `within` label set the data does not have), `ContrastiveLossError`,
    ///   `AugmentationError`, `LayerError` for settings that cannot run.
    public init(config: ImageExperimentConfig, label: String, train: ImageDataset, test: ImageDataset,
                labelNames: [String]? = nil, logger: Logger? = nil,
                progress: ((String, Int, Int, Double?) -> Void)? = nil) throws {
        self.config = config
        self.label = label
        self.logger = logger
        let names = labelNames ?? train.labelSets.keys.sorted { ($0 == "class" ? 0 : 1, $0) < ($1 == "class" ? 0 : 1, $1) }
        try config.checkLabelSets(names, source: config.isFeatureMatrix ? "the labels file \(config.labels)" : "data = \(config.data)")
        self.labelNames = names
        splits = try ImageSplits(config, label: label, train: train, test: test, labelNames: names)
        totalSteps = config.totalSteps(trainCount: splits.train.count)
        auditSteps = try config.resolvedAuditSteps(totalSteps: totalSteps)
        // The config's pairs over the label sets' own nesting (an image-folder tree reads each
        // level within the one above it).
        within = EmbeddingAuditor.effectiveWithin(config.withinPairs, labels: names.compactMap { train.labelSets[$0] })
        auditor = EmbeddingAuditor(configuration: AuditConfiguration(probe: config.probe, measure: .balanced, within: within))
        let testSplit = splits.test
        pcaLabels = Dictionary(uniqueKeysWithValues: try names.map { ($0, try testSplit.labels($0).codes) })
        encoder = try Self.makeEncoder(config, channels: splits.train.channels + config.bits,
                                       height: splits.train.height, width: splits.train.width)
        trainer = try Self.makeTrainer(config, encoder: encoder, splits: splits, auditSteps: auditSteps,
                                       trainLabel: config.resolvedTrainLabel(labelNames: names))
        trainer.logger = logger
        layers = Self.probedLayers(config)
        auditEncoder = try Self.makeEncoder(config, channels: splits.train.channels + config.bits,
                                            height: splits.train.height, width: splits.train.width)
        pipeline = AuditPipeline(label: label, capacity: AuditPipeline.capacity(snapshotBytes: EncoderSnapshot.bytes(of: encoder)))
        trainer.callback = { [unowned self] event in try self.queueAudit(step: event.step, loss: event.loss) }
        if let progress {
            let total = totalSteps
            trainer.stepObserver = { record in progress(label, record.step + 1, total, Double(record.loss)) }
        }
    }

    /// The layers `probe_layer` names (the head only when the encoder has one).
    static func probedLayers(_ config: ImageExperimentConfig) -> [String] {
        switch config.probeLayer {
        case .backbone: return ["backbone"]
        case .head: return [config.hasHead ? "head" : "backbone"]
        case .both: return config.hasHead ? ["backbone", "head"] : ["backbone"]
        }
    }

    /// The encoder of `config` (ConvNet, MLP or ResNet-18, with its projection head when `backbone_width > 0`).
    /// - Throws: `LayerError` for shapes the encoder cannot take.
    static func makeEncoder(_ config: ImageExperimentConfig, channels: Int, height: Int, width: Int) throws -> Encoder<Float> {
        var initGenerator = SeededGenerator(seed: config.seed)
        let headSpec = config.hasHead ? ProjectionHeadSpec(hiddenDimension: config.backboneWidth, outputDimension: config.p) : nil
        switch config.encoder {
        case .convnet:
            return try ImageEncoders.convNet(inputChannels: channels, height: height, width: width,
                                             featureDimension: config.featureWidth, head: headSpec, using: &initGenerator)
        case .mlp:
            return try ImageEncoders.mlp(inputShape: [channels, height, width], hiddenWidths: config.mlpHidden,
                                         featureDimension: config.featureWidth, head: headSpec, using: &initGenerator)
        case .resnet18:
            let pooled = 8 * config.resnetWidth
            return try ImageEncoders.resnet18(inputChannels: channels, height: height, width: width, baseWidth: config.resnetWidth,
                                              featureDimension: config.featureWidth == pooled ? nil : config.featureWidth,
                                              head: headSpec, using: &initGenerator)
        }
    }

    /// The trainer of `config`: loss, views (augmentation + RandBits), optimizer, audit schedule.
    /// - Throws: `ContrastiveLossError`, `AugmentationError`, `OptimizerError`, `TrainerError`.
    static func makeTrainer(_ config: ImageExperimentConfig, encoder: Encoder<Float>, splits: ImageSplits,
                            auditSteps: [Int], trainLabel: String) throws -> Trainer {
        let loss = try makeLoss(config)
        let labels = loss.requiresLabels ? try splits.train.labels(trainLabel).codes : nil
        var augmentation = try makeAugmentation(config, channels: splits.train.channels)
        var inputs = splits.train.images
        if let n = splits.normalization {
            // After the random steps (they work on [0, 1] pixels); without any, the training
            // images are normalized once and the views stay equal to the input (encoded once).
            if augmentation.isIdentity { inputs = n.normalized(inputs) } else { augmentation = Compose([augmentation, n]) }
        }
        let viewMaker = TwoViewAugmenter(augmentation: augmentation, randBits: splits.trainingBits)
        let configuration = TrainerConfiguration(batchSize: config.batchSize, shuffle: true, dropLast: true,
                                                 seed: config.seed, callbacks: .steps(auditSteps))
        switch config.optimizer {
        case .adam:
            let adam = try Adam<Float>(parameters: encoder.parameters, learningRate: config.lr, weightDecay: config.weightDecay)
            return try Trainer(encoder: encoder, loss: loss, optimizer: adam, inputs: inputs, labels: labels,
                               viewMaker: viewMaker, configuration: configuration)
        case .sgd:
            let sgd = try SGD<Float>(parameters: encoder.parameters, learningRate: config.lr, momentum: config.momentum,
                                     weightDecay: config.weightDecay)
            return try Trainer(encoder: encoder, loss: loss, optimizer: sgd, inputs: inputs, labels: labels,
                               viewMaker: viewMaker, configuration: configuration)
        }
    }

    /// `TrainingEngine.train` (see the protocol).
    ///
    /// The scheduled audits run behind training (`AuditPipeline`): each takes a copy of the
    /// weights at its step, training goes on, and this call waits for them before it returns,
    /// handing them to `onAudit` in step order. So training starts at once (the step-0 audit of
    /// a large probe set no longer holds back the first update) and every audit gives the
    /// numbers it gives in place. An audit that finds a non-finite embedding (weights that blew
    /// up before the loss did) ends training as a divergence at its step: the trainer stops at
    /// its next scheduled audit, and the audits after the failed one are dropped.
    public func train(until target: Int, shouldStop: (() -> Bool)?,
                      onAudit: ([TimelineEntry]) throws -> Void) throws -> EngineProgress {
        trainer.shouldStop = shouldStop
        defer { trainer.shouldStop = nil }
        let summary: TrainingSummary
        do {
            summary = try trainer.run(untilStep: target)
        } catch {
            // A failed audit (rethrown by the trainer's callback) or the trainer's own error:
            // the earlier of the two decides, after the audits before it are delivered.
            if let divergence = try deliverAudits(onAudit) { return divergence }
            if let divergence = Self.divergence(error) { return divergence }  // the trainer has logged it
            throw error
        }
        if let divergence = try deliverAudits(onAudit) { return divergence }
        if summary.cancelled {
            // The partial report ends at the step reached.
            if !auditSteps.contains(trainer.step) { try onAudit(try audit()) }
            return .stopped(step: trainer.step)
        }
        return .reached
    }

    /// Queues the audit of the current step (the trainer's callback at a scheduled step); first
    /// rethrows the error of an audit that already failed, which stops the trainer.
    func queueAudit(step: Int, loss: Float?) throws {
        if let failure = pipeline.firstFailure { throw failure }
        let snapshot = EncoderSnapshot(encoder)
        pipeline.submit(step: step) { [unowned self] in
            snapshot.load(into: auditEncoder)
            return try audit(encoder: auditEncoder, step: step, loss: loss)
        }
    }

    /// Waits for the queued audits and hands them to `onAudit` in step order.
    /// - Returns: the divergence of the first audit that found a non-finite embedding (the
    ///   audits after it are dropped), or nil.
    /// - Throws: the first other audit error, or what `onAudit` throws.
    func deliverAudits(_ onAudit: ([TimelineEntry]) throws -> Void) throws -> EngineProgress? {
        for done in pipeline.collect() {
            switch done.result {
            case let .success(entries):
                try onAudit(entries)
            case let .failure(error):
                if let divergence = Self.divergence(error) { return divergence }
                throw error
            }
        }
        return nil
    }

    /// `.diverged` at the step of a non-finite loss, gradient or embedding (`TrainerError.nonFinite`);
    /// nil for any other error.
    static func divergence(_ error: Error) -> EngineProgress? {
        guard let e = error as? TrainerError, case let .nonFinite(step, _, _) = e else { return nil }
        return .diverged(step: step, message: e.description, error: e)
    }

    /// `TrainingEngine.audit` (see the protocol).
    public func audit() throws -> [TimelineEntry] {
        try audit(encoder: encoder, step: trainer.step, loss: trainer.lastLoss)
    }

    /// Embeds the probe-train and test images and audits each probed layer.
    /// - Throws: `TrainerError.nonFinite` when an embedding is not finite (the weights blew up
    ///   before the loss did: a divergence); probe errors.
    func audit(encoder: Encoder<Float>, step: Int, loss: Float?) throws -> [TimelineEntry] {
        let probeOut = Self.embed(encoder, splits.probeImages)
        let testOut = Self.embed(encoder, splits.testImages)
        for layer in layers {
            let useHead = layer == "head"
            for t in useHead ? [probeOut.z, testOut.z] : [probeOut.h, testOut.h] where Trainer.firstNonFinite(t) != nil {
                let e = TrainerError.nonFinite(step: step, quantity: "\(layer) embedding",
                                               hint: "Likely cause: the learning rate \(config.lr) is too large (try 10× smaller).")
                logger?.error("[\(label)] \(e.description)")
                throw e
            }
        }
        return try layers.map { layer in
            let useHead = layer == "head"
            var entry = try auditor.audit(step: step, loss: loss.map(Double.init), train: useHead ? probeOut.z : probeOut.h,
                                          trainLabels: splits.auditTrainLabels, test: useHead ? testOut.z : testOut.h,
                                          testLabels: splits.auditTestLabels, layer: layer,
                                          measureMerging: step == totalSteps)
            if config.pcaPoints > 0 {
                entry.pca = try PCAProjection.compute(Tensor<Double>(useHead ? testOut.z : testOut.h), labels: pcaLabels,
                                                      maxPoints: config.pcaPoints)
            }
            let shown = labelNames.prefix(3).compactMap { l in entry.probes[l].map { "\(l) \(String(format: "%.3f", $0))" } }
            logger?.info("[\(label)] step \(step)/\(totalSteps) \(layer): \(shown.joined(separator: ", "))")
            return entry
        }
    }

    /// `TrainingEngine.checkpoint` (see the protocol).
    public func checkpoint(to directory: URL, configJSON: String, metadata: [String: String]) throws {
        try AtomicFile.prepareDirectory(directory)
        try trainer.saveCheckpoint(to: directory, configJSON: configJSON, metadata: metadata)
    }

    /// `TrainingEngine.restore` (see the protocol).
    public func restore(from file: SafeTensorsFile) throws -> Bool {
        let state = try trainer.restoreCheckpoint(file)
        guard state.step <= totalSteps else {
            throw CheckpointError.invalidMetadata(file: file.file, field: "step", expected: "≤ \(totalSteps) (the run's total steps)", found: "\(state.step)")
        }
        // Resumed at step 0 (and not finished) the trainer audits the baseline again.
        return state.step > 0 || totalSteps == 0
    }

    /// `TrainingEngine.reports` (see the protocol).
    public func reports(timelines: [[TimelineEntry]], settings: [String: SettingValue], finished: Bool) throws -> [RunReport] {
        let labelNames = splits.auditTrainLabels.map(\.name)
        return try layers.indices.map { li in
            var s = settings
            if layers.count > 1 { s["layer"] = .string(layers[li]) }
            return try RunReport(settings: s, probe: config.probe, measure: .balanced, labels: labelNames,
                                 within: within, layer: layers[li], timeline: timelines[li])
        }
    }

    /// Loads Fashion-MNIST (label sets `class` and `coarse`) from `folder`.
    /// - Throws: `ImageRunnerError.datasetMissing` when the folder or a file is missing;
    ///   `IDXError` / `ImageDatasetError` for damaged files.
    public static func loadFashionMNIST(folder: String, trainLimit: Int?, testLimit: Int?) throws
        -> (train: ImageDataset, test: ImageDataset)
    {
        try loadImageFolder(folder: folder, grouping: .fashionMNIST, trainLimit: trainLimit, testLimit: testLimit)
    }

    /// Loads an MNIST-layout folder with label set `class` and the coarse label set of
    /// `grouping` (none, Fashion-MNIST's four groups, or a `LabelGrouping` JSON file). The
    /// class names are Fashion-MNIST's with the `fashion-mnist` grouping or the default
    /// Fashion-MNIST folder, else "0"…"9".
    /// - Throws: `ImageRunnerError.datasetMissing` when the folder or a file is missing;
    ///   `IDXError` / `ImageDatasetError` for damaged files; `LabelGroupingError` for a grouping
    ///   file that cannot be read or does not fit the labels (naming the file).
    public static func loadImageFolder(folder: String, grouping: ImageExperimentConfig.Grouping, trainLimit: Int?,
                                       testLimit: Int?) throws -> (train: ImageDataset, test: ImageDataset) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ImageRunnerError.datasetMissing(folder: folder, detail: "the folder does not exist")
        }
        let url = URL(fileURLWithPath: folder)
        let isFashionFolder = url.standardizedFileURL.path == FashionMNIST.defaultDirectory.standardizedFileURL.path
        do {
            switch grouping {
            case .fashionMNIST:
                return try FashionMNIST.load(directory: url, trainLimit: trainLimit, testLimit: testLimit)
            case .none:
                return try MNISTFormat.load(directory: url, datasetName: isFashionFolder ? "fashion-mnist" : url.lastPathComponent,
                                            classNames: isFashionFolder ? FashionMNIST.classNames : MNIST.classNames,
                                            trainLimit: trainLimit, testLimit: testLimit)
            case let .file(path):
                let g = try LabelGrouping.load(contentsOf: URL(fileURLWithPath: path))
                let names = isFashionFolder ? FashionMNIST.classNames : MNIST.classNames
                var (train, test) = try MNISTFormat.load(directory: url, datasetName: url.lastPathComponent, classNames: names,
                                                         trainLimit: trainLimit, testLimit: testLimit)
                train = try train.addingGrouping(g, file: path)
                test = try test.addingGrouping(g, file: path)
                return (train, test)
            }
        } catch let ImageDatasetError.missingFile(directory, candidates) {
            throw ImageRunnerError.datasetMissing(folder: directory,
                                                  detail: "no file named \(candidates.joined(separator: " or "))")
        }
    }

    /// Loads the image data of `config` in its `data_format` (`auto`: detected from the files):
    /// an MNIST-layout folder (`loadImageFolder`; also a folder without sub-folders, whose error
    /// names the missing files), a CIFAR-10 / CIFAR-100 binary folder (`loadCIFAR`), or a folder tree of PNG/JPEG images (`ImageFolder`, label sets named by `levels`, cached in
    /// `DATA/.featurelens-cache/`). A tree is split into training and test images by its `train/`
    /// and `test/` folders, else by a permutation seeded by `split_seed` (`test_fraction` held out);
    /// each side is then shuffled by that seed, so the limits take the first so many of a random
    /// order. Notes go to `report`; warnings (skipped files) to `warn`, or to `report` with the
    /// prefix "warning: " when `warn` is nil.
    /// - Throws: `ImageRunnerError.datasetMissing`, `ImageFolderError` / `ImageCodecError` naming
    ///   the file, `ConfigError` naming `grouping` or `test_fraction` when they do not fit a tree,
    ///   and the MNIST loader's errors.
    public static func loadImageData(_ config: ImageExperimentConfig, trainLimit: Int?, testLimit: Int?,
                                     report: (String) -> Void = { _ in },
                                     warn: ((String) -> Void)? = nil) throws -> (train: ImageDataset, test: ImageDataset) {
        let url = URL(fileURLWithPath: config.data)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: config.data, isDirectory: &isDirectory), isDirectory.boolValue else {
            if config.dataFormat == .cifar10 || config.dataFormat == .cifar100 {
                throw ImageRunnerError.cifarMissing(folder: config.data, format: config.dataFormat, detail: "the folder does not exist")
            }
            throw ImageRunnerError.datasetMissing(folder: config.data, detail: "the folder does not exist")
        }
        let has = { (name: String) in FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) }
        // MNIST layout, or a folder with no sub-folder at all (then the MNIST loader's error
        // names the missing files).
        let subfolders = ((try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: [.isDirectoryKey])) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") && (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
        var format = config.dataFormat
        if format == .auto {
            if MNISTFormat.isMNISTLayout(url) { format = .mnist }
            else if has("data_batch_1.bin") { format = .cifar10 }
            else if has("train.bin") { format = .cifar100 }
            else { format = subfolders.isEmpty ? .mnist : .imageFolder }
        }
        switch format {
        case .mnist:
            return try loadImageFolder(folder: config.data, grouping: config.resolvedGrouping, trainLimit: trainLimit, testLimit: testLimit)
        case .cifar10, .cifar100:
            return try loadCIFAR(config, format: format, trainLimit: trainLimit, testLimit: testLimit)
        case .auto, .imageFolder:
            break
        }
        let levels = config.levels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var options = ImageFolderOptions(labelSetNames: levels, skipBadImages: config.skipBadImages)
        options.cacheDirectory = url.appendingPathComponent(".featurelens-cache")
        let contents = try ImageFolder.load(directory: url, options: options)
        for w in contents.warnings { if let warn { warn(w) } else { report("warning: \(w)") } }
        for n in contents.notes { report(n) }
        var generator = SeededGenerator(seed: config.splitSeed)
        var train: ImageDataset, test: ImageDataset
        switch contents.split {
        case let .trainTest(tr, te):
            train = tr.subset(generator.permutation(tr.count))
            test = te.subset(generator.permutation(te.count))
        case let .whole(d):
            let n = d.count, nTest = Int((config.testFraction * Double(n)).rounded())
            guard nTest >= 1, n - nTest >= 2 else {
                throw ConfigError.invalidValue(key: "test_fraction", value: "\(config.testFraction)",
                                               expected: "a fraction that leaves at least 2 training and 1 test image of the \(n) in \(config.data)")
            }
            let order = generator.permutation(n)
            train = d.subset(Array(order[0..<(n - nTest)]))
            test = d.subset(Array(order[(n - nTest)...]))
        }
        if let l = trainLimit, l < train.count { train = train.subset(Array(0..<l)) }
        if let l = testLimit, l < test.count { test = test.subset(Array(0..<l)) }
        switch config.grouping {
        case "auto", "none": break
        case "fashion-mnist":
            throw ConfigError.invalidValue(key: "grouping", value: config.grouping,
                                           expected: "auto, none or a grouping JSON file for an image-folder tree (\(config.data) is not in the MNIST layout; its folder levels are its label sets)")
        default:
            let g = try LabelGrouping.load(contentsOf: URL(fileURLWithPath: config.grouping))
            train = try train.addingGrouping(g, file: config.grouping)
            test = try test.addingGrouping(g, file: config.grouping)
        }
        return (train, test)
    }

    /// Loads a CIFAR-10 or CIFAR-100 binary folder (`CIFAR.load10` / `load100`: the first
    /// `trainLimit` / `testLimit` images of the files), then the grouping of `config` when it
    /// names a file.
    /// - Throws: `ImageRunnerError.cifarMissing` naming the missing file and where to get the
    ///   data; `CIFARError` for a damaged file; `ConfigError` naming `grouping` for
    ///   `fashion-mnist`; `LabelGroupingError`.
    static func loadCIFAR(_ config: ImageExperimentConfig, format: ImageDataFormat, trainLimit: Int?, testLimit: Int?) throws
        -> (train: ImageDataset, test: ImageDataset) {
        let url = URL(fileURLWithPath: config.data)
        var (train, test): (ImageDataset, ImageDataset)
        do {
            (train, test) = format == .cifar10 ? try CIFAR.load10(directory: url, trainLimit: trainLimit, testLimit: testLimit)
                                               : try CIFAR.load100(directory: url, trainLimit: trainLimit, testLimit: testLimit)
        } catch let CIFARError.missingFile(directory, candidates) {
            throw ImageRunnerError.cifarMissing(folder: directory, format: format,
                                                detail: "no file \(candidates.joined(separator: " or "))")
        }
        switch config.grouping {
        case "auto", "none": break
        case "fashion-mnist":
            throw ConfigError.invalidValue(key: "grouping", value: config.grouping,
                                           expected: "auto, none or a grouping JSON file for \(CIFARSource(format).datasetName) (data = \(config.data))")
        default:
            let g = try LabelGrouping.load(contentsOf: URL(fileURLWithPath: config.grouping))
            train = try train.addingGrouping(g, file: config.grouping)
            test = try test.addingGrouping(g, file: config.grouping)
        }
        return (train, test)
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

    /// The per-view augmentation of `config` (`none` → identity), steps in the order of
    /// `ImageExperimentConfig.augmentationTokens`. `noise` is clipped to [0, 1] on images and
    /// not clipped on a feature matrix (standardized features are not bounded).
    /// - Parameter channels: channels of the images (`jitter` and `grayscale` take 1 or 3).
    /// - Throws: `AugmentationError` or `ConfigError` for bad parameters (an image-only token
    ///   on a feature matrix, or a colour token on images of another channel count, names
    ///   `augmentation`).
    static func makeAugmentation(_ config: ImageExperimentConfig, channels: Int? = nil) throws -> any ImageAugmentation {
        try ImageExperimentConfig.checkAugmentation(config.augmentation)
        if config.augmentation == "none" { return Compose([]) }
        if config.isFeatureMatrix { try ImageExperimentConfig.checkDataKeys(config) }
        let tokens = Set(config.augmentation.split(separator: "+").map(String.init))
        var steps: [any ImageAugmentation] = []
        if tokens.contains("crop") { steps.append(try RandomResizedCrop(scale: config.cropScale...1.0)) }
        if tokens.contains("flip") { steps.append(try HorizontalFlip(probability: 0.5)) }
        let colour = ["jitter", "grayscale"].filter { tokens.contains($0) }
        if let c = channels, !colour.isEmpty, c != 1 && c != 3 {
            throw ConfigError.invalidValue(key: "augmentation", value: config.augmentation,
                                           expected: "no \(colour.joined(separator: " or ")) for images of \(c) channels (they take grey or RGB images)")
        }
        if tokens.contains("jitter") {
            steps.append(try ColorJitter(brightness: config.jitterBrightness, contrast: config.jitterContrast,
                                         saturation: config.jitterSaturation, hue: config.jitterHue,
                                         probability: config.jitterProb))
        }
        if tokens.contains("grayscale") { steps.append(try RandomGrayscale(probability: config.grayscaleProb)) }
        if tokens.contains("noise") {
            steps.append(try GaussianNoise(standardDeviation: config.noiseStd, clip: !config.isFeatureMatrix))
        }
        if tokens.contains("erase") { steps.append(try RandomErasing(probability: 0.5)) }
        if tokens.contains("mask") { steps.append(try FeatureMasking(probability: config.maskProb)) }
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
