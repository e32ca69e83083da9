// The one runner: every preset and config file of both kinds goes through it.
//
//     experiment (preset or config file, --set/--grid applied: PresetGrid)
//        │  one config per setting; checkpoints checked (resume) before any work
//        ▼
//     data (generated per distinct synthetic data set, or images loaded once)
//        ▼
//     per setting: an engine (LinearEngine | MiniBatchEngine)
//        restore ─► train to the next checkpoint step ─► checkpoint ─► … ─► reports
//        (stop on request: checkpoint + partial report; divergence: the audits before it)
//        ▼
//     ReportDocument (report.json) ─► run folder (RunOutput.write)
import Foundation
import FeatureLensNumerics
import Logging

/// What a run produced: the report document (of the experiment's kind) and what writing the
/// run folder needs.
public struct ExperimentResult: Sendable {
    /// The `report.json` document of either kind.
    public enum Document: Sendable {
        /// A synthetic run: the config recorded is the preset as run.
        case synthetic(ReportDocument<SyntheticPreset>)
        /// An image run: the config recorded is the base config as run.
        case image(ReportDocument<ImageExperimentConfig>)
    }

    /// The experiment as run.
    public var experiment: Experiment
    /// The report document.
    public var document: Document
    /// Per run (same order as `runs`): the number of test points its probe accuracies are
    /// scored on (the real count: `test_limit = 0` counts every test image).
    public var testCounts: [Int]

    /// The runs (settings × probed layers), in grid order.
    public var runs: [RunReport] {
        switch document { case let .synthetic(d): return d.runs; case let .image(d): return d.runs }
    }

    /// Where and how the report was made.
    public var provenance: Provenance {
        switch document { case let .synthetic(d): return d.provenance; case let .image(d): return d.provenance }
    }

    /// True when a stop request (SIGINT/SIGTERM) cut the run short.
    public var interrupted: Bool { runs.contains { $0.interruptedAtStep != nil } }

    /// The `config.json` of this run (kind, preset, base, settings, provenance).
    public var configFile: ExperimentFile { ExperimentFile(experiment, provenance: provenance) }

    /// Writes the run folder: config.json, report.json, metrics.csv, report.html, charts/.
    /// - Throws: `OutputError` naming the path that could not be written.
    public func write(to folder: URL) throws {
        let config = try configFile.jsonData()
        switch document {
        case let .synthetic(d): try RunOutput.write(d, configJSON: config, to: folder, testCounts: testCounts)
        case let .image(d): try RunOutput.write(d, configJSON: config, to: folder, testCounts: testCounts)
        }
    }
}

/// Runs experiments of both kinds: expands the settings, prepares the data, drives one
/// `TrainingEngine` per setting with checkpoints, resume, stop and divergence handling, and
/// returns the report document; `run(_:writingTo:)` also writes the run folder.
///
/// Determinism: the same experiment and seed give the same numbers whatever `concurrency`
/// and thread count (settings are independent; parallel kernels split over output blocks),
/// and a run resumed from its checkpoints ends bit for bit where an uninterrupted one does.
public struct ExperimentRunner: @unchecked Sendable {
    /// Synthetic settings run at the same time (each on its own thread). Image settings run
    /// one after the other, each using the parallel kernels.
    public var concurrency: Int
    /// Where audits and per-setting timings are logged (nil: silent).
    public var logger: Logger?
    /// Record representation metrics, a PCA projection and the collapse geometry at every
    /// synthetic audit (for reports); off for the bare signature checks.
    public var recordsRepresentation: Bool
    /// The probe of the synthetic audits (default: SCIENCE.md §5's signature probe).
    public var probe: any SignatureProbing
    /// Where the run writes one checkpoint per setting (every `every` steps, at the end of its
    /// training, when stopped) and whether it resumes from them (RunCheckpoints.swift); nil:
    /// no checkpoints.
    public var checkpoints: CheckpointPolicy?
    /// Checked before every update (and before each setting starts); true stops training
    /// after auditing the step reached and writing the setting's checkpoint. The report then
    /// holds the settings started so far, each stopped one with `interruptedAtStep`. For
    /// SIGINT/SIGTERM.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called after every optimizer step of an image setting with (setting label, steps
    /// done, total steps, loss).
    public var onStep: (@Sendable (String, Int, Int, Double?) -> Void)?
    /// Called (from any thread) after each setting finishes, with the number done and the total.
    public var onSettingFinished: (@Sendable (Int, Int) -> Void)?
    /// Called (from any thread) with the run's progress in optimizer steps: the plan (every
    /// setting's steps, once the data is ready), each setting's start (with the steps restored
    /// from its checkpoint), its steps as they are done (synthetic settings every
    /// `LinearGradientDescent.stepObserverInterval` steps, image settings every step) and its
    /// end. For `RunProgress`; display only, the results do not depend on it.
    public var onProgress: (@Sendable (RunProgressEvent) -> Void)?

