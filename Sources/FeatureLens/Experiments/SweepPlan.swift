// A planned sweep: the runs written down before any of them runs, so that a job array (Slurm),
// any other launcher or a shell loop can run them one index at a time, on any machine that
// sees the folder, in any order, more than once.
//
//     DIR/manifest.json         every run: index, grid point, seed, folder, full config; the
//                               featurelens binary and version that planned it
//     DIR/sweep.sbatch          the job array: task i runs `featurelens sweep run-one DIR --index i`
//     DIR/<run folder>/         one per run, as a local sweep names it (`p-3_seed-0`)
//     DIR/tasks/<i>.lock        held while a task runs run i (host, pid, Slurm job id)
//     DIR/tasks/<i>.failed.json the last failure of run i (exit code, message), removed when it finishes
//     DIR/logs/                 Slurm's output files (%A_%a.out)
//     DIR/jobs.json             the Slurm job ids submitted for the plan
//
// Run i is finished when its folder holds a report.json of the same config that a signal did
// not cut short (`SweepRun.isFinished`, the rule of a local sweep). `runOne` skips a finished
// run, continues an interrupted one from its checkpoints, and refuses (without touching the
// folder) a run whose lock is held by a live task. The lock is a file created with
// O_CREAT|O_EXCL (atomic on local file systems and NFSv3+); it is broken only when its holder
// is gone: the process is dead on this host, or its Slurm job is no longer in the queue.
import Foundation

/// The manifest of a planned sweep (`DIR/manifest.json`).
public struct SweepManifest: Codable, Sendable, Equatable {
    /// One run of the plan.
    public struct Run: Codable, Sendable, Equatable {
        /// Its index (the Slurm array task id that runs it).
        public var index: Int
        /// The grid point (swept key → value).
        public var gridPoint: [String: String]
        /// The seed.
        public var seed: UInt64
        /// Its folder, relative to the plan folder.
        public var folder: String
        /// The full config it runs (the `config.json` form: kind, preset, base, settings).
        public var config: ManifestConfig

        enum CodingKeys: String, CodingKey {
            case index, gridPoint = "grid_point", seed, folder, config
        }
    }

    /// The file format's version (1).
    public var formatVersion: Int
    /// The preset's name (the summary's title).
    public var preset: String
    /// The seeds, in order.
    public var seeds: [UInt64]
    /// Every run, by index.
    public var runs: [Run]
    /// The featurelens binary that planned the sweep (absolute path) and its version.
    public var featurelensPath: String
    /// `FeatureLensInfo.version` of that binary.
    public var featurelensVersion: String

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", preset, seeds, runs
        case featurelensPath = "featurelens_path", featurelensVersion = "featurelens_version"
    }

    /// The runs as `SweepRun`s.
    public var sweepRuns: [SweepRun] {
        runs.map { SweepRun(index: $0.index, gridPoint: $0.gridPoint, seed: $0.seed, folderName: $0.folder, experiment: $0.config.experiment) }
    }

    /// The same runs with the same configs (the binary that planned them aside).
    public func hasSameRuns(as other: SweepManifest) -> Bool {
        preset == other.preset && seeds == other.seeds && runs.count == other.runs.count
            && zip(runs, other.runs).allSatisfy {
                $0.index == $1.index && $0.gridPoint == $1.gridPoint && $0.seed == $1.seed && $0.folder == $1.folder
                    && $0.config.experiment.hasSameConfig(as: $1.config.experiment)
            }
    }
}

/// An experiment in the JSON form of a run's `config.json` (without provenance), so the
/// manifest's configs read back exactly (reals in their shortest round-trip form).
public struct ManifestConfig: Codable, Sendable, Equatable {
    /// The experiment.
    public var experiment: Experiment

    /// - Parameter experiment: the experiment.
    public init(_ experiment: Experiment) { self.experiment = experiment }

    private enum KindKey: String, CodingKey { case kind }

