import Foundation
import Synchronization
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// The real-image presets: config keys, preset grids, the runner's report
/// document on tiny Fashion-MNIST subsets, determinism, and the missing-dataset error.
struct ImagePresetTests {
    // MARK: Config

    @Test func everyKeyRoundTripsThroughItsStringForm() throws {
        var c = ImageExperimentConfig()
        // Non-default values for every key, set from strings (the table the config-table tests use).
        let values = ConfigTableTests.imageValues
        #expect(Set(values.keys) == Set(ImageExperimentConfig.keys))
        for (k, v) in values { try c.set(key: k, value: v) }
        for (k, v) in values { #expect(c.value(forKey: k) == v, "key \(k)") }
        try c.validate()
        // Codable round trip with snake_case keys.
        let data = try JSONEncoder().encode(c)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(Set(object.keys) == Set(ImageExperimentConfig.keys))
        #expect(try JSONDecoder().decode(ImageExperimentConfig.self, from: data) == c)
        // A partial config keeps the defaults.
        let partial = try JSONDecoder().decode(ImageExperimentConfig.self, from: Data(#"{"bits": 5, "loss": "supcon"}"#.utf8))
        var expected = ImageExperimentConfig()
        expected.bits = 5; expected.loss = .supcon
        #expect(partial == expected)
    }

    /// `encoder = resnet18`: the CIFAR-style ResNet-18 at width `resnet_width`, h of width
    /// `backbone_width` (a dense layer after the pooling unless that is 8w), then the head.
    @Test func resnet18EncoderFollowsTheConfig() throws {
        var c = ImageExperimentConfig()
        try c.set(key: "encoder", value: "resnet18")
        try c.set(key: "resnet_width", value: "2")
        try c.set(key: "backbone_width", value: "24")
        try c.set(key: "p", value: "8")
        try c.validate()
        let x = Tensor<Float>(zeros: [3, 1, 12, 12])
        // h of width 24 ≠ 8w = 16: a dense layer after the pooling.
        var encoder = try MiniBatchEngine.makeEncoder(c, channels: 1, height: 12, width: 12)
        var out = encoder.encode(x, training: false)
        #expect(out.features.shape == [3, 24] && out.embedding.shape == [3, 8])
        #expect(encoder.parameters.contains { $0.name.hasSuffix("linear.weight") })
        // h of width 8w: the pooled features themselves (the paper's encoder).
        try c.set(key: "backbone_width", value: "16")
        encoder = try MiniBatchEngine.makeEncoder(c, channels: 1, height: 12, width: 12)
        out = encoder.encode(x, training: false)
        #expect(out.features.shape == [3, 16] && out.embedding.shape == [3, 8])
        #expect(!encoder.parameters.contains { $0.name.hasSuffix("linear.weight") })
        #expect(throws: ConfigError.self) { try c.set(key: "resnet_width", value: "0"); try c.validate() }
    }

    @Test func badKeysAndValuesAreTypedErrorsNamingTheKey() throws {
        var c = ImageExperimentConfig()
        #expect(throws: ConfigError.unknownKey(key: "bogus", known: ImageExperimentConfig.keys)) {
            try c.set(key: "bogus", value: "1")
        }
        #expect(throws: ConfigError.invalidValue(key: "bits", value: "ten", expected: "an integer")) {
            try c.set(key: "bits", value: "ten")
        }
        do {
            try c.set(key: "loss", value: "triplet")
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.description.contains("loss") && e.description.contains("supcon") && e.description.contains("ntxent"))
        }
        do {
            try c.set(key: "augmentation", value: "crop+rotate")
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.description.contains("augmentation") && e.description.contains("crop+flip"))
        }
        #expect(throws: ConfigError.self) { try c.set(key: "bits_mode", value: "perView") }
        #expect(throws: ConfigError.self) { try c.set(key: "seed", value: "-1") }
        #expect(throws: ConfigError.self) { try c.set(key: "lr", value: "nan") }
        // validate() catches values that parse but are out of range.
        for (k, v) in [("temperature", "0"), ("bits", "2000"), ("beta", "1.5"), ("batch_size", "1"), ("p", "0"),
                       ("crop_scale", "0"), ("backbone_width", "-1")] {
            var d = ImageExperimentConfig()
            try d.set(key: k, value: v)
            do {
                try d.validate()
                Issue.record("\(k)=\(v) should not validate")
            } catch let ConfigError.invalidValue(key, _, _) {
                #expect(key == k)
            }
        }
    }

    @Test func auditStepsAutoAreLogSpacedWithBaseline() throws {
        let c = ImageExperimentConfig()
        #expect(try c.resolvedAuditSteps(totalSteps: 780) == [0, 6, 12, 24, 49, 98, 195, 390, 780])
        #expect(try c.resolvedAuditSteps(totalSteps: 3) == [0, 1, 2, 3])
        var d = c
        d.auditSteps = [50, 0, 10, 10]
        #expect(try d.resolvedAuditSteps(totalSteps: 50) == [0, 10, 50])
        #expect(throws: ConfigError.self) { try d.resolvedAuditSteps(totalSteps: 40) }
        #expect(c.totalSteps(trainCount: 10_000) == 10 * (10_000 / 256))
        d.steps = 7
        #expect(d.totalSteps(trainCount: 10_000) == 7)
    }

    // MARK: Presets

    @Test func presetsHaveTheirGridsAndValidate() throws {
        #expect(ImagePresets.names == ["fashion-collapse", "fashion-class-collapse", "fashion-randbits", "fashion-randbits-full",
                                       "cifar100-collapse", "cifar10-randbits", "tabular", "images", "defects"])
        #expect(throws: ImagePresetError.unknown(name: "nope", known: ImagePresets.names)) { try ImagePresets.named("nope") }
        for name in ImagePresets.names {
            let p = try ImagePresets.named(name)
            // The 15-minute budget (16 for `fashion-randbits-full`); `cifar100-collapse` took
            // 31 minutes on the shared machine (docs/REAL_DATA.md) and is held to 40.
            let budget: Double = name == "cifar100-collapse" ? 40 : 16
            #expect(p.name == name && !p.settings.isEmpty && p.expectedMinutes > 0 && p.expectedMinutes <= budget)
            // `tabular`, `images`, `defects` and the CIFAR presets have no built-in data (TabularConfigTests,
            // ImageFolderCLITests and CIFARPresetTests check the message).
            let data: [(String, String)] = name == "tabular" ? [("data", "/tmp/f.npy"), ("labels", "/tmp/l.csv")]
                : name == "images" || name == "defects" || name.hasPrefix("cifar") ? [("data", "/tmp/parts")] : []
            for i in p.settings.indices { try p.config(setting: i, overrides: data).validate() }
        }
        let collapse = ImagePresets.fashionCollapse
        #expect(collapse.settings == [["loss": "supcon"], ["loss": "spectral-scl"], ["loss": "joint"]])
        #expect(collapse.base.trainLabel == "coarse" && collapse.base.within == "class:coarse" && collapse.base.grouping == "fashion-mnist")
        #expect(collapse.expectedMinutes <= 15)
        // The class-collapse recipe of SCIENCE.md §6: SupCon without augmentation beside the
        // joint loss with augmentation, 64 epochs on 10 000 images, audits at ½, 1, 2, …, 64 epochs.
        let cc = ImagePresets.fashionClassCollapse
        #expect(cc.settings == [["loss": "supcon", "augmentation": "none"], ["loss": "joint", "augmentation": "crop+flip+noise"]])
        #expect(cc.base.epochs == 64 && cc.base.trainLimit == 10_000 && cc.base.testLimit == 5_000)
        #expect(cc.base.probe == .logistic && cc.base.probeLayer == .both && cc.base.trainLabel == "coarse")
        let t = cc.base.totalSteps(trainCount: 10_000)
        #expect(try cc.base.resolvedAuditSteps(totalSteps: t) == [0, 20, 39, 78, 156, 312, 624, 1248, 2496])
        let rb = ImagePresets.fashionRandBits
        #expect(rb.expectedMinutes <= 15 && rb.base.loss == .ntxent && rb.base.backboneWidth == 0)
        let triples = Set(rb.settings.map { "\($0["bits"]!)/\($0["bits_mode"]!)/\($0["p"]!)" })
        #expect(triples == ["0/shared/128", "5/shared/128", "10/shared/128", "20/shared/128", "10/per-view/128",
                            "20/per-view/128", "0/shared/16", "10/shared/16", "20/shared/16"])
        let full = ImagePresets.fashionRandBitsFull
        #expect(full.settings.count == 14 && Set(full.settings).count == 14)
        // Order of precedence: base ← setting ← overrides ← seed.
        let c = try rb.config(setting: 8, overrides: [("p", "32"), ("epochs", "2")], seed: 4)
        #expect(c.bits == 20 && c.p == 32 && c.epochs == 2 && c.seed == 4)
        #expect(throws: ConfigError.self) { try rb.config(setting: 0, overrides: [("bogus", "1")]) }
        #expect(throws: ImagePresetError.self) { try rb.config(setting: 99) }
    }

    // MARK: Runner

    @Test func missingDatasetFolderNamesTheFolderAndThePackage() throws {
        let folder = "/nonexistent/fashion-mnist-\(UInt32.random(in: 0...UInt32.max))"
        do {
            _ = try ExperimentRunner().run(ImagePresets.fashionCollapse, overrides: [("data", folder)], seed: 0)
            Issue.record("expected datasetMissing")
        } catch let e as ImageRunnerError {
            guard case .datasetMissing(let f, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(f == folder)
            #expect(e.description.contains(folder) && e.description.contains("apt-get install dataset-fashion-mnist"))
        }
        // A folder that exists but lacks the files: the error names the missing file.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("fl-empty-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        do {
            _ = try ExperimentRunner().run(ImagePresets.fashionRandBits, overrides: [("data", empty.path)], seed: nil)
            Issue.record("expected datasetMissing")
        } catch let e as ImageRunnerError {
            #expect(e.description.contains(empty.path) && e.description.contains("train-images-idx3-ubyte")
                    && e.description.contains("apt-get install dataset-fashion-mnist"))
        }
    }

    static var fashionAvailable: Bool {
        FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.appendingPathComponent("train-labels-idx1-ubyte.gz").path)
    }

    /// Tiny overrides: 256 training / 256 test images, a small pixel MLP (the ConvNet is slow
    /// in a debug build; the runner's path is the same), a few steps.
    static let tiny: [(String, String)] = [
        ("train_limit", "256"), ("test_limit", "256"), ("probe_train", "256"), ("batch_size", "64"),
        ("steps", "3"), ("audit_steps", "0,1,3"), ("pca_points", "100"), ("encoder", "mlp"), ("mlp_hidden", "32"),
    ]

    @Test(.enabled(if: ImagePresetTests.fashionAvailable, "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"))
    func collapsePresetGivesAWellFormedDocument() throws {
        let calls = Atomic<Int>(0)
        var runner = ExperimentRunner()
        runner.onStep = { _, step, total, loss in
            calls.add(1, ordering: .relaxed)
            #expect(step >= 1 && step <= total && loss != nil)
        }
        let overrides = Self.tiny + [("backbone_width", "16"), ("p", "8")]
        let doc = try runner.run(ImagePresets.fashionCollapse, overrides: overrides, seed: 3)
        #expect(doc.preset == "fashion-collapse" && doc.config.seed == 3 && doc.config.trainLimit == 256)
        #expect(doc.provenance.seed == 3)
        #expect(calls.load(ordering: .relaxed) == 3 * 3)
        // 3 losses × 2 layers (backbone and head), in grid order.
        #expect(doc.runs.count == 6)
        #expect(doc.runs.map { $0.settings["loss"]?.description } == ["supcon", "supcon", "spectral-scl", "spectral-scl", "joint", "joint"])
        #expect(doc.runs.map { $0.layer } == ["backbone", "head", "backbone", "head", "backbone", "head"])
        for run in doc.runs {
            #expect(run.settings["layer"] == .string(run.layer!))
            #expect(run.labels == ["class", "coarse"] && run.within == ["class": "coarse"])
            #expect(run.timeline.map(\.step) == [0, 1, 3])
            #expect(run.timeline[0].loss == nil && run.timeline.dropFirst().allSatisfy { $0.loss?.isFinite == true })
            #expect(Set(run.verdicts.keys) == ["class", "coarse"])
            #expect(run.final.probes == run.timeline.last!.probes)
            for e in run.timeline {
                #expect(e.layer == run.layer && e.metrics != nil)
                #expect(Set(e.probes.keys) == ["class", "coarse"])
                // Within-group chance: mean over tops (4 classes), bottoms (2), footwear (3); bags has one class.
                #expect(abs(e.chance!["class"]! - (1.0 / 4 + 1.0 / 2 + 1.0 / 3) / 3) < 1e-12)
                #expect(abs(e.chance!["coarse"]! - 0.25) < 1e-12)
                let width = run.layer == "head" ? 8 : 16
                #expect(e.metrics!.spectrum?.count == width)
                let pca = try #require(e.pca)
                #expect(pca.x.count == 100 && pca.y.count == 100 && Set(pca.labels.keys) == ["class", "coarse"])
                #expect(pca.labels["class"]!.count == 100)
                // Collapse geometry of the layer's test embeddings: class within coarse over
                // the same three groups as the probe.
                let geometry = try #require(e.geometry)
                #expect(Set(geometry.varianceShare.keys) == ["class", "coarse"])
                let within = try #require(geometry.within?["class"])
                #expect(within.group == "coarse" && within.groups == 3)
                #expect(within.knnPurity >= 0 && within.knnPurity <= 1 && within.knnChance > 0 && within.knnChance < 1)
            }
        }
        // The JSON round-trips.
        let decoded = try JSONDecoder().decode(ReportDocument<ImageExperimentConfig>.self, from: try doc.jsonData())
        #expect(decoded.runs == doc.runs && decoded.config == doc.config)
    }

    @Test(.enabled(if: ImagePresetTests.fashionAvailable, "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"))
    func randBitsPresetProbesTheBitsAndIsDeterministic() throws {
        var preset = ImagePresets.fashionRandBits
        preset.settings = [["bits": "5", "bits_mode": "shared", "p": "16"],
                           ["bits": "5", "bits_mode": "per-view", "p": "16"]]
        let runner = ExperimentRunner()
        let a = try runner.run(preset, overrides: Self.tiny, seed: 1)
        #expect(a.runs.count == 2)
        #expect(a.runs[0].settings == ["bits": .int(5), "bits_mode": .string("shared"), "p": .int(16)])
        #expect(a.runs[1].settings == ["bits": .int(5), "bits_mode": .string("per-view"), "p": .int(16)])
        for run in a.runs {
            #expect(run.labels == ["class", "coarse", "bit0", "bit1", "bit2", "bit3", "bit4"] && run.within.isEmpty)
            #expect(run.layer == "backbone" && run.timeline.map(\.step) == [0, 1, 3])
            #expect(abs(run.timeline[0].chance!["class"]! - 0.1) < 1e-12 && run.timeline[0].chance!["bit3"] == 0.5)
        }
        // Both settings start from the same initialization and see the same audit images.
        #expect(a.runs[0].timeline[0].probes == a.runs[1].timeline[0].probes)
        // Same seed → the same numbers; another seed → other numbers.
        let b = try runner.run(preset, overrides: Self.tiny, seed: 1)
        #expect(a.runs == b.runs)
        var first = preset
        first.settings = [preset.settings[0]]
        let c = try runner.run(first, overrides: Self.tiny, seed: 2)
        #expect(c.runs[0].timeline.last!.loss != a.runs[0].timeline.last!.loss)
    }
}