    /// - Parameters: see the properties.
    public init(concurrency: Int = min(2, Parallel.availableCores), logger: Logger? = nil,
                recordsRepresentation: Bool = false, probe: any SignatureProbing = RidgeProbe(),
                checkpoints: CheckpointPolicy? = nil) {
        self.concurrency = max(1, concurrency)
        self.logger = logger
        self.recordsRepresentation = recordsRepresentation
        self.probe = probe
        self.checkpoints = checkpoints
    }

    /// Runs `experiment` and writes its run folder (config.json, report.json, metrics.csv,
    /// report.html, charts/); checkpoints go to `folder` (every
    /// `CheckpointPolicy.defaultSyntheticEvery` / `defaultImageEvery` steps) unless
    /// `checkpoints` names a policy.
    /// The folders this call creates (the run folder and missing parents) are removed again
    /// when the run fails before writing any file into them (a bad data path, a config that
    /// does not fit the data), so a failed start leaves nothing behind.
    /// - Throws: as `run(_:)`; `OutputError` when the folder cannot be written.
    @discardableResult
    public func run(_ experiment: Experiment, writingTo folder: URL) throws -> ExperimentResult {
        // The outermost folder this call creates (the run folder or a missing parent of it).
        let created = AtomicFile.outermostMissingFolder(of: folder)
        try AtomicFile.prepareDirectory(folder)
        do {
            var runner = self
            if runner.checkpoints == nil {
                let every = experiment.kind == .synthetic ? CheckpointPolicy.defaultSyntheticEvery : CheckpointPolicy.defaultImageEvery
                runner.checkpoints = CheckpointPolicy(folder: folder, every: every)
            }
            let result = try runner.run(experiment)
            try result.write(to: folder)
            return result
        } catch {
            if let created { AtomicFile.removeIfHoldsNoFiles(created) }
            throw error
        }
    }

    /// Runs every setting of `experiment`.
    /// - Returns: the document; a setting whose training diverged has `divergence` set and its
    ///   audits before it (the other settings still run).
    /// - Throws: `ConfigError` (bad key or value), `ImageRunnerError` (dataset missing,
    ///   setting that does not fit the data), `IDXError` / `ImageDatasetError`,
    ///   `SyntheticModelError`, a divergence before any audit (`TrainerError`,
    ///   `LinearTrainingError`), probe errors; with `checkpoints`: `ResumeError`,
    ///   `CheckpointError`, `SafeTensorsError` for checkpoints that do not fit, `OutputError`
    ///   when one cannot be written.
    public func run(_ experiment: Experiment) throws -> ExperimentResult {
        switch experiment {
        case let .synthetic(p): return try runSynthetic(p)
        case let .image(p): return try runImage(p)
        }
    }

    /// Runs a synthetic preset (see `run(_:)`).
    /// - Throws: as `run(_:)`.
    public func run(_ preset: SyntheticPreset) throws -> ReportDocument<SyntheticPreset> {
        guard case let .synthetic(d) = try run(.synthetic(preset)).document else { fatalError("unreachable") }
        return d
    }

    /// Runs an image preset (see `run(_:)`).
    /// - Throws: as `run(_:)`.
    public func run(_ preset: ImagePreset) throws -> ReportDocument<ImageExperimentConfig> {
        guard case let .image(d) = try run(.image(preset)).document else { fatalError("unreachable") }
        return d
    }

    // MARK: The two kinds

    /// One setting as the runner drives it.
    struct SettingJob {
        /// `run.setting` of its checkpoint (and its label in logs).
        var name: String
        /// Its typed setting values (report `settings`).
        var settings: [String: SettingValue]
        /// Its config as JSON (checkpoint `config`).
        var configJSON: String
    }

