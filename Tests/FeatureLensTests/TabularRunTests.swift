import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensAudit
import FeatureLensNumerics

/// A two-level labelled feature matrix `[n, d]`: coarse = i mod 2 along feature 0 with
/// amplitude `coarseAmplitude`, sub = ⌊i/2⌋ mod 2 along feature 1 with the weaker
/// `fineAmplitude`, fine = 2·coarse + sub (4 classes nested in coarse), plus N(0, 1) noise on
/// every feature; column `constantColumn` (when given) is the constant 3.
func makeTwoLevelMatrix(n: Int, d: Int, coarseAmplitude: Double = 2.5, fineAmplitude: Double = 1.0,
                        constantColumn: Int? = nil, seed: UInt64 = 11) -> (features: Tensor<Double>, coarse: [Int], fine: [Int]) {
    var g = SeededGenerator(seed: seed)
    var x = [Double](repeating: 0, count: n * d)
    var coarse: [Int] = [], fine: [Int] = []
    for i in 0..<n {
        let c = i % 2, s = (i / 2) % 2
        for j in 0..<d { x[i * d + j] = g.nextNormal() }
        x[i * d] += coarseAmplitude * Double(2 * c - 1)
        x[i * d + 1] += fineAmplitude * Double(2 * s - 1)
        if let k = constantColumn { x[i * d + k] = 3 }
        coarse.append(c); fine.append(2 * c + s)
    }
    return (Tensor(shape: [n, d], scalars: x), coarse, fine)
}

/// Writes `features.npy` (float32) and `labels.csv` (`coarse,fine`, `labelRows` rows, default
/// all) of `makeTwoLevelMatrix` to a new temporary folder.
func writeTwoLevelFiles(n: Int, d: Int, labelRows: Int? = nil, constantColumn: Int? = nil) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-tabular-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let m = makeTwoLevelMatrix(n: n, d: d, constantColumn: constantColumn)
    try NPY.encode(m.features, dtype: .float32).write(to: dir.appendingPathComponent("features.npy"))
    var csv = "coarse,fine\n"
    for i in 0..<(labelRows ?? n) { csv += "\(m.coarse[i % n]),\(m.fine[i % n])\n" }
    try Data(csv.utf8).write(to: dir.appendingPathComponent("labels.csv"))
    return dir
}

@Suite struct FeatureAugmentationTests {
    @Test func maskingZeroesEachValueWithItsProbability() throws {
        let n = 200, d = 100
        let ones = Tensor<Float>(shape: [n, 1, 1, d], scalars: [Float](repeating: 1, count: n * d))
        for p in [0.1, 0.3, 0.7] {
            var g = SeededGenerator(seed: 5)
            let y = try FeatureMasking(probability: p).apply(to: ones, using: &g)
            #expect(y.shape == ones.shape)
            #expect(y.scalars.allSatisfy { $0 == 0 || $0 == 1 }, "kept values are not rescaled")
            let zeroed = Double(y.scalars.filter { $0 == 0 }.count) / Double(n * d)
            let se = (p * (1 - p) / Double(n * d)).squareRoot()
            #expect(abs(zeroed - p) < 4 * se, "p = \(p): zeroed fraction \(zeroed)")
        }
        var g = SeededGenerator(seed: 5)
        #expect(try FeatureMasking(probability: 0).apply(to: ones, using: &g) == ones)
        #expect(try FeatureMasking(probability: 1).apply(to: ones, using: &g).scalars.allSatisfy { $0 == 0 })
        #expect(throws: AugmentationError.self) { try FeatureMasking(probability: 1.5) }
    }

