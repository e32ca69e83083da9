import Foundation
import Testing
@testable import FeatureLensIO
@testable import FeatureLensAudit

/// Embedding sets larger than memory: memory-mapped NPY files read row by row
/// (`NPYMatrixFile`) and the seeded fit/score subsamples of `ExternalAudit`.
@Suite struct RealSizeAuditTests {
    /// A `[n, p]` matrix with a 3-class label planted in column 0 (class c at 3·c) and noise.
    static func planted(n: Int, p: Int, seed: UInt64) -> (Tensor<Double>, [Int]) {
        var g = SeededGenerator(seed: seed)
        var x = Tensor<Double>(randomNormal: [n, p], using: &g)
        let y = (0..<n).map { $0 % 3 }
        for i in 0..<n { x.scalars[i * p] += 3 * Double(y[i]) }
        return (x, y)
    }

    @Test func mappedRowsEqualTheWholeFileReadForEveryDTypeAndOrder() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, _) = Self.planted(n: 37, p: 5, seed: 3)
        let rows = [36, 0, 5, 5, 17]
        for dtype in [NPYDType.float16, .float32, .float64] {
            let url = dir.appendingPathComponent("x\(dtype.itemSize).npy")
            try NPY.write(x, to: url, dtype: dtype)
            let whole = try NPY.readMatrix(url)
            let mapped = try NPYMatrixFile(url)
            #expect(mapped.rows == 37 && mapped.columns == 5)
            #expect(mapped.allRows() == whole, "\(dtype)")
            #expect(mapped.gatherRows(rows) == whole.gatherRows(rows), "\(dtype)")
            #expect((mapped.conversionNote != nil) == (dtype == .float16))
        }
        // Fortran order: NumPy's column-major layout of the same [3, 2] matrix, read in C order.
        let fortran = npyBytes(header: "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }",
                               data: [1.0, 2, 3, 10, 20, 30].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        let furl = dir.appendingPathComponent("f.npy")
        try fortran.write(to: furl)
        let f = try NPYMatrixFile(furl)
        #expect(f.allRows().scalars == [1, 10, 2, 20, 3, 30])
        #expect(f.gatherRows([2]).scalars == [3, 30])
        #expect(f.conversionNote?.contains("Fortran-order") == true)
    }

    @Test func badFilesAreClearErrorsNamingTheFile() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("missing.npy")
        #expect(throws: NPYError.self) { try NPYMatrixFile(missing) }
        do { _ = try NPYMatrixFile(missing) } catch { #expect("\(error)".contains(missing.path)) }
        #expect(throws: NPYError.unreadable(file: dir.path, reason: "not a regular file")) { try NPYMatrixFile(dir) }
        let empty = dir.appendingPathComponent("empty.npy")
        try Data().write(to: empty)
        #expect(throws: NPYError.notNPY(file: empty.path)) { try NPYMatrixFile(empty) }
        let url = dir.appendingPathComponent("t.npy")
        let (x, _) = Self.planted(n: 4, p: 3, seed: 1)
        let bytes = NPY.encode(x, dtype: .float32)
        try bytes.dropLast(4).write(to: url)
        #expect(throws: NPYError.sizeMismatch(file: url.path, expectedBytes: 48, actualBytes: 44)) { try NPYMatrixFile(url) }
        try NPY.encode(Tensor<Double>(shape: [2, 2, 2], scalars: Array(repeating: 1, count: 8))).write(to: url)
        #expect(throws: NPYError.wrongRank(file: url.path, expected: 2, shape: [2, 2, 2])) { try NPYMatrixFile(url) }
    }

    @Test func capsFitAndScoreSeededSubsamplesAndSayHowMany() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, y) = Self.planted(n: 3000, p: 8, seed: 7)
        let emb = dir.appendingPathComponent("e.npy"), labels = dir.appendingPathComponent("l.csv")
        try NPY.write(x, to: emb)
        try ("class\n" + y.map(String.init).joined(separator: "\n") + "\n").write(to: labels, atomically: true, encoding: .utf8)
        var notes: [String] = []
        let capped = ExternalAudit(embeddings: [emb.path], labels: labels.path, split: 0.8, seed: 2,
                                   maxFitRows: 500, maxScoreRows: 300)
        let run = try capped.run(note: { notes.append($0) })
        #expect(run.rows == AuditRows(trainRows: 2400, fitted: 500, testRows: 600, scored: 300))
        #expect(notes.contains { $0.contains("probes fit on 500 of 2 400 training rows and scored on 300 of 600 test rows (seeded subsamples)") }, "\(notes)")
        // The standard error is that of 300 scored rows, not 600.
        let se = run.timeline.last!.standardError!["class"]!
        let acc = run.final.probes["class"]!
        #expect(acc > 0.8)
        #expect(se > 0.9 * (acc * (1 - acc) / 300).squareRoot())
        // Same request, same numbers; another seed draws other rows.
        #expect(try capped.run() == run)
        var other = capped
        other.seed = 3
        #expect(try other.run().timeline.last!.probes != run.timeline.last!.probes)
        // Caps at or above the sizes (or 0) read every row: the uncapped audit, bit for bit.
        var all = capped
        all.maxFitRows = 0; all.maxScoreRows = 0
        var big = capped
        big.maxFitRows = 2400; big.maxScoreRows = 10_000
        let uncapped = try all.run(), atCap = try big.run()
        #expect(uncapped.rows == AuditRows(trainRows: 2400, fitted: 2400, testRows: 600, scored: 600))
        #expect(uncapped.timeline == atCap.timeline)
        // The report carries them.
        let data = try JSONEncoder().encode(run)
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(obj["rows"] as? [String: Int] == ["train_rows": 2400, "fitted": 500, "test_rows": 600, "scored": 300])
        var negative = capped
        negative.maxFitRows = -1
        #expect(throws: AuditError.self) { try negative.run() }
    }
}
