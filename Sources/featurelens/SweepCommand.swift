import ArgumentParser
import FeatureLens
import Foundation

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a preset over a grid and several seeds; summarize final probe accuracy against the swept keys.",
        discussion: helpDiscussion("""
        Each (grid point, seed) gets its own run folder under --out; a folder that already \
        holds a complete report.json of the same config is skipped, and a run cut short by \
        SIGINT/SIGTERM continues from its checkpoints, so an interrupted sweep resumes where it stopped. \
        Writes summary.csv (mean and standard deviation over seeds) and summary.html.
        """, examples: [
            HelpExample("Class probe against the embedding size, three seeds",
                        "featurelens sweep suppression-embedding-size --grid p=1,3,5,7 --seeds 0,1,2"),
            HelpExample("Two learning rates on a shorter run (the audit steps follow steps)",
                        "featurelens sweep class-collapse --grid lr=0.01,0.05 --set steps=2000"),
        ]))

    @Argument(help: "Preset name or config .json.")
    var preset: String

    @Option(name: .long, help: "KEY=v1,v2,...: replace or add a grid axis (repeatable).")
    var grid: [String] = []

    @Option(name: .customLong("set"), help: "KEY=VALUE: fix a config key (repeatable).")
    var assignments: [String] = []

    @Option(name: .long, help: "Comma-separated seeds.")
    var seeds: String = "0"

    @Option(name: .long, help: "Output folder (default: featurelens-sweeps/<preset>).")
    var out: String?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.apply()
        do {
            let seedList = try seeds.split(separator: ",").map { s -> UInt64 in
                guard let v = UInt64(s.trimmingCharacters(in: .whitespaces)) else {
                    throw CLIError("--seeds: '\(s)' is not a non-negative integer")
                }
                return v
            }
            guard !seedList.isEmpty else { throw CLIError("--seeds: give at least one seed") }
            let sets = try assignments.map(parseAssignment), axes = try grid.map(parseGridAxis)
            let base = try resolveExperiment(preset).applying(set: sets, grid: axes)
            try base.validate()
            if !global.quiet, let note = auditStepsNote(base, set: sets, grid: axes) {
                FileHandle.standardError.write(Data("note: \(note)\n".utf8))
            }
            let root = URL(fileURLWithPath: out ?? "featurelens-sweeps/\(base.name)")
            try AtomicFile.prepareDirectory(root)
            struct Job { var values: [String: String]; var seed: UInt64; var folder: URL; var experiment: Experiment }
            var jobs: [Job] = []
            for (i, values) in base.settingValues.enumerated() {
                for seed in seedList {
                    let slug = values.keys.sorted().map { "\($0)-\(values[$0]!)" }.joined(separator: "_")
                    jobs.append(Job(values: values, seed: seed,
                                    folder: root.appendingPathComponent((slug.isEmpty ? "default" : slug) + "_seed-\(seed)"),
                                    experiment: try base.single(setting: i, seed: seed)))
                }
            }
            // A run is finished when its report.json exists and was not cut short by a signal.
            // It must also have been made with the same config (base and setting), else it is redone.
            func finished(_ folder: URL, _ job: Job) -> Bool {
                guard let cdata = FileManager.default.contents(atPath: folder.appendingPathComponent("config.json").path),
                      let written = try? ExperimentFile.decode(cdata, file: folder.appendingPathComponent("config.json").path),
                      written.experiment.hasSameConfig(as: job.experiment) else { return false }
                guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("report.json").path),
                      let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let runs = obj["runs"] as? [[String: Any]] else { return false }
                return !runs.contains { $0["interrupted_at_step"] != nil }
            }
            let todo = jobs.filter { !finished($0.folder, $0) }
            if todo.count < jobs.count && !global.quiet {
                print("Skipping \(jobs.count - todo.count) finished run(s) already in \(root.path).")
            }
            let progress = ProgressDisplay(label: "sweep \(base.name)", unit: "runs", enabled: !global.quiet)
            progress.handle(.planned(steps: [todo.count]))
            let lock = NSLock()
            var done = 0
            var firstError: Error?
            // Synthetic runs: one per core, each on one thread; image runs: one at a time, each
            // using the parallel kernels.
            let workers = base.kind == .synthetic ? min(2, max(1, Parallel.threadCount)) : 1
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < todo.count {
                    lock.lock(); let stop = firstError != nil || Interruption.signal != nil; lock.unlock()
                    if stop { return }
                    let job = todo[i]
                    do {
                        // A run cut short by a signal continues from its checkpoints; one
                        // whose checkpoints do not fit (another config, damaged) starts over.
                        let resumable = !RunCheckpoints.existing(in: job.folder).isEmpty
                        func attempt(_ resume: Bool) throws {
                            let every = base.kind == .synthetic ? CheckpointPolicy.defaultSyntheticEvery : CheckpointPolicy.defaultImageEvery
                            let policy = CheckpointPolicy(folder: job.folder, every: every, resume: resume)
                            _ = try runExperiment(job.experiment, out: job.folder, concurrency: 1, checkpoints: policy,
                                                  quiet: true, logger: logger)
                        }
                        do { try attempt(resumable) } catch where resumable && (error is ResumeError || error is CheckpointError || error is SafeTensorsError) {
                            try attempt(false)
                        }
                    } catch {
                        lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
                    }
                    lock.lock(); done += 1; let d = done; lock.unlock()
                    progress.handle(.stepped(setting: 0, done: d, loss: nil))
                    i += workers
                }
            }
            progress.finish()
            if let e = firstError { throw e }
            try Interruption.exitIfInterrupted(
                root, howToContinue: "continue by running the same sweep command again (finished runs are kept, interrupted ones continue from their checkpoints)")
            try writeSweepSummary(name: base.name, jobs: jobs.map { ($0.values, $0.seed, $0.folder) }, root: root)
            print("Summary: \(root.appendingPathComponent("summary.csv").path), \(root.appendingPathComponent("summary.html").path)")
        } catch {
            throw oneLineError(error)
        }
    }
}

