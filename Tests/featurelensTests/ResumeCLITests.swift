// `featurelens run --resume` and determinism through the built binary: a run stopped by SIGINT
// at a random step (raised at a chosen update by the CLI's test hook for the synthetic preset;
// sent from outside after a timed delay for the image preset) and resumed ends with the uninterrupted run's weights bit
// for bit and its metrics.csv byte for byte, for a synthetic preset (the Gram-space engine) and
// an image preset (the Trainer, on a small generated IDX data set, so no download is needed);
// the same config and seed give the same metrics.csv on repeated runs and with 1 or 2 threads.
// metrics.csv has no wall-clock column, so whole files are compared.
import Foundation
import Testing
import FeatureLens

/// Every tensor of every setting's checkpoint under `folder/checkpoints/`, as raw bytes.
private func checkpointTensors(_ folder: URL) throws -> [String: [String: [UInt8]]] {
    var out: [String: [String: [UInt8]]] = [:]
    for dir in RunCheckpoints.existing(in: folder) {
        out[dir.lastPathComponent] = try SafeTensors.read(contentsOf: Checkpoint.url(in: dir)).tensors.mapValues(\.bytes)
    }
    return out
}

/// `report.json`'s runs (everything but the provenance, which holds the date).
private func reportRuns(_ folder: URL) throws -> String {
    let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as! [String: Any]
    let runs = try JSONSerialization.data(withJSONObject: obj["runs"]!, options: [.sortedKeys])
    return String(decoding: runs, as: UTF8.self)
}

private func file(_ folder: URL, _ name: String) throws -> String {
    try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
}

/// Starts `featurelens args`, waits until `ready` exists (a first checkpoint: training is
/// under way and the signal handlers are installed), sleeps `delay` µs, sends SIGINT and
/// returns the exit status and stderr. A run still alive 60 s later is killed.
private func runAndInterrupt(_ args: [String], ready: () -> Bool, delay: UInt32, scratch: URL) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = productsDirectory.appendingPathComponent("featurelens")
    p.arguments = args
    let errFile = scratch.appendingPathComponent("stderr-\(UUID().uuidString).txt")
    _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
    p.standardError = try FileHandle(forWritingTo: errFile)
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(60)
    while !ready() && p.isRunning && Date() < deadline { usleep(2_000) }
    usleep(delay)
    p.interrupt()
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    return (p.terminationStatus, try String(contentsOf: errFile, encoding: .utf8))
}

/// Writes a small Fashion-MNIST-layout data set: `train` and `test` 28×28 images whose pixels
/// depend on the label (so probes have something to find), labels 0…9.
func writeIDXFixture(to folder: URL, train: Int = 512, test: Int = 256) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var g = SeededGenerator(seed: 2024)
    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels = (0..<n).map { _ in UInt8(g.next() % 10) }
        var images = be32(0x0803) + be32(n) + be32(28) + be32(28)
        for l in labels {
            for i in 0..<784 {
                let stripe = (i / 28 + i % 28) % (Int(l) + 2) == 0
                images.append(UInt8(stripe ? min(255, Int(l) * 25 + Int(g.next() % 60)) : Int(g.next() % 40)))
            }
        }
        try Data(be32(0x0801) + be32(n) + labels).write(to: folder.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
        try Data(images).write(to: folder.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
    }
}

/// A class-collapse run with three settings (ρ = 0.5, 0.6, 0.7) of 60 000 cheap Gram-space steps each.
private let synthetic = ["run", "class-collapse", "--set", "d=200", "--set", "n=40", "--set", "n_test=200",
                         "--set", "steps=60000", "--set", "audit_steps=0,100,20000,45000,60000", "--grid", "rho=0.5,0.6,0.7",
                         "--checkpoint-every", "1000", "--quiet"]

/// A fashion-randbits run (two settings: shared and per-view bits) of 60 ConvNet steps on the fixture.
private func image(data: URL, steps: Int = 60) -> [String] {
    ["run", "fashion-randbits", "--set", "data=\(data.path)", "--set", "train_limit=512", "--set", "test_limit=256",
     "--set", "probe_train=256", "--set", "batch_size=32", "--set", "steps=\(steps)",
     "--set", "audit_steps=0,\(steps / 3),\(steps)", "--set", "pca_points=50", "--set", "bits=4", "--set", "p=16",
     "--checkpoint-every", "7", "--quiet"]
}

