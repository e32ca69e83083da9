// `featurelens run images --set data=DIR` on a folder tree of PNG files written by the test:
// the folder levels become label sets (the second read within the first), the decoded tree is
// cached, and a tree that cannot be trained on is a clear error naming it.
import Foundation
import Testing
import FeatureLens

@Suite("featurelens run images", .serialized)
struct ImageFolderCLITests {
    /// status/type/NNN.png: 2 statuses × 2 types × `perType` grey 12×12 images; the type draws a
    /// bright row (a "scratch") or a dark square (a "dent") at a seeded place.
    static func writeTree(_ root: URL, perType: Int = 16) throws {
        var g = SeededGenerator(seed: 3)
        for (status, types) in [("ok", ["plain", "brushed"]), ("defect", ["scratch", "dent"])] {
            for type in types {
                let dir = root.appendingPathComponent("\(status)/\(type)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for i in 0..<perType {
                    var x = [Float](repeating: 0.5, count: 144)
                    let r = Int(g.next() % 8) + 2
                    for j in 0..<12 {
                        switch type {
                        case "brushed": x[r * 12 + j] += j % 2 == 0 ? 0.1 : -0.1
                        case "scratch": x[r * 12 + j] = 1
                        case "dent": if j >= r - 2 && j < r + 2 { for k in (r - 2)..<(r + 2) { x[k * 12 + j] = 0 } }
                        default: break
                        }
                    }
                    let png = try ImageCodecs.pngData(Tensor(shape: [1, 12, 12], scalars: x))
                    try png.write(to: dir.appendingPathComponent(String(format: "%03d.png", i)))
                }
            }
        }
    }

    @Test func runImagesReadsTheFolderLevelsAsLabelSets() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts")
        try Self.writeTree(parts)
        let out = dir.appendingPathComponent("run")
        let args = ["run", "images", "--set", "data=\(parts.path)", "--set", "levels=status,type", "--set", "epochs=1",
                    "--set", "batch_size=16", "--grid", "loss=supcon", "--quiet", "--out", out.path]
        let (code, stdout, err) = try runCLI(args)
        #expect(code == 0, "stderr: \(err)")
        #expect(stdout.contains("status") && stdout.contains("type") && stdout.contains("which type merged within status"), "\(stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        let run = (json["runs"] as! [[String: Any]])[0]
        #expect(run["labels"] as? [String] == ["status", "type"], "\(run["labels"] ?? "")")
        #expect((run["within"] as? [String: String])?["type"] == "status", "\(run["within"] ?? "")")
        // The decoded tree is cached inside the folder (hidden, so it is not read as a class).
        let cache = parts.appendingPathComponent(".featurelens-cache")
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []).isEmpty)
        // The same run again reads the cache and gives the same metrics.
        let out2 = dir.appendingPathComponent("run2")
        let (code2, _, err2) = try runCLI(Array(args.dropLast()) + [out2.path])
        #expect(code2 == 0, "stderr: \(err2)")
        #expect(try Data(contentsOf: out.appendingPathComponent("metrics.csv")) == Data(contentsOf: out2.appendingPathComponent("metrics.csv")))
    }

    @Test func treesThatCannotBeTrainedOnAreClearErrors() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // No data: the key to set.
        var (code, _, err) = try runCLI(["run", "images", "--quiet", "--out", dir.appendingPathComponent("none").path])
        #expect(code == 1 && err.contains("--set data=DIR"), "\(err)")
        // One class folder: named, and no run folder left behind.
        let one = dir.appendingPathComponent("one/only/a")
        try FileManager.default.createDirectory(at: one, withIntermediateDirectories: true)
        try ImageCodecs.pngData(Tensor(shape: [1, 4, 4], scalars: [Float](repeating: 0.5, count: 16))).write(to: one.appendingPathComponent("x.png"))
        (code, _, err) = try runCLI(["run", "images", "--set", "data=\(dir.appendingPathComponent("one").path)", "--quiet",
                                     "--out", dir.appendingPathComponent("out-one").path])
        #expect(code == 1 && err.contains(dir.appendingPathComponent("one").lastPathComponent), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-one").path))
        // grouping=fashion-mnist on a tree: the key and why.
        let parts = dir.appendingPathComponent("parts")
        try Self.writeTree(parts, perType: 4)
        (code, _, err) = try runCLI(["run", "images", "--set", "data=\(parts.path)", "--set", "grouping=fashion-mnist", "--quiet",
                                     "--out", dir.appendingPathComponent("out-g").path])
        #expect(code == 1 && err.contains("grouping") && err.contains("MNIST layout"), "\(err)")
        // A data folder that does not exist: named as the user's `data`, not as missing Fashion-MNIST.
        let missing = dir.appendingPathComponent("no-such-folder").path
        (code, _, err) = try runCLI(["run", "images", "--set", "data=\(missing)", "--quiet", "--out", dir.appendingPathComponent("out-m").path])
        #expect(code == 1 && err.contains("data = \(missing): the folder does not exist") && !err.contains("Fashion-MNIST not found"), "\(err)")
        // A batch larger than the data: the key to change and its largest value.
        (code, _, err) = try runCLI(["run", "images", "--set", "data=\(parts.path)", "--set", "batch_size=500", "--quiet",
                                     "--out", dir.appendingPathComponent("out-b").path])
        #expect(code == 1 && err.contains("batch_size=N with N ≤"), "\(err)")
    }

    /// With `skip_bad_images=true`, every skipped file is a warning that `--quiet` does not hide
    /// (it hides progress and notes).
    @Test func skippedImagesAreWarnedAboutEvenWhenQuiet() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts")
        try Self.writeTree(parts, perType: 8)
        try Data("not an image".utf8).write(to: parts.appendingPathComponent("defect/dent/bad.png"))
        let args = ["run", "images", "--set", "data=\(parts.path)", "--set", "levels=status,type", "--set", "steps=1",
                    "--set", "batch_size=8", "--set", "skip_bad_images=true", "--grid", "loss=supcon", "--quiet"]
        for run in ["first", "cached"] {  // decoded, then read from the cache: warned both times
            let (code, _, err) = try runCLI(args + ["--out", dir.appendingPathComponent(run).path])
            #expect(code == 0, "stderr: \(err)")
            #expect(err.contains("skipped \(parts.standardizedFileURL.path)/defect/dent/bad.png"), "\(run): \(err)")
        }
    }
}
