// Planned sweeps against a real Slurm: the job array of `sweep … --plan DIR --submit` runs,
// `collect` writes the summary a local sweep writes byte for byte, and the faults clusters
// cause: an array task cancelled mid-run and resubmitted, the same index run twice at once, a
// task that fails. Enabled when FEATURELENS_SLURM=1 (set by .ci/run after .ci/slurm-up.sh
// starts a one-node cluster) and sbatch, squeue and scancel are on PATH; skipped, with the
// reason, otherwise.
import Foundation
import Testing
import FeatureLens

enum SlurmReachable {
    /// Why the Slurm tests cannot run here, or nil when they can.
    static let missing: String? = {
        guard ProcessInfo.processInfo.environment["FEATURELENS_SLURM"] == "1" else {
            return "FEATURELENS_SLURM is not 1 (.ci/run sets it after .ci/slurm-up.sh starts a one-node Slurm)"
        }
        for c in ["sbatch", "squeue", "scancel"] where Slurm.find(c) == nil { return "\(c) is not on PATH" }
        return nil
    }()
}

/// Runs a Slurm client command; returns (exit code, stdout, stderr).
private func slurm(_ command: String, _ args: [String]) throws -> (Int32, String, String) {
    try ChildProcess.run(try #require(Slurm.find(command)), args)
}

/// Polls `condition` every 0.2 s until it holds or `seconds` pass; returns whether it held.
private func waitUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if try condition() { return true }
        usleep(200_000)
    }
    return try condition()
}

/// Whether Slurm's queue no longer holds any task of job `id`.
private func jobLeftQueue(_ id: String) throws -> Bool {
    let (code, out, _) = try slurm("squeue", ["-h", "-r", "-j", id, "-o", "%i"])
    return code != 0 || out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
}

/// The job id printed by `--submit` ("Submitted batch job N").
private func submittedJob(_ stdout: String) throws -> String {
    let line = try #require(stdout.split(separator: "\n").first { $0.hasPrefix("Submitted batch job ") }, "stdout: \(stdout)")
    return String(line.dropFirst("Submitted batch job ".count))
}

/// The run length for the fault tests: long enough (a few seconds) to cancel a task mid-run.
#if DEBUG
private let longSteps = "20000"
#else
private let longSteps = "100000"
#endif

@Suite("featurelens sweep on a real Slurm", .serialized,
       .enabled(if: SlurmReachable.missing == nil, "no Slurm here: \(SlurmReachable.missing ?? "")"))
