// `featurelens example defects DIR`: writes the defect-inspection image folder that
// `featurelens run defects --set data=DIR` reads; a destination that is not a new or empty
// folder, or an unknown example name, is a clear error and writes nothing.
import Foundation
import Testing
import FeatureLens

@Suite("featurelens example", .serialized)
struct ExampleCLITests {
    @Test func writesTheDefectsFolderThatThePresetRuns() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts")
        let (code, out, err) = try runCLI(["example", "defects", parts.path, "--seed", "3", "--train-per-type", "4", "--test-per-type", "4"])
        #expect(code == 0, "stderr: \(err)")
        #expect(out.contains("Wrote 64 images") && out.contains("train/defect/scratch/{bottom,top}: 4")
                && out.contains("featurelens run defects --set data=\(parts.path)"), "\(out)")
        // The same as the library writes for that seed.
        let lib = dir.appendingPathComponent("lib")
        try DefectParts.write(to: lib, seed: 3, parameters: DefectParts.Parameters(trainPerType: 4, testPerType: 4))
        let file = "test/defect/crack/top/0001.png"
        #expect(try Data(contentsOf: parts.appendingPathComponent(file)) == Data(contentsOf: lib.appendingPathComponent(file)))
        let run = dir.appendingPathComponent("run")
        let (code2, stdout2, err2) = try runCLI(["run", "defects", "--set", "data=\(parts.path)", "--set", "steps=2",
                                                 "--set", "batch_size=8", "--set", "backbone_width=16", "--set", "p=8",
                                                 "--set", "audit_steps=0,2", "--grid", "loss=ntxent", "--quiet", "--out", run.path])
        #expect(code2 == 0, "stderr: \(err2)")
        #expect(stdout2.contains("lighting") && stdout2.contains("type"), "\(stdout2)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("report.json"))) as! [String: Any]
        let first = (json["runs"] as! [[String: Any]])[0]
        #expect(first["labels"] as? [String] == ["status", "type", "lighting"], "\(first["labels"] ?? "")")
        #expect((first["within"] as? [String: String]) == ["type": "status", "lighting": "type"], "\(first["within"] ?? "")")
    }

    @Test func badDestinationsAndNamesAreClearErrorsThatWriteNothing() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: full.appendingPathComponent("keep.txt"))
        let (c1, _, e1) = try runCLI(["example", "defects", full.path, "--quiet"])
        #expect(c1 != 0 && e1.contains(full.path) && e1.contains("not empty"), "\(e1)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: full.path) == ["keep.txt"])
        let file = dir.appendingPathComponent("parts.png")
        try Data("x".utf8).write(to: file)
        let (c2, _, e2) = try runCLI(["example", "defects", file.path])
        #expect(c2 != 0 && e2.contains(file.path) && e2.contains("not a folder"), "\(e2)")
        let (c3, _, e3) = try runCLI(["example", "screws", dir.appendingPathComponent("new").path])
        #expect(c3 != 0 && e3.contains("unknown example 'screws'") && e3.contains("defects"), "\(e3)")
        let (c4, _, e4) = try runCLI(["example", "defects", dir.appendingPathComponent("new").path, "--train-per-type", "1"])
        #expect(c4 != 0 && e4.contains("--train-per-type is 1"), "\(e4)")
        // Nothing was written beside them (no new folder, no partial folder).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["full", "parts.png"])
    }
}
