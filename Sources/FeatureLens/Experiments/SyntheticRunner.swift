import Foundation
import FeatureLensNumerics
import Logging

/// One audit of a synthetic run: training loss, probe accuracy per label set and the weight
/// ‖W e_f‖ of each planted feature (‖W E‖_F for a block such as `zeta`).
public struct AuditRecord: Codable, Equatable, Sendable {
    /// Updates applied so far.
    public var step: Int
    /// Training loss at this step.
    public var loss: Double
    /// Balanced accuracy of the signature probe per label set.
    public var probes: [String: Double]
    /// ‖W e_f‖ per planted feature name.
    public var featureWeights: [String: Double]
    /// Representation metrics of the test embeddings (nil when not recorded).
    public var metrics: RepresentationMetrics?
    /// 2-D PCA projection of (up to 300) test embeddings with their labels (nil when not recorded).
    public var pca: PCAProjection?

    public init(step: Int, loss: Double, probes: [String: Double], featureWeights: [String: Double],
                metrics: RepresentationMetrics? = nil, pca: PCAProjection? = nil) {
        self.step = step; self.loss = loss; self.probes = probes; self.featureWeights = featureWeights
        self.metrics = metrics; self.pca = pca
    }

    enum CodingKeys: String, CodingKey { case step, loss, probes, featureWeights = "feature_weights", metrics, pca }
}

/// The minimum-norm minimizer at one embedding size, read like a trained encoder.
public struct MinimumNormSummary: Codable, Equatable, Sendable {
    /// Embedding size p.
    public var p: Int
    /// L(W*), evaluated.
    public var loss: Double
    /// The closed-form optimum −n² Σ λᵢ(P)².
    public var optimalLoss: Double
    /// ‖W*‖_F.
    public var norm: Double
    /// Probes read through W* (train embeddings of view 1, fresh test points).
    public var probes: [String: Double]
    /// ‖W* e_f‖ per planted feature.
    public var featureWeights: [String: Double]

    enum CodingKeys: String, CodingKey {
        case p, loss, optimalLoss = "optimal_loss", norm, probes, featureWeights = "feature_weights"
    }
}

/// The theory beside one run (SCIENCE.md §4).
public struct TheoryReport: Codable, Equatable, Sendable {
    /// The minimum-norm minimizer at the run's p.
    public var minimumNorm: MinimumNormSummary
    /// The final gradient-descent encoder compared with it.
    public var comparison: TheoryComparison
    /// The minimum-norm minimizer at the extra sizes of `theory_p`.
    public var acrossP: [MinimumNormSummary]
    /// The population minimizer at the run's p.
    public var population: PopulationMinimizer

    enum CodingKeys: String, CodingKey {
        case minimumNorm = "minimum_norm", comparison, acrossP = "across_p", population
    }
}

/// Where and why a run diverged.
public struct Divergence: Codable, Equatable, Sendable {
    /// Optimizer steps taken when the loss became non-finite.
    public var step: Int
    /// The non-finite loss value.
    public var value: Double
    /// A one-line explanation with the likely cause.
    public var message: String
}

/// The result of one setting of a preset.
public struct SettingResult: Codable, Equatable, Sendable {
    /// Setting name, e.g. `data=cc,beta=0.25`.
    public var name: String
    /// The named setting values.
    public var values: [String: String]
    /// The full config of the run.
    public var config: SyntheticExperimentConfig
    /// One record per audit step, in step order.
    public var timeline: [AuditRecord]
    /// The theory (nil with online augmentation or a singular Gram matrix).
    public var theory: TheoryReport?
    /// Wall time of the run in seconds (metadata; not part of the result's identity).
    public var wallSeconds: Double
    /// Set when training diverged (non-finite loss); the timeline then ends before it.
    public var divergence: Divergence?
    /// Set when training was stopped on request (SIGINT/SIGTERM) after this many steps.
    public var stoppedAtStep: Int?

    public init(name: String, values: [String: String], config: SyntheticExperimentConfig, timeline: [AuditRecord],
                theory: TheoryReport?, wallSeconds: Double, divergence: Divergence? = nil) {
        self.name = name; self.values = values; self.config = config; self.timeline = timeline
        self.theory = theory; self.wallSeconds = wallSeconds; self.divergence = divergence
    }

