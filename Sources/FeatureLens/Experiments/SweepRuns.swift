// The runs of a sweep and its summary, shared by a local `featurelens sweep`, a sharded one
// (`--shard i/n`) and a planned one (`--plan DIR`, run by `sweep run-one` under Slurm or any
// launcher, summarized by `sweep collect`).
//
// A sweep of an experiment with settings s_0 … s_{S−1} over seeds k_0 … k_{K−1} has N = S·K
// runs, numbered setting-major: run i = (setting ⌊i/K⌋, seed k_{i mod K}). Each run is the
// experiment reduced to its setting with its seed (`Experiment.single`) and has its own folder
// `<key>-<value>_…_seed-<k>` (keys sorted; `default_seed-<k>` for a grid without keys).
import Foundation

/// Errors of sweeps, plans and their summaries. Each message names the file or the option.
public enum SweepError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `--seeds` is empty or holds something that is not a non-negative integer.
    case badSeeds(String)
    /// `--shard` is not `i/n` with 0 ≤ i < n.
    case badShard(String)
    /// A finished run's report.json cannot be read.
    case unreadableReport(file: String, detail: String)
    /// The plan's manifest is missing, unreadable or inconsistent (names the field).
    case badManifest(file: String, detail: String)
    /// An index outside the plan.
    case noSuchIndex(index: Int, count: Int)
    /// The plan folder already holds the plan of another sweep.
    case otherPlan(folder: String)
    /// A Slurm option that cannot go into an `#SBATCH` line.
    case badSlurmOption(String)
    /// The run is held by another task (its lock is live).
    case runHeld(index: Int, lock: String, holder: String)
    /// A Slurm command is missing or failed.
    case slurm(String)
    /// A run's lock file cannot be created or written.
    case lockFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .badSeeds(s): return "--seeds: \(s)"
        case let .badShard(s): return "--shard: '\(s)' is not i/n with 0 ≤ i < n (e.g. --shard 0/4)"
        case let .unreadableReport(file, detail): return "\(file): cannot read report (\(detail)); delete the folder to rerun it"
        case let .badManifest(file, detail): return "\(file): \(detail)"
        case let .noSuchIndex(index, count):
            return "--index \(index): the plan has \(count) run(s), indices 0-\(count - 1)"
        case let .otherPlan(folder):
            return "\(folder) already holds the plan of another sweep (manifest.json differs); choose another --plan folder or delete it"
        case let .badSlurmOption(s): return "--slurm-option: \(s)"
        case let .runHeld(index, lock, holder):
            return "run \(index) is being run by another task (\(holder); lock \(lock)); nothing done"
        case let .slurm(s): return s
        case let .lockFile(path, reason): return "cannot take the lock \(path): \(reason)"
        }
    }
}

/// One run of a sweep: a grid point and a seed.
public struct SweepRun: Sendable, Equatable {
    /// Its position in the sweep (setting-major, then seed), 0-based.
    public var index: Int
    /// The grid point: the swept keys and their values (e.g. `["p": "3"]`).
    public var gridPoint: [String: String]
    /// The seed.
    public var seed: UInt64
    /// Its folder's name inside the sweep folder (`p-3_seed-0`).
    public var folderName: String
    /// The experiment it runs (one setting, this seed).
    public var experiment: Experiment

    /// - Parameters: see the properties.
    public init(index: Int, gridPoint: [String: String], seed: UInt64, folderName: String, experiment: Experiment) {
        self.index = index
        self.gridPoint = gridPoint
        self.seed = seed
        self.folderName = folderName
        self.experiment = experiment
    }

    /// Every run of `base` (settings already expanded by `--set`/`--grid`) over `seeds`,
    /// setting-major (the order of `summary.csv`).
    /// - Throws: `SweepError.badSeeds` for no seed; `ConfigError` (cannot happen for a seed).
    public static func all(of base: Experiment, seeds: [UInt64]) throws -> [SweepRun] {
        guard !seeds.isEmpty else { throw SweepError.badSeeds("give at least one seed") }
        var runs: [SweepRun] = []
        for (i, values) in base.settingValues.enumerated() {
            for seed in seeds {
                let slug = values.keys.sorted().map { "\($0)-\(values[$0]!)" }.joined(separator: "_")
                runs.append(SweepRun(index: runs.count, gridPoint: values, seed: seed,
                                     folderName: (slug.isEmpty ? "default" : slug) + "_seed-\(seed)",
                                     experiment: try base.single(setting: i, seed: seed)))
            }
        }
        return runs
    }

