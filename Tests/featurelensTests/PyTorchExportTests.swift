// The Python export helper (Tools/python/featurelens_export.py) and the README's audit command
// that reads its output. Runs where a Python 3 with NumPy is found (FEATURELENS_PYTHON, else
// `python3` on PATH); PyTorch is not needed: the test calls `save_array`, the NumPy path that
// `save` ends in.
import Foundation
import Testing
import FeatureLens

enum ExportPython {
    /// A Python 3 interpreter that imports NumPy, or nil.
    static let interpreter: String? = {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["FEATURELENS_PYTHON"], "python3"].compactMap { $0 }
        for python in candidates {
            if let (code, _, _) = try? run(python, ["-c", "import numpy"]), code == 0 { return python }
        }
        return nil
    }()

    /// Runs `python args` (through `/usr/bin/env`, so a bare name is looked up on PATH) in
    /// `cwd`; returns (exit code, stdout, stderr).
    static func run(_ python: String, _ args: [String], cwd: URL? = nil) throws -> (Int32, String, String) {
        try ChildProcess.run("/usr/bin/env", [python] + args, cwd: cwd)
    }

    static var helperFolder: URL { READMERun.packageRoot.appendingPathComponent("Tools/python") }
}

@Suite("PyTorch export helper", .serialized,
       .enabled(if: ExportPython.interpreter != nil,
                "no Python 3 with NumPy (set FEATURELENS_PYTHON or put python3 with NumPy on PATH)"))