    enum CodingKeys: String, CodingKey { case name, values, config, timeline, theory, wallSeconds = "wall_seconds", divergence, stoppedAtStep = "stopped_at_step" }

    public static func == (l: SettingResult, r: SettingResult) -> Bool {
        l.name == r.name && l.values == r.values && l.config == r.config && l.timeline == r.timeline && l.theory == r.theory
    }

    /// The last audit record.
    public var final: AuditRecord? { timeline.last }
}

/// The result of running a preset.
public struct PresetResult: Codable, Equatable, Sendable {
    /// Preset name.
    public var preset: String
    /// One result per setting, in the preset's order.
    public var settings: [SettingResult]
    /// Wall time in seconds.
    public var wallSeconds: Double

    enum CodingKeys: String, CodingKey { case preset, settings, wallSeconds = "wall_seconds" }

    public static func == (l: PresetResult, r: PresetResult) -> Bool { l.preset == r.preset && l.settings == r.settings }

    /// The setting whose values include all of `values` (e.g. `["beta": "0.25", "data": "cc"]`).
    public func setting(_ values: [String: String]) -> SettingResult? {
        settings.first { s in values.allSatisfy { s.values[$0.key] == $0.value } }
    }
}

/// Runs synthetic experiments: generates the data, trains the linear encoder with exact
/// full-batch gradient descent, audits at the configured steps and computes the theory.
public struct SyntheticRunner: Sendable {
    /// The probe used for every label set (default: SCIENCE.md §5's signature probe).
    public var probe: any SignatureProbing
    /// Settings run at the same time (each on its own thread); results do not depend on it.
    public var concurrency: Int
    /// Optional logger for progress.
    public var logger: Logger?
    /// Record representation metrics and a PCA projection of the test embeddings at every
    /// audit (for reports); off for the bare signature checks.
    public var recordsRepresentation: Bool
    /// Called (from any thread) after each setting finishes, with the number done and the total.
    public var onSettingFinished: (@Sendable (Int, Int) -> Void)?
    /// Checked before every update of every setting; true stops training after auditing the
    /// current step (the result then carries `stopped`). For SIGINT/SIGTERM.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Where `run` writes one checkpoint per setting (every `every` steps, at the end of the
    /// setting's training, when `shouldStop` stops it) and whether it resumes from them
    /// (RunCheckpoints.swift); nil: no checkpoints.
    public var checkpoints: CheckpointPolicy?

    public init(probe: any SignatureProbing = RidgeProbe(), concurrency: Int = min(2, Parallel.availableCores),
                logger: Logger? = nil, recordsRepresentation: Bool = false,
                onSettingFinished: (@Sendable (Int, Int) -> Void)? = nil) {
        self.probe = probe; self.concurrency = max(1, concurrency); self.logger = logger
        self.recordsRepresentation = recordsRepresentation
        self.onSettingFinished = onSettingFinished
    }