    /// Parses `--seeds` (`0,1,2`).
    /// - Throws: `SweepError.badSeeds` naming the bad entry.
    public static func parseSeeds(_ text: String) throws -> [UInt64] {
        let seeds = try text.split(separator: ",").map { s -> UInt64 in
            guard let v = UInt64(s.trimmingCharacters(in: .whitespaces)) else {
                throw SweepError.badSeeds("'\(s)' is not a non-negative integer")
            }
            return v
        }
        guard !seeds.isEmpty else { throw SweepError.badSeeds("give at least one seed") }
        return seeds
    }

    /// Whether `folder` holds this run finished: its config.json has the same config and its
    /// report.json exists and was not cut short by a signal (a diverged run is finished: its
    /// report says so).
    public func isFinished(in folder: URL) -> Bool {
        let configURL = folder.appendingPathComponent("config.json")
        guard let cdata = FileManager.default.contents(atPath: configURL.path),
              let written = try? ExperimentFile.decode(cdata, file: configURL.path),
              written.experiment.hasSameConfig(as: experiment) else { return false }
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("report.json").path),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let runs = obj["runs"] as? [[String: Any]] else { return false }
        return !runs.contains { $0["interrupted_at_step"] != nil }
    }
}

/// `--shard i/n`: run i of every n runs of a sweep (the runs whose index ≡ i mod n), so n
/// machines or launcher tasks given 0/n … (n−1)/n split a sweep without overlap.
public struct SweepShard: Sendable, Equatable {
    /// This shard, 0 ≤ `index` < `count`.
    public var index: Int
    /// The number of shards, ≥ 1.
    public var count: Int

    /// Parses `i/n`.
    /// - Throws: `SweepError.badShard` unless 0 ≤ i < n.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces)), n >= 1, i >= 0, i < n else {
            throw SweepError.badShard(text)
        }
        index = i
        count = n
    }

    /// Whether run `runIndex` belongs to this shard.
    public func contains(_ runIndex: Int) -> Bool { runIndex % count == index }
}

/// summary.csv and summary.html of a sweep: final balanced probe accuracy per label set, mean
/// and sample standard deviation (n − 1) over seeds, one row per grid point.
public enum SweepSummary {
    /// The runs of a report.json (either kind).
    private struct ReportRuns: Decodable {
        var runs: [RunReport]
    }

    /// Aggregates the finished runs of a sweep (the first run of each folder: with
    /// `probe_layer = both`, the backbone) into `root/summary.csv` and `root/summary.html`.
    /// - Parameters:
    ///   - name: the preset's name (the page title).
    ///   - runs: (grid point, seed, run folder) in sweep order; every folder holds a report.json.
    ///   - root: where the two files go.
    ///   - unfinished: one line per run that is not finished (its folder and state); listed
    ///     on the page when not empty (a complete sweep's page does not have the list).
    /// - Throws: `SweepError.unreadableReport` naming the file; `OutputError`.
    public static func write(name: String, runs: [([String: String], UInt64, URL)], root: URL,
                             unfinished: [String] = []) throws {
        let dec = FeatureLensJSON.decoder()
        struct Setting { var values: [String: String] }
        var order: [String] = []
        var groups: [String: (setting: Setting, finals: [[String: Double]])] = [:]
        var labels: [String] = []
        for (values, _, folder) in runs {
            let url = folder.appendingPathComponent("report.json")
            let doc: ReportRuns
            do {
                let data = try Data(contentsOf: url)
                doc = try dec.decode(ReportRuns.self, from: data)
            } catch let e as DecodingError {
                throw SweepError.unreadableReport(file: url.path, detail: JSONFileError(file: url.path, error: e).description)
            } catch {
                throw SweepError.unreadableReport(file: url.path, detail: error.localizedDescription)
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
        if !unfinished.isEmpty {
            page.paragraph("Not finished, left out of the table (\(unfinished.count)): " + unfinished.joined(separator: "; ") + ".")
        }
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
                page.figure(svg: c.svg(), caption: "Band: ± one standard deviation over seeds.")
            }
            page.endRow()
        }
        try AtomicFile.write(page.render(), to: root.appendingPathComponent("summary.html"))
    }
}
