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
        // Settings that share a data set (same model, augmentation and seed) share its
        // generation, Gram matrix and theory caches; generate each distinct one once.
        var keys: [SyntheticDataKey] = []
        for c in configs where !keys.contains(c.dataKey) { keys.append(c.dataKey) }
        let prepared = try parallelMap(keys) { key -> PreparedData in
            let config = configs.first { $0.dataKey == key }!
            return try PreparedData(config: config)
        }
        let byKey = Dictionary(uniqueKeysWithValues: zip(keys, prepared))
        let doneLock = NSLock()
        var done = 0
        let settings = try parallelMap(Array(configs.indices)) { i -> SettingResult in
            let setting = preset.settings[i]
            let r = try self.runSetting(configs[i], name: setting.name, values: setting.values, prepared: byKey[configs[i].dataKey])
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

    /// Runs one config.
    /// - Parameter prepared: the generated data and Gram-space caches, shared between
    ///   settings on the same data (built here when nil).
    /// - Throws: `ConfigError` / `SyntheticModelError` for bad settings,
    ///   `LinearTrainingError.nonFiniteLoss` when training diverges.
    public func runSetting(_ config: SyntheticExperimentConfig, name: String = "", values: [String: String] = [:],
                           prepared: PreparedData? = nil) throws -> SettingResult {
        let start = Date()
        try config.validate()
        let threads = config.threads
        let prep = try prepared ?? PreparedData(config: config)
        let data = prep.data
        var streams = SyntheticStreams(seed: config.seed)
        let pairs = try SpectralPairWeights(beta: config.beta, classes: data.train.labels["class"]!.labels)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        let w0 = LinearGradientDescent.initialWeights(p: config.p, d: config.d, scale: config.initScale,
                                                      using: &streams.initialization)
        var gd = LinearGradientDescent(learningRate: config.lr, steps: config.steps, auditSteps: config.auditSteps,
                                       threads: threads)
        gd.shouldStop = shouldStop
        var timeline: [AuditRecord] = []
        var finalLoss = Double.nan
        let online = config.onlineAugmentation
        let trained: Tensor<Double>
        do {
        trained = try gd.train(
            problem, initial: w0, method: online ? .direct : .gram,
            onlineViews: online ? { g in data.drawViews(using: &g) } : nil,
            onlineGenerator: streams.online, gram: online ? nil : (prep.space?.gram ?? prep.spaceGram)
        ) { point in
            let trainZ = embed(data.train.features, point.weights, threads: threads)
            let testZ = embed(data.test.features, point.weights, threads: threads)
            let probes = try probeLabelSets(self.probe, trainEmbeddings: trainZ, trainSet: data.train,
                                            testEmbeddings: testZ, testSet: data.test)
            var metrics: RepresentationMetrics? = nil
            var pca: PCAProjection? = nil
            if self.recordsRepresentation {
                metrics = try RepresentationMetrics(embeddings: testZ)
                let labels = data.test.labels.filter { ["class", "subclass"].contains($0.key) }.mapValues { $0.labels }
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
                                  theory: nil, wallSeconds: Date().timeIntervalSince(start))
            r.stoppedAtStep = step
            return r
        } catch let LinearTrainingError.nonFiniteLoss(step, value) {
            // Divergence: keep the audits before it, report the step, no theory line.
            var r = SettingResult(name: name, values: values, config: config, timeline: timeline.sorted { $0.step < $1.step },
                                  theory: nil, wallSeconds: Date().timeIntervalSince(start))
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
        return SettingResult(name: name, values: values, config: config, timeline: timeline.sorted { $0.step < $1.step },
                             theory: theory, wallSeconds: Date().timeIntervalSince(start))
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