    /// Runs every setting of `preset` (with `overrides` applied after each setting's own).
    /// - Throws: the first error of any setting (`ConfigError`, `LinearTrainingError`, …).
    public func run(_ preset: SyntheticPreset, overrides: [(String, String)] = []) throws -> PresetResult {
        let start = Date()
        let configs = try preset.settings.indices.map { try preset.config(setting: $0, extra: overrides) }
        for c in configs { try c.validate() }
        // Checkpoints: check them all before any work (resume), or clear an earlier run's.
        var resumeFiles = [SafeTensorsFile?](repeating: nil, count: configs.count)
        var restored = [SettingResult?](repeating: nil, count: configs.count)
        if let policy = checkpoints {
            if policy.resume {
                let expected = try configs.indices.map {
                    RunCheckpoints.Expected(name: preset.settings[$0].name, configJSON: try RunCheckpoints.json(configs[$0]))
                }
                resumeFiles = try RunCheckpoints.checkResume(policy, kind: Self.checkpointKind, settings: expected)
                for i in configs.indices {
                    guard let file = resumeFiles[i], file.metadata["run.result"] != nil else { continue }
                    var r = try RunCheckpoints.decode(SettingResult.self, field: "run.result", of: file)
                    r.config = configs[i]  // may differ in `threads` only
                    restored[i] = r
                }
            } else {
                RunCheckpoints.removeAll(in: policy.folder)
            }
            // Created here, not by the settings' threads at the same time.
            try AtomicFile.prepareDirectory(policy.folder.appendingPathComponent(RunCheckpoints.folderName))
        }
        // Settings that share a data set (same model, augmentation and seed) share its
        // generation, Gram matrix and theory caches; generate each distinct one once.
        var keys: [SyntheticDataKey] = []
        for (i, c) in configs.enumerated() where restored[i] == nil && !keys.contains(c.dataKey) { keys.append(c.dataKey) }
        let prepared = try parallelMap(keys) { key -> PreparedData in
            let config = configs.first { $0.dataKey == key }!
            return try PreparedData(config: config)
        }
        let byKey = Dictionary(uniqueKeysWithValues: zip(keys, prepared))
        let (restoredResults, checkpointFiles) = (restored, resumeFiles)  // read-only copies for the worker threads
        let doneLock = NSLock()
        var done = 0
        let settings = try parallelMap(Array(configs.indices)) { i -> SettingResult in
            let setting = preset.settings[i]
            let r = try restoredResults[i] ?? self.runSetting(
                configs[i], name: setting.name, values: setting.values, prepared: byKey[configs[i].dataKey],
                checkpointDirectory: self.checkpoints.map { RunCheckpoints.directory(in: $0.folder, setting: i, name: setting.name) },
                checkpointEvery: self.checkpoints?.every ?? 0, resumeFrom: checkpointFiles[i])
            doneLock.lock(); done += 1; let d = done; doneLock.unlock()
            self.onSettingFinished?(d, configs.count)
            return r
        }
        return PresetResult(preset: preset.name, settings: settings, wallSeconds: Date().timeIntervalSince(start))
    }

