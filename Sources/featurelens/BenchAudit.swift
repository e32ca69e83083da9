import ArgumentParser
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench audit`: the default probe on an embedding set of a realistic size, next to
/// scikit-learn's LogisticRegression on the same rows in the same run.
struct BenchAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Wall time and balanced accuracy of the default logistic probe on 60 000 × 512 embeddings, next to scikit-learn.",
        discussion: helpDiscussion("""
        Data: --rows rows of width --width in --classes classes (class of row i = i mod \
        classes), each class a Gaussian N(μ_c, I) with μ_c ~ N(0, 0.0225·I), drawn with \
        SeededGenerator(seed: 1); the last sixth of the rows is the test set. FeatureLens: the \
        default probe (LogisticProbe(): standardization, C chosen by the held-out rule over \
        C ∈ {0.01, 0.1, 1, 10, 100}, refit on every training row to gradient tolerance --tolerance, default 1e-4), \
        then the test predictions; also one fit at the chosen C alone. Each L-BFGS run of the \
        probe is listed with its rows, C, iterations and objective evaluations. scikit-learn \
        (Benchmarks/sklearn_audit_bench.py, in the --python interpreter when it imports \
        sklearn): StandardScaler, then LogisticRegression(C = the chosen C, lbfgs, its default \
        tolerance 1e-4, max_iter 1000) and its test predictions, on the same rows written as \
        float64 NPY. Both on this machine's cores (FeatureLens: --threads of the global \
        options; scikit-learn: its BLAS threads).
        """, examples: [
            HelpExample("60 000 × 512, 10 classes, next to scikit-learn", "featurelens bench audit --python venv/bin/python"),
            HelpExample("A smaller problem, one JSON object", "featurelens bench audit --rows 12000 --width 128 --json"),
        ])
    )

    @Option(name: .long, help: "Rows (the last sixth is the test set).")
    var rows: Int = 60_000
    @Option(name: .long, help: "Embedding width.")
    var width: Int = 512
    @Option(name: .long, help: "Number of classes (≥ 2).")
    var classes: Int = 10
    @Option(help: "Python interpreter for the scikit-learn reference (skipped when sklearn does not import).")
    var python: String = "python3"
    @Flag(help: "Print one JSON object: {\"audit\": {...}}.")
    var json = false
    @Option(help: "Gradient tolerance of FeatureLens's final fit (max-abs of the gradient of the objective divided by n; the probe's default 1e-4, scikit-learn's tol).")
    var tolerance: Double = LogisticProbe().tolerance

    func validate() throws {
        guard tolerance > 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a finite value > 0, got \(tolerance)") }
        guard rows >= 12 * classes, width >= 1, classes >= 2 else {
            throw ValidationError("need --classes ≥ 2, --width ≥ 1 and --rows ≥ 12·classes; got rows \(rows), width \(width), classes \(classes)")
        }
    }

    func run() throws {
        let (x, y) = BenchProbe.gaussianClasses(rows: rows, width: width, classes: classes)
        let nTest = rows / 6, nTrain = rows - nTest
        let xtr = x.rows(0..<nTrain), xte = x.rows(nTrain..<rows)
        let ytr = Array(y[0..<nTrain]), yte = Array(y[nTrain...])
        if !json { BenchScripts.status("FeatureLens: default probe on \(nTrain) × \(width) …") }
        var t = Date()
        let model = try LogisticProbe(tolerance: tolerance).fit(train: xtr, labels: ytr)
        let ours = ProbeScore(predicted: model.predict(xte), truth: yte, measure: .balanced).accuracy
        let oursSeconds = Date().timeIntervalSince(t)
        if !json { BenchScripts.status("FeatureLens: one fit at C = \(model.c) …") }
        t = Date()
        let fixed = try LogisticProbe(c: model.c, tolerance: tolerance).fit(train: xtr, labels: ytr)
        _ = fixed.predict(xte)
        let fixedSeconds = Date().timeIntervalSince(t)
        if !json { BenchScripts.status("scikit-learn: LogisticRegression(C = \(model.c)) …") }
        let reference = try sklearnReference(xtr, ytr, xte, yte, c: model.c)
        if !json { BenchScripts.status(nil) }
        let speedup = reference.map { $0.seconds / oursSeconds }
        let fits = model.fits.map { f in
            "{\"rows\": \(f.rows), \"c\": \(f.c), \"tolerance\": \(f.tolerance), \"iterations\": \(f.iterations), "
                + "\"evaluations\": \(f.evaluations), \"converged\": \(f.converged)}"
        }.joined(separator: ", ")
        if json {
            let r = reference
            print("{\"audit\": {\"rows\": \(rows), \"width\": \(width), \"classes\": \(classes), \"threads\": \(Parallel.threadCount), "
                  + "\"c\": \(model.c), \"tolerance\": \(tolerance), \"featurelens_iterations\": \(model.iterations), \"featurelens_seconds\": \(BenchScripts.number(oursSeconds)), "
                  + "\"featurelens_fits\": [\(fits)], \"featurelens_kernel\": \"\(logisticMixedKernelName)\", "
                  + "\"featurelens_fixed_c_seconds\": \(BenchScripts.number(fixedSeconds)), "
                  + "\"featurelens_balanced_accuracy\": \(BenchScripts.number(ours)), "
                  + "\"sklearn_seconds\": \(BenchScripts.number(r?.seconds)), "
                  + "\"sklearn_balanced_accuracy\": \(BenchScripts.number(r?.accuracy)), "
                  + "\"speedup\": \(BenchScripts.number(speedup))}}")
            return
        }
        print("Workload: \(nTrain) training and \(nTest) test rows of width \(width), \(classes) classes; FeatureLens on \(Parallel.threadCount) thread(s)")
        print(String(format: "FeatureLens default probe (held-out C = %g, %d final iterations to tolerance %g): %.2f s, balanced accuracy %.4f",
                     model.c, model.iterations, tolerance, oursSeconds, ours))
        for (i, f) in model.fits.enumerated() {
            print(String(format: "  %@ %5d rows, C = %-5g tolerance %g: %3d iterations, %3d evaluations%@",
                         i + 1 < model.fits.count ? "choice of C:" : "final fit:  ", f.rows, f.c, f.tolerance, f.iterations,
                         f.evaluations, f.converged ? "" : " (not converged)"))
        }
        print(String(format: "FeatureLens one fit at C = %g:                      %.2f s", model.c, fixedSeconds))
        if let r = reference {
            print(String(format: "scikit-learn LogisticRegression(C = %g), %d iterations: %.2f s, balanced accuracy %.4f",
                         model.c, r.iterations, r.seconds, r.accuracy))
            let ratio = speedup! >= 1 ? String(format: "%.2f× faster than", speedup!) : String(format: "%.2f× slower than", 1 / speedup!)
            print(String(format: "Default probe %@ scikit-learn's single fit (time ratio %.2f); accuracy difference %+.4f",
                         ratio, oursSeconds / r.seconds, ours - r.accuracy))
        } else {
            print("scikit-learn: not measured (sklearn does not import in \(python))")
        }
    }

    /// Runs the scikit-learn script on the same rows, or nil when sklearn does not import.
    func sklearnReference(_ xtr: Tensor<Double>, _ ytr: [Int], _ xte: Tensor<Double>, _ yte: [Int], c: Double) throws
        -> (seconds: Double, accuracy: Double, iterations: Int)? {
        guard (try? runCapturing(python, ["-c", "import sklearn"]))?.status == 0 else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-bench-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try NPY.write(xtr, to: dir.appendingPathComponent("train_x.npy"), dtype: .float64)
        try NPY.write(Tensor<Double>(shape: [ytr.count], scalars: ytr.map(Double.init)), to: dir.appendingPathComponent("train_y.npy"), dtype: .float64)
        try NPY.write(xte, to: dir.appendingPathComponent("test_x.npy"), dtype: .float64)
        try NPY.write(Tensor<Double>(shape: [yte.count], scalars: yte.map(Double.init)), to: dir.appendingPathComponent("test_y.npy"), dtype: .float64)
        let out = try runCapturing(python, [try BenchScripts.path("sklearn_audit_bench.py"), dir.path, "\(c)"])
        guard out.status == 0, let line = out.stdout.split(separator: "\n").last,
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let seconds = obj["seconds"] as? Double, let accuracy = obj["balanced_accuracy"] as? Double else {
            throw BenchFailure("scikit-learn reference failed (exit \(out.status)): \(out.stderr.suffix(400))")
        }
        return (seconds, accuracy, obj["iterations"] as? Int ?? 0)
    }

    /// Runs `executable` (a path, or a name looked up on PATH by /usr/bin/env) with `arguments`.
    func runCapturing(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try ChildProcess.run("/usr/bin/env", [executable] + arguments)
    }
}
