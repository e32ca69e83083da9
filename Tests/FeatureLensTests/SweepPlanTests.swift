// Planned sweeps without Slurm: the runs of a sweep, shards, the manifest, the job array
// script, run-one (skip, lock, stale locks, resume, failure records), status and collect.
// (Through the CLI: Tests/featurelensTests/SweepPlanCLITests.swift; against a real Slurm:
// Tests/featurelensTests/SlurmSweepTests.swift.)
import Foundation
import Synchronization
import Testing
@testable import FeatureLens

/// A small sweep of suppression-embedding-size: p ∈ {3, 4} × seeds {0, 1}, 50 steps on
/// d = 100, n = 40 (each run takes a fraction of a second).
private func smallSweep(grid: String = "3,4", seeds: [UInt64] = [0, 1], steps: Int = 50) throws -> (Experiment, [SweepRun]) {
    let base = try Experiment.named("suppression-embedding-size").applying(
        set: [("steps", String(steps)), ("d", "100"), ("n", "40"), ("n_test", "100")], grid: [("p", grid.split(separator: ",").map(String.init))])
    return (base, try SweepRun.all(of: base, seeds: seeds))
}

private func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("sweepplan-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Runs an experiment into its folder as the CLI does (checkpoints per `policy`).
private func runInto(_ experiment: Experiment, _ policy: CheckpointPolicy, stop: (@Sendable () -> Bool)? = nil) throws -> ExperimentResult {
    var runner = ExperimentRunner(concurrency: 1, recordsRepresentation: true, checkpoints: policy)
    runner.shouldStop = stop
    return try runner.run(experiment, writingTo: policy.folder)
}

private func plan(in dir: URL, grid: String = "3,4", steps: Int = 50) throws -> SweepPlan {
    let (base, runs) = try smallSweep(grid: grid, steps: steps)
    let plan = SweepPlan(folder: dir, preset: base.name, seeds: [0, 1], runs: runs, executable: "/opt/featurelens/bin/featurelens")
    try plan.write(slurm: SlurmOptions(arrayLimit: 2))
    return plan
}

/// The pid of a process that has exited (a child that ran `/bin/true`).
private func deadPid() throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/true")
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
}

@Suite("Sweep runs, shards and plans")
struct SweepPlanTests {
    /// Runs are numbered setting-major with the local sweep's folder names, each one setting
    /// with its own seed.
    @Test func runsAreSettingMajorWithTheirSeedAndFolder() throws {
        let (_, runs) = try smallSweep()
        #expect(runs.map(\.index) == [0, 1, 2, 3])
        #expect(runs.map(\.folderName) == ["p-3_seed-0", "p-3_seed-1", "p-4_seed-0", "p-4_seed-1"])
        #expect(runs.map(\.seed) == [0, 1, 0, 1])
        for r in runs {
            guard case let .synthetic(p) = r.experiment else { Issue.record("not synthetic"); continue }
            #expect(p.settings.count == 1 && p.settings[0].values == r.gridPoint)
            #expect(try p.config(setting: 0).seed == r.seed && String(try p.config(setting: 0).p) == r.gridPoint["p"])
        }
        #expect(throws: SweepError.badSeeds("'x' is not a non-negative integer")) { try SweepRun.parseSeeds("0,x") }
        #expect(throws: SweepError.self) { try SweepRun.parseSeeds("") }
    }

