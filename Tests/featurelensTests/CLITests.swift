import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import FeatureLens

/// Runs the built `featurelens` binary and returns (exit code, stdout, stderr).
func runCLI(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> (Int32, String, String) {
    try ChildProcess.run(productsDirectory.appendingPathComponent("featurelens").path, args, cwd: cwd,
                         environment: environment)
}

var productsDirectory: URL {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    // Swift Testing on Linux: the test binary sits next to the products.
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}

func tempFolder() throws -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// A class-collapse run small enough for a debug-build test.
let tinyCC = ["--set", "d=200", "--set", "n=40", "--set", "n_test=200", "--set", "steps=200",
              "--set", "audit_steps=0,50,200", "--quiet"]

@Suite("featurelens command line", .serialized)
struct CLITests {
    @Test func unknownPresetIsAClearError() throws {
        let dir = try tempFolder()
        let (code, _, err) = try runCLI(["run", "no-such-preset", "--out", dir.appendingPathComponent("x").path])
        #expect(code != 0)
        #expect(err.split(separator: "\n").first?.contains("unknown preset 'no-such-preset'") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x").path))
    }

    @Test func unknownKeyAndWrongTypeAreClearErrors() throws {
        let dir = try tempFolder()
        var (code, _, err) = try runCLI(["run", "class-collapse", "--set", "lrr=0.1", "--out", dir.appendingPathComponent("a").path])
        #expect(code != 0 && err.contains("lrr"))
        (code, _, err) = try runCLI(["run", "class-collapse", "--set", "steps=many", "--out", dir.appendingPathComponent("b").path])
        #expect(code != 0 && err.contains("steps") && err.contains("integer"))
        (code, _, err) = try runCLI(["run", "class-collapse", "--set", "steps", "--out", dir.appendingPathComponent("c").path])
        #expect(code != 0 && err.contains("KEY=VALUE"))
        for sub in ["a", "b", "c"] { #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(sub).path)) }
    }

    @Test func unwritableOutputIsAClearError() throws {
        let dir = try tempFolder()
        let file = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let (code, _, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--out", file.path])
        #expect(code != 0)
        #expect(err.contains(file.path) && err.contains("not a folder"))
        #expect(try String(contentsOf: file, encoding: .utf8) == "x")
    }

    @Test func runWritesParsableOutputsAndItsConfigRunsAgain() throws {
        let dir = try tempFolder()
        let out = dir.appendingPathComponent("cc")
        let (code, stdout, err) = try runCLI(["run", "class-collapse"] + tinyCC + ["--out", out.path])
        #expect(code == 0, "stderr: \(err)")
        #expect(stdout.contains("subclass") && stdout.contains("verdict"))
        for f in ["config.json", "report.json", "metrics.csv", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "missing \(f)")
        }
        // Every HTML and SVG file parses as XML.
        _ = try XMLDocument(contentsOf: out.appendingPathComponent("report.html"), options: [])
        let charts = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("charts").path)
        #expect(charts.contains { $0.hasSuffix("-probes.svg") })
        for c in charts { _ = try XMLDocument(contentsOf: out.appendingPathComponent("charts/\(c)"), options: []) }
        // metrics.csv: header plus one row per run and audit (2 runs × 3 audits).
        let csv = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 2 * 3)
        // report.json carries the schema's keys.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        #expect(json["preset"] as? String == "class-collapse")
        let runs = json["runs"] as! [[String: Any]]
        #expect(runs.count == 2)
        let timeline = runs[0]["timeline"] as! [[String: Any]]
        #expect(timeline.map { $0["step"] as! Int } == [0, 50, 200])
        #expect((timeline[0]["feature_weights"] as? [String: Double])?["subclass"] != nil)
        #expect((runs[0]["theory"] as? [String: Any])?["gram_distance"] != nil)
        #expect(((runs[0]["final"] as! [String: Any])["metrics"] as? [String: Any])?["rankme"] != nil)
        // The written config runs again as it is, with the same numbers.
        let again = dir.appendingPathComponent("again")
        let (code2, _, err2) = try runCLI(["run", out.appendingPathComponent("config.json").path, "--quiet", "--out", again.path])
        #expect(code2 == 0, "stderr: \(err2)")
        let a = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let b = try String(contentsOf: again.appendingPathComponent("metrics.csv"), encoding: .utf8)
        #expect(a == b)
    }

    @Test func sweepSkipsFinishedRuns() throws {
        let dir = try tempFolder()
        let args = ["sweep", "suppression-embedding-size", "--grid", "p=1,5", "--seeds", "0,1",
                    "--set", "d=200", "--set", "n=40", "--set", "n_test=200", "--set", "steps=100",
                    "--set", "audit_steps=0,100", "--quiet", "--out", dir.path]
        var (code, out, err) = try runCLI(args)
        #expect(code == 0, "stderr: \(err)")
        let csv = try String(contentsOf: dir.appendingPathComponent("summary.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 3)              // header + p=1 + p=5
        #expect(lines[0].hasPrefix("p,seeds,class_mean,class_std"))
        _ = try XMLDocument(contentsOf: dir.appendingPathComponent("summary.html"), options: [])
        let report = dir.appendingPathComponent("p-1_seed-0/report.json")
        let before = try FileManager.default.attributesOfItem(atPath: report.path)[.modificationDate] as? Date
        (code, out, err) = try runCLI(args.filter { $0 != "--quiet" })
        #expect(code == 0)
        #expect(out.contains("Skipping 4 finished run(s)"))
        let after = try FileManager.default.attributesOfItem(atPath: report.path)[.modificationDate] as? Date
        #expect(before == after)
        // A changed config is not "finished": every run is redone.
        (code, out, err) = try runCLI(args.filter { $0 != "--quiet" } + ["--set", "lr=0.02"])
        #expect(code == 0, "stderr: \(err)")
        #expect(!out.contains("Skipping"))
    }

    @Test func misspelledConfigKeyIsRejectedForBothKinds() throws {
        let dir = try tempFolder()
        let image = dir.appendingPathComponent("collapse.json")
        try Data(#"{"encoder": "convnet", "loss": "supcon", "temprature": 0.5}"#.utf8).write(to: image)
        var (code, _, err) = try runCLI(["run", image.path, "--quiet", "--out", dir.appendingPathComponent("a").path])
        #expect(code != 0)
        #expect(err.contains(image.path) && err.contains("unknown key 'temprature' in image config; did you mean 'temperature'?"), "stderr: \(err)")
        let full = dir.appendingPathComponent("full.json")
        try Data(#"{"preset": "fashion-collapse", "summary": "s", "settings": [{}], "base": {"encoder": "convnet", "temprature": 0.5}}"#.utf8)
            .write(to: full)
        (code, _, err) = try runCLI(["run", full.path, "--quiet", "--out", dir.appendingPathComponent("b").path])
        #expect(code != 0 && err.contains(full.path) && err.contains("base.temprature") && err.contains("did you mean 'temperature'?"), "stderr: \(err)")
        // A typo in the file's own keys (around the config) is an error too.
        let wrapper = dir.appendingPathComponent("wrapper.json")
        try Data(#"{"preset": "p", "summary": "s", "setings": [{}], "base": {"encoder": "convnet"}}"#.utf8).write(to: wrapper)
        (code, _, err) = try runCLI(["run", wrapper.path, "--quiet", "--out", dir.appendingPathComponent("g").path])
        #expect(code != 0 && err.contains(wrapper.path) && err.contains("top level: unknown key 'setings'; did you mean 'settings'?"), "stderr: \(err)")
        let synthetic = dir.appendingPathComponent("cc.json")
        try Data(#"{"stpes": 10}"#.utf8).write(to: synthetic)
        (code, _, err) = try runCLI(["run", synthetic.path, "--quiet", "--out", dir.appendingPathComponent("c").path])
        #expect(code != 0 && err.contains(synthetic.path) && err.contains("unknown key 'stpes' in synthetic config; did you mean 'steps'?"), "stderr: \(err)")
        (code, _, err) = try runCLI(["run", "class-collapse", "--set", "temprature=1", "--quiet", "--out", dir.appendingPathComponent("d").path])
        #expect(code != 0 && err.contains("unknown key 'temprature'"), "stderr: \(err)")
        (code, _, err) = try runCLI(["run", "fashion-collapse", "--set", "temprature=1", "--quiet", "--out", dir.appendingPathComponent("e").path])
        #expect(code != 0 && err.contains("did you mean 'temperature'?"), "stderr: \(err)")
        // The old image keys are read from files, but a --set of one would not replace the preset's own axis.
        (code, _, err) = try runCLI(["run", "fashion-randbits", "--set", "embedding=16", "--quiet", "--out", dir.appendingPathComponent("f").path])
        #expect(code != 0 && err.contains("'embedding' is an old key name") && err.contains("p or backbone_width"), "stderr: \(err)")
        for sub in ["a", "b", "c", "d", "e", "f", "g"] { #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(sub).path)) }
    }

    @Test func presetsListsAndKeys() throws {
        var (code, out, _) = try runCLI(["presets"])
        #expect(code == 0)
        for name in SyntheticPreset.names { #expect(out.contains(name)) }
        (code, out, _) = try runCLI(["presets", "--keys", "suppression-embedding-size"])
        #expect(code == 0 && out.contains("online_augmentation") && out.contains("p=7"))
        // Type, value, default and doc of each key.
        #expect(out.contains("true|false") && out.contains("Draw fresh views at every step"))
        (code, out, _) = try runCLI(["presets", "--keys", "fashion-collapse"])
        #expect(code == 0 && out.contains("backbone_width") && out.contains("= 128 (default 0)") && out.contains("Width of the backbone features h"))
    }
}

@Suite("featurelens divergence")
struct CLIDivergenceTests {
    @Test func divergenceStopsWithExitCode3AndKeepsTheAuditsBeforeIt() throws {
        let dir = try tempFolder()
        let out = dir.appendingPathComponent("div")
        let (code, stdout, err) = try runCLI(["run", "class-collapse", "--set", "lr=1e6", "--set", "d=200", "--set", "n=40",
                                              "--set", "n_test=200", "--set", "audit_steps=0,100,1000", "--quiet", "--out", out.path])
        #expect(code == 3)
        #expect(err.contains("diverged") && err.contains("learning rate"))
        #expect(stdout.contains("DIVERGED"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        let run = (json["runs"] as! [[String: Any]])[0]
        #expect((run["divergence"] as? String)?.contains("step") == true)
        #expect((run["timeline"] as! [[String: Any]]).map { $0["step"] as! Int } == [0])
    }
}

@Suite("featurelens interruption")
struct CLIInterruptionTests {
    @Test func sigintWritesThePartialReportAndExits130() throws {
        let dir = try tempFolder()
        let out = dir.appendingPathComponent("int")
        // A shell starts the run, sends SIGINT after a moment and returns the run's exit status.
        let exe = productsDirectory.appendingPathComponent("featurelens").path
        let script = "\"\(exe)\" run class-collapse --set d=200 --set n=40 --set n_test=200 --set steps=100000000 " +
            "--set audit_steps=0,100000000 --quiet --out \"\(out.path)\" >/dev/null & pid=$!; sleep 2; kill -INT $pid; (sleep 30; kill -9 $pid) >/dev/null 2>&1 & killer=$!; wait $pid; st=$?; kill $killer 2>/dev/null; exit $st"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let errFile = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: errFile)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let stderr = try String(contentsOf: errFile, encoding: .utf8)
        #expect(p.terminationStatus == 130, "stderr: \(stderr)")
        #expect(stderr.contains("interrupted by SIGINT"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        for run in json["runs"] as! [[String: Any]] {
            let stopped = try #require(run["interrupted_at_step"] as? Int)
            let steps = (run["timeline"] as! [[String: Any]]).map { $0["step"] as! Int }
            #expect(steps.first == 0 && steps.last == stopped && stopped > 0)
        }
        // No temporary files left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path)
        #expect(!names.contains { $0.contains(".tmp-") })
    }
}
