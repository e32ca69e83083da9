// `featurelens audit` on inputs as NumPy and pandas write them: float16 Fortran-order
// embeddings and a labels CSV with pandas' index column; `--metrics-on`.
import Foundation
import Testing
import FeatureLens

@Suite("featurelens audit inputs", .serialized)
struct AuditInputsCLITests {
    /// 60 rows, 4 columns (values exact in float16): column 0 carries the class, the rest is
    /// label-free pattern.
    static func embedding(_ i: Int, _ j: Int) -> Double {
        let cls = Double(i % 2)
        switch j {
        case 0: return 2 * cls + 0.125 * Double(i % 5)
        case 1: return 0.25 * Double(i % 3)
        case 2: return 1 + 0.5 * Double(i % 4)
        default: return -0.5 * cls + 0.0625 * Double(i % 7)
        }
    }

    /// The NPY bytes of the [60, 4] matrix as float16 in Fortran order (column after column).
    static func fortranHalfNPY() -> Data {
        let n = 60, p = 4
        // NPY.encode of the transpose [p, n] in C order is the [n, p] data in Fortran order.
        let transposed = Tensor<Double>(shape: [p, n], scalars: (0..<p).flatMap { j in (0..<n).map { i in embedding(i, j) } })
        let data = NPY.encode(transposed, dtype: .float16)
        let offset = try! NPY.parseHeader(data, file: "mem").dataOffset
        var header = "{'descr': '<f2', 'fortran_order': True, 'shape': (\(n), \(p)), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(data[(data.startIndex + offset)...])
        return out
    }

    @Test func float16FortranEmbeddingsAndPandasLabelsAuditWithNotes() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let npy = dir.appendingPathComponent("z.npy")
        try Self.fortranHalfNPY().write(to: npy)
        let csv = dir.appendingPathComponent("labels.csv")
        try Data((",class\n" + (0..<60).map { "\($0),\($0 % 2 == 0 ? "even" : "odd")" }.joined(separator: "\n") + "\n").utf8).write(to: csv)
        let args = ["audit", "--embeddings", npy.path, "--labels", csv.path, "--probe", "centroid", "--metrics-on", "all"]
        let (code, out, err) = try runCLI(args)
        #expect(code == 0, "stderr: \(err)")
        let notes = err.split(separator: "\n").filter { $0.hasPrefix("note: ") }
        #expect(notes.count == 2, "stderr: \(err)")
        #expect(notes.contains { $0.hasPrefix("note: \(npy.path): float16") && $0.contains("Fortran-order") }, "stderr: \(err)")
        #expect(notes.contains { $0.hasPrefix("note: \(csv.path): the first column has no name") }, "stderr: \(err)")
        #expect(out.contains("metrics on all rows (n = 60), last audit"), "\(out)")
        // The class is in column 0: a centroid probe reads it from the converted matrix.
        let (code2, json, _) = try runCLI(args + ["--json", "--quiet"])
        #expect(code2 == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(((obj["probes"] as! [String: Any])["class"] as? NSNumber)?.doubleValue == 1, "\(json)")
        let metrics = obj["metrics"] as! [String: Any]
        #expect(metrics["computed_on"] as? String == "all" && metrics["n"] as? Int == 60)
        // The default is the test split: 20 % of 60 rows.
        let (code3, out3, err3) = try runCLI(Array(args.dropLast(2)) + ["--quiet"])
        #expect(code3 == 0 && out3.contains("metrics on the test split (n = 12), last audit"), "\(out3)")
        #expect(!err3.contains("note:"), "--quiet prints no notes: \(err3)")
        let (code4, _, err4) = try runCLI(Array(args.dropLast()) + ["every"])
        #expect(code4 != 0 && err4.contains("unknown --metrics-on 'every' (expected test or all)"), "\(err4)")
    }

    /// An audit that fails on its input leaves no folder behind for `--out` (neither the folder
    /// nor the missing parents it created); an existing folder stays, as it was.
    @Test func failedAuditLeavesNoEmptyOutFolder() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let npy = dir.appendingPathComponent("z.npy")
        try Self.fortranHalfNPY().write(to: npy)
        let csv = dir.appendingPathComponent("labels.csv")
        try Data(("class\n" + (0..<59).map { "\($0 % 2)" }.joined(separator: "\n") + "\n").utf8).write(to: csv)  // one row short
        let out = dir.appendingPathComponent("new/audit")
        let (code, _, err) = try runCLI(["audit", "--embeddings", npy.path, "--labels", csv.path, "--out", out.path, "--quiet"])
        #expect(code == 1 && err.contains(csv.path), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("new").path))
        let existing = dir.appendingPathComponent("kept")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: false)
        let (code2, _, _) = try runCLI(["audit", "--embeddings", npy.path, "--labels", csv.path, "--out", existing.path, "--quiet"])
        #expect(code2 == 1 && FileManager.default.fileExists(atPath: existing.path))
    }
}
