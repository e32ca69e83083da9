// The defect-inspection example (`DefectParts`): deterministic bytes, the folder layout the
// image-folder reader reads, the image formula, the nuisance label, and a destination that
// is not a new or empty folder; the `defects` preset on a tiny generated set.
import Foundation
import Testing
@testable import FeatureLens

@Suite("Defect-inspection example")
struct DefectPartsTests {
    static let tiny = DefectParts.Parameters(trainPerType: 4, testPerType: 2)

    func temp() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("fl-defects-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Every file under `root` (relative path → bytes).
    func files(_ root: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let u as URL in walker where (try u.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out[String(u.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))] = try Data(contentsOf: u)
        }
        return out
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        try DefectParts.write(to: dir.appendingPathComponent("a"), seed: 5, parameters: Self.tiny)
        try DefectParts.write(to: dir.appendingPathComponent("b"), seed: 5, parameters: Self.tiny)
        try DefectParts.write(to: dir.appendingPathComponent("c"), seed: 6, parameters: Self.tiny)
        let a = try files(dir.appendingPathComponent("a")), b = try files(dir.appendingPathComponent("b"))
        let c = try files(dir.appendingPathComponent("c"))
        #expect(!a.isEmpty && a == b)
        // Another seed: the same folders and counts (which images are lit from the bottom is
        // redrawn), and no image repeats (the noise alone differs in each).
        func folders(_ f: [String: Data]) -> [String: Int] {
            f.keys.reduce(into: [:]) { $0[$1.split(separator: "/").prefix(4).joined(separator: "/"), default: 0] += 1 }
        }
        #expect(folders(a) == folders(c) && a.keys.count == c.keys.count)
        #expect(Set(a.values).isDisjoint(with: Set(c.values)))
        #expect(Set(a.keys) != Set(c.keys))
        // No partial folder is left beside the destination.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["a", "b", "c"])
    }

