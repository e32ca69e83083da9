import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

@Suite struct AuditEndToEndTests {
    var ckpts: [String] { (0..<3).map { auditFixture("ckpt\($0).npy").path } }
    var labels: String { auditFixture("labels.csv").path }

    @Test func labelTableReadsIntegerAndStringColumns() throws {
        let t = try LabelTable(contentsOf: URL(fileURLWithPath: labels))
        #expect(t.columns == ["class", "subclass", "color"] && t.rowCount == 400)
        #expect(try t.labels("class").names == ["0", "1"])
        #expect(try t.labels("color").names == ["blue", "green", "red"])
        let ints = try LabelTable(csv: "k,name\n10,x\n2,\"y, z\"\n10,x\n", file: "mem.csv")
        #expect(ints.labelSets["k"]!.names == ["2", "10"] && ints.labelSets["k"]!.codes == [1, 0, 1])
        #expect(ints.labelSets["name"]!.names == ["x", "y, z"])
        #expect(throws: LabelTableError.emptyCell(file: "m.csv", line: 3, column: "b")) { try LabelTable(csv: "a,b\n1,2\n3,\n", file: "m.csv") }
        #expect(throws: LabelTableError.raggedRow(file: "m.csv", line: 2, expected: 2, found: 3)) { try LabelTable(csv: "a,b\n1,2,3\n", file: "m.csv") }
        #expect(throws: LabelTableError.empty(file: "m.csv")) { try LabelTable(csv: "a,b\n", file: "m.csv") }
        #expect(throws: LabelTableError.self) { try LabelTable(csv: "a,a\n1,2\n", file: "m.csv") }
        // A quote that never closes would swallow every later row into one label.
        #expect(throws: LabelTableError.malformed(file: "m.csv", reason: "unterminated quoted field starting on line 3")) {
            try LabelTable(csv: "a\n1\n\"2\n3\n4\n", file: "m.csv")
        }
        // A directory given as the table says so (not an opaque system error).
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("labels-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: LabelTableError.unreadable(file: folder.path, reason: "a directory, not a CSV file")) {
            try LabelTable(contentsOf: folder)
        }
        // Bytes: UTF-8 checked (offset of the first bad byte), a byte-order mark skipped.
        #expect(throws: LabelTableError.unreadable(file: "b.csv", reason: "not valid UTF-8 (first invalid byte at offset 7)")) {
            try LabelTable(csvData: Data([0xEF, 0xBB, 0xBF] + Array("a\nx\n".utf8) + [0xC3, 0x28, 0x0A]), file: "b.csv")
        }
        #expect(try LabelTable(csvData: Data([0xEF, 0xBB, 0xBF] + Array("a\nx\n".utf8)), file: "b.csv").columns == ["a"])
        #expect(throws: LabelTableError.missingColumn(file: "mem.csv", column: "q", available: ["k", "name"])) { try ints.labels("q") }
        let (a, b) = LabelSet.unified(ints.labelSets["name"]!, LabelSet(name: "name", values: ["w", "x"]))
        #expect(a.names == ["w", "x", "y, z"] && a.values == ["x", "y, z", "x"] && b.values == ["w", "x"])
    }

    @Test func timelineOfNumPyCheckpointsGivesTheTableAndVerdicts() throws {
        let request = ExternalAudit(embeddings: ckpts, labels: labels, split: 0.75, seed: 1,
                                    audit: AuditConfiguration(within: ["subclass": "class"]))
        let run = try request.run()
        #expect(run.timeline.map(\.step) == [0, 1, 2])
        #expect(run.labels == ["class", "subclass", "color"])
        #expect(run.verdicts == ["class": .learned, "subclass": .collapsed, "color": .notLearned], "\(FeatureTable.render(run))")
        #expect(run.final.probes["class"]! > 0.95)
        #expect(run.timeline[1].probes["subclass"]! > 0.95)
        #expect(abs(run.final.chance!["color"]! - 1.0 / 3) < 1e-12)
        let table = FeatureTable.render(run)
        for word in ["class", "subclass", "color", "step 0", "step 2", "learned", "collapsed", "rankme"] {
            #expect(table.contains(word), "table lacks \(word):\n\(table)")
        }
        let json = try FeatureTable.jsonSummary(run)
        let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(Set(obj.keys) == ["probes", "standard_error", "chance", "metrics", "verdicts", "geometry", "subclass_merging"])
        // Which subclasses merged: measured at the last checkpoint only, where the subclass has
        // collapsed, so every pair of every class is merged.
        #expect(run.timeline.dropLast().allSatisfy { $0.subclassMerging == nil })
        let merging = try #require(run.timeline.last?.subclassMerging)
        #expect(merging.count == 1 && merging[0].label == "subclass" && merging[0].group == "class")
        #expect(!merging[0].rankedPairs.isEmpty && merging[0].rankedPairs.allSatisfy(\.pair.merged), "\(merging)")
        #expect(table.contains("which subclass merged within class"), "\(table)")
        // The geometry of the last audit, as in report.json.
        let geometry = obj["geometry"] as! [String: Any]
        let share = geometry["variance_share"] as! [String: Double]
        #expect(abs(share["class"]! - run.timeline.last!.geometry!.varianceShare["class"]!) < 1e-9, "\(share)")
        #expect(share.values.allSatisfy { (0...1).contains($0) }, "\(share)")
        #expect((geometry["within"] as? [String: Any])?["subclass"] != nil)
        let se = obj["standard_error"] as! [String: Any]
        #expect(Set(se.keys) == Set((obj["probes"] as! [String: Any]).keys))
        #expect(se.values.allSatisfy { v in (v as? Double).map { $0 >= 0 && $0 < 0.25 } ?? false })
        #expect(Set((obj["metrics"] as! [String: Any]).keys) == ["rankme", "effective_rank", "uniformity", "collapse_std", "computed_on", "n"])
        #expect((obj["metrics"] as! [String: Any])["computed_on"] as? String == "test" && (obj["metrics"] as! [String: Any])["n"] as? Int == 100)
        #expect((obj["verdicts"] as! [String: String])["subclass"] == "collapsed")
        // A non-finite metric is written as a string (FeatureLensJSON), so the output stays valid JSON.
        var nonFinite = run
        nonFinite.final.metrics?.uniformity = -.infinity
        let nfObject = try JSONSerialization.jsonObject(with: Data(try FeatureTable.jsonSummary(nonFinite).utf8)) as! [String: Any]
        #expect((nfObject["metrics"] as! [String: Any])["uniformity"] as? String == "-inf")
        // Same seed, same numbers.
        #expect(try request.run() == run)
    }

    @Test func separateTestFilesAndOtherProbes() throws {
        for kind in [ProbeKind.logistic, .knn, .centroid] {
            let run = try ExternalAudit(embeddings: [ckpts[1]], testEmbeddings: [ckpts[1]], labels: labels, testLabels: labels,
                                        columns: ["class"], audit: AuditConfiguration(probe: kind, measure: .plain)).run()
            #expect(run.final.probes["class"]! > 0.95, "\(kind)")
            #expect(run.timeline.count == 1 && run.features[0].baseline == nil)
        }
    }

    @Test func severalProbesShareTheDataAndTheMetrics() throws {
        let request = ExternalAudit(embeddings: Array(ckpts[1...]), labels: labels, columns: ["class"],
                                    audit: AuditConfiguration(), probes: [.ridge, .centroid])
        let runs = try request.runAll()
        #expect(runs.map(\.probe) == [.ridge, .centroid])
        #expect(runs[1].settings == ["probe": .string("centroid")])
        #expect(runs[0].final.metrics != nil && runs[0].final.metrics == runs[1].final.metrics)
        // Each run equals the single-probe audit with that probe.
        var single = request
        single.probes = []
        single.audit.probe = .centroid
        var expected = try single.run()
        expected.settings = ["probe": .string("centroid")]
        #expect(runs[1] == expected)
        let doc = ReportDocument(preset: "audit", config: ["probe": "both"], runs: runs, provenance: .current())
        let html = ReportHTML.render(doc, charts: ReportCharts.make(doc, testCount: nil))
        _ = try XMLDocument(data: Data(html.utf8), options: [])
    }

    @Test func mismatchedAndMissingInputsAreClearErrors() throws {
        let dir = try temporaryFolder()
        let short = dir.appendingPathComponent("short.csv")
        try "class\n0\n1\n".write(to: short, atomically: true, encoding: .utf8)
        do {
            _ = try ExternalAudit(embeddings: [ckpts[0]], labels: short.path).run()
            Issue.record("row count mismatch not caught")
        } catch let e as LabelTableError {
            #expect(e == .rowCountMismatch(file: short.path, rows: 2, embeddingsFile: ckpts[0], embeddingRows: 400))
            #expect(e.description.contains("short.csv") && e.description.contains("ckpt0.npy"))
        }
        #expect(throws: LabelTableError.missingColumn(file: labels, column: "shape", available: ["class", "subclass", "color"])) {
            try ExternalAudit(embeddings: [ckpts[0]], labels: labels, audit: AuditConfiguration(within: ["shape": "class"])).run()
        }
        #expect(throws: LabelTableError.missingColumn(file: labels, column: "size", available: ["class", "subclass", "color"])) {
            try ExternalAudit(embeddings: [ckpts[0]], labels: labels, columns: ["size"]).run()
        }
        do {
            _ = try ExternalAudit(embeddings: [auditFixture("bigendian.npy").path], labels: labels).run()
            Issue.record("big-endian data not caught")
        } catch let e as NPYError {
            #expect(e.description.contains("bigendian.npy") && e.description.contains("big-endian"))
        }
        #expect(throws: AuditError.self) { try ExternalAudit(embeddings: ckpts, testEmbeddings: [ckpts[0]], labels: labels, testLabels: labels).run() }
        #expect(throws: AuditError.self) { try ExternalAudit(embeddings: [ckpts[0]], labels: labels, split: 1.0).run() }
        #expect(throws: AuditError.self) { try ExternalAudit.parseWithin(["subclass"]) }
        #expect(try ExternalAudit.parseWithin(["subclass:class"]) == ["subclass": "class"])
        #expect(throws: NPYError.self) { try ExternalAudit(embeddings: [dir.appendingPathComponent("none.npy").path], labels: labels).run() }
    }

    /// Embeddings `[n, 6]` and labels in which `subclass` is linear within each `class` group,
    /// `easy` is global, the train rows of class 2 hold one subclass (so that group cannot be
    /// probed) and `lonely` has one class in every train group (so it is not measurable).
    static func withinGroupData(n: Int, seed: UInt64, train: Bool) throws -> (x: Tensor<Double>, data: Dataset) {
        var g = SeededGenerator(seed: seed)
        var x = Tensor<Double>(randomNormal: [n, 6], using: &g)
        var cls = [Int](), sub = [Int](), easy = [Int](), lonely = [Int]()
        for i in 0..<n {
            let c = i % 3
            let s = train && c == 2 ? 0 : (i / 3) % 2
            cls.append(c); sub.append(s); easy.append((i / 7) % 2); lonely.append(train ? 0 : s)
            x[i, 0] += 1.5 * Double(c)
            x[i, 1] += (s == 1) == (c == 1) ? 1.2 : -1.2
            x[i, 2] += easy[i] == 1 ? 0.8 : -0.8
        }
        let data = try Dataset(features: x, labels: [
            "class": LabelSet(name: "class", codes: cls),
            "subclass": LabelSet(name: "subclass", codes: sub, within: "class"),
            "easy": LabelSet(name: "easy", codes: easy),
            "lonely": LabelSet(name: "lonely", codes: lonely, within: "class"),
        ])
        return (x, data)
    }

    /// The same embeddings and labels through the synthetic runner's audit (`probeLabelSets`),
    /// through `EmbeddingAuditor` and through `featurelens audit`'s library entry
    /// (`ExternalAudit` on NPY files and CSV label tables) give the same numbers, including a
    /// group that cannot be probed (skipped) and a label that cannot be measured (NaN).
    @Test func withinGroupRuleIsTheSameOnEveryPath() throws {
        let (trainX, trainSet) = try Self.withinGroupData(n: 150, seed: 61, train: true)
        let (testX, testSet) = try Self.withinGroupData(n: 90, seed: 62, train: false)
        let synthetic = try probeLabelSets(RidgeProbe(), trainEmbeddings: trainX, trainSet: trainSet,
                                           testEmbeddings: testX, testSet: testSet)
        #expect(synthetic["lonely"]!.isNaN)
        #expect(synthetic["subclass"]! > 0.8 && synthetic["easy"]! > 0.8, "\(synthetic)")

        // Within groups, only classes 0 and 1 qualify (class 2's train rows hold one subclass).
        let names = ["class", "subclass", "easy", "lonely"]
        let rows0 = (0..<150).filter { trainSet.labels["class"]!.codes[$0] < 2 }
        let test0 = (0..<90).filter { testSet.labels["class"]!.codes[$0] < 2 }
        var perGroup = 0.0
        for c in 0..<2 {
            let tr = rows0.filter { trainSet.labels["class"]!.codes[$0] == c }
            let te = test0.filter { testSet.labels["class"]!.codes[$0] == c }
            perGroup += try RidgeProbe().balancedAccuracy(
                train: trainX.gatherRows(tr), trainLabels: tr.map { trainSet.labels["subclass"]!.codes[$0] },
                test: testX.gatherRows(te), testLabels: te.map { testSet.labels["subclass"]!.codes[$0] }) / 2
        }
        #expect(synthetic["subclass"] == perGroup)

        func same(_ a: Double?, _ b: Double?) -> Bool {
            guard let a, let b else { return false }
            return a == b || (a.isNaN && b.isNaN)
        }
        // EmbeddingAuditor, with `within` taken from the label sets (the ridge probe, as the
        // synthetic runner's; the auditor's default is the logistic probe).
        let entry = try EmbeddingAuditor(configuration: AuditConfiguration(probe: .ridge, computeMetrics: false)).audit(
            step: 0, train: trainX, trainLabels: names.map { trainSet.labels[$0]! },
            test: testX, testLabels: names.map { testSet.labels[$0]! })
        for name in names { #expect(same(entry.probes[name], synthetic[name]), "auditor \(name)") }
        #expect(entry.chance!["lonely"]!.isNaN && entry.retention!["lonely"]!.isNaN)

        // `featurelens audit --embeddings train.npy --test-embeddings test.npy --labels … --within …`.
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        func csv(_ d: Dataset) -> [UInt8] {
            var text = names.joined(separator: ",") + "\n"
            for i in 0..<d.count { text += names.map { String(d.labels[$0]!.codes[i]) }.joined(separator: ",") + "\n" }
            return Array(text.utf8)
        }
        let trainFile = folder.url.appendingPathComponent("train.npy"), testFile = folder.url.appendingPathComponent("test.npy")
        try NPY.write(trainX, to: trainFile, dtype: .float64)
        try NPY.write(testX, to: testFile, dtype: .float64)
        let trainCSV = try folder.write("train.csv", csv(trainSet)), testCSV = try folder.write("test.csv", csv(testSet))
        let run = try ExternalAudit(embeddings: [trainFile.path], testEmbeddings: [testFile.path], labels: trainCSV.path,
                                    testLabels: testCSV.path,
                                    audit: AuditConfiguration(probe: .ridge, within: try ExternalAudit.parseWithin(["subclass:class", "lonely:class"]))).run()
        for name in names { #expect(same(run.final.probes[name], synthetic[name]), "featurelens audit \(name)") }
        #expect(run.verdicts["lonely"] == .notMeasurable)

        // `--json` stays valid JSON with the not-measurable label: NaN is written "nan".
        let json = try FeatureTable.jsonSummary(run)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect((obj["probes"] as? [String: Any])?["lonely"] as? String == "nan")
        #expect((obj["verdicts"] as? [String: String])?["lonely"] == "not measurable")
    }

    /// `featurelens audit --json` prints valid JSON when a metric is not finite (NaN and ±∞
    /// are written as the strings "nan", "inf", "-inf").
    @Test func jsonSummaryWritesNonFiniteMetricsAsStrings() throws {
        var run = try ExternalAudit(embeddings: [ckpts[1]], labels: labels, columns: ["class"]).run()
        run.final.metrics!.uniformity = .nan
        run.final.metrics!.rankme = .infinity
        run.final.metrics!.collapseStd = -.infinity
        let json = try FeatureTable.jsonSummary(run)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let metrics = try #require(obj["metrics"] as? [String: Any])
        #expect(metrics["uniformity"] as? String == "nan")
        #expect(metrics["rankme"] as? String == "inf")
        #expect(metrics["collapse_std"] as? String == "-inf")
        #expect(metrics["effective_rank"] is NSNumber)
    }
}
