import Foundation
import FeatureLensNumerics
import Logging

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

/// The linear Gram-space gradient-descent engine (SCIENCE.md §2–§4): a linear encoder W
/// `[p, d]` trained on a synthetic data set with exact full-batch gradient descent on the
/// spectral contrastive loss (`LinearGradientDescent`), audited with the signature probe
/// (`probeLabelSets`), checkpointed with `LinearCheckpoint`, and compared at the end with the
/// minimum-norm minimizer (`MinimumNormSolver`) and the population minimizer.
///
/// Training in several calls of `train(until:)` (between checkpoints) gives the same numbers
/// bit for bit as one call: each call continues from the exact engine state of the last.
public final class LinearEngine: TrainingEngine, @unchecked Sendable {
    /// `run.kind` of the synthetic presets' checkpoints.
    public static let checkpointKind = "synthetic"
    /// The config of this setting.
    public let config: SyntheticExperimentConfig
    /// The data and its Gram-space caches.
    public let prepared: PreparedData
    /// The probe used for every label set.
    public let probe: any SignatureProbing
    /// Whether audits record representation metrics, a PCA projection and the collapse
    /// geometry of the test embeddings.
    public let recordsRepresentation: Bool
    /// One layer: the embedding z = W x.
    public let layers = ["embedding"]
    /// `TrainingEngine.totalSteps` (see the protocol).
    public var totalSteps: Int { config.steps }
    /// `TrainingEngine.auditSteps` (see the protocol).
    public var auditSteps: [Int] { config.auditSteps }
    /// `TrainingEngine.step` (see the protocol).
    public private(set) var step = 0
    /// Called with the number of steps done every `LinearGradientDescent.stepObserverInterval`
    /// steps and at the end of each `train(until:)` call (progress display; nil: none).
    public var stepObserver: (@Sendable (Int) -> Void)?
    /// Threads the runner can lend this setting now (cores no other setting uses), read
    /// before every Gram-space product; the setting uses the larger of it and `config.threads`.
    /// Nil: `config.threads` throughout. Results do not depend on it.
    public var threadBudget: (@Sendable () -> Int)?
    /// The minimum-norm theory of the last `reports` call (nil before, with online
    /// augmentation, a singular Gram matrix, or an unfinished training).
    public private(set) var theory: TheoryReport?

    let problem: LinearContrastiveProblem
    let method: LinearStepMethod
    let initial: Tensor<Double>
    let onlineGenerator: SeededGenerator
    /// The engine state after the last call (nil: at step 0, nothing trained).
    var state: LinearTrainingState?
    /// The weights and loss the next audit reads.
    var current: (step: Int, weights: Tensor<Double>, loss: Double)?

    /// Prepares a setting: the problem, the pair weights and the initial weights W₀.
    /// - Parameters:
    ///   - prepared: the generated data (shared between settings on the same data; built when nil).
    /// - Throws: `ConfigError` / `SyntheticModelError` for bad settings.
    public init(config: SyntheticExperimentConfig, prepared: PreparedData? = nil, probe: any SignatureProbing = RidgeProbe(),
                recordsRepresentation: Bool = false) throws {
        try config.validate()
        self.config = config
        self.prepared = try prepared ?? PreparedData(config: config)
        self.probe = probe
        self.recordsRepresentation = recordsRepresentation
        var streams = SyntheticStreams(seed: config.seed)
        let data = self.prepared.data
        let pairs = try SpectralPairWeights(beta: config.beta, classes: data.train.labels["class"]!.codes)
        problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        initial = LinearGradientDescent.initialWeights(p: config.p, d: config.d, scale: config.initScale,
                                                       using: &streams.initialization)
        onlineGenerator = streams.online
        method = config.onlineAugmentation ? .direct : .gram
    }