    @Test func maskingIsDeterministicForAnyThreadCountAndDiffersBetweenViews() throws {
        let n = 300, d = 40
        var r = SeededGenerator(seed: 1)
        let x = Tensor<Float>(randomUniform: [n, 1, 1, d], using: &r)
        let mask = try FeatureMasking(probability: 0.4)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        var outputs: [Tensor<Float>] = []
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            var g = SeededGenerator(seed: 9)
            outputs.append(mask.apply(to: x, using: &g))
        }
        #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
        var other = SeededGenerator(seed: 10)
        #expect(mask.apply(to: x, using: &other) != outputs[0], "another seed, another mask")
        // Two views of one batch: independent masks (rows i and n + i differ somewhere).
        var g = SeededGenerator(seed: 9)
        let views = TwoViewAugmenter(augmentation: mask).views(of: x, exampleIndices: Array(0..<n), using: &g)
        #expect(views.shape == [2 * n, 1, 1, d])
        #expect(Array(views.scalars[0..<(n * d)]) != Array(views.scalars[(n * d)...]))
    }

    @Test func noiseIsNotClippedOnFeaturesButIsOnImages() throws {
        var tabular = ImagePresets.tabular.base
        tabular.data = "/tmp/x.npy"; tabular.labels = "/tmp/y.csv"
        tabular.augmentation = "noise"; tabular.noiseStd = 1
        var image = ImagePresets.fashionCollapse.base
        image.augmentation = "noise"; image.noiseStd = 1
        let x = Tensor<Float>(shape: [50, 1, 1, 20], scalars: [Float](repeating: 0.5, count: 1000))
        var g = SeededGenerator(seed: 2)
        let yt = try MiniBatchEngine.makeAugmentation(tabular).apply(to: x, using: &g)
        #expect(yt.scalars.contains { $0 < 0 } && yt.scalars.contains { $0 > 1 })
        let mean = yt.scalars.reduce(0, +) / Float(yt.count)
        #expect(abs(mean - 0.5) < 0.15, "zero-mean noise (mean \(mean))")
        g = SeededGenerator(seed: 2)
        let yi = try MiniBatchEngine.makeAugmentation(image).apply(to: x, using: &g)
        #expect(yi.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Masking after noise: the masked values are exactly 0.
        tabular.augmentation = "noise+mask"; tabular.maskProb = 0.5
        g = SeededGenerator(seed: 2)
        let ym = try MiniBatchEngine.makeAugmentation(tabular).apply(to: x, using: &g)
        let zeros = ym.scalars.filter { $0 == 0 }.count
        #expect(zeros > 350 && zeros < 650, "about half of 1000 values masked, got \(zeros)")
    }
}

@Suite struct TabularDatasetTests {
    @Test func splitStandardizesOnTheTrainingRowsAndKeepsConstantColumnsAtZero() throws {
        let dir = try writeTwoLevelFiles(n: 500, d: 6, constantColumn: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try TabularDataset.load(features: dir.appendingPathComponent("features.npy"),
                                        labels: dir.appendingPathComponent("labels.csv"), testFraction: 0.2, splitSeed: 3)
        #expect(t.train.count == 400 && t.test.count == 100 && t.train.images.shape == [400, 1, 1, 6])
        #expect(Set(t.trainRows).isDisjoint(with: t.testRows) && Set(t.trainRows + t.testRows) == Set(0..<500))
        #expect(t.labelNames == ["coarse", "fine"] && t.standardization.constantColumns == [5])
        let x = t.train.images.scalars
        for j in 0..<5 {
            let col = (0..<400).map { Double(x[$0 * 6 + j]) }
            let mean = col.reduce(0, +) / 400
            let sd = (col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 400).squareRoot()
            #expect(abs(mean) < 1e-5 && abs(sd - 1) < 1e-4, "column \(j): mean \(mean), sd \(sd)")
        }
        #expect((0..<400).allSatisfy { x[$0 * 6 + 5] == 0 } && (0..<100).allSatisfy { t.test.images.scalars[$0 * 6 + 5] == 0 })
        // The labels follow their rows through the permutation.
        let m = makeTwoLevelMatrix(n: 500, d: 6, constantColumn: 5)
        #expect(try t.test.labels("fine").values == t.testRows.map { String(m.fine[$0]) })
        // Same seed, same split; another seed, another one.
        let again = try TabularDataset.load(features: dir.appendingPathComponent("features.npy"),
                                            labels: dir.appendingPathComponent("labels.csv"), testFraction: 0.2, splitSeed: 3)
        #expect(again.testRows == t.testRows && again.train.images == t.train.images)
        let other = try TabularDataset.load(features: dir.appendingPathComponent("features.npy"),
                                            labels: dir.appendingPathComponent("labels.csv"), testFraction: 0.2, splitSeed: 4)
        #expect(other.testRows != t.testRows)
    }

    @Test func mismatchedRowCountsNameBothFilesAndCounts() throws {
        let dir = try writeTwoLevelFiles(n: 100, d: 4, labelRows: 90)
        defer { try? FileManager.default.removeItem(at: dir) }
        let features = dir.appendingPathComponent("features.npy"), labels = dir.appendingPathComponent("labels.csv")
        do {
            _ = try TabularDataset.load(features: features, labels: labels, testFraction: 0.2, splitSeed: 0)
            Issue.record("mismatch accepted")
        } catch let e as TabularDatasetError {
            #expect(e == .rowCountMismatch(featuresFile: features.path, featureRows: 100, labelsFile: labels.path, labelRows: 90))
            #expect(e.description.contains(features.path) && e.description.contains(labels.path)
                    && e.description.contains("100") && e.description.contains("90"))
        }
        let ok = try writeTwoLevelFiles(n: 10, d: 4)
        defer { try? FileManager.default.removeItem(at: ok) }
        #expect(throws: TabularDatasetError.badSplit(testFraction: 0.05, rows: 10, train: 9, test: 1)) {
            try TabularDataset.load(features: ok.appendingPathComponent("features.npy"),
                                    labels: ok.appendingPathComponent("labels.csv"), testFraction: 0.05, splitSeed: 0)
        }
    }

    /// A labels column with a distinct value on more than half the rows (a row id, a price)
    /// or a single value is refused, naming the file and the column; one with exactly half the
    /// rows distinct is still a label set; a semicolon-separated file is named as such.
    @Test func identifierColumnsAreNotLabelSets() throws {
        let dir = try writeTwoLevelFiles(n: 40, d: 4)
        defer { try? FileManager.default.removeItem(at: dir) }
        let features = dir.appendingPathComponent("features.npy"), labels = dir.appendingPathComponent("ids.csv")
        var csv = "sample_id,pair\n"
        for i in 0..<40 { csv += "id\(i),\(i / 2)\n" }
        try Data(csv.utf8).write(to: labels)
        #expect(throws: TabularDatasetError.notALabelSet(file: labels.path, column: "sample_id", distinct: 40, rows: 40)) {
            try TabularDataset.load(features: features, labels: labels, testFraction: 0.2, splitSeed: 0)
        }
        csv = "pair,site\n"
        for i in 0..<40 { csv += "\(i / 2),north\n" }
        try Data(csv.utf8).write(to: labels)
        #expect(throws: TabularDatasetError.notALabelSet(file: labels.path, column: "site", distinct: 1, rows: 40)) {
            try TabularDataset.load(features: features, labels: labels, testFraction: 0.2, splitSeed: 0)
        }
        csv = "pair\n"
        for i in 0..<40 { csv += "\(i / 2)\n" }
        try Data(csv.utf8).write(to: labels)
        let data = try TabularDataset.load(features: features, labels: labels, testFraction: 0.2, splitSeed: 0)
        #expect(data.labelNames == ["pair"])
        csv = "coarse;fine\n"
        for i in 0..<40 { csv += "\(i % 2);\(i % 4)\n" }
        try Data(csv.utf8).write(to: labels)
        #expect(throws: TabularDatasetError.notCommaSeparated(file: labels.path, header: "coarse;fine")) {
            try TabularDataset.load(features: features, labels: labels, testFraction: 0.2, splitSeed: 0)
        }
    }
}