    public init(from decoder: Swift.Decoder) throws {
        let kind = try decoder.container(keyedBy: KindKey.self).decode(ExperimentKind.self, forKey: .kind)
        switch kind {
        case .synthetic:
            let f = try ExperimentFile.SyntheticForm(from: decoder)
            experiment = .synthetic(SyntheticPreset(name: f.preset, summary: f.summary, base: f.base, settings: f.settings))
        case .image:
            let f = try ExperimentFile.ImageForm(from: decoder)
            experiment = .image(ImagePreset(name: f.preset, summary: f.summary, base: f.base, settings: f.settings, expectedMinutes: 0))
        }
    }

    public func encode(to encoder: Swift.Encoder) throws {
        switch experiment {
        case let .synthetic(p):
            try ExperimentFile.SyntheticForm(kind: .synthetic, preset: p.name, summary: p.summary, base: p.base,
                                             settings: p.settings, provenance: nil).encode(to: encoder)
        case let .image(p):
            try ExperimentFile.ImageForm(kind: .image, preset: p.name, summary: p.summary, base: p.base,
                                         settings: p.settings, provenance: nil).encode(to: encoder)
        }
    }
}

/// Options of the generated `sweep.sbatch` (each becomes an `#SBATCH` line when set).
public struct SlurmOptions: Sendable, Equatable {
    /// At most this many array tasks at once (`%M` of `--array`); nil: no limit.
    public var arrayLimit: Int?
    /// `--partition`.
    public var partition: String?
    /// `--time` (Slurm's forms: `MM`, `HH:MM:SS`, `D-HH:MM`, …).
    public var time: String?
    /// `--cpus-per-task` (also the run's `--threads`).
    public var cpusPerTask: Int?
    /// `--mem` (e.g. `4G`).
    public var mem: String?
    /// `--account`.
    public var account: String?
    /// Any other `#SBATCH --KEY=VALUE` (or `--KEY` for an empty value), in order.
    public var extra: [(key: String, value: String)]
    /// Seconds before the time limit at which Slurm sends SIGTERM to the task
    /// (`--signal=B:TERM@s`), so the run writes its checkpoint and partial report.
    public var signalSeconds: Int

    /// - Parameters: see the properties.
    public init(arrayLimit: Int? = nil, partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil,
                mem: String? = nil, account: String? = nil, extra: [(key: String, value: String)] = [], signalSeconds: Int = 60) {
        self.arrayLimit = arrayLimit; self.partition = partition; self.time = time; self.cpusPerTask = cpusPerTask
        self.mem = mem; self.account = account; self.extra = extra; self.signalSeconds = signalSeconds
    }

    public static func == (a: SlurmOptions, b: SlurmOptions) -> Bool {
        a.arrayLimit == b.arrayLimit && a.partition == b.partition && a.time == b.time && a.cpusPerTask == b.cpusPerTask
            && a.mem == b.mem && a.account == b.account && a.signalSeconds == b.signalSeconds
            && a.extra.map(\.key) == b.extra.map(\.key) && a.extra.map(\.value) == b.extra.map(\.value)
    }

    /// Parses `--slurm-option KEY=VALUE` (a leading `--` on KEY is dropped; `KEY` alone is a flag).
    /// - Throws: `SweepError.badSlurmOption` for an empty key, a key outside `[A-Za-z0-9-]`,
    ///   `array` (the plan writes it) or a value with a line break.
    public static func parseExtra(_ text: String) throws -> (key: String, value: String) {
        var key = text, value = ""
        if let eq = text.firstIndex(of: "=") { key = String(text[..<eq]); value = String(text[text.index(after: eq)...]) }
        while key.hasPrefix("-") { key.removeFirst() }
        guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw SweepError.badSlurmOption("'\(text)': expected KEY=VALUE with a Slurm option name as KEY (e.g. qos=short)")
        }
        guard key != "array" else { throw SweepError.badSlurmOption("'\(text)': the plan writes --array itself (use --array-limit)") }
        guard !value.contains("\n"), !value.contains("\r") else { throw SweepError.badSlurmOption("'\(text)': the value has a line break") }
        return (key, value)
    }
}