    func runSynthetic(_ preset: SyntheticPreset) throws -> ExperimentResult {
        let configs = try preset.settings.indices.map { try preset.config(setting: $0) }
        for c in configs { try c.validate() }
        let jobs = try configs.indices.map { i in
            SettingJob(name: preset.settings[i].name,
                       settings: preset.settings[i].values.mapValues { SettingValue(parsing: $0) },
                       configJSON: try RunCheckpoints.json(configs[i]))
        }
        let resumeFiles = try checkResume(jobs, kind: LinearEngine.checkpointKind)
        // Settings that share a data set (same model, augmentation and seed) share its
        // generation, Gram matrix and theory caches; generate each distinct one once.
        var keys: [SyntheticDataKey] = []
        for c in configs where !keys.contains(c.dataKey) { keys.append(c.dataKey) }
        let prepared = try parallelMap(keys, concurrency: concurrency) { key in
            try PreparedData(config: configs.first { $0.dataKey == key }!)
        }
        let byKey = Dictionary(uniqueKeysWithValues: zip(keys, prepared))
        try prepareCheckpointFolder()
        let onProgress = self.onProgress
        onProgress?(.planned(steps: configs.map(\.steps)))
        let reports = try runJobs(jobs, resumeFiles: resumeFiles, concurrency: concurrency) { i, load in
            let engine = try LinearEngine(config: configs[i], prepared: byKey[configs[i].dataKey], probe: probe,
                                          recordsRepresentation: recordsRepresentation)
            if let onProgress { engine.stepObserver = { onProgress(.stepped(setting: i, done: $0, loss: nil)) } }
            engine.threadBudget = { load.spareThreads() }
            return engine
        }
        var runs: [RunReport] = [], counts: [Int] = []
        for (i, r) in reports.enumerated() { for run in r ?? [] { runs.append(run); counts.append(configs[i].nTest) } }
        let doc = ReportDocument(preset: preset.name, config: preset, runs: runs, provenance: Provenance.current(seed: preset.base.seed))
        return ExperimentResult(experiment: .synthetic(preset), document: .synthetic(doc), testCounts: counts)
    }

    func runImage(_ preset: ImagePreset) throws -> ExperimentResult {
        guard !preset.settings.isEmpty else { throw ImageRunnerError.emptyPreset(preset.name) }
        try preset.base.validate()
        let planned = try preset.settings.indices.map { try preset.config(setting: $0) }
        for c in planned { try c.validate() }
        let jobs = try planned.indices.map { i in
            let keys = preset.settings[i].keys.sorted()
            return SettingJob(name: keys.map { "\($0)=\(planned[i].value(forKey: $0) ?? "?")" }.joined(separator: ","),
                              settings: Dictionary(uniqueKeysWithValues: keys.map { ($0, SettingValue(parsing: planned[i].value(forKey: $0) ?? "")) }),
                              configJSON: try RunCheckpoints.json(planned[i]))
        }
        let resumeFiles = try checkResume(jobs, kind: MiniBatchEngine.checkpointKind)
        let data = try loadData(planned)
        let (train, test) = (data.train, data.test)
        let (configs, base) = fillNormalization(planned, base: preset.base, train: train)
        // Only now that the data loaded and fits, clear an earlier run's checkpoints (a typo in
        // `data` must not destroy resumable state).
        try prepareCheckpointFolder()
        let savedThreads = Parallel.threadCount
        defer { Parallel.threadCount = savedThreads }
        // When the configs leave the thread count to FeatureLens, settings train side by side,
        // one core each: the memory-bound passes of a convolutional step (im2col, packing,
        // elementwise layers, the optimizer) gain little from a second thread, so two
        // settings on one core each finish sooner than one after the other on two. Once no
        // setting waits, a running one takes the cores the finished ones left. The thread
        // count is global (`Parallel.threadCount`) and never changes a result.
        let sideBySide = configs.allSatisfy { $0.threads == 0 } ? max(1, min(savedThreads, configs.count)) : 1
        let onStep = self.onStep, onProgress = self.onProgress
        onProgress?(.planned(steps: configs.map { $0.totalSteps(trainCount: $0.trainCount(available: train.count)) }))
        let shareCores: ((JobLoad) -> Void)? = sideBySide > 1 ? { Parallel.threadCount = $0.spareThreads() } : nil
        let reports = try runJobs(jobs, resumeFiles: resumeFiles, concurrency: sideBySide, onLoadChange: shareCores) { i, _ in
            if configs[i].threads > 0 { Parallel.threadCount = configs[i].threads }
            var progress: ((String, Int, Int, Double?) -> Void)? = nil
            if onStep != nil || onProgress != nil {
                progress = { label, step, total, loss in
                    onStep?(label, step, total, loss)
                    onProgress?(.stepped(setting: i, done: step, loss: loss))
                }
            }
            return try MiniBatchEngine(config: configs[i], label: jobs[i].name, train: train, test: test,
                                       labelNames: data.labelNames, logger: logger, progress: progress)
        }
        Parallel.threadCount = savedThreads  // the report's provenance names the run's thread count
        var runs: [RunReport] = [], testCounts: [Int] = []
        for (i, r) in reports.enumerated() { for run in r ?? [] { runs.append(run); testCounts.append(configs[i].testCount(available: test.count)) } }
        let doc = ReportDocument(preset: preset.name, config: base, runs: runs, provenance: Provenance.current(seed: preset.base.seed))
        return ExperimentResult(experiment: .image(preset), document: .image(doc), testCounts: testCounts)
    }

