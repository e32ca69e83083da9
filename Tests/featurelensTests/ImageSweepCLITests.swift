import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import FeatureLens

@Suite("featurelens sweep (image presets)", .serialized)
struct ImageSweepCLITests {
    /// `sweep` runs an image preset: one folder per (grid point, seed) with an image
    /// config.json, summary.csv and summary.html; a second sweep skips the finished runs.
    @Test func sweepRunsAnImagePresetAndWritesTheSummary() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try writeIDXFixture(to: data, train: 48, test: 24)   // ResumeCLITests.swift
        let out = dir.appendingPathComponent("sweep")
        let args = ["sweep", "fashion-randbits", "--grid", "bits=0,2", "--seeds", "0,1",
                    "--set", "data=\(data.path)", "--set", "bits_mode=shared", "--set", "train_limit=0",
                    "--set", "test_limit=0", "--set", "probe_train=0", "--set", "batch_size=8", "--set", "steps=2",
                    "--set", "audit_steps=0,2", "--set", "encoder=mlp", "--set", "mlp_hidden=8", "--set", "p=4",
                    "--set", "backbone_width=0", "--set", "pca_points=0", "--out", out.path]
        var (code, stdout, err) = try runCLI(args + ["--quiet"])
        #expect(code == 0, "stderr: \(err)")
        let csv = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 3, "\(csv)")   // header + bits=0 + bits=2
        #expect(lines.first?.hasPrefix("bits,seeds,class_mean,class_std,coarse_mean,coarse_std") == true, "\(csv)")
        #expect(lines.dropFirst().allSatisfy { $0.split(separator: ",")[1] == "2" })   // two seeds each
        // bits=0 has no bit label sets: its bit cells are empty, not 0.
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false)
        let bitsZero = lines.dropFirst().first { $0.hasPrefix("0,") }.map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let bit0 = try #require(header.firstIndex(of: "bit0_mean"))
        #expect(bitsZero?[bit0] == "" && bitsZero?[bit0 + 1] == "", "\(csv)")
        #expect(lines.dropFirst().first { $0.hasPrefix("2,") }.map { !$0.split(separator: ",", omittingEmptySubsequences: false)[bit0].isEmpty } == true)
        _ = try XMLDocument(contentsOf: out.appendingPathComponent("summary.html"), options: [])
        for run in ["bits-0_seed-0", "bits-0_seed-1", "bits-2_seed-0", "bits-2_seed-1"] {
            let folder = out.appendingPathComponent(run)
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("report.json").path), "\(run)")
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json"))) as? [String: Any]
            #expect(config?["kind"] as? String == "image")
            // Charts count every test image (test_limit = 0 means all 24).
            let html = try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8)
            #expect(html.contains("over 24 test points"))
        }
        (code, stdout, err) = try runCLI(args)
        #expect(code == 0, "stderr: \(err)")
        #expect(stdout.contains("Skipping 4 finished run(s)"))
    }
}
