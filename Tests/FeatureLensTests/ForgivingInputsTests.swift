// Inputs as other tools write them: a labels CSV from pandas' to_csv (an unnamed index
// column), float16 and Fortran-order NPY embeddings; and the representation metrics saying
// which rows they were computed on (`metrics_on`).
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensAudit

/// A labels CSV as pandas' `DataFrame.to_csv` writes it: an unnamed index column first.
private func pandasCSV(_ table: LabelTable, index: (Int) -> String = { String($0) }) throws -> String {
    var text = "," + table.columns.joined(separator: ",") + "\n"
    for r in 0..<table.rowCount {
        text += index(r) + "," + (try table.columns.map { try table.labels($0).values[r] }).joined(separator: ",") + "\n"
    }
    return text
}

@Suite struct ForgivingInputsTests {
    @Test func pandasIndexColumnIsIgnoredWithANote() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let url = try folder.write("pandas.csv", Array(",class,coarse\n0,3,1\n1,5,0\n2,3,1\n".utf8))
        let t = try LabelTable(contentsOf: url)
        #expect(t.columns == ["class", "coarse"] && t.rowCount == 3)
        #expect(try t.labels("class").values == ["3", "5", "3"] && t.labels("coarse").values == ["1", "0", "1"])
        #expect(t.notes.count == 1, "\(t.notes)")
        #expect(t.notes.first?.hasPrefix(url.path + ": the first column has no name") == true, "\(t.notes)")
        // An index of strings (e.g. file names) is ignored the same way; a plain table has no note.
        let named = try LabelTable(csv: ",class\nimg_0.png,a\nimg_1.png,b\n", file: "n.csv")
        #expect(named.columns == ["class"] && named.labelSets["class"]!.values == ["a", "b"])
        #expect(try LabelTable(csv: "class\na\n", file: "p.csv").notes.isEmpty)
    }

    /// A column of numbers with a few cells that are not (a typo) is read as text labels, with a
    /// note naming the column and the cells; columns of numbers only, or of text, have none.
    @Test func aFewTextCellsAmongNumbersGetANote() throws {
        var csv = "shade,color,name\n"
        for i in 0..<40 { csv += "\(i % 3),\(i % 2 == 0 ? "red" : "blue"),n\(i)\n" }
        csv += "1.5.0,red,x\nabc,blue,y\n"
        let t = try LabelTable(csv: csv, file: "typo.csv")
        #expect(t.notes == ["typo.csv: column 'shade' holds numbers except 2 of its 42 cells (line 42: '1.5.0', line 43: 'abc'); "
                            + "it is read as text labels, each distinct value a class of its own"], "\(t.notes)")
        #expect(try t.labels("shade").classCount == 5)  // 0, 1, 2, 1.5.0, abc
        // Numbers only (integers and decimals), text only, or text mostly: no note.
        #expect(try LabelTable(csv: "a,b\n1,0.5\n2,1e3\n3,-2\n", file: "n.csv").notes.isEmpty)
        #expect(try LabelTable(csv: "a\n1\nx\ny\n", file: "t.csv").notes.isEmpty)
        // More than three odd cells: three shown, the rest counted.
        var many = "v\n"
        for i in 0..<60 { many += "\(i)\n" }
        for w in ["p", "q", "r", "s", "t"] { many += "\(w)\n" }
        #expect(try LabelTable(csv: many, file: "m.csv").notes.first?.contains("line 64: 'r' and 2 more") == true)
    }

    @Test func malformedPandasTablesStillNameFileLineAndColumn() throws {
        // Another empty name besides the first: not pandas' index, so the first is an error too.
        #expect(throws: LabelTableError.badHeader(file: "m.csv", reason: "column 1 has an empty name")) {
            try LabelTable(csv: ",class,\n0,1,2\n", file: "m.csv")
        }
        #expect(throws: LabelTableError.badHeader(file: "m.csv", reason: "column 2 has an empty name")) {
            try LabelTable(csv: "class,,coarse\n1,2,3\n", file: "m.csv")
        }
        // Rows are counted with the index column: a missing label, a row too long.
        #expect(throws: LabelTableError.emptyCell(file: "m.csv", line: 3, column: "coarse")) {
            try LabelTable(csv: ",class,coarse\n0,1,2\n1,1\n", file: "m.csv")
        }
        #expect(throws: LabelTableError.raggedRow(file: "m.csv", line: 2, expected: 3, found: 4)) {
            try LabelTable(csv: ",class,coarse\n0,1,2,3\n", file: "m.csv")
        }
        #expect(throws: LabelTableError.empty(file: "m.csv")) { try LabelTable(csv: ",class\n", file: "m.csv") }
    }

    @Test func pandasFeatureCSVDropsItsIndexColumn() throws {
        let m = try TabularFeatures.parseCSV(Data(",a,b\n0,1.5,2\n1,3,4\n".utf8), file: "f.csv")
        #expect(m.columnNames == ["a", "b"] && m.values.shape == [2, 2] && m.values.scalars == [1.5, 2, 3, 4])
        #expect(m.notes == ["f.csv: the first column has no name (the row index pandas' to_csv writes); it was ignored"])
        // The index may be any text; a bad feature value is still reported in its file column.
        #expect(throws: TabularDataError.notANumber(file: "f.csv", line: 3, column: 3, text: "x")) {
            try TabularFeatures.parseCSV(Data(",a,b\nr0,1,2\nr1,3,x\n".utf8), file: "f.csv")
        }
        #expect(throws: TabularDataError.raggedRow(file: "f.csv", line: 2, expected: 3, found: 2)) {
            try TabularFeatures.parseCSV(Data(",a,b\n0,1\n".utf8), file: "f.csv")
        }
    }

    /// The audit of the fixture checkpoint, with its embeddings saved as float16 and its labels
    /// written by pandas, runs, reports both conversions once each, and gives the float16
    /// values' exact audit (the same as auditing the same values from a float64 file).
    @Test func auditReadsFloat16EmbeddingsAndPandasLabels() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let x = try NPY.readMatrix(auditFixture("ckpt1.npy"))
        let half = folder.url.appendingPathComponent("z16.npy")
        try NPY.write(x, to: half, dtype: .float16)
        let rounded = try NPY.readMatrix(half)
        let wide = folder.url.appendingPathComponent("z64.npy")
        try NPY.write(rounded, to: wide, dtype: .float64)
        let table = try LabelTable(contentsOf: auditFixture("labels.csv"))
        let labels = try folder.write("labels.csv", Array(try pandasCSV(table).utf8))

        var notes: [String] = []
        let request = ExternalAudit(embeddings: [half.path], testEmbeddings: [half.path], labels: labels.path,
                                    testLabels: labels.path, columns: ["class"], audit: AuditConfiguration(probe: .centroid))
        let run = try request.run(note: { notes.append($0) })
        // One note per file, though each is named twice (train and test).
        #expect(notes.count == 2, "\(notes)")
        #expect(notes.contains { $0.hasPrefix(half.path + ": float16") }, "\(notes)")
        #expect(notes.contains { $0.hasPrefix(labels.path + ": the first column has no name") }, "\(notes)")
        #expect(run.final.probes["class"]! > 0.95)
        var plain = request
        plain.embeddings = [wide.path]; plain.testEmbeddings = [wide.path]
        plain.labels = auditFixture("labels.csv").path; plain.testLabels = plain.labels
        #expect(try plain.run() == run)
    }

    /// `metrics_on`: the test rows by default (n = the test split), or every row; the numbers
    /// are those of `RepresentationMetrics` on exactly those rows, and the table says which.
    @Test func metricsSayWhichRowsTheyUse() throws {
        let ckpt = auditFixture("ckpt2.npy").path
        let labels = auditFixture("labels.csv").path
        var request = ExternalAudit(embeddings: [ckpt], labels: labels, split: 0.75, seed: 1, columns: ["class"],
                                    audit: AuditConfiguration(probe: .centroid))
        let onTest = try request.run()
        request.metricsOn = .all
        let onAll = try request.run()
        let x = try NPY.readMatrix(URL(fileURLWithPath: ckpt))
        var rng = SeededGenerator(seed: 1)
        let testRows = Array(rng.permutation(400)[300...])
        let expectedTest = try RepresentationMetrics(embeddings: x.gatherRows(testRows), computedOn: .test)
        let expectedAll = try RepresentationMetrics(embeddings: x, computedOn: .all)
        #expect(onTest.final.metrics == expectedTest && expectedTest.n == 100)
        #expect(onAll.final.metrics == expectedAll && expectedAll.n == 400)
        #expect(onAll.final.metrics!.rankme != onTest.final.metrics!.rankme)
        // The probes do not change.
        #expect(onAll.final.probes == onTest.final.probes)
        #expect(FeatureTable.render(onTest).contains("metrics on the test split (n = 100), last audit: rankme"))
        #expect(FeatureTable.render(onAll).contains("metrics on all rows (n = 400), last audit: rankme"))
        // With test files, "all" is the train file's rows followed by the test file's.
        let files = ExternalAudit(embeddings: [ckpt], testEmbeddings: [ckpt], labels: labels, testLabels: labels,
                                  columns: ["class"], audit: AuditConfiguration(probe: .centroid), metricsOn: .all)
        let both = Tensor<Double>(shape: [800, x.shape[1]], scalars: x.scalars + x.scalars)
        #expect(try files.run().final.metrics == RepresentationMetrics(embeddings: both, computedOn: .all))
        // The request's JSON has metrics_on, and an older one without it reads as "test".
        let json = try FeatureLensJSON.encode(request)
        var old = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        #expect(old["metrics_on"] as? String == "all")
        old["metrics_on"] = nil
        let decoded = try JSONDecoder().decode(ExternalAudit.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(decoded.metricsOn == .test && decoded.embeddings == request.embeddings)
    }
}