    /// `normalize = per-channel` with `auto` statistics: μ and σ of each setting's training
    /// images (the first `train_limit` of `train`), written into its config and into the
    /// report's config `base`, so the report says which values were used and running its
    /// config again uses the same. Other configs are returned unchanged.
    func fillNormalization(_ configs: [ImageExperimentConfig], base: ImageExperimentConfig, train: ImageDataset)
        -> (configs: [ImageExperimentConfig], base: ImageExperimentConfig) {
        var fitted: [Int: (mean: [Double], standardDeviation: [Double])] = [:]
        func fill(_ c: ImageExperimentConfig) -> ImageExperimentConfig {
            guard c.normalize == .perChannel, c.normalizeMean.values.isEmpty, !c.isFeatureMatrix else { return c }
            let n = c.trainCount(available: train.count)
            if fitted[n] == nil { fitted[n] = ChannelNormalization.fit(n == train.count ? train.images : train.images.rows(0..<n)) }
            var out = c
            out.normalizeMean = RealList(fitted[n]!.mean)
            out.normalizeStd = RealList(fitted[n]!.standardDeviation)
            return out
        }
        let filled = configs.map(fill), filledBase = fill(base)
        for (n, f) in fitted.sorted(by: { $0.key < $1.key }) {
            logger?.info("normalize = per-channel on \(n) training images: mean \(RealList(f.mean).configString), std \(RealList(f.standardDeviation).configString)")
        }
        return (filled, filledBase)
    }

    /// The data every mini-batch setting reads, with its label sets in report order.
    struct MiniBatchData {
        var train: ImageDataset
        var test: ImageDataset
        /// `class` then the coarse set for an image folder; the labels file's columns for a
        /// feature matrix.
        var labelNames: [String]
    }