/// The runs of a report.json (either kind).
private struct ReportRuns: Decodable {
    var runs: [RunReport]
}

/// Aggregates the finished runs of a sweep into summary.csv and summary.html (the first run
/// of each folder: with `probe_layer = both`, the backbone).
func writeSweepSummary(name: String, jobs: [([String: String], UInt64, URL)], root: URL) throws {
    let dec = FeatureLensJSON.decoder()
    struct Setting { var values: [String: String] }
    var order: [String] = []
    var groups: [String: (setting: Setting, finals: [[String: Double]])] = [:]
    var labels: [String] = []
    for (values, _, folder) in jobs {
        let url = folder.appendingPathComponent("report.json")
        let data = try Data(contentsOf: url)
        let doc: ReportRuns
        do { doc = try dec.decode(ReportRuns.self, from: data) } catch {
            throw CLIError("\(url.path): cannot read report (\(describe(error))); delete the folder to rerun it")
        }
        guard let run = doc.runs.first else { continue }
        for l in run.labels where !labels.contains(l) { labels.append(l) }
        let key = values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ",")
        if groups[key] == nil { order.append(key); groups[key] = (Setting(values: values), []) }
        groups[key]!.finals.append(run.final.probes)
    }
    let keys = Array(Set(order.flatMap { groups[$0]!.setting.values.keys })).sorted()
    var csv = (keys + ["seeds"] + labels.flatMap { ["\($0)_mean", "\($0)_std"] }).joined(separator: ",") + "\n"
    var stats: [(key: String, setting: Setting, mean: [String: Double], std: [String: Double])] = []
    for key in order {
        let g = groups[key]!
        var mean: [String: Double] = [:], std: [String: Double] = [:]
        for l in labels {
            // A label set a run does not have (no bits at bits=0) or could not measure is left
            // out; with no value at all the cell stays empty, never a made-up 0.
            let xs = g.finals.compactMap { $0[l] }.filter { $0.isFinite }
            guard !xs.isEmpty else { mean[l] = .nan; std[l] = .nan; continue }
            let m = xs.reduce(0, +) / Double(xs.count)
            let v = xs.count > 1 ? xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1) : 0
            mean[l] = m; std[l] = v.squareRoot()
        }
        stats.append((key, g.setting, mean, std))
        csv += (keys.map { g.setting.values[$0] ?? "" } + [String(g.finals.count)]
                + labels.flatMap { l in mean[l]!.isNaN ? ["", ""] : [String(format: "%.4f", mean[l]!), String(format: "%.4f", std[l]!)] })
            .joined(separator: ",") + "\n"
    }
    try AtomicFile.write(csv, to: root.appendingPathComponent("summary.csv"))

    var page = HTMLPage(title: "FeatureLens sweep — \(name)")
    page.paragraph("Final probe accuracy (balanced) per label set: mean ± standard deviation over seeds.")
    page.table(header: keys + ["seeds"] + labels, rows: stats.map { s in
        keys.map { s.setting.values[$0] ?? "" } + [String(groups[s.key]!.finals.count)]
            + labels.map { l in s.mean[l]!.isNaN ? "—" : String(format: "%.3f ± %.3f", s.mean[l]!, s.std[l]!) }
    })
    if let xKey = keys.first(where: { k in stats.allSatisfy { Double($0.setting.values[k] ?? "") != nil } }) {
        let others = keys.filter { $0 != xKey }
        var byGroup: [String: [(Double, [String: Double], [String: Double])]] = [:]
        var gOrder: [String] = []
        for s in stats {
            let g = others.map { "\($0)=\(s.setting.values[$0] ?? "")" }.joined(separator: ", ")
            if byGroup[g] == nil { gOrder.append(g) }
            byGroup[g, default: []].append((Double(s.setting.values[xKey]!)!, s.mean, s.std))
        }
        page.beginRow()
        for g in gOrder {
            let pts = byGroup[g]!.sorted { $0.0 < $1.0 }
            let series = labels.map { l in
                ChartSeries(name: l, x: pts.map { $0.0 }, y: pts.map { $0.1[l] ?? .nan }, error: pts.map { p in p.2[l].map { $0.isNaN ? 0 : $0 } ?? 0 })
            }
            var c = LineChart(title: "Final probe accuracy vs \(xKey)\(g.isEmpty ? "" : " (\(g))")", xLabel: xKey,
                              yLabel: "balanced accuracy (mean ± sd over seeds)", series: series, yRange: 0...1.02)
            c.referenceLines = [(0.5, "chance")]
            let svg = c.svg()
            page.figure(svg: svg, caption: "Band: ± one standard deviation over seeds.")
        }
        page.endRow()
    }
    try AtomicFile.write(page.render(), to: root.appendingPathComponent("summary.html"))
}