struct PyTorchExportTests {
    /// The `featurelens audit` command of the README's "From PyTorch in three lines" section
    /// (the block after the Python lines), as words.
    static func readmeAuditCommand() throws -> [String] {
        let blocks = READMEParser.blocks(try READMERun.readme()).filter { $0.heading == "From PyTorch in three lines" }
        #expect(blocks.map(\.language) == ["python", ""], "the section's blocks: the three lines, then the commands")
        let commands = try blocks.flatMap { try READMEParser.commands($0) }
        return try #require(commands.first { $0.words.starts(with: ["featurelens", "audit"]) }?.words,
                            "no featurelens audit command in the section")
    }

    /// The values of `option` in `words`.
    static func values(_ option: String, in words: [String]) -> [String] {
        words.indices.filter { words[$0] == option && $0 + 1 < words.count }.map { words[$0 + 1] }
    }

    /// The helper writes synthetic embeddings at the README's steps into the README's folder;
    /// the README's audit command, run as written, reads them on the first try; and the
    /// audit finds what was planted: `fine` unreadable within `coarse` at step 0, readable at
    /// the last step (so rows and labels stayed aligned through the helper).
    @Test func readmeAuditReadsTheHelpersOutput() throws {
        let python = try #require(ExportPython.interpreter)
        let command = try Self.readmeAuditCommand()
        let steps = try #require(Self.values("--steps", in: command).first).split(separator: ",").map { Int($0)! }
        let labels = try #require(Self.values("--labels", in: command).first)
        let folder = (labels as NSString).deletingLastPathComponent
        let within = try #require(Self.values("--within", in: command).first)
        #expect(within == "fine:coarse")
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 400 rows; coarse in {top, shoe} along dimension 0 (amplitude 3); fine (two values
        // per coarse group) along dimension 1 with an amplitude that grows from 0 at the first
        // checkpoint to 6 at the last; 6 more dimensions of N(0, 1) noise everywhere.
        let script = """
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        import featurelens_export
        assert "torch" not in sys.modules, "importing the helper imported torch"
        from featurelens_export import EmbeddingExporter
        steps = [int(s) for s in sys.argv[3].split(",")]
        rng = np.random.default_rng(0)
        n = 400
        coarse = np.array(["top", "shoe"])[np.arange(n) % 2]
        sub = (np.arange(n) // 2) % 2
        fine = np.array([f"{c}-{s}" for c, s in zip(coarse, sub)])
        exporter = EmbeddingExporter(sys.argv[2], labels={"coarse": coarse, "fine": fine})
        for k, step in enumerate(steps):
            z = rng.normal(size=(n, 8))
            z[:, 0] += 3.0 * (coarse == "top")
            z[:, 1] += 6.0 * k / (len(steps) - 1) * sub
            exporter.save_array(step, z)
        print(exporter.audit_command(within=["fine:coarse"]))
        """
        let (code, out, err) = try ExportPython.run(python, ["-c", script, ExportPython.helperFolder.path, folder,
                                                             steps.map(String.init).joined(separator: ",")], cwd: dir)
        #expect(code == 0, "stderr: \(err)")
        // The command the helper prints is the README's, up to the README's --out.
        var readmeWithoutOut = command
        if let i = readmeWithoutOut.firstIndex(of: "--out") { readmeWithoutOut.removeSubrange(i...(i + 1)) }
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == readmeWithoutOut.joined(separator: " "))
        let audit = try String(contentsOf: dir.appendingPathComponent(folder).appendingPathComponent("audit.txt"), encoding: .utf8)
        #expect(audit == (readmeWithoutOut.dropLast(2)).joined(separator: " ") + "\n", "audit.txt: the command without --within")

        let (c1, table, e1) = try runCLI(Array(command.dropFirst()), cwd: dir)
        #expect(c1 == 0, "stderr: \(e1)")
        #expect(!e1.contains("note:"), "the helper's files need no conversion: \(e1)")
        let outFolder = try #require(Self.values("--out", in: command).first)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(outFolder).appendingPathComponent("report.json").path))
        #expect(table.contains("fine"), "\(table)")
        // Step 0: fine is noise within coarse (chance 0.5); last step: planted at 6 sd (Bayes accuracy 0.9987).
        let embeddings = Self.values("--embeddings", in: command)
        #expect(embeddings.count == steps.count)
        func fineWithin(_ file: String) throws -> Double {
            let (code, json, err) = try runCLI(["audit", "--embeddings", file, "--labels", labels, "--within", within,
                                                "--json", "--quiet"], cwd: dir)
            #expect(code == 0, "stderr: \(err)")
            let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            let probes = obj["probes"] as! [String: Any]
            let key = try #require(probes.keys.first { $0.hasPrefix("fine") }, "\(probes.keys)")
            return (probes[key] as! NSNumber).doubleValue
        }
        let start = try fineWithin(embeddings[0]), end = try fineWithin(embeddings[embeddings.count - 1])
        #expect(start < 0.65, "fine within coarse at step 0: \(start)")
        #expect(end > 0.9, "fine within coarse at the last step: \(end)")
    }

    /// Bad input to the helper is a ValueError naming the field; `save` is the only place that
    /// imports torch.
    @Test func helperRefusesBadInputNamingTheField() throws {
        let python = try #require(ExportPython.interpreter)
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = """
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        from featurelens_export import EmbeddingExporter

        def refused(expected, f):
            try:
                f()
            except ValueError as e:
                assert expected in str(e), f"{expected!r} not in {str(e)!r}"
                print("refused:", e)
                return
            raise AssertionError(f"accepted, expected {expected!r}")

        refused("labels['fine']: 3 rows, but labels['coarse'] has 4",
                lambda: EmbeddingExporter("a", labels={"coarse": [0, 0, 1, 1], "fine": [0, 1, 2]}))
        refused("labels['coarse']: expected a 1-D array", lambda: EmbeddingExporter("a", labels={"coarse": [[0, 1]]}))
        refused("labels: name 'my class'", lambda: EmbeddingExporter("a", labels={"my class": [0, 1]}))
        refused("labels['coarse']: float values must be whole numbers",
                lambda: EmbeddingExporter("a", labels={"coarse": [0.5, 1.0]}))
        refused("labels['coarse']: row 1 is empty", lambda: EmbeddingExporter("a", labels={"coarse": ["x", ""]}))
        e = EmbeddingExporter("b", labels={"coarse": np.array([0, 0, 1, 1])})
        refused("embeddings: 3 rows at step 0, but labels.csv has 4", lambda: e.save_array(0, np.zeros((3, 2))))
        refused("embeddings: expected shape [n, p]", lambda: e.save_array(0, np.zeros(4)))
        z = np.zeros((4, 2)); z[2, 1] = np.nan
        refused("embeddings: a value that is not finite at step 0 (first in row 2)", lambda: e.save_array(0, z))
        refused("step: expected an integer >= 0", lambda: e.save_array(-1, np.zeros((4, 2))))
        e.save_array(10, np.ones((4, 2), dtype=np.float64))
        refused("step: 10 is not after the previous checkpoint's step 10", lambda: e.save_array(10, np.zeros((4, 2))))
        refused("audit_command: no checkpoint saved yet",
                lambda: EmbeddingExporter("c", labels={"coarse": [0, 1]}).audit_command())
        saved = np.load("b/step-000010.npy")
        assert saved.dtype == np.float32 and saved.shape == (4, 2) and saved.flags.c_contiguous, (saved.dtype, saved.shape)
        assert open("b/labels.csv").read() == "coarse\\n0\\n0\\n1\\n1\\n", repr(open("b/labels.csv").read())
        assert "torch" not in sys.modules
        print("ok")
        """
        let (code, out, err) = try ExportPython.run(python, ["-c", script, ExportPython.helperFolder.path], cwd: dir)
        #expect(code == 0 && out.hasSuffix("ok\n"), "stdout: \(out)\nstderr: \(err)")
        #expect(out.components(separatedBy: "refused:").count - 1 == 11, "\(out)")
    }
}