    /// `TrainingEngine.train` (see the protocol).
    public func train(until target: Int, shouldStop: (() -> Bool)?,
                      onAudit: ([TimelineEntry]) throws -> Void) throws -> EngineProgress {
        var gd = LinearGradientDescent(learningRate: config.lr, steps: target, auditSteps: config.auditSteps,
                                       threads: config.threads)
        if let shouldStop { gd.shouldStop = { shouldStop() } }
        gd.stepObserver = stepObserver
        gd.precision = config.stepPrecision
        if let budget = threadBudget {
            let own = config.threads
            gd.threadBudget = { max(own, budget()) }
        }
        let online = config.onlineAugmentation
        let data = prepared.data
        var last: LinearTrainingState? = nil
        do {
            _ = try gd.train(
                problem, initial: initial, method: method,
                onlineViews: online ? { g in data.drawViews(using: &g) } : nil,
                onlineGenerator: onlineGenerator, gram: online ? nil : (prepared.space?.gram ?? prepared.spaceGram),
                resumeFrom: state, checkpointEvery: 0, checkpoint: { last = $0 }
            ) { point in
                current = (point.step, point.weights, point.loss)
                try onAudit(try audit())
            }
        } catch let LinearTrainingError.stopped(s) {
            state = last ?? state
            step = s
            return .stopped(step: s)
        } catch let e as LinearTrainingError {
            guard case let .nonFiniteLoss(s, value) = e else { throw e }
            return .diverged(step: s, message: "loss is \(value) at step \(s): training diverged; the learning rate (lr = \(config.lr)) is probably too large",
                             error: e)
        }
        state = last ?? state
        step = target
        return .reached
    }

    /// `TrainingEngine.audit` (see the protocol).
    public func audit() throws -> [TimelineEntry] {
        let (at, w, loss) = current ?? (step, state?.weights ?? initial, state?.loss ?? .nan)
        let data = prepared.data
        let threads = config.threads
        let trainZ = embed(data.train.features, w, threads: threads)
        let testZ = embed(data.test.features, w, threads: threads)
        let scores = try probeLabelSetScores(probe, trainEmbeddings: trainZ, trainSet: data.train,
                                             testEmbeddings: testZ, testSet: data.test)
        var metrics: RepresentationMetrics? = nil
        var pca: PCAProjection? = nil
        var geometry: CollapseGeometry? = nil
        if recordsRepresentation {
            metrics = try RepresentationMetrics(embeddings: testZ, computedOn: .test)
            let labels = data.test.labels.filter { ["class", "subclass"].contains($0.key) }.mapValues { $0.codes }
            pca = try PCAProjection.compute(testZ, labels: labels, maxPoints: 300)
            geometry = try CollapseGeometry(embeddings: testZ, labels: data.test.labels.mapValues(\.codes),
                                            within: data.test.labels.compactMapValues(\.within), threads: threads)
        }
        var entry = Self.entry(step: at, loss: loss, probes: scores.mapValues(\.accuracy),
                               standardErrors: scores.mapValues(\.standardError),
                               featureWeights: featureWeights(w, planted: data.train.plantedDirections), metrics: metrics, pca: pca)
        entry.geometry = geometry
        return [entry]
    }

    /// A synthetic audit as a timeline entry: balanced accuracy of the signature probe and its
    /// standard error (NaN when unknown, e.g. in a timeline saved before standard errors were
    /// recorded), chance 0.5 for every ±1 label set, the feature weights, metrics and PCA.
    static func entry(step: Int, loss: Double, probes: [String: Double], standardErrors: [String: Double] = [:],
                      featureWeights: [String: Double], metrics: RepresentationMetrics?, pca: PCAProjection?) -> TimelineEntry {
        var scores: [String: ProbeScore] = [:]
        for (l, a) in probes { scores[l] = ProbeScore(accuracy: a, chance: 0.5, standardError: standardErrors[l] ?? .nan) }
        var e = TimelineEntry(step: step, loss: loss, scores: scores, featureWeights: featureWeights,
                              metrics: metrics, layer: "embedding")
        e.pca = pca
        return e
    }

    /// `TrainingEngine.checkpoint` (see the protocol).
    public func checkpoint(to directory: URL, configJSON: String, metadata: [String: String]) throws {
        guard let state else { return }
        try AtomicFile.prepareDirectory(directory)
        try LinearCheckpoint.save(state, learningRate: config.lr,
                                  state: CheckpointState(step: state.step, epoch: state.step,
                                                         configJSON: configJSON, metadata: metadata), to: directory)
    }

    /// `TrainingEngine.restore` (see the protocol).
    public func restore(from file: SafeTensorsFile) throws -> Bool {
        let (training, _) = try LinearCheckpoint.restore(
            file, p: config.p, d: config.d, m: problem.views.count * problem.pairs.n, method: method,
            learningRate: config.lr, online: config.onlineAugmentation)
        guard training.step <= config.steps else {
            throw CheckpointError.invalidMetadata(file: file.file, field: "step", expected: "≤ \(config.steps) (the run's steps)",
                                                  found: "\(training.step)")
        }
        state = training
        step = training.step
        return true
    }