    @Test func layoutCountsAndDecodedImagesFitTheReader() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("parts")
        let summary = try DefectParts.write(to: root, seed: 0, parameters: Self.tiny)
        // ok: 4 × per type; each defect type: per type; in train/ and test/.
        var expected: [String: Int] = ["train/ok/good": 16, "test/ok/good": 8]
        for t in ["crack", "dent", "scratch", "stain"] { expected["train/defect/\(t)"] = 4; expected["test/defect/\(t)"] = 2 }
        #expect(summary.counts == expected && summary.total == 48)
        let paths = try files(root).keys
        #expect(paths.count == 48)
        // Lighting: ⌊n/2⌋ bottom, the rest top, in every type folder.
        for (folder, n) in expected {
            #expect(paths.filter { $0.hasPrefix(folder + "/bottom/") }.count == n / 2, "\(folder)")
            #expect(paths.filter { $0.hasPrefix(folder + "/top/") }.count == n - n / 2, "\(folder)")
        }
        var options = ImageFolderOptions(labelSetNames: DefectParts.levels)
        options.cacheDirectory = nil
        let contents = try ImageFolder.load(directory: root, options: options)
        let train = try #require(contents.train), test = try #require(contents.test)
        #expect(train.count == 32 && test.count == 16)
        #expect(train.images.shape == [32, 1, 32, 32] && test.images.shape == [16, 1, 32, 32])
        #expect(train.labelSets["status"]?.names == ["defect", "ok"])
        #expect(train.labelSets["type"]?.names == ["defect/crack", "defect/dent", "defect/scratch", "defect/stain", "ok/good"])
        #expect(train.labelSets["type"]?.within == "status" && train.labelSets["lighting"]?.within == "type")
    }

    /// The formula without texture and noise: an ok part is μ + s·g·(r − 15.5)/15.5, constant
    /// along each row and linear down the rows, brighter at the top when lit from the top; a
    /// defect changes only pixels near its centre (the middle of the part).
    @Test func imageFormulaAndTheNuisanceAreRecoverable() throws {
        var p = DefectParts.Parameters(textureAmplitude: 0, noise: 0)
        p.lightingStrength = 0.15
        for top in [true, false] {
            var g = SeededGenerator(seed: 11)
            let x = DefectParts.image(type: "good", litFromTop: top, parameters: p, generator: &g)
            for r in 0..<32 { #expect(Set(x[(r * 32)..<(r * 32 + 32)]).count == 1) }
            let slope = (x[31 * 32] - x[0]) / 31
            #expect(top ? slope < 0 : slope > 0)
            for r in 1..<32 { #expect(abs((x[r * 32] - x[(r - 1) * 32]) - slope) < 1e-5) }
            // |slope| · 15.5 = g ∈ 0.15 · [0.8, 1.2].
            #expect(abs(slope) * 15.5 >= 0.12 - 1e-5 && abs(slope) * 15.5 <= 0.18 + 1e-5)
        }
        for type in DefectParts.defectTypes {
            var g1 = SeededGenerator(seed: 3), g2 = SeededGenerator(seed: 3)
            let ok = DefectParts.image(type: "good", litFromTop: true, parameters: p, generator: &g1)
            let bad = DefectParts.image(type: type, litFromTop: true, parameters: p, generator: &g2)
            let changed = (0..<1024).filter { abs(ok[$0] - bad[$0]) > 0.02 }
            #expect(!changed.isEmpty, "\(type)")
            // Local: within 8 px of the 10…22 centre square, and a small part of the image.
            #expect(changed.allSatisfy { ($0 / 32) >= 2 && ($0 / 32) <= 30 && ($0 % 32) >= 2 && ($0 % 32) <= 30 }, "\(type)")
            #expect(changed.count < 120, "\(type): \(changed.count) pixels")
        }
        // In the written dataset (default parameters) the lighting folder is recoverable from
        // the pixels: the least-squares slope of the row means down the rows is negative
        // exactly in the `top` folders.
        let dir = try temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("parts")
        try DefectParts.write(to: root, seed: 1, parameters: DefectParts.Parameters(trainPerType: 10, testPerType: 2))
        var options = ImageFolderOptions(labelSetNames: DefectParts.levels)
        options.cacheDirectory = nil
        let contents = try ImageFolder.load(directory: root, options: options)
        let train = try #require(contents.train)
        let lighting = try #require(train.labelSets["lighting"])
        for i in 0..<train.count {
            let px = Array(train.images.scalars[(i * 1024)..<((i + 1) * 1024)])
            var slope: Float = 0
            for r in 0..<32 { slope += (Float(r) - 15.5) * px[(r * 32)..<(r * 32 + 32)].reduce(0, +) / 32 }
            let name = try #require(lighting.names)[lighting.codes[i]]
            #expect(name.hasSuffix("/top") == (slope < 0), "\(contents.files[0][i])")
        }
    }

    @Test func destinationMustBeNewOrEmptyAndNothingIsHalfWritten() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A non-empty folder: refused, its content unchanged.
        let full = dir.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: full.appendingPathComponent("keep.txt"))
        #expect(throws: DefectPartsError.destinationNotEmpty(path: full.path, reason: "folder is not empty (1 entries)")) {
            try DefectParts.write(to: full, seed: 0, parameters: Self.tiny)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: full.path) == ["keep.txt"])
        // A file: refused.
        let file = dir.appendingPathComponent("file.png")
        try Data("x".utf8).write(to: file)
        #expect(throws: DefectPartsError.destinationNotEmpty(path: file.path, reason: "exists and is not a folder")) {
            try DefectParts.write(to: file, seed: 0, parameters: Self.tiny)
        }
        // A missing parent: refused, nothing created.
        let deep = dir.appendingPathComponent("no/such/parts")
        #expect(throws: DefectPartsError.missingParent(path: deep.path)) {
            try DefectParts.write(to: deep, seed: 0, parameters: Self.tiny)
        }
        // A bad parameter names its field.
        #expect(throws: DefectPartsError.invalidParameter(field: "train_per_type", value: "1", expected: "an integer ≥ 2")) {
            try DefectParts.write(to: dir.appendingPathComponent("p"), seed: 0, parameters: DefectParts.Parameters(trainPerType: 1))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["file.png", "full"])
        // An empty folder is filled.
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try DefectParts.write(to: empty, seed: 0, parameters: Self.tiny)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).sorted() == ["test", "train"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["empty", "file.png", "full"])
    }

    /// The `defects` preset on a tiny generated set: it validates, trains each loss 2 steps,
    /// and probes the defect type within `status` and the lighting within `type`.
    @Test func defectsPresetRunsTwoStepsOnATinySet() throws {
        let dir = try temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("parts")
        try DefectParts.write(to: root, seed: 0, parameters: DefectParts.Parameters(trainPerType: 4, testPerType: 4))
        let preset = ImagePresets.defects
        #expect(preset.settings.map { $0["loss"] } == ["supcon", "ntxent", "joint"])
        #expect(preset.base.levels == "status,type,lighting" && preset.base.trainLabel == "status")
        #expect(throws: (any Error).self) { try preset.config(setting: 0).validate() }
        let overrides = [("data", root.path), ("steps", "2"), ("batch_size", "8"), ("backbone_width", "16"),
                         ("p", "8"), ("audit_steps", "0,2"), ("pca_points", "0")]
        for i in preset.settings.indices { try preset.config(setting: i, overrides: overrides).validate() }
        let doc = try ExperimentRunner().run(preset, overrides: overrides, seed: 0)
        // 3 losses × 2 layers (backbone and head).
        #expect(doc.runs.count == 6)
        #expect(doc.runs.map { $0.settings["loss"]?.description } == ["supcon", "supcon", "ntxent", "ntxent", "joint", "joint"])
        for run in doc.runs {
            #expect(run.labels == ["status", "type", "lighting"] && run.within == ["type": "status", "lighting": "type"])
            #expect(run.timeline.map(\.step) == [0, 2])
            let last = try #require(run.timeline.last)
            // status: 2 classes; type within status: only `defect` has ≥ 2 types (4); lighting
            // within type: 2 per type.
            #expect(abs(last.chance!["status"]! - 0.5) < 1e-12)
            #expect(abs(last.chance!["type"]! - 0.25) < 1e-12)
            #expect(abs(last.chance!["lighting"]! - 0.5) < 1e-12)
            for label in ["status", "type", "lighting"] { #expect(last.probes[label]?.isFinite == true, "\(label)") }
        }
    }
}