struct SlurmSweepTests {
    /// The acceptance sweep: p = 3…6 × seeds 0, 1 as an array of 8 tasks, 2 at a time; the
    /// collected summary equals a local sweep's, byte for byte.
    @Test func jobArrayCollectEqualsTheLocalSweep() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["suppression-embedding-size", "--grid", "p=3,4,5,6", "--seeds", "0,1", "--set", "steps=50",
                    "--set", "d=100", "--set", "n=40", "--set", "n_test=100", "--quiet"]
        let plan = dir.appendingPathComponent("plan"), local = dir.appendingPathComponent("local")
        var (code, out, err) = try runCLI(["sweep"] + args + ["--plan", plan.path, "--array-limit", "2", "--time", "5", "--submit"])
        #expect(code == 0, "stderr: \(err)")
        let job = try submittedJob(out)
        #expect(try waitUntil(seconds: 120) { try jobLeftQueue(job) }, "job \(job) still queued after 120 s")
        (code, out, err) = try runCLI(["sweep", "status", plan.path])
        #expect(out.contains("8 done, 0 running, 0 failed, 0 pending (of 8)"), "\(out)")
        (code, out, err) = try runCLI(["sweep", "collect", plan.path])
        #expect(code == 0, "stderr: \(err)")
        (code, out, err) = try runCLI(["sweep"] + args + ["--out", local.path])
        #expect(code == 0, "stderr: \(err)")
        #expect(try summaryBytes(plan) == summaryBytes(local))
    }

    /// scancel of an array task mid-run: the task checkpoints (SIGTERM) and is listed as
    /// failed; `collect --resubmit-failed --submit` runs it again from its checkpoint; the
    /// collected summary equals a local sweep's byte for byte.
    @Test func cancelledTaskResubmittedGivesTheSameSummary() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["suppression-embedding-size", "--grid", "p=3,4", "--seeds", "0", "--set", "steps=\(longSteps)",
                    "--set", "d=100", "--set", "n=40", "--set", "n_test=100", "--quiet"]
        let plan = dir.appendingPathComponent("plan"), local = dir.appendingPathComponent("local")
        var (code, out, err) = try runCLI(["sweep"] + args + ["--plan", plan.path, "--submit"])
        #expect(code == 0, "stderr: \(err)")
        let job = try submittedJob(out)
        // Cancel task 0 once it has written a checkpoint (it is then mid-run).
        let checkpoints = plan.appendingPathComponent("p-3_seed-0")
        #expect(waitUntil(seconds: 60) { !RunCheckpoints.existing(in: checkpoints).isEmpty }, "task 0 wrote no checkpoint")
        (code, _, err) = try slurm("scancel", ["\(job)_0"])
        #expect(code == 0, "scancel: \(err)")
        #expect(try waitUntil(seconds: 120) { try jobLeftQueue(job) }, "job \(job) still queued")
        let p = try SweepPlan.load(plan)
        let cancelled = p.status(queue: Slurm.queue())[0]
        #expect(cancelled.state == .failed, "\(cancelled)")
        #expect(p.failure(0)?.exitCode == 143, "\(String(describing: p.failure(0)))")
        (code, out, err) = try runCLI(["sweep", "collect", plan.path, "--resubmit-failed", "--submit"])
        #expect(code == 4 && out.contains("(1 run(s): 0)"), "stdout: \(out) stderr: \(err)")
        let again = try submittedJob(out)
        #expect(try waitUntil(seconds: 120) { try jobLeftQueue(again) }, "job \(again) still queued")
        let log = try String(contentsOf: plan.appendingPathComponent("logs/\(again)_0.out"), encoding: .utf8)
        #expect(log.contains("Run 0 resumed and finished"), "\(log)")
        (code, out, err) = try runCLI(["sweep", "collect", plan.path])
        #expect(code == 0, "stderr: \(err)")
        (code, out, err) = try runCLI(["sweep"] + args + ["--out", local.path])
        #expect(code == 0, "stderr: \(err)")
        #expect(try summaryBytes(plan) == summaryBytes(local))
    }

    /// The same index submitted twice at once: one task runs it, the other exits 5 (or finds
    /// it finished); the folder holds one complete run and no lock is left.
    @Test func sameIndexTwiceAtOnceRunsOnce() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["suppression-embedding-size", "--grid", "p=3", "--seeds", "0", "--set", "steps=\(longSteps)",
                    "--set", "d=100", "--set", "n=40", "--set", "n_test=100", "--quiet"]
        let plan = dir.appendingPathComponent("plan")
        var (code, _, err) = try runCLI(["sweep"] + args + ["--plan", plan.path])
        #expect(code == 0, "stderr: \(err)")
        let script = plan.appendingPathComponent(SweepPlan.scriptName).path
        var jobs: [String] = []
        for _ in 0..<2 {
            let (c, o, e) = try slurm("sbatch", ["--parsable", "--array=0", script])
            #expect(c == 0, "sbatch: \(e)")
            jobs.append(o.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        for j in jobs { #expect(try waitUntil(seconds: 120) { try jobLeftQueue(j) }, "job \(j) still queued") }
        let logs = try jobs.map { try String(contentsOf: plan.appendingPathComponent("logs/\($0)_0.out"), encoding: .utf8) }
        let ran = logs.filter { $0.contains("Run 0 finished") }
        let refused = logs.filter { $0.contains("run 0 is being run by another task") || $0.contains("Run 0 is already finished") }
        #expect(ran.count == 1 && refused.count == 1, "logs:\n\(logs.joined(separator: "\n---\n"))")
        let p = try SweepPlan.load(plan)
        #expect(p.lock(0) == nil)
        #expect(p.status(queue: nil).map(\.state) == [.done])
        (code, _, err) = try runCLI(["sweep", "collect", plan.path])
        #expect(code == 0, "stderr: \(err)")
    }

    /// A task that fails (a bad config for one grid point, edited into the manifest): the
    /// others finish; status and collect name it.
    @Test func failingTaskIsNamedAndTheOthersFinish() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["suppression-embedding-size", "--grid", "p=3,4", "--seeds", "0,1", "--set", "steps=50",
                    "--set", "d=100", "--set", "n=40", "--set", "n_test=100", "--quiet"]
        let plan = dir.appendingPathComponent("plan")
        var (code, out, err) = try runCLI(["sweep"] + args + ["--plan", plan.path])
        #expect(code == 0, "stderr: \(err)")
        var p = try SweepPlan.load(plan)
        if case var .synthetic(preset) = p.manifest.runs[2].config.experiment {
            preset.base.lr = -1
            p.manifest.runs[2].config = ManifestConfig(.synthetic(preset))
        }
        try AtomicFile.write(try FeatureLensJSON.encode(p.manifest), to: p.manifestURL)
        let (c, o, e) = try slurm("sbatch", ["--parsable", plan.appendingPathComponent(SweepPlan.scriptName).path])
        #expect(c == 0, "sbatch: \(e)")
        let job = o.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try waitUntil(seconds: 120) { try jobLeftQueue(job) }, "job \(job) still queued")
        (code, out, err) = try runCLI(["sweep", "status", plan.path])
        #expect(out.contains("3 done, 0 running, 1 failed, 0 pending (of 4)"), "\(out)")
        #expect(out.contains("2\tfailed\tp-4_seed-0\texit 1: ") && out.contains("lr"), "\(out)")
        (code, out, err) = try runCLI(["sweep", "collect", plan.path])
        #expect(code == 4 && err.contains("2\tfailed\tp-4_seed-0"), "stderr: \(err)")
        let csv = try String(contentsOf: plan.appendingPathComponent("summary.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").map { $0.prefix(4) } == ["p,se", "3,2,", "4,1,"], "\(csv)")
    }
}