    /// Reads `run.timeline` as written now (`[[TimelineEntry]]`) or by earlier versions (one
    /// flat list of synthetic audit records: step, loss, probes, feature_weights, metrics, pca).
    public func savedTimelines(in file: SafeTensorsFile) throws -> [[TimelineEntry]] {
        if let text = file.metadata["run.timeline"], let legacy = try? Self.legacyTimeline(text) { return [legacy] }
        let saved = try RunCheckpoints.decode([[TimelineEntry]].self, field: "run.timeline", of: file)
        guard saved.count == 1 else {
            throw ResumeError.unreadable(file: file.file, field: "run.timeline", detail: "holds \(saved.count) layer timelines; expected 1 (embedding)")
        }
        return saved
    }

    /// One audit record of a synthetic checkpoint written before timelines were `TimelineEntry`s.
    struct LegacyAudit: Decodable {
        var step: Int
        var loss: Double
        var probes: [String: Double]
        var featureWeights: [String: Double]
        var metrics: RepresentationMetrics?
        var pca: PCAProjection?
        enum CodingKeys: String, CodingKey { case step, loss, probes, featureWeights = "feature_weights", metrics, pca }
    }

    /// Decodes a legacy `run.timeline` (a flat JSON array of `LegacyAudit`).
    static func legacyTimeline(_ text: String) throws -> [TimelineEntry] {
        let d = FeatureLensJSON.decoder()
        return try d.decode([LegacyAudit].self, from: Data(text.utf8)).map {
            entry(step: $0.step, loss: $0.loss, probes: $0.probes, featureWeights: $0.featureWeights, metrics: $0.metrics, pca: $0.pca)
        }
    }

    /// Label sets in display order: class, subclass, easy0…, then any others.
    static func orderedLabels(_ names: Set<String>) -> [String] {
        let front = ["class", "subclass"].filter { names.contains($0) }
        return front + names.subtracting(front).sorted { a, b in
            // easy2 < easy10: numeric suffix order
            let na = Int(a.drop { !$0.isNumber }) ?? 0, nb = Int(b.drop { !$0.isNumber }) ?? 0
            return a.filter { !$0.isNumber } == b.filter { !$0.isNumber } ? na < nb : a < b
        }
    }

    /// `TrainingEngine.reports` (see the protocol).
    public func reports(timelines: [[TimelineEntry]], settings: [String: SettingValue], finished: Bool) throws -> [RunReport] {
        let timeline = timelines.first ?? []
        let labels = Self.orderedLabels(Set(timeline.first?.probes.keys.map { $0 } ?? []))
        let within: [String: String] = labels.contains("subclass") ? ["subclass": "class"] : [:]
        theory = finished ? try computeTheory() : nil
        let summary = theory.map { t in
            TheorySummary(normRatio: t.comparison.normRatio, gramDistance: t.comparison.gramDistance,
                          lossGap: t.comparison.lossGap, probes: t.minimumNorm.probes)
        }
        return [try RunReport(settings: settings, probe: .ridge, measure: .balanced, labels: labels, within: within,
                              layer: "embedding", timeline: timeline, theory: summary)]
    }

    /// The minimum-norm minimizer at p (and at `theory_p`) and the population minimizer, beside
    /// the trained W; nil with online augmentation or a singular Gram matrix.
    func computeTheory() throws -> TheoryReport? {
        guard !config.onlineAugmentation else { return nil }
        guard let space = prepared.space, let trainedState = state else { return nil }
        let data = prepared.data
        let threads = config.threads
        let trained = trainedState.weights
        let finalLoss = try trainedState.loss ?? problem.loss(trained)
        let solver = try MinimumNormSolver(problem: problem, space: space)
        let xs = space.stackedInputs
        func summary(_ sol: MinimumNormSolution) throws -> MinimumNormSummary {
            let w = sol.weights(stackedInputs: xs)
            return MinimumNormSummary(p: sol.p, loss: sol.loss, optimalLoss: sol.optimalLoss,
                                      norm: sol.squaredNorm.squareRoot(),
                                      probes: try probes(w, data: data, threads: threads),
                                      featureWeights: featureWeights(w, planted: data.train.plantedDirections))
        }
        let sol = try solver.solve(p: config.p)
        let comparison = try solver.compare(weights: trained, loss: finalLoss, to: sol)
        let across = try config.theoryP.map { try summary(solver.solve(p: $0)) }
        return TheoryReport(minimumNorm: try summary(sol), comparison: comparison, acrossP: across,
                            population: try PopulationMinimizer(model: config.model, augmentation: config.augmentation,
                                                                beta: config.beta, p: config.p))
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
