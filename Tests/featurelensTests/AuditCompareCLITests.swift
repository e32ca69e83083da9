// `featurelens audit` with named encoders: the side-by-side table, --json and the run folder,
// and the errors of bad named inputs (a repeated name, an empty file, other row counts).
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import FeatureLens

@Suite("featurelens audit compare", .serialized)
struct AuditCompareCLITests {
    /// 2 classes × 4 subclasses × 30 rows, p = 6, N(0, 1) noise from `seed`: dimension 0 holds
    /// the class (±3), subclass s > 0 adds 5 on dimension s. With `merge`, subclass 1 (dent)
    /// sits where subclass 0 (scratch) does, in both classes.
    static func encoder(merge: Bool, seed: UInt64) -> Tensor<Double> {
        var g = SeededGenerator(seed: seed)
        var x: [Double] = []
        for row in 0..<240 {
            let cls = row / 120, sub = (row / 30) % 4
            var v = (0..<6).map { _ in g.nextNormal() }
            v[0] += cls == 0 ? -3 : 3
            let at = merge && sub == 1 ? 0 : sub
            if at > 0 { v[at] += 5 }
            x += v
        }
        return Tensor(shape: [240, 6], scalars: x)
    }

    static func inputs(_ dir: URL) throws -> (keep: String, merge: String, labels: String) {
        let keep = dir.appendingPathComponent("keep.npy"), merge = dir.appendingPathComponent("merge.npy")
        try NPY.write(encoder(merge: false, seed: 1), to: keep)
        try NPY.write(encoder(merge: true, seed: 1), to: merge)
        let names = ["scratch", "dent", "stain", "crack"]
        let csv = dir.appendingPathComponent("labels.csv")
        let rows = (0..<240).map { r in "\(r / 120 == 0 ? "defect" : "ok"),\(names[(r / 30) % 4]),\(r % 2)" }
        try Data(("class,subclass,colour\n" + rows.joined(separator: "\n") + "\n").utf8).write(to: csv)
        return (keep.path, merge.path, csv.path)
    }

    @Test func twoEncodersSideBySideInTheTerminalJSONAndRunFolder() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.inputs(dir)
        let base = ["audit", "--embeddings", "keep=\(f.keep)", "--embeddings", "merge=\(f.merge)", "--labels", f.labels,
                    "--within", "subclass:class", "--nuisance", "colour", "--quiet"]
        let out = dir.appendingPathComponent("out")
        let (code, text, err) = try runCLI(base + ["--out", out.path])
        #expect(code == 0, "stderr: \(err)")
        #expect(text.contains("Encoder keep:") && text.contains("Encoder merge:"), "\(text)")
        #expect(text.contains("Encoder comparison:") && text.contains("Δ vs keep"), "\(text)")
        #expect(text.contains("merged pairs") && text.contains("dent ↔ scratch") && text.contains(" *"), "\(text)")
        #expect(text.contains("What to try next") && text.contains("[read-other-features]"), "\(text)")

        let (code2, json, err2) = try runCLI(base + ["--json"])
        #expect(code2 == 0, "stderr: \(err2)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(obj["reference"] as? String == "keep")
        #expect(Set(((obj["encoders"] as? [String: Any]) ?? [:]).keys) == ["keep", "merge"])
        let labels = try #require((obj["comparison"] as? [String: Any])?["labels"] as? [[String: Any]])
        let sub = try #require(labels.first { $0["label"] as? String == "subclass" }?["encoders"] as? [[String: Any]])
        #expect(sub[1]["significant"] as? Bool == true && (sub[1]["difference"] as? Double ?? 0) < 0, "\(sub)")
        #expect((sub[1]["merged_pairs"] as? [String])?.contains { $0.hasSuffix("dent ↔ scratch") } == true, "\(sub)")
        // The nuisance is audited like any label; it differs by nothing between the encoders.
        #expect(labels.contains { $0["label"] as? String == "colour" })
        let advice = try #require(obj["advice"] as? [[String: Any]])
        #expect(Set(advice.compactMap { $0["rule"] as? String }) == ["read-other-features", "add-unsupervised-term"], "\(advice)")
        #expect(advice.allSatisfy { ($0["numbers"] as? [Any])?.isEmpty == false && $0["source"] is String && $0["trigger"] is String })

        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any])
        #expect(report["comparison"] != nil && (report["advice"] as? [Any])?.count == advice.count)
        #expect((report["runs"] as? [Any])?.count == 2)
        let config = try #require(report["config"] as? [String: Any])
        #expect((config["encoders"] as? [[String: Any]])?.map { $0["name"] as? String } == ["keep", "merge"])
        #expect(config["nuisance"] as? [String] == ["colour"])
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("Encoder comparison") && html.contains("What to try next") && html.contains("paired"))
        // One comparison chart per label set: both encoders' names on its axis, the merging
        // encoder's significantly lower subclass point coloured orange.
        let section = String(html[html.range(of: "Encoder comparison")!.lowerBound...])
        let charts = section.components(separatedBy: "<svg").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
        #expect(charts.count >= labels.count, "\(charts.count) charts for \(labels.count) label sets")
        let subChart = try #require(charts.first { $0.contains(">subclass") })
        #expect(subChart.contains(">keep</text>") && subChart.contains(">merge</text>") && subChart.contains("fill=\"#D55E00\""))
        _ = try XMLDocument(data: Data(html.utf8), options: [])
    }

    @Test func badNamedInputsNameTheFlagAndFile() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.inputs(dir)
        func fails(_ args: [String], _ expected: [String]) throws {
            let (code, _, err) = try runCLI(["audit"] + args + ["--labels", f.labels, "--quiet"])
            #expect(code != 0)
            for e in expected { #expect(err.contains(e), "expected '\(e)' in stderr: \(err)") }
        }
        try fails(["--embeddings", "a=\(f.keep)", "--embeddings", "a=\(f.merge)"], ["--embeddings", "the name 'a' is given twice"])
        try fails(["--embeddings", "a=\(f.keep)", "--embeddings", "b="], ["--embeddings 'b='", "a file after 'b=' is empty"])
        try fails(["--embeddings", "a=\(f.keep)", "--embeddings", f.merge], ["--embeddings '\(f.merge)'", "NAME=FILE"])
        try fails(["--embeddings", "a=\(f.keep)"], ["at least two"])
        // Another row count: the encoder's name, its file and both counts.
        let short = dir.appendingPathComponent("short.npy")
        try NPY.write(Tensor<Double>(shape: [7, 6], scalars: (0..<42).map(Double.init)), to: short)
        try fails(["--embeddings", "a=\(f.keep)", "--embeddings", "b=\(short.path)"],
                  ["--embeddings b=…", short.path, "240 label rows", "7 embedding rows"])
        // A nuisance that is not a column.
        try fails(["--embeddings", f.keep, "--nuisance", "background"], ["background"])
    }
}