extension ExperimentRunner {
    /// Runs `preset` with `overrides` (and `seed`) applied as `--set` gives them.
    func run(_ preset: ImagePreset, overrides: [(String, String)], seed: UInt64?) throws -> ReportDocument<ImageExperimentConfig> {
        var sets = overrides
        if let seed { sets.append(("seed", String(seed))) }
        return try run(preset.applying(set: sets, grid: []))
    }
}

/// A tiny MNIST-layout folder (uncompressed IDX files): `train` training and `test` test
/// images of 28×28 pixels with random pixels and labels cycling through the 10 classes.
func writeTinyFashionFolder(train: Int, test: Int, seed: UInt64 = 7) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-tiny-fashion-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var g = SeededGenerator(seed: seed)
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let pixels = (0..<(n * 28 * 28)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let labels = (0..<n).map { UInt8($0 % 10) }
        try Data(IDX.encode(type: .uint8, shape: [n, 28, 28], payload: pixels))
            .write(to: dir.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
        try Data(IDX.encode(type: .uint8, shape: [n], payload: labels))
            .write(to: dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
    }
    return dir
}

@Suite struct ImageTestCountTests {
    /// `test_limit = 0` means every test image: the runner reports the real count (30 here),
    /// and the charts' error bands and captions use it (not 0, and not n = 1).
    @Test func testLimitZeroReportsTheRealTestCount() throws {
        let data = try writeTinyFashionFolder(train: 40, test: 30)
        defer { try? FileManager.default.removeItem(at: data) }
        var preset = ImagePresets.fashionCollapse
        preset.settings = [["loss": "supcon"]]
        preset = try preset.applying(set: [
            ("data", data.path), ("train_limit", "0"), ("test_limit", "0"), ("probe_train", "0"), ("batch_size", "8"),
            ("steps", "2"), ("audit_steps", "0,2"), ("pca_points", "0"), ("encoder", "mlp"), ("mlp_hidden", "8"),
            ("p", "4"), ("backbone_width", "0"),
        ], grid: [])
        let result = try ExperimentRunner().run(.image(preset))
        #expect(result.testCounts == [30])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fl-testcount-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try result.write(to: out)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("over 30 test points"))
        #expect(!html.contains("over 0 test points"))
    }
}