    /// Loads the data every setting reads: the largest image subsets any setting uses, from one
    /// folder, or one feature matrix split and standardized once (`TabularDataset`); then checks
    /// every setting's `train_label` and `within` against its label sets.
    /// - Throws: `ImageRunnerError` (settings reading different data, dataset missing, batch
    ///   larger than the data), the readers' errors (naming the file), `TabularDatasetError`,
    ///   `ConfigError` naming `train_label` or `within`.
    func loadData(_ configs: [ImageExperimentConfig]) throws -> MiniBatchData {
        let sources = Set(configs.map { [$0.data, $0.dataFormat.rawValue, $0.labels, "\($0.testFraction)", "\($0.splitSeed)", $0.grouping, $0.levels, "\($0.skipBadImages)"] })
        guard sources.count == 1, let c0 = configs.first else {
            throw ImageRunnerError.invalidSetting(setting: "data",
                detail: "every setting must read the same data (data, data_format, labels, test_fraction, split_seed, grouping, levels, skip_bad_images), got \(sources.map { $0.joined(separator: " ") }.sorted())")
        }
        let loadStart = Date()
        let data: MiniBatchData
        if c0.isFeatureMatrix {
            let t = try TabularDataset.load(features: URL(fileURLWithPath: c0.data), labels: URL(fileURLWithPath: c0.labels),
                                            testFraction: c0.testFraction, splitSeed: c0.splitSeed)
            for note in t.notes { logger?.notice("\(note)") }
            let constant = t.standardization.constantColumns
            let constantNote = constant.isEmpty ? "" : " (\(constant.count) constant column\(constant.count == 1 ? "" : "s") set to 0)"
            logger?.info("loaded \(c0.data) [\(t.train.count + t.test.count), \(t.train.width)] and \(c0.labels) (\(t.labelNames.joined(separator: ", "))): \(t.train.count) training and \(t.test.count) test rows, standardized on the training rows\(constantNote)")
            data = MiniBatchData(train: t.train, test: t.test, labelNames: t.labelNames)
        } else {
            let trainLimit = configs.contains { $0.trainLimit == 0 } ? nil : configs.map(\.trainLimit).max()
            let testLimit = configs.contains { $0.testLimit == 0 } ? nil : configs.map(\.testLimit).max()
            let logger = self.logger
            let (train, test) = try MiniBatchEngine.loadImageData(c0, trainLimit: trainLimit, testLimit: testLimit,
                                                                  report: { logger?.notice("\($0)") },
                                                                  // Skipped files and an unwritten cache: not hidden by --quiet.
                                                                  warn: { logger?.warning("\($0)") })
            // `class` first, then the folder levels in order, then the rest (a grouping's `coarse`).
            var names: [String] = []
            for n in ["class"] + c0.levels.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
            where train.labelSets[n] != nil && !names.contains(n) { names.append(n) }
            names += train.labelSets.keys.filter { !names.contains($0) }.sorted()
            logger?.info("loaded \(c0.data): \(train.count) training and \(test.count) test images (label sets \(names.joined(separator: ", "))) in \(String(format: "%.1f", Date().timeIntervalSince(loadStart))) s")
            data = MiniBatchData(train: train, test: test, labelNames: names)
        }
        let source = c0.isFeatureMatrix ? "the labels file \(c0.labels)"
            : "data = \(c0.data) with grouping = \(c0.grouping) (fashion-mnist adds coarse)"
        for c in configs { try c.checkLabelSets(data.labelNames, source: source) }
        let train = data.train
        for c in configs {
            let n = min(train.count, c.trainLimit == 0 ? train.count : c.trainLimit)
            if c.batchSize > n {
                throw ImageRunnerError.invalidSetting(setting: "batch_size", detail: "\(c.batchSize) is larger than the \(n) training \(c.isFeatureMatrix ? "rows" : "images") (set --set batch_size=N with N ≤ \(n))")
            }
        }
        return data
    }

    // MARK: Checkpoints

    /// With `--resume`: every checkpoint checked against the settings before any work.
    func checkResume(_ jobs: [SettingJob], kind: String) throws -> [SafeTensorsFile?] {
        guard let policy = checkpoints, policy.resume else { return Array(repeating: nil, count: jobs.count) }
        return try RunCheckpoints.checkResume(policy, kind: kind, settings: jobs.map {
            RunCheckpoints.Expected(name: $0.name, configJSON: $0.configJSON)
        })
    }

    /// Clears an earlier run's checkpoints (unless resuming) and creates the folder once.
    func prepareCheckpointFolder() throws {
        guard let policy = checkpoints else { return }
        if !policy.resume { RunCheckpoints.removeAll(in: policy.folder) }
        try AtomicFile.prepareDirectory(policy.folder.appendingPathComponent(RunCheckpoints.folderName))
    }

    // MARK: Settings