    /// Shards i/n split the runs without overlap or gap; malformed shards are refused.
    @Test func shardsPartitionTheRuns() throws {
        for n in 1...5 {
            let shards = try (0..<n).map { try SweepShard(parsing: "\($0)/\(n)") }
            for index in 0..<17 { #expect(shards.filter { $0.contains(index) }.count == 1, "index \(index), n \(n)") }
        }
        for bad in ["", "1", "2/2", "-1/3", "a/b", "0/0", "1/2/3"] {
            #expect(throws: SweepError.badShard(bad)) { try SweepShard(parsing: bad) }
        }
    }

    /// The manifest reads back with every run's index, grid point, seed, folder and the same
    /// config; the plan makes one folder per run; the script is a job array over every index.
    @Test func manifestRoundTripsAndScriptIsAJobArray() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, runs) = try smallSweep()
        let written = try plan(in: dir)
        let loaded = try SweepPlan.load(dir)
        #expect(loaded.manifest == written.manifest)
        #expect(loaded.manifest.featurelensPath == "/opt/featurelens/bin/featurelens")
        #expect(loaded.manifest.featurelensVersion == FeatureLensInfo.version)
        for (a, b) in zip(loaded.manifest.sweepRuns, runs) {
            #expect(a.index == b.index && a.gridPoint == b.gridPoint && a.seed == b.seed && a.folderName == b.folderName)
            #expect(a.experiment.hasSameConfig(as: b.experiment))
            var isDir: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(b.folderName).path, isDirectory: &isDir) && isDir.boolValue)
        }
        let script = try String(contentsOf: dir.appendingPathComponent(SweepPlan.scriptName), encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/bash\n"))
        #expect(script.contains("#SBATCH --array=0-3%2\n"))
        #expect(script.contains("#SBATCH --signal=B:TERM@60\n"))
        #expect(script.contains("#SBATCH --output=\(dir.standardizedFileURL.path)/logs/%A_%a.out\n"))
        #expect(script.contains("exec '/opt/featurelens/bin/featurelens' sweep run-one '\(dir.standardizedFileURL.path)' --index \"$SLURM_ARRAY_TASK_ID\"\n"))
        // Planning the same sweep again is fine; another sweep in the same folder is refused.
        _ = try plan(in: dir)
        #expect(throws: SweepError.otherPlan(folder: dir.standardizedFileURL.path)) { _ = try plan(in: dir, grid: "3,5") }
    }

    /// Every Slurm option becomes its #SBATCH line; --slurm-option is checked.
    @Test func slurmOptionsBecomeSBATCHLines() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try plan(in: dir)
        let options = SlurmOptions(partition: "cpu", time: "1:00:00", cpusPerTask: 4, mem: "4G", account: "lab",
                                   extra: [try SlurmOptions.parseExtra("qos=short"), try SlurmOptions.parseExtra("--exclusive")],
                                   signalSeconds: 90)
        let script = p.batchScript(indices: [0, 1, 2, 3], slurm: options)
        for line in ["--array=0-3", "--partition=cpu", "--time=1:00:00", "--cpus-per-task=4", "--mem=4G", "--account=lab",
                     "--qos=short", "--exclusive", "--signal=B:TERM@90"] {
            #expect(script.contains("#SBATCH \(line)\n"), "\(line) in\n\(script)")
        }
        #expect(script.contains("--index \"$SLURM_ARRAY_TASK_ID\" --threads 4\n"))
        #expect(p.batchScript(indices: [1, 3], slurm: SlurmOptions(arrayLimit: 1)).contains("#SBATCH --array=1,3%1\n"))
        for bad in ["=x", "array=0-3", "a b=c", "time=1\n#SBATCH --x"] {
            #expect(throws: SweepError.self) { try SlurmOptions.parseExtra(bad) }
        }
    }

    /// A manifest with a wrong index or a folder outside the plan is refused naming the field.
    @Test func badManifestNamesTheField() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try plan(in: dir)
        let url = dir.appendingPathComponent(SweepPlan.manifestName)
        let text = try String(contentsOf: url, encoding: .utf8)
        try text.replacingOccurrences(of: "\"folder\" : \"p-3_seed-1\"", with: "\"folder\" : \"..\\/x\"").write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: SweepError.self) { try SweepPlan.load(dir) }
        do { _ = try SweepPlan.load(dir) } catch { #expect("\(error)".contains("runs[1].folder"), "\(error)") }
        try text.replacingOccurrences(of: "\"seed\" : 1", with: "\"seed\" : \"one\"").write(to: url, atomically: true, encoding: .utf8)
        do { _ = try SweepPlan.load(dir); Issue.record("loaded") } catch { #expect("\(error)".contains("runs[1].seed") || "\(error)".contains("runs.1.seed"), "\(error)") }
        #expect(throws: SweepError.self) { try SweepPlan.load(dir.appendingPathComponent("nothing")) }
    }

    /// run-one of every index, then collect: the summary is the one of the same runs made
    /// by a local sweep (the same runs run straight into folders); a second run-one skips.
    @Test func runOneEveryIndexThenCollectEqualsTheLocalSweep() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try plan(in: dir.appendingPathComponent("plan"))
        #expect(p.status(queue: nil).map(\.state) == [.pending, .pending, .pending, .pending])
        for i in 0..<4 {
            #expect(try p.runOne(index: i, queue: { nil }, run: { try runInto($0, $1) }) == .finished(resumed: false))
            #expect(p.lock(i) == nil)
        }
        let report = p.runFolder(2).appendingPathComponent("report.json")
        let before = try Data(contentsOf: report)
        #expect(try p.runOne(index: 2, queue: { nil }, run: { _, _ in Issue.record("ran a finished run"); throw SweepError.slurm("") }) == .alreadyFinished)
        #expect(try Data(contentsOf: report) == before)
        #expect(p.status(queue: nil).map(\.state) == [.done, .done, .done, .done])
        #expect(try p.collect(queue: nil).unfinished.isEmpty)

        let (base, runs) = try smallSweep()
        let local = dir.appendingPathComponent("local")
        for r in runs {
            _ = try runInto(r.experiment, CheckpointPolicy(folder: local.appendingPathComponent(r.folderName), every: 1000))
        }
        try SweepSummary.write(name: base.name, runs: runs.map { ($0.gridPoint, $0.seed, local.appendingPathComponent($0.folderName)) }, root: local)
        for f in ["summary.csv", "summary.html"] {
            #expect(try Data(contentsOf: p.folder.appendingPathComponent(f)) == Data(contentsOf: local.appendingPathComponent(f)), "\(f)")
        }
        #expect(throws: SweepError.noSuchIndex(index: 4, count: 4)) { _ = try p.runOne(index: 4, queue: { nil }, run: { try runInto($0, $1) }) }
    }

    /// A live holder's lock (this process) refuses a second task without touching the run
    /// folder; a lock whose process is gone, or whose Slurm job left the queue, is broken.
    @Test func liveLocksRefuseAndStaleLocksAreBroken() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try plan(in: dir)
        let host = SweepLock.hostName()
        func writeLock(_ index: Int, _ l: SweepLock) throws {
            try FileManager.default.createDirectory(at: p.lockURL(index).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FeatureLensJSON.encode(l).write(to: p.lockURL(index))
        }
        let live = SweepLock(host: host, pid: getpid(), slurmJobID: nil, token: "live")
        try writeLock(0, live)
        #expect(throws: SweepError.runHeld(index: 0, lock: p.lockURL(0).path, holder: live.holderDescription)) {
            _ = try p.runOne(index: 0, queue: { nil }, run: { _, _ in Issue.record("ran a held run"); throw SweepError.slurm("") })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: p.runFolder(0).path).isEmpty)
        #expect(p.lock(0) == live)
        #expect(p.status(queue: nil)[0].state == .running)

        // Dead process on this host.
        let dead = SweepLock(host: host, pid: try deadPid(), slurmJobID: nil, token: "dead")
        try writeLock(1, dead)
        #expect(p.status(queue: nil)[1].state == .failed)
        #expect(try p.runOne(index: 1, queue: { nil }, run: { try runInto($0, $1) }) == .finished(resumed: false))
        #expect(p.lock(1) == nil && p.status(queue: nil)[1].state == .done)

        // Another host: alive while its Slurm job is queued (or the queue is unknown), gone after.
        let remote = SweepLock(host: "node-that-is-not-here", pid: 1, slurmJobID: "4242", token: "remote")
        try writeLock(2, remote)
        let queued = [SlurmQueueEntry(jobID: "4242", arrayJobID: "4240", arrayTaskID: 2, state: "RUNNING")]
        #expect(!remote.isGone(queue: queued, thisHost: host) && !remote.isGone(queue: nil, thisHost: host))
        #expect(remote.isGone(queue: [], thisHost: host))
        #expect(throws: SweepError.self) { _ = try p.runOne(index: 2, queue: { queued }, run: { try runInto($0, $1) }) }
        #expect(try p.runOne(index: 2, queue: { [] }, run: { try runInto($0, $1) }) == .finished(resumed: false))
    }

    /// A run stopped by a signal records the failure; run again it resumes from its
    /// checkpoint and ends with the metrics of an uninterrupted run, byte for byte.
    @Test func interruptedRunResumesToTheSameMetrics() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try plan(in: dir.appendingPathComponent("plan"), steps: 400)
        let calls = Atomic<Int>(0)
        let stop: @Sendable () -> Bool = { calls.add(1, ordering: .relaxed).newValue > 150 }
        let first = try p.runOne(index: 1, queue: { nil }, run: { e, policy in
            try runInto(e, CheckpointPolicy(folder: policy.folder, every: 100, resume: policy.resume), stop: stop)
        })
        #expect(first == .interrupted(resumed: false))
        #expect(p.failure(1)?.exitCode == 143 && p.status(queue: nil)[1].state == .failed)
        #expect(!RunCheckpoints.existing(in: p.runFolder(1)).isEmpty)
        #expect(try p.runOne(index: 1, queue: { nil }, run: { try runInto($0, $1) }) == .finished(resumed: true))
        #expect(p.failure(1) == nil && p.status(queue: nil)[1].state == .done)
        let straight = dir.appendingPathComponent("straight")
        _ = try runInto(p.manifest.sweepRuns[1].experiment, CheckpointPolicy(folder: straight, every: 100))
        #expect(try Data(contentsOf: p.runFolder(1).appendingPathComponent("metrics.csv"))
                == Data(contentsOf: straight.appendingPathComponent("metrics.csv")))
    }

    /// A run with a bad config fails with the config error, recorded for status; collect
    /// summarizes the others and names it (in its result and on summary.html).
    @Test func failedRunIsNamedByStatusAndCollect() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var p = try plan(in: dir)
        // A hand-broken config for run 3 (p = 0).
        if case var .synthetic(preset) = p.manifest.runs[3].config.experiment {
            preset.base.p = 0
            preset.settings = [PresetSetting(values: ["p": "4"], overrides: [])]
            p.manifest.runs[3].config = ManifestConfig(.synthetic(preset))
        }
        try AtomicFile.write(try FeatureLensJSON.encode(p.manifest), to: p.manifestURL)
        p = try SweepPlan.load(dir)
        for i in 0..<3 { _ = try p.runOne(index: i, queue: { nil }, run: { try runInto($0, $1) }) }
        #expect(throws: ConfigError.self) { _ = try p.runOne(index: 3, queue: { nil }, run: { try runInto($0, $1) }) }
        #expect(p.lock(3) == nil)
        let status = p.status(queue: nil)
        #expect(status.map(\.state) == [.done, .done, .done, .failed])
        #expect(status[3].detail.hasPrefix("exit 1: ") && status[3].detail.contains("p"), "\(status[3].detail)")
        let collection = try p.collect(queue: nil)
        #expect(collection.unfinished.map(\.index) == [3])
        let csv = try String(contentsOf: dir.appendingPathComponent("summary.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n")
        #expect(rows.count == 3 && rows[1].hasPrefix("3,2,") && rows[2].hasPrefix("4,1,"), "\(csv)")
        let html = try String(contentsOf: dir.appendingPathComponent("summary.html"), encoding: .utf8)
        #expect(html.contains("Not finished, left out of the table (1): 3 p-4_seed-1 (failed)"))
    }

    /// status reads Slurm's queue: a queued array task is pending with its job, a running one
    /// running; resubmitScript keeps the options and lists only the given indices.
    @Test func statusReadsTheQueueAndResubmitListsIndices() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try plan(in: dir)
        try p.recordJob("77")
        try p.recordJob("77")
        #expect(p.jobIDs() == ["77"])
        let queue = [SlurmQueueEntry(jobID: "78", arrayJobID: "77", arrayTaskID: 1, state: "RUNNING"),
                     SlurmQueueEntry(jobID: "79", arrayJobID: "77", arrayTaskID: 2, state: "PENDING"),
                     SlurmQueueEntry(jobID: "90", arrayJobID: "90", arrayTaskID: 3, state: "PENDING")]   // another job
        let s = p.status(queue: queue)
        #expect(s.map(\.state) == [.pending, .running, .pending, .pending])
        #expect(s[2].detail == "Slurm job 77_2 PENDING" && s[3].detail == "")
        let url = try p.resubmitScript(indices: [0, 3])
        let script = try String(contentsOf: url, encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0,3%2\n") && !script.contains("--array=0-3"))
        #expect(script.contains("sweep run-one"))
    }
}