/// What Slurm's queue says about array tasks and jobs (`squeue`), for `status` and for
/// deciding whether a lock's holder is gone.
public struct SlurmQueueEntry: Sendable, Equatable {
    /// The job's own id (`SLURM_JOB_ID` of the task; `%A`).
    public var jobID: String
    /// The array's job id (`%F`; the job id for a job that is not an array).
    public var arrayJobID: String
    /// The array task id (`%K`), nil for a job that is not an array.
    public var arrayTaskID: Int?
    /// `PENDING`, `RUNNING`, `COMPLETING`, …
    public var state: String

    /// - Parameters: see the properties.
    public init(jobID: String, arrayJobID: String, arrayTaskID: Int?, state: String) {
        self.jobID = jobID; self.arrayJobID = arrayJobID; self.arrayTaskID = arrayTaskID; self.state = state
    }
}

/// The Slurm commands a plan uses, found on PATH.
public enum Slurm {
    /// The absolute path of `command` on PATH, or nil.
    public static func find(_ command: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        for dir in (path ?? "").split(separator: ":") {
            let p = "\(dir)/\(command)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// The current user's jobs, one entry per array task (`squeue --me -h -r -o %A|%F|%K|%T`),
    /// or nil when `squeue` is not on PATH or fails (no Slurm reachable from here).
    public static func queue() -> [SlurmQueueEntry]? {
        guard let squeue = find("squeue"), let (code, out, _) = try? ChildProcess.run(squeue, ["--me", "-h", "-r", "-o", "%A|%F|%K|%T"]),
              code == 0 else { return nil }
        return out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == 4 else { return nil }
            return SlurmQueueEntry(jobID: f[0], arrayJobID: f[1], arrayTaskID: Int(f[2]), state: f[3])
        }
    }

    /// Submits `script` with `sbatch --parsable` and returns the job id.
    /// - Throws: `SweepError.slurm` when `sbatch` is not on PATH (with what to do instead) or fails.
    public static func submit(_ script: URL, planFolder: URL) throws -> String {
        guard let sbatch = find("sbatch") else {
            throw SweepError.slurm("--submit: sbatch is not on PATH (no Slurm here); the plan is written: submit \(script.path) with sbatch on a Slurm login node, or run each index with `featurelens sweep run-one \(planFolder.path) --index I`")
        }
        let (code, out, err) = try ChildProcess.run(sbatch, ["--parsable", script.path])
        let id = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard code == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SweepError.slurm("sbatch \(script.path) failed (exit \(code)): \(err.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return id
    }
}

/// The lock of one run of a plan (`DIR/tasks/<i>.lock`): who runs it.
public struct SweepLock: Codable, Sendable, Equatable {
    /// `gethostname` of the holder.
    public var host: String
    /// The holder's process id on `host`.
    public var pid: Int32
    /// `SLURM_JOB_ID` of the holder (the array task's own job id), if it runs under Slurm.
    public var slurmJobID: String?
    /// A random token that tells this holder's lock from a later one.
    public var token: String

    enum CodingKeys: String, CodingKey { case host, pid, slurmJobID = "slurm_job_id", token }

    /// - Parameters: see the properties.
    public init(host: String, pid: Int32, slurmJobID: String?, token: String) {
        self.host = host; self.pid = pid; self.slurmJobID = slurmJobID; self.token = token
    }

    /// This process as a holder.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> SweepLock {
        SweepLock(host: hostName(), pid: getpid(), slurmJobID: environment["SLURM_JOB_ID"].flatMap { $0.isEmpty ? nil : $0 },
                  token: String(UInt64.random(in: 0...UInt64.max), radix: 16))
    }

    /// This machine's host name.
    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(cString: buf)
    }

    /// "host h, pid p, Slurm job j".
    public var holderDescription: String {
        "host \(host), pid \(pid)" + (slurmJobID.map { ", Slurm job \($0)" } ?? "")
    }

    /// Whether the holder is gone: its Slurm job is not in `queue` (when the queue is known),
    /// or, on this host, its process no longer exists. Unknown (another host, no job id or
    /// no queue) counts as alive.
    public func isGone(queue: [SlurmQueueEntry]?, thisHost: String = SweepLock.hostName()) -> Bool {
        if let job = slurmJobID, let queue, !queue.contains(where: { $0.jobID == job }) { return true }
        if host == thisHost { return kill(pid, 0) != 0 && errno == ESRCH }
        return false
    }
}