@Suite("featurelens run --resume", .serialized)
struct ResumeCLITests {
    /// Runs `args` uninterrupted into `full`, then interrupted by SIGINT (at a random moment
    /// after `readyFolder` appears) into `part` and resumed there; compares the results.
    /// With `interruptAfterUpdates`, the run sends itself SIGINT at that update check (the
    /// CLI's test hook `FEATURELENS_INTERRUPT_AFTER_UPDATES`) instead of receiving it from here
    /// after a timed delay.
    private func interruptAndResume(_ args: [String], threads: [String], readyFolder: String, maxDelay: UInt32,
                                    interruptAfterUpdates: Int? = nil, dir: URL) throws {
        let full = dir.appendingPathComponent("full"), part = dir.appendingPathComponent("part")
        let t0 = Date()
        let (code, _, err) = try runCLI(args + threads + ["--out", full.path])
        #expect(code == 0, "stderr: \(err)")
        let stopCode: Int32, stopErr: String, how: String
        if let updates = interruptAfterUpdates {
            (stopCode, _, stopErr) = try runCLI(args + threads + ["--out", part.path],
                                                environment: ["FEATURELENS_INTERRUPT_AFTER_UPDATES": "\(updates)"])
            how = "SIGINT raised at update check \(updates)"
        } else {
            // The signal must land while the run still works: at most 40 % of the uninterrupted
            // run's wall time after the ready folder appears (a faster machine shortens the window).
            let window = min(Double(maxDelay), Date().timeIntervalSince(t0) * 0.4 * 1e6)
            let delay = UInt32.random(in: 0...UInt32(max(0, window)))
            let ready = part.appendingPathComponent("checkpoints/\(readyFolder)")
            (stopCode, stopErr) = try runAndInterrupt(args + threads + ["--out", part.path],
                                                      ready: { FileManager.default.fileExists(atPath: ready.path) },
                                                      delay: delay, scratch: dir)
            how = "SIGINT \(delay) µs after \(readyFolder) appeared"
        }
        #expect(stopCode == 130, "\(how); stderr: \(stopErr)")
        #expect(stopErr.contains("interrupted by SIGINT") && stopErr.contains("--resume"))
        let partial = try JSONSerialization.jsonObject(with: Data(contentsOf: part.appendingPathComponent("report.json"))) as! [String: Any]
        let partialRuns = partial["runs"] as! [[String: Any]]
        let stoppedAt = partialRuns.compactMap { $0["interrupted_at_step"] as? Int }
        let fullReport = try JSONSerialization.jsonObject(with: Data(contentsOf: full.appendingPathComponent("report.json"))) as! [String: Any]
        // A signal between two image settings stops before the next one starts: the partial
        // report then holds the finished settings only (documented in RELIABILITY.md).
        #expect(!stoppedAt.isEmpty || partialRuns.count < (fullReport["runs"] as! [[String: Any]]).count,
                "the partial report names the step reached, or leaves out the settings not reached")
        if let s = stoppedAt.first {
            let html = try String(contentsOf: part.appendingPathComponent("report.html"), encoding: .utf8)
            #expect(html.contains("Interrupted at step \(s): a partial report"), "the partial HTML report says so")
        }
        #expect(try !FileManager.default.contentsOfDirectory(atPath: part.path).contains { $0.contains(".tmp-") })