    /// `transform` over `items` on up to `concurrency` threads, results in input order.
    private func parallelMap<T, R>(_ items: [T], _ transform: @escaping (T) throws -> R) throws -> [R] {
        var results = [Result<R, Error>?](repeating: nil, count: items.count)
        let lock = NSLock()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: max(1, min(concurrency, items.count))) { _ in
            while true {
                lock.lock(); let i = next; next += 1; lock.unlock()
                if i >= items.count { return }
                let r = Result { try transform(items[i]) }
                lock.lock(); results[i] = r; lock.unlock()
            }
        }
        return try results.map { try $0!.get() }
    }

    /// `run.kind` of the synthetic presets' checkpoints.
    public static let checkpointKind = "synthetic"

    /// Runs one config.
    /// - Parameters:
    ///   - prepared: the generated data and Gram-space caches, shared between settings on the
    ///     same data (built here when nil).
    ///   - checkpointDirectory: where to keep this setting's checkpoint (nil: none).
    ///   - checkpointEvery: steps between periodic checkpoints (0: only at the end and when stopped).
    ///   - resumeFrom: a checkpoint of this setting (`RunCheckpoints.checkResume` checked its
    ///     config) to continue from; its audits are kept.
    /// - Throws: `ConfigError` / `SyntheticModelError` for bad settings; `CheckpointError` /
    ///   `ResumeError` for a checkpoint that does not fit; `OutputError` when a checkpoint
    ///   cannot be written. Divergence and a stop are reported in the result.
    public func runSetting(_ config: SyntheticExperimentConfig, name: String = "", values: [String: String] = [:],
                           prepared: PreparedData? = nil, checkpointDirectory: URL? = nil, checkpointEvery: Int = 0,
                           resumeFrom: SafeTensorsFile? = nil) throws -> SettingResult {
        let start = Date()
        try config.validate()
        let threads = config.threads
        let prep = try prepared ?? PreparedData(config: config)
        let data = prep.data
        var streams = SyntheticStreams(seed: config.seed)
        let pairs = try SpectralPairWeights(beta: config.beta, classes: data.train.labels["class"]!.codes)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        let w0 = LinearGradientDescent.initialWeights(p: config.p, d: config.d, scale: config.initScale,
                                                      using: &streams.initialization)
        var gd = LinearGradientDescent(learningRate: config.lr, steps: config.steps, auditSteps: config.auditSteps,
                                       threads: threads)
        gd.shouldStop = shouldStop
        var timeline: [AuditRecord] = []
        var finalLoss = Double.nan
        let online = config.onlineAugmentation
        let method: LinearStepMethod = online ? .direct : .gram

        // Resume: the engine state and the audits recorded before the checkpoint.
        var resumeState: LinearTrainingState? = nil
        var priorSeconds = 0.0
        if let file = resumeFrom {
            let (training, state) = try LinearCheckpoint.restore(
                file, p: config.p, d: config.d, m: problem.views.count * pairs.n, method: method,
                learningRate: config.lr, online: online)
            resumeState = training
            timeline = try RunCheckpoints.decode([AuditRecord].self, field: "run.timeline", of: file)
            priorSeconds = Double(state.metadata["run.wall_seconds"] ?? "") ?? 0
        }
        let scheduled = Set(config.auditSteps)
        let configJSON = try RunCheckpoints.json(config)
        /// Writes this setting's checkpoint (the scheduled audits so far; `result` when finished).
        func save(_ training: LinearTrainingState, result: SettingResult? = nil) throws {
            guard let dir = checkpointDirectory else { return }
            try AtomicFile.prepareDirectory(dir)
            var metadata = [
                "run.kind": Self.checkpointKind, "run.setting": name,
                "run.timeline": try RunCheckpoints.json(timeline.filter { scheduled.contains($0.step) }),
                "run.wall_seconds": "\(priorSeconds + Date().timeIntervalSince(start))",
            ]
            if let result { metadata["run.result"] = try RunCheckpoints.json(result) }
            try LinearCheckpoint.save(training, learningRate: config.lr,
                                      state: CheckpointState(step: training.step, epoch: training.step,
                                                             configJSON: configJSON, metadata: metadata), to: dir)
        }
        var finalState: LinearTrainingState? = nil
        let trained: Tensor<Double>
        do {
        trained = try gd.train(
            problem, initial: w0, method: method,
            onlineViews: online ? { g in data.drawViews(using: &g) } : nil,
            onlineGenerator: streams.online, gram: online ? nil : (prep.space?.gram ?? prep.spaceGram),
            resumeFrom: resumeState, checkpointEvery: checkpointDirectory == nil ? 0 : checkpointEvery,
            checkpoint: { training in
                // Called at the last step too, which gives the final loss exactly as training computed it.
                if training.step == config.steps {
                    finalLoss = training.loss ?? finalLoss
                    finalState = training
                }
                try save(training)
            }
        ) { point in
            let trainZ = embed(data.train.features, point.weights, threads: threads)
            let testZ = embed(data.test.features, point.weights, threads: threads)
            let probes = try probeLabelSets(self.probe, trainEmbeddings: trainZ, trainSet: data.train,
                                            testEmbeddings: testZ, testSet: data.test)
            var metrics: RepresentationMetrics? = nil
            var pca: PCAProjection? = nil
            if self.recordsRepresentation {
                metrics = try RepresentationMetrics(embeddings: testZ)
                let labels = data.test.labels.filter { ["class", "subclass"].contains($0.key) }.mapValues { $0.codes }
                pca = try PCAProjection.compute(testZ, labels: labels, maxPoints: 300)
            }
            timeline.append(AuditRecord(step: point.step, loss: point.loss, probes: probes,
                                        featureWeights: featureWeights(point.weights, planted: data.train.plantedDirections),
                                        metrics: metrics, pca: pca))
            if point.step == config.steps { finalLoss = point.loss }
            logger?.debug("\(name) step \(point.step): loss \(point.loss) probes \(probes)")
        }
        } catch let LinearTrainingError.stopped(step) {
            var r = SettingResult(name: name, values: values, config: config, timeline: timeline.sorted { $0.step < $1.step },
                                  theory: nil, wallSeconds: priorSeconds + Date().timeIntervalSince(start))
            r.stoppedAtStep = step
            return r
        } catch let LinearTrainingError.nonFiniteLoss(step, value) {
            // Divergence: keep the audits before it, report the step, no theory line. The
            // checkpoint on disk is the last one before the divergence.
            var r = SettingResult(name: name, values: values, config: config, timeline: timeline.sorted { $0.step < $1.step },
                                  theory: nil, wallSeconds: priorSeconds + Date().timeIntervalSince(start))
            r.divergence = Divergence(step: step, value: value,
                                      message: "loss is \(value) at step \(step): training diverged; the learning rate (lr = \(config.lr)) is probably too large")
            return r
        }
        if finalLoss.isNaN { finalLoss = try problem.loss(trained) }

        var theory: TheoryReport? = nil
        if !online, let space = prep.space {
            let solver = try MinimumNormSolver(problem: problem, space: space)
            let xs = space.stackedInputs
            func summary(_ sol: MinimumNormSolution) throws -> MinimumNormSummary {
                let w = sol.weights(stackedInputs: xs)
                return MinimumNormSummary(p: sol.p, loss: sol.loss, optimalLoss: sol.optimalLoss,
                                          norm: sol.squaredNorm.squareRoot(),
                                          probes: try self.probes(w, data: data, threads: threads),
                                          featureWeights: featureWeights(w, planted: data.train.plantedDirections))
            }
            let sol = try solver.solve(p: config.p)
            let comparison = try solver.compare(weights: trained, loss: finalLoss, to: sol)
            let across = try config.theoryP.map { try summary(solver.solve(p: $0)) }
            theory = TheoryReport(minimumNorm: try summary(sol), comparison: comparison, acrossP: across,
                                  population: try PopulationMinimizer(model: config.model, augmentation: config.augmentation,
                                                                      beta: config.beta, p: config.p))
        } else if !online {
            logger?.warning("\(name): no minimum-norm theory: the training Gram matrix is singular")
        }
        let result = SettingResult(name: name, values: values, config: config, timeline: timeline.sorted { $0.step < $1.step },
                                   theory: theory, wallSeconds: priorSeconds + Date().timeIntervalSince(start))
        // The finished setting's checkpoint holds its result, so a resume restores it as is.
        if let finalState { try save(finalState, result: result) }
        return result
    }

    /// Probes through the encoder W: train embeddings from view 1, test embeddings of the test set.
    func probes(_ w: Tensor<Double>, data: SyntheticData, threads: Int) throws -> [String: Double] {
        try probeLabelSets(probe, trainEmbeddings: embed(data.train.features, w, threads: threads), trainSet: data.train,
                           testEmbeddings: embed(data.test.features, w, threads: threads), testSet: data.test)
    }
}

