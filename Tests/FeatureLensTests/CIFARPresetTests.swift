import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensAudit
import FeatureLensNumerics

/// Writes a tiny CIFAR folder in the binary format (a few records): CIFAR-10
/// (`data_batch_1.bin`, `test_batch.bin`) or CIFAR-100 (`train.bin`, `test.bin`). Labels cycle;
/// pixels are a per-class colour plus seeded noise, so the classes differ in colour.
/// - Returns: the folder and the training records' pixel bytes.
func writeTinyCIFARFolder(cifar100: Bool, train: Int, test: Int, seed: UInt64 = 1) throws -> (URL, [[UInt8]]) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-cifar-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var g = SeededGenerator(seed: seed)
    func records(_ n: Int) -> (labels: [[UInt8]], pixels: [[UInt8]]) {
        var labels: [[UInt8]] = [], pixels: [[UInt8]] = []
        for i in 0..<n {
            // CIFAR-100: 4 superclasses with 2 fine classes each (fine = 5·coarse + 0 or 1).
            let coarse = i % 4, fine = 5 * coarse + (i / 4) % 2
            let label = cifar100 ? fine : i % 3
            labels.append(cifar100 ? [UInt8(coarse), UInt8(fine)] : [UInt8(label)])
            var p = [UInt8](repeating: 0, count: CIFAR.imageBytes)
            for c in 0..<3 {
                let level = (label * 37 + c * 71) % 200
                for j in 0..<1024 { p[c * 1024 + j] = UInt8(level + g.nextInt(below: 56)) }
            }
            pixels.append(p)
        }
        return (labels, pixels)
    }
    let tr = records(train), te = records(test)
    let names = cifar100 ? ("train.bin", "test.bin") : ("data_batch_1.bin", "test_batch.bin")
    try Data(CIFAR.encode(labels: tr.labels, pixels: tr.pixels)).write(to: dir.appendingPathComponent(names.0))
    try Data(CIFAR.encode(labels: te.labels, pixels: te.pixels)).write(to: dir.appendingPathComponent(names.1))
    return (dir, tr.pixels)
}

/// The CIFAR presets on tiny CIFAR-format folders written by the test, and their errors when
/// the data is absent.
@Suite struct CIFARPresetTests {
    /// A couple of steps on 24 training and 16 test images.
    static let tiny: [(String, String)] = [
        ("train_limit", "24"), ("test_limit", "16"), ("probe_train", "24"), ("batch_size", "8"),
        ("steps", "2"), ("audit_steps", "0,2"), ("pca_points", "0"),
    ]

