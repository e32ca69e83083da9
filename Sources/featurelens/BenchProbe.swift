import ArgumentParser
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench probe`: the cost of one logistic-probe fit, with C fixed and chosen by
/// the held-out rule. Timings belong here, not in the test suite.
struct BenchProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Wall time of a logistic-probe fit: fixed C = 1 and the default held-out choice of C.",
        discussion: helpDiscussion("""
        Data: --rows training rows of width --width in --classes classes (class of row i = \
        i mod classes), each class a Gaussian N(μ_c, I) with μ_c ~ N(0, 0.0225·I), drawn with \
        SeededGenerator(seed: 1). Times LogisticProbe(c: 1).fit and LogisticProbe().fit (the \
        held-out rule over C ∈ {0.01, 0.1, 1, 10, 100}: five fits on 80% of the rows and a refit \
        on all of them) and prints their wall times, L-BFGS iterations, the chosen C and the \
        held-out balanced accuracy per C, after the time of one evaluation of the objective's data \
        term in double and in mixed precision.
        """, examples: [
            HelpExample("10 000 rows of width 128 in 10 classes", "featurelens bench probe"),
            HelpExample("A smaller problem", "featurelens bench probe --rows 2000 --width 64 --classes 4"),
        ])
    )

    @Option(name: .long, help: "Training rows.")
    var rows: Int = 10_000
    @Option(name: .long, help: "Embedding width.")
    var width: Int = 128
    @Option(name: .long, help: "Number of classes (≥ 2).")
    var classes: Int = 10

    func validate() throws {
        guard rows >= 2 * classes, width >= 1, classes >= 2 else {
            throw ValidationError("need --classes ≥ 2, --width ≥ 1 and --rows ≥ 2·classes; got rows \(rows), width \(width), classes \(classes)")
        }
    }

    /// The benchmark data of `bench probe` and `bench audit`: `rows` rows `[rows, width]` in
    /// `classes` classes (class of row i = i mod classes), each class a Gaussian N(μ_c, I) with
    /// μ_c ~ N(0, 0.0225·I), drawn with SeededGenerator(seed: 1).
    static func gaussianClasses(rows: Int, width: Int, classes: Int) -> (Tensor<Double>, [Int]) {
        var g = SeededGenerator(seed: 1)
        let means = Tensor<Double>(randomNormal: [classes, width], using: &g) * 0.15
        var x = Tensor<Double>(randomNormal: [rows, width], using: &g)
        let y = (0..<rows).map { $0 % classes }
        for i in 0..<rows { for j in 0..<width { x[i, j] += means[y[i], j] } }
        return (x, y)
    }

    func run() throws {
        let (x, y) = Self.gaussianClasses(rows: rows, width: width, classes: classes)
        print("logistic probe fit: \(rows) × \(width), \(classes) classes, threads \(Parallel.threadCount)")
        // One evaluation of the objective's data term (logits, softmax and Xᵀ·dZ in one pass over
        // the packed features), the unit of work every L-BFGS iteration pays at least once.
        let packed = PackedNarrowOperand(x)
        let m = classes == 2 ? 1 : classes
        let w = [Double](repeating: 0.01, count: width * m), b = [Double](repeating: 0, count: m)
        var best = Double.infinity
        for _ in 0..<10 {
            let t0 = Date()
            _ = logisticDataTerm(packed, weights: w, intercept: b, classes: m, labels: y, panelRows: 512,
                                 threads: Parallel.threadCount)
            best = min(best, Date().timeIntervalSince(t0))
        }
        let mp = (m + 3) / 4 * 4
        print(String(format: "  data term (logits, softmax and Xᵀ·dZ, one pass): %.1f ms per evaluation (best of 10), "
                     + "%.1f GFLOP/s counting 4·n·p·%d", best * 1e3, 4 * Double(rows * width * mp) / best / 1e9, mp))
        do {
            // The same evaluation in mixed precision (the default probe's data term).
            let mean = [Double](repeating: 0, count: width), scale = [Double](repeating: 1, count: width)
            let packed32 = PackedLogisticFeatures(x, mean: mean, scale: scale, threads: Parallel.threadCount)
            var best32 = Double.infinity
            for _ in 0..<10 {
                let t0 = Date()
                _ = logisticDataTermMixed(packed32, weights: w, intercept: b, classes: m, labels: y, panelRows: 512,
                                          threads: Parallel.threadCount)
                best32 = min(best32, Date().timeIntervalSince(t0))
            }
            print(String(format: "  the same in mixed precision (float features and chains, %@): %.1f ms (best of 10), "
                         + "%.1f GFLOP/s counting 4·n·p·%d; %.2f× the double pass's speed", logisticMixedKernelName,
                         best32 * 1e3, 4 * Double(rows * width * m) / best32 / 1e9, m, best / best32))
        }
        var t = Date()
        let fixed = try LogisticProbe(c: 1).fit(train: x, labels: y)
        print(String(format: "  fixed C = 1: %.2f s, %d iterations, converged %@", Date().timeIntervalSince(t),
                     fixed.iterations, fixed.converged ? "yes" : "no"))
        t = Date()
        let auto = try LogisticProbe().fit(train: x, labels: y)
        print(String(format: "  held-out rule: %.2f s, chose C = %g, final fit %d iterations, converged %@",
                     Date().timeIntervalSince(t), auto.c, auto.iterations, auto.converged ? "yes" : "no"))
        for (c, a) in auto.heldOutAccuracy ?? [] { print(String(format: "    C = %-6g held-out balanced accuracy %.4f", c, a)) }
    }
}
