// Planned and sharded sweeps through the command line, without Slurm: `sweep … --plan`,
// `sweep run-one`, `sweep status`, `sweep collect` and `sweep --shard` give the summary a
// local sweep writes, byte for byte; exit codes of run-one and collect; --submit without
// sbatch. (Against a real Slurm: SlurmSweepTests.swift.)
import Foundation
import Testing
import FeatureLens

/// p ∈ {3, 4} × seeds {0, 1} of suppression-embedding-size, 50 steps on d = 100, n = 40.
let smallSweepArgs = ["suppression-embedding-size", "--grid", "p=3,4", "--seeds", "0,1", "--set", "steps=50",
                      "--set", "d=100", "--set", "n=40", "--set", "n_test=100", "--quiet"]

/// The bytes of `summary.csv` and `summary.html` in `folder`.
func summaryBytes(_ folder: URL) throws -> [Data] {
    try ["summary.csv", "summary.html"].map { try Data(contentsOf: folder.appendingPathComponent($0)) }
}

@Suite("featurelens sweep plans and shards", .serialized)
struct SweepPlanCLITests {
    /// plan, run-one of every index (in reverse order, one twice), status, collect: the
    /// summary files equal a local sweep's.
    @Test func planRunOneCollectEqualsTheLocalSweep() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = dir.appendingPathComponent("local"), plan = dir.appendingPathComponent("plan")
        var (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--out", local.path])
        #expect(code == 0, "stderr: \(err)")
        (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--plan", plan.path])
        #expect(code == 0 && out.contains("Planned 4 run(s)"), "stdout: \(out) stderr: \(err)")
        (code, out, _) = try runCLI(["sweep", "status", plan.path])
        #expect(code == 0 && out.contains("0 done, 0 running, 0 failed, 4 pending (of 4)"), "\(out)")
        for i in [3, 2, 1, 0, 2] {
            (code, out, err) = try runCLI(["sweep", "run-one", plan.path, "--index", String(i)])
            #expect(code == 0, "index \(i): \(err)")
        }
        #expect(out.contains("Run 2 is already finished"), "\(out)")
        (code, out, _) = try runCLI(["sweep", "status", plan.path])
        #expect(code == 0 && out.contains("4 done, 0 running, 0 failed, 0 pending (of 4)"), "\(out)")
        (code, out, err) = try runCLI(["sweep", "collect", plan.path])
        #expect(code == 0, "stderr: \(err)")
        #expect(try summaryBytes(plan) == summaryBytes(local))
    }

    /// Two shards of one sweep folder: the first writes no summary and says so; the last
    /// writes the local sweep's summary byte for byte.
    @Test func shardsTogetherWriteTheWholeSweepsSummary() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = dir.appendingPathComponent("local"), sharded = dir.appendingPathComponent("sharded")
        var (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--out", local.path])
        #expect(code == 0, "stderr: \(err)")
        (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--out", sharded.path, "--shard", "1/2"])
        #expect(code == 0 && out.contains("2 run(s) of other shards are not finished"), "stdout: \(out) stderr: \(err)")
        #expect(!FileManager.default.fileExists(atPath: sharded.appendingPathComponent("summary.csv").path))
        #expect(FileManager.default.fileExists(atPath: sharded.appendingPathComponent("p-3_seed-1/report.json").path))
        #expect(!FileManager.default.fileExists(atPath: sharded.appendingPathComponent("p-3_seed-0/report.json").path))
        (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--out", sharded.path, "--shard", "0/2"])
        #expect(code == 0, "stderr: \(err)")
        #expect(try summaryBytes(sharded) == summaryBytes(local))
        (code, _, err) = try runCLI(["sweep"] + smallSweepArgs + ["--out", sharded.path, "--shard", "2/2"])
        #expect(code == 1 && err.contains("--shard: '2/2'"), "stderr: \(err)")
    }

    /// Without sbatch on PATH, --plan and run-one work and --submit fails naming what to do.
    @Test func submitWithoutSlurmFailsClearlyAndThePlanStillRuns() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan"), empty = dir.appendingPathComponent("empty-path")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let noSlurm = ["PATH": empty.path]
        var (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--plan", plan.path, "--submit"], environment: noSlurm)
        #expect(code == 1, "stdout: \(out)")
        #expect(err.contains("--submit: sbatch is not on PATH") && err.contains("sweep run-one \(plan.path) --index I"), "\(err)")
        #expect(FileManager.default.fileExists(atPath: plan.appendingPathComponent("manifest.json").path))
        (code, out, err) = try runCLI(["sweep", "run-one", plan.path, "--index", "0"], environment: noSlurm)
        #expect(code == 0, "stderr: \(err)")
        (code, out, err) = try runCLI(["sweep", "status", plan.path], environment: noSlurm)
        #expect(code == 0 && out.contains("1 done, 0 running, 0 failed, 3 pending"), "\(out)")
        // Slurm options without --plan are a usage error.
        (code, _, err) = try runCLI(["sweep"] + smallSweepArgs + ["--partition", "cpu"])
        #expect(code == 64 && err.contains("--partition goes with --plan DIR"), "\(err)")
    }

    /// run-one exits 5 without touching the folder while a live task holds the lock; a bad
    /// index exits 1; collect with unfinished runs writes the rest, lists them and exits 4;
    /// --resubmit-failed writes the array of those runs.
    @Test func runOneAndCollectExitCodes() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan")
        var (code, out, err) = try runCLI(["sweep"] + smallSweepArgs + ["--plan", plan.path])
        #expect(code == 0, "stderr: \(err)")
        // This test process is a live holder of run 1's lock.
        let lock = SweepLock(host: SweepLock.hostName(), pid: getpid(), slurmJobID: nil, token: "test")
        try FeatureLensJSON.encode(lock).write(to: plan.appendingPathComponent("tasks/1.lock"))
        (code, _, err) = try runCLI(["sweep", "run-one", plan.path, "--index", "1"])
        #expect(code == 5 && err.contains("run 1 is being run by another task (host \(lock.host), pid \(getpid());"), "\(code) \(err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.appendingPathComponent("p-3_seed-1").path).isEmpty)
        (code, _, err) = try runCLI(["sweep", "run-one", plan.path, "--index", "9"])
        #expect(code == 1 && err.contains("--index 9: the plan has 4 run(s)"), "\(err)")
        for i in [0, 3] { (code, _, err) = try runCLI(["sweep", "run-one", plan.path, "--index", String(i)]); #expect(code == 0, "\(err)") }
        (code, out, err) = try runCLI(["sweep", "collect", plan.path, "--resubmit-failed"])
        #expect(code == 4, "stdout: \(out) stderr: \(err)")
        #expect(err.contains("2 run(s) not finished") && err.contains("1\trunning\tp-3_seed-1") && err.contains("2\tpending\tp-4_seed-0"), "\(err)")
        // The running run is not resubmitted; the pending one is.
        let script = try String(contentsOf: plan.appendingPathComponent("sweep-resubmit.sbatch"), encoding: .utf8)
        #expect(script.contains("#SBATCH --array=2\n"), "\(script)")
        let csv = try String(contentsOf: plan.appendingPathComponent("summary.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 3, "\(csv)")
    }
}