@Suite struct TabularConfigTests {
    func tabular(_ sets: [(String, String)]) throws -> ImageExperimentConfig {
        try ImagePresets.tabular.baseConfig(overrides: [("data", "/tmp/f.npy"), ("labels", "/tmp/l.csv")] + sets)
    }

    func expectInvalid(_ key: String, _ c: ImageExperimentConfig, containing words: [String] = []) {
        do { try c.validate(); Issue.record("\(key): accepted") } catch let e as ConfigError {
            guard case let .invalidValue(k, _, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(k == key, "\(e)")
            for w in words { #expect(e.description.contains(w), "\(e) lacks \(w)") }
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func thePresetWithoutDataNamesTheTwoKeys() throws {
        #expect(ImagePresets.names.contains("tabular"))
        let p = try ImagePresets.named("tabular")
        #expect(p.settings.map { $0["loss"] } == ["supcon", "ntxent", "joint"] && p.base.encoder == .mlp)
        expectInvalid("data", p.base, containing: ["--set data=", "--set labels="])
        expectInvalid("labels", try p.baseConfig(overrides: [("data", "/tmp/f.npy")]), containing: ["--set labels="])
        try tabular([]).validate()
    }

    @Test func imageOnlyChoicesOnAFeatureMatrixAreErrorsNamingTheKey() throws {
        expectInvalid("encoder", try tabular([("encoder", "convnet")]), containing: ["mlp"])
        expectInvalid("augmentation", try tabular([("augmentation", "crop+noise")]), containing: ["crop"])
        expectInvalid("augmentation", try tabular([("augmentation", "noise+erase")]), containing: ["erase"])
        expectInvalid("grouping", try tabular([("grouping", "fashion-mnist")]))
        // labels with an image folder.
        expectInvalid("labels", try ImagePresets.fashionCollapse.baseConfig(overrides: [("labels", "/tmp/l.csv")]))
        #expect(throws: ConfigError.self) { try tabular([("within", "fine")]) }
        #expect(throws: ConfigError.self) { try tabular([("within", "fine:fine")]) }
        #expect(try tabular([("within", "fine:coarse,sub:coarse")]).withinPairs == ["fine": "coarse", "sub": "coarse"])
    }

    @Test func labelSetsAreCheckedAgainstTheLabelsColumns() throws {
        let c = try tabular([("train_label", "fien")])
        do { try c.checkLabelSets(["coarse", "fine"], source: "labels = l.csv"); Issue.record("accepted") } catch let e as ConfigError {
            #expect(e == .invalidValue(key: "train_label", value: "fien", expected: "a label set of labels = l.csv: coarse, fine"))
        }
        #expect(throws: ConfigError.self) { try tabular([("within", "fine:corse")]).checkLabelSets(["coarse", "fine"], source: "x") }
        // Empty train_label: the first column (or class).
        #expect(try tabular([]).resolvedTrainLabel(labelNames: ["coarse", "fine"]) == "coarse")
        #expect(try tabular([]).resolvedTrainLabel(labelNames: ["fine", "class"]) == "class")
    }

    @Test func oldClassWithinStillReadsAsWithin() throws {
        let old = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"class_within": "coarse"}"#.utf8))
        #expect(old.within == "class:coarse" && old.withinPairs == ["class": "coarse"])
        var c = ImageExperimentConfig()
        try c.set(key: "class_within", value: "none")
        #expect(c.within == "none")
        #expect(throws: JSONFileError.self) {
            try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"class_within": "coarse", "within": "none"}"#.utf8),
                                       file: "m.json")
        }
        #expect(ImagePresets.fashionCollapse.base.withinPairs == ["class": "coarse"])
    }