        let (resumeCode, _, resumeErr) = try runCLI(args + threads + ["--resume", part.path])
        #expect(resumeCode == 0, "stderr: \(resumeErr)")
        let note = "\(how), stopped at \(stoppedAt)"
        let a = try checkpointTensors(full), b = try checkpointTensors(part)
        #expect(!a.isEmpty && a.keys.sorted() == b.keys.sorted(), "\(note)")
        for key in a.keys.sorted() {
            let same = a[key] == b[key]
            #expect(same, "weights of \(key) differ; \(note)")
        }
        let sameCSV = try file(full, "metrics.csv") == file(part, "metrics.csv")
        #expect(sameCSV, "metrics.csv differs; \(note)")
        let sameRuns = try reportRuns(full) == reportRuns(part)
        #expect(sameRuns, "report.json runs differ; \(note)")
        #expect(try !reportRuns(part).contains("interrupted_at_step"))
    }

    /// Stopped through the test hook at a chosen update (no timing involved).
    @Test func syntheticRunInterruptedAtAChosenUpdateResumesBitForBit() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // One setting at a time (--threads 1): the signal lands in setting 1 (ρ = 0.6) or 2, so
        // the resume restores a finished setting and continues the others.
        // The hook stops it at a random update of setting 1 or 2 (60 000 steps each, one check per update).
        var g = SystemRandomNumberGenerator()
        let at = 60_000 + Int.random(in: 1...110_000, using: &g)
        try interruptAndResume(synthetic, threads: ["--threads", "1"], readyFolder: "1-rho-0.6", maxDelay: 300_000,
                               interruptAfterUpdates: at, dir: dir)
    }

    /// The one test with a SIGINT sent from outside, after a timed delay.
    @Test func imageRunInterruptedBySIGINTResumesBitForBit() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data)
        // The signal lands in setting 0 (then setting 1 has not started) or in setting 1.
        try interruptAndResume(image(data: data), threads: ["--threads", "2"], readyFolder: "0-bits_mode-shared",
                               maxDelay: 1_500_000, dir: dir)
    }

    /// On divergence (exit 3) each setting keeps its last good checkpoint, which is finite and
    /// loads: resuming from it diverges again at the same step, with the same report.
    @Test func divergenceKeepsTheLastGoodCheckpoint() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data)
        // class-collapse with lr = 3 diverges at step 7 (checkpoints every 5 steps); the image
        // run with SGD at lr = 1e8 at step 9 (checkpoints every 2).
        let cases: [(name: String, args: [String], folder: String, step: Int)] = [
            ("synthetic", ["run", "class-collapse", "--set", "d=200", "--set", "n=40", "--set", "n_test=200", "--set", "steps=2000",
                           "--set", "audit_steps=0,2,1000,2000", "--set", "lr=3", "--set", "rho=0.6", "--checkpoint-every", "5", "--quiet"],
             "0-default", 7),
            ("image", image(data: data, steps: 30) + ["--set", "bits_mode=shared", "--set", "optimizer=sgd", "--set", "lr=1e8",
                                                      "--checkpoint-every", "2"], "0-default", 9),
        ]
        for c in cases {
            let out = dir.appendingPathComponent(c.name)
            let (code, _, err) = try runCLI(c.args + ["--out", out.path])
            #expect(code == 3, "\(c.name): stderr \(err)")
            #expect(err.contains("diverged") && err.contains("step \(c.step)"), "\(c.name): stderr \(err)")
            let report = try reportRuns(out)
            #expect(report.contains("\"divergence\"") && report.contains("step \(c.step)"), "\(c.name)")
            let file = try SafeTensors.read(contentsOf: out.appendingPathComponent("checkpoints/\(c.folder)/checkpoint.safetensors"))
            let step = Int(file.metadata["step"] ?? "") ?? -1
            #expect(step > 0 && step < c.step, "\(c.name): checkpoint at step \(step), divergence at \(c.step)")
            #expect(file.tensors.values.allSatisfy { $0.firstNonFiniteIndex == nil }, "\(c.name)")
            let (again, _, err2) = try runCLI(c.args + ["--resume", out.path])
            #expect(again == 3 && err2.contains("step \(c.step)"), "\(c.name): stderr \(err2)")
            #expect(try reportRuns(out) == report, "\(c.name): the resumed run's report differs")
        }
    }

    /// Weights that blow up before the loss does show as non-finite embeddings at an audit:
    /// that is a divergence too (exit 3, report of the audits before it), not a crash.
    @Test func imageDivergenceSeenByTheAuditExitsThreeWithTheReport() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data)
        let out = dir.appendingPathComponent("div")
        let (code, _, err) = try runCLI(["run", "fashion-collapse", "--set", "data=\(data.path)", "--set", "train_limit=512",
                                         "--set", "test_limit=256", "--set", "probe_train=256", "--set", "batch_size=32",
                                         "--set", "steps=20", "--set", "audit_steps=0,1,2,5,10,20", "--set", "pca_points=0",
                                         "--set", "lr=1e6", "--grid", "loss=supcon", "--quiet", "--out", out.path])
        #expect(code == 3, "stderr: \(err)")
        #expect(err.contains("diverged"), "stderr: \(err)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        let runs = report["runs"] as! [[String: Any]]
        #expect(!runs.isEmpty && runs.allSatisfy { $0["divergence"] is String })
    }

    /// A bad data folder fails before an earlier run's checkpoints are touched.
    @Test func aDataErrorKeepsTheEarlierRunsCheckpoints() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data)
        let out = dir.appendingPathComponent("run")
        let args = image(data: data, steps: 8)
        let (code, _, err) = try runCLI(args + ["--out", out.path])
        #expect(code == 0, "stderr: \(err)")
        let before = try checkpointTensors(out)
        #expect(!before.isEmpty)
        for bad in [["--set", "data=\(dir.appendingPathComponent("missing").path)"], ["--set", "batch_size=100000"]] {
            let (badCode, _, badErr) = try runCLI(args + bad + ["--out", out.path])
            #expect(badCode != 0 && !badErr.isEmpty)
            #expect(try checkpointTensors(out) == before, "\(bad) must leave the checkpoints alone")
        }
    }

    @Test func resumeRefusesAnotherConfigAndAFolderWithoutCheckpoints() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cc")
        var (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--out", out.path])
        #expect(code == 0, "stderr: \(err)")
        // Another lr: one line naming the checkpoint file and the field.
        (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--set", "lr=0.04", "--resume", out.path])
        #expect(code == 1)
        let line = err.split(separator: "\n").first.map(String.init) ?? ""
        #expect(line.contains(out.appendingPathComponent("checkpoints/0-rho-0.6/checkpoint.safetensors").path)
                && line.contains("field lr") && line.contains("0.05") && line.contains("0.04"), "stderr: \(err)")
        // A folder without checkpoints, and one that does not exist.
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--resume", empty.path])
        #expect(code == 1 && err.contains("\(empty.path): nothing to resume"), "stderr: \(err)")
        (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--resume", dir.appendingPathComponent("nope").path])
        #expect(code == 1 && err.contains("no such folder"), "stderr: \(err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("nope").path))
        // An image preset cannot resume a synthetic run's checkpoints.
        (code, _, err) = try runCLI(["run", "fashion-randbits", "--resume", out.path, "--quiet"])
        #expect(code == 1 && err.contains("run.kind") && err.contains("synthetic"), "stderr: \(err)")
        // The same config resumes a finished run without retraining.
        (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--resume", out.path])
        #expect(code == 0, "stderr: \(err)")
    }
}

@Suite("featurelens determinism", .serialized)
struct DeterminismCLITests {
    /// Three runs: 1 thread, 2 threads, and 2 threads again (`threadKey`: also set that config key).
    private func metrics(_ args: [String], threadKey: String? = nil, dir: URL) throws -> [String] {
        try [1, 2, 2].enumerated().map { i, t in
            let threads = ["--threads", "\(t)"] + (threadKey.map { ["--set", "\($0)=\(t)"] } ?? [])
            let out = dir.appendingPathComponent("run\(i)")
            let (code, _, err) = try runCLI(args + threads + ["--out", out.path])
            #expect(code == 0, "stderr: \(err)")
            return try file(out, "metrics.csv")
        }
    }

    @Test func syntheticMetricsAreIdenticalAcrossRunsAndThreadCounts() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // With 2 threads the two settings run at the same time and (config key threads = 2)
        // each setting's matrix products are split over 2 threads.
        let csv = try metrics(["run", "suppression-embedding-size", "--set", "d=200", "--set", "n=40", "--set", "n_test=200",
                               "--set", "steps=300", "--set", "audit_steps=0,30,300", "--grid", "p=2,5",
                               "--quiet"], threadKey: "threads", dir: dir)
        #expect(csv[0].split(separator: "\n").count == 1 + 2 * 3)
        let (oneTwo, twoTwo) = (csv[0] == csv[1], csv[1] == csv[2])
        #expect(oneTwo, "--threads 1 and --threads 2 differ")
        #expect(twoTwo, "two runs with --threads 2 differ")
    }

    @Test func imageMetricsAreIdenticalAcrossRunsAndThreadCounts() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data)
        let csv = try metrics(image(data: data, steps: 20), dir: dir)
        #expect(csv[0].split(separator: "\n").count == 1 + 2 * 3)
        let (oneTwo, twoTwo) = (csv[0] == csv[1], csv[1] == csv[2])
        #expect(oneTwo, "--threads 1 and --threads 2 differ")
        #expect(twoTwo, "two runs with --threads 2 differ")
    }
}