/// What `SweepPlan.runOne` did.
public enum RunOneOutcome: Equatable, Sendable {
    /// The run was already finished; nothing was done.
    case alreadyFinished
    /// The run ran (or resumed) and finished.
    case finished(resumed: Bool)
    /// The run stopped at a signal; its checkpoint and partial report are written.
    case interrupted(resumed: Bool)
    /// The run diverged (its report says so; the run counts as finished, as in a local sweep).
    case diverged(message: String)
}

/// The state of one run of a plan (`featurelens sweep status`).
public struct SweepRunStatus: Sendable, Equatable {
    /// done / running / failed / pending.
    public enum State: String, Sendable, CaseIterable { case done, running, failed, pending }
    /// The run's index.
    public var index: Int
    /// Its folder's name.
    public var folder: String
    /// Its state.
    public var state: State
    /// Why (the failure's message, the lock holder, Slurm's state), or empty.
    public var detail: String
}

/// A failure record (`DIR/tasks/<i>.failed.json`).
public struct SweepFailure: Codable, Sendable, Equatable {
    /// The exit code the task ended with.
    public var exitCode: Int32
    /// The error, one line.
    public var message: String
    /// Where it ran.
    public var host: String
    /// `SLURM_JOB_ID`, if any.
    public var slurmJobID: String?

    enum CodingKeys: String, CodingKey { case exitCode = "exit_code", message, host, slurmJobID = "slurm_job_id" }

    /// - Parameters: see the properties.
    public init(exitCode: Int32, message: String, host: String, slurmJobID: String?) {
        self.exitCode = exitCode; self.message = message; self.host = host; self.slurmJobID = slurmJobID
    }
}

/// A planned sweep in its folder (layout at the top of this file).
public struct SweepPlan: Sendable {
    /// The plan folder (absolute).
    public var folder: URL
    /// Its manifest.
    public var manifest: SweepManifest

    /// `manifest.json`.
    public static let manifestName = "manifest.json"
    /// `sweep.sbatch`, the job array of every run.
    public static let scriptName = "sweep.sbatch"
    /// `sweep-resubmit.sbatch`, the job array of the runs `collect --resubmit-failed` chose.
    public static let resubmitScriptName = "sweep-resubmit.sbatch"
    /// `jobs.json`, the Slurm job ids submitted for the plan.
    public static let jobsName = "jobs.json"
    /// `tasks/`: the locks and failure records.
    public static let tasksFolder = "tasks"
    /// `logs/`: Slurm's output files.
    public static let logsFolder = "logs"

    /// The manifest file.
    public var manifestURL: URL { folder.appendingPathComponent(Self.manifestName) }
    /// Run `index`'s folder.
    public func runFolder(_ index: Int) -> URL { folder.appendingPathComponent(manifest.runs[index].folder) }
    /// Run `index`'s lock file.
    public func lockURL(_ index: Int) -> URL { folder.appendingPathComponent(Self.tasksFolder).appendingPathComponent("\(index).lock") }
    /// Run `index`'s failure record.
    public func failureURL(_ index: Int) -> URL { folder.appendingPathComponent(Self.tasksFolder).appendingPathComponent("\(index).failed.json") }

    /// The plan of `runs` in `folder` (not yet written).
    public init(folder: URL, preset: String, seeds: [UInt64], runs: [SweepRun], executable: String,
                version: String = FeatureLensInfo.version) {
        self.folder = folder.standardizedFileURL
        manifest = SweepManifest(formatVersion: 1, preset: preset, seeds: seeds,
                                 runs: runs.map { .init(index: $0.index, gridPoint: $0.gridPoint, seed: $0.seed, folder: $0.folderName,
                                                        config: ManifestConfig($0.experiment)) },
                                 featurelensPath: executable, featurelensVersion: version)
    }