    /// Fashion-MNIST's coarse groups come only from `grouping` (or, for old configs, `auto`
    /// with a config that asks for `coarse`): another MNIST-layout folder gets `class` alone.
    @Test func groupingIsExplicitForImageFolders() throws {
        let data = try writeTinyFashionFolder(train: 20, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        var c = ImageExperimentConfig()
        c.data = data.path
        #expect(c.resolvedGrouping == .none)
        let plain = try MiniBatchEngine.loadImageFolder(folder: data.path, grouping: c.resolvedGrouping, trainLimit: nil, testLimit: nil)
        #expect(plain.train.labelSets.keys.sorted() == ["class"] && plain.train.labelSets["class"]?.names == MNIST.classNames)
        c.trainLabel = "coarse"
        #expect(c.resolvedGrouping == .fashionMNIST, "an old config asking for coarse keeps Fashion-MNIST's groups")
        c.trainLabel = "class"; c.grouping = "fashion-mnist"
        let fashion = try MiniBatchEngine.loadImageFolder(folder: data.path, grouping: c.resolvedGrouping, trainLimit: nil, testLimit: nil)
        #expect(fashion.train.labelSets.keys.sorted() == ["class", "coarse"])
        #expect(ImageExperimentConfig().resolvedGrouping == .fashionMNIST, "the default Fashion-MNIST folder")
        // A grouping file: odd and even digits.
        let file = data.appendingPathComponent("parity.json")
        try Data(#"{"coarseLabelSet": "parity", "groups": [{"name": "even", "members": [0, 2, 4, 6, 8]}, {"name": "odd", "members": [1, 3, 5, 7, 9]}]}"#.utf8).write(to: file)
        c.grouping = file.path
        let parity = try MiniBatchEngine.loadImageFolder(folder: data.path, grouping: c.resolvedGrouping, trainLimit: nil, testLimit: nil)
        #expect(parity.train.labelSets.keys.sorted() == ["class", "parity"])
        #expect(try parity.test.labels("parity").codes == (try parity.test.labels("class").codes).map { $0 % 2 })
    }
}

@Suite struct TabularRunTests {
    /// The preset end to end in process on a two-level matrix: every labels column probed
    /// with a verdict, fine within coarse, and the coarse label (the strong direction) learned.
    @Test func tabularPresetProbesEveryColumnWithVerdicts() throws {
        let dir = try writeTwoLevelFiles(n: 400, d: 8)
        defer { try? FileManager.default.removeItem(at: dir) }
        let preset = try ImagePresets.tabular.applying(set: [
            ("data", dir.appendingPathComponent("features.npy").path), ("labels", dir.appendingPathComponent("labels.csv").path),
            ("within", "fine:coarse"), ("epochs", "2"), ("audit_steps", "0,4"), ("batch_size", "64"), ("pca_points", "50"),
        ], grid: [])
        let result = try ExperimentRunner().run(.image(preset))
        #expect(result.runs.count == 3 && result.testCounts == [80, 80, 80])
        for run in result.runs {
            #expect(run.labels == ["coarse", "fine"] && run.within == ["fine": "coarse"])
            #expect(run.verdicts.keys.sorted() == ["coarse", "fine"])
            #expect(run.timeline.map(\.step) == [0, 4])
            #expect((run.final.probes["coarse"] ?? 0) > 0.8, "coarse is the strong direction: \(run.final.probes)")
        }
        // A misspelled train_label fails before any training, naming the key and the columns.
        var bad = preset
        bad.base.trainLabel = "corse"
        do { _ = try ExperimentRunner().run(.image(bad)); Issue.record("accepted") } catch let e as ConfigError {
            #expect(e.description.contains("train_label") && e.description.contains("coarse, fine"))
        }
    }
}