/// What identifies a generated data set: model, augmentation and seed.
public struct SyntheticDataKey: Hashable, Sendable {
    /// The data model and its parameters.
    public var model: SyntheticModel
    /// How the training views are formed.
    public var augmentation: AugmentationKind
    /// The seed of every random stream.
    public var seed: UInt64
}

extension SyntheticExperimentConfig {
    /// The data set this config trains on.
    public var dataKey: SyntheticDataKey { SyntheticDataKey(model: model, augmentation: augmentation, seed: seed) }
}

/// A generated data set with its shared Gram-space caches (nil when the Gram matrix is
/// singular, e.g. n ≥ d, or for online augmentation, where the views change every step).
public struct PreparedData: @unchecked Sendable {
    /// The data.
    public var data: SyntheticData
    /// Gram matrix and theory caches of the fixed training views.
    public var space: GramSpace?

    /// Generates the data of `config` and, unless it uses online augmentation, its Gram space.
    /// - Throws: `SyntheticModelError` for invalid model parameters.
    public init(config: SyntheticExperimentConfig) throws {
        data = try config.model.generate(augmentation: config.augmentation, seed: config.seed)
        if config.onlineAugmentation {
            space = nil
        } else {
            let views = data.trainViews
            let gram = gramOfRows(views.count == 1 ? views[0] : Tensor.concatenateRows(views), threads: config.threads)
            space = try? GramSpace(views: views, gram: gram)
            if space == nil { spaceGram = gram }
        }
    }
    /// The Gram matrix when it is singular (still used by the fast gradient-descent step).
    var spaceGram: Tensor<Double>? = nil
}

/// ‖W Dᵀ‖_F for each planted direction block D (`[k, d]`): ‖W e_f‖ for a single direction.
/// W: `[p, d]`.
public func featureWeights(_ w: Tensor<Double>, planted: [String: Tensor<Double>]) -> [String: Double] {
    var out: [String: Double] = [:]
    for (name, dirs) in planted {
        var wd = Tensor<Double>(zeros: [w.shape[0], dirs.shape[0]])
        narrowGEMM(w, dirs.transposed(), into: &wd)
        out[name] = wd.norm()
    }
    return out
}