    /// Writes the plan: the folder, one empty folder per run, `tasks/`, `logs/`,
    /// manifest.json (atomically) and sweep.sbatch. A folder that already holds the same
    /// plan keeps its runs (finished ones stay finished); the script is rewritten.
    /// - Throws: `SweepError.otherPlan` when the folder holds another sweep's manifest;
    ///   `OutputError`.
    public func write(slurm: SlurmOptions) throws {
        try AtomicFile.prepareDirectory(folder)
        if FileManager.default.fileExists(atPath: manifestURL.path) {
            let old = try? SweepPlan.load(folder)
            guard let old, old.manifest.hasSameRuns(as: manifest) else { throw SweepError.otherPlan(folder: folder.path) }
        }
        for r in manifest.runs { try AtomicFile.prepareDirectory(folder.appendingPathComponent(r.folder)) }
        try AtomicFile.prepareDirectory(folder.appendingPathComponent(Self.tasksFolder))
        try AtomicFile.prepareDirectory(folder.appendingPathComponent(Self.logsFolder))
        try AtomicFile.write(try FeatureLensJSON.encode(manifest), to: manifestURL)
        try AtomicFile.write(batchScript(indices: Array(manifest.runs.indices), slurm: slurm),
                             to: folder.appendingPathComponent(Self.scriptName))
    }

    /// Reads the plan in `folder`.
    /// - Throws: `SweepError.badManifest` naming the file and the field.
    public static func load(_ folder: URL) throws -> SweepPlan {
        let url = folder.standardizedFileURL.appendingPathComponent(manifestName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SweepError.badManifest(file: url.path, detail: "no such file (is \(folder.path) a plan written by `featurelens sweep … --plan DIR`?)")
        }
        let manifest: SweepManifest
        do { manifest = try FeatureLensJSON.decode(SweepManifest.self, from: data, file: url.path) } catch let e as JSONFileError {
            throw SweepError.badManifest(file: url.path, detail: e.field.map { "field \($0): \(e.message)" }
                ?? "\(e.message) (the file is damaged: restore it, or plan the sweep again into a new folder)")
        }
        guard manifest.formatVersion == 1 else {
            throw SweepError.badManifest(file: url.path, detail: "field format_version: \(manifest.formatVersion); this featurelens reads 1")
        }
        for (i, r) in manifest.runs.enumerated() {
            guard r.index == i else { throw SweepError.badManifest(file: url.path, detail: "field runs[\(i)].index: \(r.index); expected \(i)") }
            guard !r.folder.isEmpty, !r.folder.contains("/"), r.folder != ".", r.folder != ".." else {
                throw SweepError.badManifest(file: url.path, detail: "field runs[\(i)].folder: '\(r.folder)' is not a folder name")
            }
        }
        var plan = SweepPlan(folder: folder, preset: "", seeds: [], runs: [], executable: "")
        plan.manifest = manifest
        return plan
    }

