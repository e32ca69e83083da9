import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FeatureLens

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
        // Bytes: UTF-8 checked (offset of the first bad byte), a byte-order mark skipped.
        #expect(throws: LabelTableError.unreadable(file: "b.csv", reason: "not valid UTF-8 (first invalid byte at offset 7)")) {
            try LabelTable(csvData: Data([0xEF, 0xBB, 0xBF] + Array("a\nx\n".utf8) + [0xC3, 0x28, 0x0A]), file: "b.csv")
        }
        #expect(try LabelTable(csvData: Data([0xEF, 0xBB, 0xBF] + Array("a\nx\n".utf8)), file: "b.csv").columns == ["a"])
        #expect(throws: LabelTableError.missingColumn(file: "mem.csv", column: "q", available: ["k", "name"])) { try ints.labels("q") }
        let (a, b) = CategoricalLabels.unified(ints.labelSets["name"]!, CategoricalLabels(name: "name", values: ["w", "x"]))
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
        #expect(Set(obj.keys) == ["probes", "chance", "metrics", "verdicts"])
        #expect(Set((obj["metrics"] as! [String: Any]).keys) == ["rankme", "effective_rank", "uniformity", "collapse_std"])
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
            _ = try ExternalAudit(embeddings: [auditFixture("fortran.npy").path], labels: labels).run()
            Issue.record("Fortran order not caught")
        } catch let e as NPYError {
            #expect(e.description.contains("fortran.npy") && e.description.contains("Fortran order"))
        }
        #expect(throws: AuditError.self) { try ExternalAudit(embeddings: ckpts, testEmbeddings: [ckpts[0]], labels: labels, testLabels: labels).run() }
        #expect(throws: AuditError.self) { try ExternalAudit(embeddings: [ckpts[0]], labels: labels, split: 1.0).run() }
        #expect(throws: AuditError.self) { try ExternalAudit.parseWithin(["subclass"]) }
        #expect(try ExternalAudit.parseWithin(["subclass:class"]) == ["subclass": "class"])
        #expect(throws: NPYError.self) { try ExternalAudit(embeddings: [dir.appendingPathComponent("none.npy").path], labels: labels).run() }
    }
}