    /// Runs every job on up to `concurrency` threads; a job not started when a stop was
    /// requested (other than the first) gives nil.
    /// `onLoadChange` is called (on the worker's thread) each time a setting starts or ends.
    func runJobs(_ jobs: [SettingJob], resumeFiles: [SafeTensorsFile?], concurrency: Int,
                 onLoadChange: ((JobLoad) -> Void)? = nil,
                 engine: @escaping (Int, JobLoad) throws -> any TrainingEngine) throws -> [[RunReport]?] {
        let load = JobLoad(jobs: jobs.count, slots: concurrency)
        return try parallelMap(Array(jobs.indices), concurrency: concurrency) { i -> [RunReport]? in
            load.started()
            onLoadChange?(load)
            defer { load.finished(); onLoadChange?(load) }
            if i > 0, shouldStop?() == true { return nil }
            let start = Date()
            let reports = try runSetting(try engine(i, load), index: i, job: jobs[i], resumeFrom: resumeFiles[i])
            logger?.info("[\(jobs[i].name)]: \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            onSettingFinished?(load.trained(), jobs.count)
            return reports
        }
    }

    /// Drives one engine: restore, train from checkpoint to checkpoint, stop, divergence, reports.
    func runSetting(_ engine: any TrainingEngine, index: Int, job: SettingJob, resumeFrom: SafeTensorsFile?) throws -> [RunReport] {
        let start = Date()
        var timelines = [[TimelineEntry]](repeating: [], count: engine.layers.count)
        var priorSeconds = 0.0
        if let file = resumeFrom {
            let keep = try engine.restore(from: file)
            let saved = try engine.savedTimelines(in: file)
            if keep { timelines = saved }
            priorSeconds = Double(file.metadata["run.wall_seconds"] ?? "") ?? 0
        }
        onProgress?(.started(setting: index, done: engine.step))
        defer { onProgress?(.finished(setting: index, done: engine.step)) }
        let directory = checkpoints.map { RunCheckpoints.directory(in: $0.folder, setting: index, name: job.name) }
        let every = directory == nil ? 0 : (checkpoints?.every ?? 0)
        let scheduled = Set(engine.auditSteps)
        let kind = type(of: engine).checkpointKind
        // The timeline's JSON changes only when an audit is added; checkpoints between audits
        // (every 1000 steps of a synthetic run) reuse it.
        var timelineJSON: (entries: Int, text: String)? = nil
        func save() throws {
            guard let directory else { return }
            let entries = timelines.reduce(0) { $0 + $1.count }
            if timelineJSON?.entries != entries {
                let audits = timelines.map { $0.filter { scheduled.contains($0.step) } }
                timelineJSON = (entries, try RunCheckpoints.json(audits))
            }
            try engine.checkpoint(to: directory, configJSON: job.configJSON, metadata: [
                "run.kind": kind, "run.setting": job.name,
                "run.timeline": timelineJSON!.text,
                "run.wall_seconds": "\(priorSeconds + Date().timeIntervalSince(start))",
            ])
        }
        var interruptedAt: Int? = nil
        var divergence: String? = nil
        let total = engine.totalSteps
        if resumeFrom == nil || engine.step < total {
            training: repeat {
                let target = every > 0 ? min(total, (engine.step / every + 1) * every) : total
                let progress = try engine.train(until: target, shouldStop: shouldStop) { entries in
                    for (li, e) in entries.enumerated() { timelines[li].append(e) }
                }
                switch progress {
                case .reached:
                    try save()
                case let .stopped(step):
                    interruptedAt = step
                    try save()
                    break training
                case let .diverged(_, message, error):
                    // The last good checkpoint stays; report the audits before it.
                    guard timelines.allSatisfy({ !$0.isEmpty }) else { throw error }
                    divergence = message
                    break training
                }
            } while engine.step < total
        }
        timelines = timelines.map { $0.sorted { $0.step < $1.step } }
        var reports = try engine.reports(timelines: timelines, settings: job.settings,
                                         finished: interruptedAt == nil && divergence == nil)
        for i in reports.indices {
            reports[i].interruptedAtStep = interruptedAt
            reports[i].divergence = divergence
        }
        return reports
    }
}

/// The settings of a run as its workers take them: how many are waiting, how many run, how
/// many were trained to the end (for `onSettingFinished`). Once
/// none is waiting, a setting still running may use the job slots the finished ones left
/// (`spareThreads`): the last setting of a grid then runs on every core instead of one.
final class JobLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var waiting: Int, running = 0, trainedCount = 0
    private let slots: Int

    /// `jobs` settings for `slots` workers (the runner's concurrency).
    init(jobs: Int, slots: Int) { waiting = jobs; self.slots = max(1, slots) }

    func started() { lock.lock(); waiting -= 1; running += 1; lock.unlock() }
    func finished() { lock.lock(); running -= 1; lock.unlock() }
    /// Records one more setting trained to the end and returns how many are.
    func trained() -> Int { lock.lock(); defer { lock.unlock() }; trainedCount += 1; return trainedCount }

    /// Threads one running setting may use now: 1 while settings wait for a worker, else its
    /// share of the slots the running settings hold (the slots ÷ running, rounded down, ≥ 1).
    func spareThreads() -> Int {
        lock.lock(); defer { lock.unlock() }
        return waiting > 0 || running == 0 ? 1 : max(1, slots / running)
    }
}

/// `transform` over `items` on up to `concurrency` threads, results in input order.
/// - Throws: the first error (in input order) of any item.
func parallelMap<T, R>(_ items: [T], concurrency: Int, _ transform: @escaping (T) throws -> R) throws -> [R] {
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