    /// The job array script for `indices`: `#SBATCH --array=0-(N−1)[%M]` for all runs, else
    /// the list of indices; output in `logs/%A_%a.out`; SIGTERM `slurm.signalSeconds` before
    /// the time limit; each task execs `featurelens sweep run-one DIR --index $SLURM_ARRAY_TASK_ID`.
    public func batchScript(indices: [Int], slurm: SlurmOptions) -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let all = indices == Array(manifest.runs.indices)
        let range = all ? "0-\(manifest.runs.count - 1)" : indices.map(String.init).joined(separator: ",")
        var lines = ["#!/bin/bash",
                     "# A FeatureLens sweep of \(manifest.preset): \(manifest.runs.count) run(s), planned by featurelens \(manifest.featurelensVersion).",
                     "# Task i runs run i of manifest.json; `featurelens sweep status` and `collect` read the results.",
                     "#SBATCH --job-name=featurelens-\(manifest.preset)",
                     "#SBATCH --array=\(range)" + (slurm.arrayLimit.map { "%\($0)" } ?? ""),
                     "#SBATCH --output=\(folder.appendingPathComponent(Self.logsFolder).path)/%A_%a.out",
                     "#SBATCH --signal=B:TERM@\(slurm.signalSeconds)"]
        if let v = slurm.partition { lines.append("#SBATCH --partition=\(v)") }
        if let v = slurm.time { lines.append("#SBATCH --time=\(v)") }
        if let v = slurm.cpusPerTask { lines.append("#SBATCH --cpus-per-task=\(v)") }
        if let v = slurm.mem { lines.append("#SBATCH --mem=\(v)") }
        if let v = slurm.account { lines.append("#SBATCH --account=\(v)") }
        for (k, v) in slurm.extra { lines.append("#SBATCH --\(k)" + (v.isEmpty ? "" : "=\(v)")) }
        let threads = slurm.cpusPerTask.map { " --threads \($0)" } ?? ""
        // exec: the batch shell becomes featurelens, so --signal=B:TERM reaches the run.
        lines.append("exec \(q(manifest.featurelensPath)) sweep run-one \(q(folder.path)) --index \"$SLURM_ARRAY_TASK_ID\"\(threads)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `sweep-resubmit.sbatch`: `sweep.sbatch` (with the options it was planned with)
    /// with its `--array` line replaced by `indices` (keeping its `%M` limit).
    /// - Returns: the script's URL.
    /// - Throws: `OutputError`.
    public func resubmitScript(indices: [Int]) throws -> URL {
        let original = folder.appendingPathComponent(Self.scriptName)
        let text = (try? String(contentsOf: original, encoding: .utf8))
            ?? batchScript(indices: Array(manifest.runs.indices), slurm: SlurmOptions())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("#SBATCH --array=") else { return String(line) }
            let limit = line.firstIndex(of: "%").map { String(line[$0...]) } ?? ""
            return "#SBATCH --array=" + indices.map(String.init).joined(separator: ",") + limit
        }
        let url = folder.appendingPathComponent(Self.resubmitScriptName)
        try AtomicFile.write(lines.joined(separator: "\n"), to: url)
        return url
    }

    /// Records a submitted Slurm job id in `jobs.json` (for `status`).
    /// - Throws: `OutputError`.
    public func recordJob(_ id: String) throws {
        var ids = jobIDs()
        if !ids.contains(id) { ids.append(id) }
        try AtomicFile.write(try FeatureLensJSON.encode(ids), to: folder.appendingPathComponent(Self.jobsName))
    }

