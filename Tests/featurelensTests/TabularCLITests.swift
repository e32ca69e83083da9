import Foundation
import Testing
import FeatureLens

/// Writes `features.npy` `[n, d]` (float32) and `labels.csv` (`coarse,fine`; `labelRows` rows,
/// default n) to `dir`: coarse = i mod 2 along feature 0 (amplitude 2.5), sub = ⌊i/2⌋ mod 2
/// along feature 1 (amplitude 1, a weaker direction), fine = 2·coarse + sub (4 classes nested
/// in coarse), plus N(0, 1) noise on every feature.
func writeTwoLevelTabular(to dir: URL, n: Int, d: Int, labelRows: Int? = nil) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var g = SeededGenerator(seed: 21)
    var x = [Double](repeating: 0, count: n * d)
    var csv = "coarse,fine\n"
    for i in 0..<n {
        let c = i % 2, s = (i / 2) % 2
        for j in 0..<d { x[i * d + j] = g.nextNormal() }
        x[i * d] += 2.5 * Double(2 * c - 1)
        x[i * d + 1] += 1.0 * Double(2 * s - 1)
        if i < (labelRows ?? n) { csv += "\(c),\(2 * c + s)\n" }
    }
    try NPY.encode(Tensor(shape: [n, d], scalars: x), dtype: .float32).write(to: dir.appendingPathComponent("features.npy"))
    try Data(csv.utf8).write(to: dir.appendingPathComponent("labels.csv"))
}

@Suite("featurelens run tabular", .serialized)
struct TabularCLITests {
    /// `featurelens run tabular` on a two-level matrix: exit 0, both label sets probed with
    /// verdicts in every run of report.json, fine within coarse.
    @Test func runTabularProbesBothLabelSets() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeTwoLevelTabular(to: dir, n: 400, d: 8)
        let out = dir.appendingPathComponent("run")
        let (code, stdout, err) = try runCLI([
            "run", "tabular", "--set", "data=\(dir.appendingPathComponent("features.npy").path)",
            "--set", "labels=\(dir.appendingPathComponent("labels.csv").path)", "--set", "within=fine:coarse",
            "--set", "epochs=2", "--set", "audit_steps=0,2,4", "--set", "batch_size=64", "--quiet", "--out", out.path,
        ])
        #expect(code == 0, "stderr: \(err)")
        #expect(stdout.contains("fine") && stdout.contains("coarse"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        #expect(json["preset"] as? String == "tabular")
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.count == 3)
        for run in runs {
            #expect(run["labels"] as? [String] == ["coarse", "fine"])
            #expect(run["within"] as? [String: String] == ["fine": "coarse"])
            let verdicts = try #require(run["verdicts"] as? [String: String])
            #expect(verdicts.keys.sorted() == ["coarse", "fine"])
            let timeline = try #require(run["timeline"] as? [[String: Any]])
            #expect(timeline.map { $0["step"] as? Int } == [0, 2, 4])
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as! [String: Any]
        #expect((config["base"] as? [String: Any])?["within"] as? String == "fine:coarse")
    }

    /// Bad input fails before training with one line naming the field or the files.
    @Test func badTabularInputsAreErrorsNamingTheFieldOrFile() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeTwoLevelTabular(to: dir, n: 100, d: 4)
        let mismatched = dir.appendingPathComponent("short")
        try writeTwoLevelTabular(to: mismatched, n: 100, d: 4, labelRows: 90)
        let features = dir.appendingPathComponent("features.npy").path, labels = dir.appendingPathComponent("labels.csv").path
        let base = ["run", "tabular", "--set", "data=\(features)", "--set", "labels=\(labels)", "--set", "epochs=1", "--quiet"]
        func run(_ extra: [String], _ name: String) throws -> (Int32, String) {
            let (code, _, err) = try runCLI(extra + ["--out", dir.appendingPathComponent(name).path])
            return (code, err)
        }
        // No data: the two keys to set.
        var (code, err) = try run(["run", "tabular", "--quiet"], "none")
        #expect(code == 1 && err.contains("--set data=") && err.contains("--set labels="), "\(err)")
        // A misspelled column in train_label: the key and the columns.
        (code, err) = try run(base + ["--set", "train_label=fien"], "label")
        #expect(code == 1 && err.contains("train_label") && err.contains("fien") && err.contains("coarse, fine"), "\(err)")
        // A misspelled column in within.
        (code, err) = try run(base + ["--set", "within=fine:corse"], "within")
        #expect(code == 1 && err.contains("within") && err.contains("corse"), "\(err)")
        // Row counts differ: both files and both counts.
        let short = mismatched.appendingPathComponent("labels.csv").path
        (code, err) = try run(["run", "tabular", "--set", "data=\(features)", "--set", "labels=\(short)", "--quiet"], "rows")
        #expect(code == 1 && err.contains(features) && err.contains(short) && err.contains("100") && err.contains("90"), "\(err)")
        // The ConvNet on a feature matrix: the key encoder.
        (code, err) = try run(base + ["--set", "encoder=convnet"], "convnet")
        #expect(code == 1 && err.contains("encoder") && err.contains("mlp"), "\(err)")
        // An image-only augmentation.
        (code, err) = try run(base + ["--set", "augmentation=crop+noise"], "crop")
        #expect(code == 1 && err.contains("augmentation") && err.contains("crop"), "\(err)")
        // A failed start leaves no folder behind (not even an empty one).
        for name in ["none", "label", "within", "rows", "convnet", "crop"] {
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)")
        }
        // A folder that existed before keeps its files.
        let kept = dir.appendingPathComponent("kept")
        try FileManager.default.createDirectory(at: kept, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: kept.appendingPathComponent("notes.txt"))
        (code, err) = try run(base + ["--set", "within=fine:corse"], "kept")
        #expect(code == 1 && (try? String(contentsOf: kept.appendingPathComponent("notes.txt"), encoding: .utf8)) == "mine")
    }

    /// `presets` lists tabular and `presets --keys tabular` its keys.
    @Test func presetsListTabular() throws {
        var (code, out, _) = try runCLI(["presets"])
        #expect(code == 0 && out.contains("tabular"))
        (code, out, _) = try runCLI(["presets", "--keys", "tabular"])
        #expect(code == 0 && out.contains("labels") && out.contains("mask_prob") && out.contains("test_fraction") && out.contains("within"))
    }
}