    @Test func presetsAreRegisteredAndNeedData() throws {
        for name in ["cifar100-collapse", "cifar10-randbits"] {
            #expect(ImagePresets.names.contains(name))
            let p = try ImagePresets.named(name)
            #expect(p.base.data.isEmpty && p.base.trainLimit == 10_000 && p.timeNote?.contains("synthetic files in CIFAR's layout") == true)
            #expect(p.base.normalize == .perChannel && p.base.augmentation == "crop+flip+jitter+grayscale")
            do {
                try p.config(setting: 0).validate()
                Issue.record("\(name) validated without data")
            } catch let e as ConfigError {
                let file = name == "cifar10-randbits" ? "data_batch_1.bin" : "train.bin"
                #expect(e.description.contains("data") && e.description.contains(file)
                        && e.description.contains("https://www.cs.toronto.edu/~kriz/cifar.html"), "\(e)")
            }
            for i in p.settings.indices { try p.config(setting: i, overrides: [("data", "/tmp/cifar")]).validate() }
        }
        let c = ImagePresets.cifar100Collapse
        #expect(c.base.trainLabel == "coarse" && c.base.within == "class:coarse" && c.base.dataFormat == .cifar100)
        #expect(c.settings == [["loss": "supcon"], ["loss": "ntxent"], ["loss": "joint"]])
        #expect(ImagePresets.cifar10RandBits.settings == ImagePresets.fashionRandBits.settings)
        // The existing presets keep their views and no normalization.
        for p in [ImagePresets.fashionCollapse, ImagePresets.fashionClassCollapse, ImagePresets.fashionRandBits, ImagePresets.images] {
            #expect(p.base.normalize == .none && p.base.dataFormat == .auto && !p.base.augmentation.contains("jitter"))
        }
    }

    @Test func missingFolderOrFileNamesItAndWhereToGetTheData() throws {
        let absent = "/nonexistent/cifar-\(UUID().uuidString)"
        do {
            _ = try ExperimentRunner().run(ImagePresets.cifar100Collapse, overrides: [("data", absent)], seed: 0)
            Issue.record("expected cifarMissing")
        } catch let e as ImageRunnerError {
            #expect(e == .cifarMissing(folder: absent, format: .cifar100, detail: "the folder does not exist"))
            #expect(e.description.contains(absent) && e.description.contains("cifar-100-binary.tar.gz"))
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("fl-cifar-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        for (preset, file, archive) in [(ImagePresets.cifar100Collapse, "train.bin", "cifar-100-binary.tar.gz"),
                                        (ImagePresets.cifar10RandBits, "data_batch_1.bin", "cifar-10-binary.tar.gz")] {
            do {
                _ = try ExperimentRunner().run(preset, overrides: [("data", empty.path)], seed: 0)
                Issue.record("expected cifarMissing")
            } catch let e as ImageRunnerError {
                #expect(e.description.contains(empty.path) && e.description.contains("no file \(file)")
                        && e.description.contains(archive), "\(e)")
            }
        }
        // A CIFAR-100 folder without its test file names test.bin.
        let (partial, _) = try writeTinyCIFARFolder(cifar100: true, train: 8, test: 4)
        defer { try? FileManager.default.removeItem(at: partial) }
        try FileManager.default.removeItem(at: partial.appendingPathComponent("test.bin"))
        #expect(throws: ImageRunnerError.cifarMissing(folder: partial.path, format: .cifar100, detail: "no file test.bin")) {
            _ = try ExperimentRunner().run(ImagePresets.cifar100Collapse, overrides: [("data", partial.path)], seed: 0)
        }
    }

    @Test func autoDetectsCIFARFolders() throws {
        for cifar100 in [false, true] {
            let (dir, _) = try writeTinyCIFARFolder(cifar100: cifar100, train: 12, test: 6)
            defer { try? FileManager.default.removeItem(at: dir) }
            var c = ImageExperimentConfig()
            c.data = dir.path
            c.grouping = "none"
            let (train, test) = try MiniBatchEngine.loadImageData(c, trainLimit: nil, testLimit: nil)
            #expect(train.images.shape == [12, 3, 32, 32] && test.count == 6)
            #expect(Set(train.labelSets.keys) == (cifar100 ? ["class", "coarse"] : ["class"]))
            // Forcing the other format names the other format's missing file.
            c.dataFormat = cifar100 ? .cifar10 : .cifar100
            #expect(throws: ImageRunnerError.self) { _ = try MiniBatchEngine.loadImageData(c, trainLimit: nil, testLimit: nil) }
        }
    }

    /// cifar100-collapse on a tiny CIFAR-100 folder: the ConvNet on 3-channel images, colour
    /// views, per-channel normalization fitted on the training images and written into the
    /// report's config; the same bytes with 1 and 2 threads.
    @Test func cifar100CollapseRunsOnATinyFolder() throws {
        let (dir, trainPixels) = try writeTinyCIFARFolder(cifar100: true, train: 40, test: 20)
        defer { try? FileManager.default.removeItem(at: dir) }
        let overrides = [("data", dir.path)] + Self.tiny + [("backbone_width", "16"), ("p", "8")]
        func run(threads: Int) throws -> ReportDocument<ImageExperimentConfig> {
            try ExperimentRunner().run(ImagePresets.cifar100Collapse, overrides: overrides + [("threads", "\(threads)")], seed: 2)
        }
        let doc = try run(threads: 1)
        #expect(doc.runs.count == 6)  // 3 losses × (backbone, head)
        for r in doc.runs {
            #expect(r.labels == ["class", "coarse"] && r.within == ["class": "coarse"])
            #expect(r.timeline.map(\.step) == [0, 2])
            #expect(r.timeline.last!.loss?.isFinite == true)
        }
        // μ and σ per channel of the 24 training images, from the bytes of the file.
        for c in 0..<3 {
            let values = trainPixels.prefix(24).flatMap { $0[(c * 1024)..<((c + 1) * 1024)] }.map { Double($0) / 255 }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            #expect(abs(doc.config.normalizeMean.values[c] - mean) < 1e-6)
            #expect(abs(doc.config.normalizeStd.values[c] - std) < 1e-6)
        }
        #expect(doc.config.normalize == .perChannel)
        let again = try run(threads: 2)
        #expect(again.runs == doc.runs)
        // The report's config runs again to the same numbers (its μ and σ are used as given).
        var rerun = ImagePresets.cifar100Collapse
        rerun.base = doc.config
        let fromReport = try ExperimentRunner().run(rerun, overrides: [], seed: 2)
        #expect(fromReport.runs == doc.runs)
    }

    /// cifar10-randbits on a tiny CIFAR-10 folder (two of its settings): the bits are probed,
    /// and normalization leaves them 0/1 (they are appended after it).
    @Test func cifar10RandBitsRunsOnATinyFolder() throws {
        let (dir, _) = try writeTinyCIFARFolder(cifar100: false, train: 30, test: 20)
        defer { try? FileManager.default.removeItem(at: dir) }
        var preset = ImagePresets.cifar10RandBits
        preset.settings = [preset.settings[0], preset.settings[1]]  // k = 0 and 5 shared bits, p = 128
        let doc = try ExperimentRunner().run(preset, overrides: [("data", dir.path)] + Self.tiny + [("p", "8")], seed: 0)
        #expect(doc.runs.count == 2)
        #expect(doc.runs[0].labels == ["class"])
        #expect(doc.runs[1].labels == ["class", "bit0", "bit1", "bit2", "bit3", "bit4"])
        #expect(doc.config.normalizeMean.values.count == 3)
        // The audit inputs: normalized image channels, then the bits unchanged.
        var c = try preset.config(setting: 1, overrides: [("data", dir.path)] + Self.tiny + [("p", "8")])
        c.normalizeMean = doc.config.normalizeMean; c.normalizeStd = doc.config.normalizeStd
        let (train, test) = try MiniBatchEngine.loadImageData(c, trainLimit: 24, testLimit: 16)
        let splits = try ImageSplits(c, label: "t", train: train, test: test, labelNames: ["class"])
        #expect(splits.testImages.shape == [16, 8, 32, 32])
        let plane = 1024
        for i in 0..<16 {
            for ch in 3..<8 {
                let v = splits.testImages.scalars[(i * 8 + ch) * plane]
                #expect(v == 0 || v == 1)
            }
            let x = test.images.scalars[i * 3 * plane], m = Float(c.normalizeMean.values[0]), s = Float(c.normalizeStd.values[0])
            #expect(splits.testImages.scalars[i * 8 * plane] == (x - m) / s)
        }
    }

    /// `normalize = per-channel` in the engine: without augmentation the training inputs are
    /// normalized once (the views stay equal to the input); with augmentation the images stay
    /// in [0, 1] and the normalization is the last step of each view. Either way the training
    /// images have per-channel mean 0 and standard deviation 1 as the model sees them.
    @Test func engineNormalizesTheTrainingViewsAndTheAuditImages() throws {
        let (dir, _) = try writeTinyCIFARFolder(cifar100: true, train: 24, test: 16)
        defer { try? FileManager.default.removeItem(at: dir) }
        for augmentation in ["none", "crop+jitter"] {
            var c = try ImagePresets.cifar100Collapse.config(setting: 0, overrides: [("data", dir.path)] + Self.tiny
                                                              + [("augmentation", augmentation), ("encoder", "mlp"), ("mlp_hidden", "8")])
            c.normalizeMean = []; c.normalizeStd = []
            let (train, test) = try MiniBatchEngine.loadImageData(c, trainLimit: 24, testLimit: 16)
            let engine = try MiniBatchEngine(config: c, label: "t", train: train, test: test)
            let trainer = engine.trainer
            var g = SeededGenerator(seed: 0)
            let views = augmentation == "none" ? trainer.inputs
                : (trainer.viewMaker as! TwoViewAugmenter).views(of: trainer.inputs, exampleIndices: Array(0..<24), using: &g)
            #expect(trainer.viewMaker.viewsEqualInput == (augmentation == "none"))
            if augmentation == "none" {
                let fit = ChannelNormalization.fit(views)
                for ch in 0..<3 { #expect(abs(fit.mean[ch]) < 1e-5 && abs(fit.standardDeviation[ch] - 1) < 1e-5) }
            } else {
                #expect(trainer.inputs == train.images)  // pixels in [0, 1]; normalized in the views
                #expect(views.scalars.contains { $0 < 0 } && views.scalars.contains { $0 > 1 })
            }
            // The audit images are normalized with the training images' statistics.
            let fit = ChannelNormalization.fit(train.images)
            let expected = try ChannelNormalization(mean: fit.mean, standardDeviation: fit.standardDeviation).normalized(test.images)
            #expect(engine.splits.testImages == expected)
        }
    }

    /// The ConvNet and the MLP take any channel count (RGB, grey, RGB + RandBits channels).
    @Test func encodersTakeAnyChannelCount() throws {
        for encoder in ["convnet", "mlp"] {
            var c = ImageExperimentConfig()
            try c.set(key: "encoder", value: encoder)
            try c.set(key: "mlp_hidden", value: "8")
            try c.set(key: "p", value: "4")
            for channels in [1, 3, 5] {
                let e = try MiniBatchEngine.makeEncoder(c, channels: channels, height: 32, width: 32)
                let out = e.encode(Tensor<Float>(zeros: [2, channels, 32, 32]), training: false)
                #expect(out.embedding.shape == [2, 4], "\(encoder) with \(channels) channels")
            }
        }
    }

    /// Colour tokens on images that are neither grey nor RGB are a config error naming `augmentation`.
    @Test func colourTokensNeedGreyOrRGB() throws {
        var c = ImageExperimentConfig()
        try c.set(key: "augmentation", value: "jitter")
        #expect(throws: ConfigError.self) { _ = try MiniBatchEngine.makeAugmentation(c, channels: 4) }
        _ = try MiniBatchEngine.makeAugmentation(c, channels: 3)
        _ = try MiniBatchEngine.makeAugmentation(c, channels: 1)
        // Unknown or misspelled tokens and keys stay errors.
        #expect(throws: ConfigError.self) { try c.set(key: "augmentation", value: "crop+greyscale") }
        #expect(throws: ConfigError.self) { try c.set(key: "jitter_brightnes", value: "0.2") }
        #expect(throws: ConfigError.self) { try c.set(key: "normalize", value: "per_channel") }
        try c.set(key: "normalize_mean", value: "0.5,0.5,0.5")
        #expect(throws: ConfigError.self) { try c.validate() }  // normalize_std is still auto
        try c.set(key: "normalize_std", value: "0.2,0.2,0.2")
        try c.validate()
        try c.set(key: "jitter_hue", value: "0.7")
        #expect(throws: ConfigError.self) { try c.validate() }
    }
}