    /// The Slurm job ids submitted for this plan (from `jobs.json`).
    public func jobIDs() -> [String] {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(Self.jobsName).path) else { return [] }
        return (try? FeatureLensJSON.decode([String].self, from: data)) ?? []
    }

    // MARK: - Running one index

    /// Runs run `index` once, safely under any launcher: a finished run is skipped; else
    /// the lock is taken (a stale one broken), a run with checkpoints continues from them
    /// (`resume` true; a checkpoint that does not fit starts over), and the lock is
    /// released. A failure is recorded in `tasks/<i>.failed.json` and rethrown.
    /// - Parameters:
    ///   - index: the run's index.
    ///   - queue: Slurm's queue, asked only when a lock exists (default: `Slurm.queue()`).
    ///   - environment: where `SLURM_JOB_ID` is read (default: the process's).
    ///   - signal: the signal that stopped the run, if known (its exit code goes into the
    ///     failure record; default 143, SIGTERM, the scheduler's signal).
    ///   - run: runs the experiment into the folder with checkpoints (resume or not) and
    ///     returns the result, written (the CLI passes its runner with signal handling).
    /// - Throws: `SweepError.noSuchIndex`; `SweepError.runHeld` (nothing touched) when a live
    ///   task holds the lock; the run's own errors (`ConfigError`, `OutputError`, …).
    public func runOne(index: Int, queue: () -> [SlurmQueueEntry]? = { Slurm.queue() },
                       environment: [String: String] = ProcessInfo.processInfo.environment,
                       signal: () -> InterruptionSignal? = { nil },
                       run: (Experiment, CheckpointPolicy) throws -> ExperimentResult) throws -> RunOneOutcome {
        guard manifest.runs.indices.contains(index) else { throw SweepError.noSuchIndex(index: index, count: manifest.runs.count) }
        let sweepRun = manifest.sweepRuns[index]
        let runFolder = self.runFolder(index)
        if sweepRun.isFinished(in: runFolder) { return .alreadyFinished }
        let me = SweepLock.current(environment: environment)
        try acquireLock(index, as: me, queue: queue)
        defer { releaseLock(index, as: me) }
        // A task that held the lock before may have finished the run meanwhile.
        if sweepRun.isFinished(in: runFolder) { return .alreadyFinished }
        do {
            try sweepRun.experiment.validate()
            try AtomicFile.prepareDirectory(runFolder)
            let every = sweepRun.experiment.kind == .synthetic ? CheckpointPolicy.defaultSyntheticEvery : CheckpointPolicy.defaultImageEvery
            let resumable = !RunCheckpoints.existing(in: runFolder).isEmpty
            var resumed = resumable
            var result: ExperimentResult
            do {
                result = try run(sweepRun.experiment, CheckpointPolicy(folder: runFolder, every: every, resume: resumable))
            } catch where resumable && (error is ResumeError || error is CheckpointError || error is SafeTensorsError) {
                resumed = false
                result = try run(sweepRun.experiment, CheckpointPolicy(folder: runFolder, every: every, resume: false))
            }
            if result.interrupted {
                let stoppedBy = signal() ?? .terminate
                try recordFailure(index, SweepFailure(exitCode: stoppedBy.exitCode,
                                                      message: "interrupted by \(stoppedBy); continues from its checkpoint when run again",
                                                      host: me.host, slurmJobID: me.slurmJobID))
                return .interrupted(resumed: resumed)
            }
            try? FileManager.default.removeItem(at: failureURL(index))
            if let d = result.runs.compactMap(\.divergence).first { return .diverged(message: d) }
            return .finished(resumed: resumed)
        } catch {
            try? recordFailure(index, SweepFailure(exitCode: 1, message: String(describing: error), host: me.host, slurmJobID: me.slurmJobID))
            throw error
        }
    }

    /// Writes run `index`'s failure record.
    public func recordFailure(_ index: Int, _ failure: SweepFailure) throws {
        try AtomicFile.write(try FeatureLensJSON.encode(failure), to: failureURL(index))
    }

    /// Run `index`'s failure record, if any.
    public func failure(_ index: Int) -> SweepFailure? {
        FileManager.default.contents(atPath: failureURL(index).path).flatMap { try? FeatureLensJSON.decode(SweepFailure.self, from: $0) }
    }

    /// Run `index`'s lock as written, if any.
    public func lock(_ index: Int) -> SweepLock? {
        FileManager.default.contents(atPath: lockURL(index).path).flatMap { try? FeatureLensJSON.decode(SweepLock.self, from: $0) }
    }

    /// Takes run `index`'s lock for `me`: creates the file with O_CREAT|O_EXCL; if it exists
    /// and its holder is gone (or it is unreadable: a holder that died while writing it),
    /// breaks it (renamed aside, then checked to be the lock judged stale) and tries again.
    /// - Throws: `SweepError.runHeld` when a live holder has it.
    public func acquireLock(_ index: Int, as me: SweepLock, queue: () -> [SlurmQueueEntry]?) throws {
        let url = lockURL(index)
        try AtomicFile.prepareDirectory(url.deletingLastPathComponent())
        let body = try FeatureLensJSON.encode(me)
        var knownQueue: [SlurmQueueEntry]?? = nil
        for _ in 0..<3 {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 {
                let ok = body.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) == $0.count }
                let synced = fsync(fd) == 0
                close(fd)
                guard ok && synced else {
                    unlink(url.path)
                    throw SweepError.lockFile(path: url.path, reason: "cannot write it")
                }
                return
            }
            guard errno == EEXIST else { throw SweepError.lockFile(path: url.path, reason: String(cString: strerror(errno))) }
            let seen = FileManager.default.contents(atPath: url.path)
            let holder = seen.flatMap { try? FeatureLensJSON.decode(SweepLock.self, from: $0) }
            if let holder {
                if knownQueue == nil { knownQueue = .some(queue()) }
                guard holder.isGone(queue: knownQueue!) else {
                    throw SweepError.runHeld(index: index, lock: url.path, holder: holder.holderDescription)
                }
            } else if seen == nil {
                continue   // removed meanwhile: try again
            } else if let attrs = try? FileManager.default.attributesOfItem(atPath: url.path),
                      let date = attrs[.modificationDate] as? Date, Date().timeIntervalSince(date) < 10 {
                // Unreadable and fresh: its holder may be writing it right now.
                throw SweepError.runHeld(index: index, lock: url.path, holder: "a lock being written")
            }
            // Break it: move it aside (atomic: one breaker wins), then make sure it was the
            // lock judged stale and not one a faster task created meanwhile.
            let aside = url.appendingPathExtension("broken-\(me.token)")
            guard rename(url.path, aside.path) == 0 else { continue }
            if FileManager.default.contents(atPath: aside.path) != seen {
                // Another task's fresh lock: put it back (link fails if yet another exists).
                link(aside.path, url.path)
                unlink(aside.path)
                throw SweepError.runHeld(index: index, lock: url.path, holder: "another task that just took it")
            }
            unlink(aside.path)
        }
        throw SweepError.runHeld(index: index, lock: url.path, holder: "tasks that keep taking it")
    }

    /// Removes run `index`'s lock if `me` still holds it.
    public func releaseLock(_ index: Int, as me: SweepLock) {
        if lock(index)?.token == me.token { unlink(lockURL(index).path) }
    }

    // MARK: - Status and collect

    /// Every run's state, from the run folders, the locks and failure records and, when
    /// given, Slurm's queue (`sacct` is not needed).
    /// - done: finished (report.json of the same config, not cut short);
    /// - running: a live task holds its lock, or Slurm runs its array task;
    /// - failed: its last task failed (failure record) or died holding the lock;
    /// - pending: nothing yet (queued in Slurm or not submitted).
    public func status(queue: [SlurmQueueEntry]?) -> [SweepRunStatus] {
        let jobs = Set(jobIDs())
        let runs = manifest.sweepRuns
        let host = SweepLock.hostName()
        return runs.map { r in
            let folderName = r.folderName
            func s(_ state: SweepRunStatus.State, _ detail: String) -> SweepRunStatus {
                SweepRunStatus(index: r.index, folder: folderName, state: state, detail: detail)
            }
            if r.isFinished(in: runFolder(r.index)) { return s(.done, "") }
            let queued = queue?.filter { jobs.contains($0.arrayJobID) && $0.arrayTaskID == r.index } ?? []
            if let l = lock(r.index) {
                if !l.isGone(queue: queue, thisHost: host) { return s(.running, l.holderDescription) }
                if queued.isEmpty { return s(.failed, "its task ended without finishing (\(l.holderDescription)); the stale lock is broken when it runs again") }
            }
            if let q = queued.first(where: { $0.state != "PENDING" }) { return s(.running, "Slurm job \(q.arrayJobID)_\(r.index) \(q.state)") }
            if let f = failure(r.index) {
                let again = queued.isEmpty ? "" : "; queued again in Slurm job \(queued[0].arrayJobID)"
                return s(.failed, "exit \(f.exitCode): \(f.message)\(again)")
            }
            if let q = queued.first { return s(.pending, "Slurm job \(q.arrayJobID)_\(r.index) \(q.state)") }
            return s(.pending, "")
        }
    }

    /// What `collect` found.
    public struct Collection: Sendable {
        /// The runs not finished, with their states (none: the summary covers the whole sweep).
        public var unfinished: [SweepRunStatus]
    }

    /// Writes `summary.csv` and `summary.html` of the finished runs into the plan folder,
    /// exactly as a local sweep of the same grid writes them when every run is finished; the
    /// runs not finished are returned and listed on the page.
    /// - Throws: `SweepError.unreadableReport`; `OutputError`.
    public func collect(queue: [SlurmQueueEntry]?) throws -> Collection {
        let states = status(queue: queue)
        let unfinished = states.filter { $0.state != .done }
        let done = manifest.sweepRuns.filter { states[$0.index].state == .done }
        try SweepSummary.write(name: manifest.preset, runs: done.map { ($0.gridPoint, $0.seed, runFolder($0.index)) }, root: folder,
                               unfinished: unfinished.map { "\($0.index) \($0.folder) (\($0.state.rawValue))" })
        return Collection(unfinished: unfinished)
    }
}
