import ArgumentParser
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench linear`: the cost of the Gram-space engine's parts (one step, and where
/// one synthetic setting's time goes). Timings belong here, not in the test suite.
struct BenchLinear: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear",
        abstract: "Per-step cost of the linear Gram-space engine, and where a synthetic setting's time goes.",
        discussion: helpDiscussion("""
        Part 1 (step cost): for m = 400 rows and p = 3, 8 and 64 columns, the mean time of the \
        narrow GEMM K·B (K [m, m], B [m, p], accumulated into C; plain, K packed in float64, and K packed in float32 with float32 products added to a float64 C, the two step_precision choices) and of one spectral loss and \
        gradient (LinearContrastiveProblem.lossAndGradient, d = 50, β = 1, two classes), over \
        --repeats calls each, with standard-normal inputs from SeededGenerator(seed: 1). \
        Part 2 (breakdown, unless --no-breakdown): for suppression-embedding-size setting 3, \
        suppression-augmentation setting 0 and joint-loss setting 1 (seed 0), the wall time of \
        data generation, the Gram matrix, 1000 gradient-descent steps (in the preset's step_precision), one audit of every \
        label set, the minimum-norm solver's set-up, its norm matrix H and the solve at p.
        """, examples: [
            HelpExample("Both parts", "featurelens bench linear"),
            HelpExample("Part 1 only, 500 calls per kernel", "featurelens bench linear --repeats 500 --no-breakdown"),
        ])
    )

    @Option(name: .long, help: "Calls per timed kernel in part 1.")
    var repeats: Int = 2000

    @Flag(name: .long, help: "Skip part 2 (the per-setting breakdown).")
    var noBreakdown = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }

    func run() throws {
        print("narrow kernel: \(narrowGEMMKernelName)")
        var g = SeededGenerator(seed: 1)
        for (m, p) in [(400, 3), (400, 8), (400, 64)] {
            let k = Tensor<Double>(randomNormal: [m, m], using: &g)
            let b = Tensor<Double>(randomNormal: [m, p], using: &g)
            var c = Tensor<Double>(zeros: [m, p])
            var t0 = Date()
            for _ in 0..<repeats { narrowGEMM(k, b, beta: 1, into: &c) }
            let dt = Date().timeIntervalSince(t0)
            print("narrowGEMM \(m)x\(m) · \(m)x\(p): \(String(format: "%.1f", dt / Double(repeats) * 1e6)) µs, "
                  + "\(String(format: "%.1f", 2.0 * Double(m * m * p) * Double(repeats) / dt / 1e9)) GFlop/s")
            // The two forms the Gram-space step uses: K packed once, in float64 or mixed precision.
            let packed = PackedNarrowOperand(k), packed32 = PackedNarrowOperandFloat32(k)
            t0 = Date()
            for _ in 0..<repeats { narrowGEMM(packed, b, beta: 1, into: &c) }
            let dtPacked = Date().timeIntervalSince(t0)
            t0 = Date()
            for _ in 0..<repeats { narrowGEMMAccumulatingInFloat(packed32, b, into: &c) }
            let dtMixed = Date().timeIntervalSince(t0)
            func rate(_ t: Double) -> String {
                String(format: "%.1f µs, %.1f GFlop/s", t / Double(repeats) * 1e6, 2.0 * Double(m * m * p) * Double(repeats) / t / 1e9)
            }
            print("  packed K (step_precision=float64): \(rate(dtPacked)); mixed (step_precision=mixed, \(narrowGEMMFloat32KernelName)): "
                  + "\(rate(dtMixed)); mixed/float64 time \(String(format: "%.2f", dtMixed / dtPacked))")
            let pairs = try SpectralPairWeights(beta: 1, classes: (0..<m).map { $0 % 2 })
            let views = [Tensor<Double>(randomNormal: [m, 50], using: &g)]
            let problem = try LinearContrastiveProblem(views: views, pairs: pairs)
            t0 = Date()
            for _ in 0..<repeats { _ = try problem.lossAndGradient(stackedEmbeddings: b) }
            let dt2 = Date().timeIntervalSince(t0)
            print("lossAndGradient n=\(m) p=\(p): \(String(format: "%.1f", dt2 / Double(repeats) * 1e6)) µs")
        }
        if noBreakdown { return }
        for (preset, index) in [(SyntheticPreset.suppressionEmbeddingSize, 3), (.suppressionAugmentation, 0), (.jointLoss, 1)] {
            let c = try preset.config(setting: index)
            var t = Date()
            func lap(_ what: String) {
                print("  \(preset.name)[\(index)] \(what): \(String(format: "%.3f", Date().timeIntervalSince(t))) s")
                t = Date()
            }
            let data = try c.model.generate(augmentation: c.augmentation, seed: 0); lap("generate")
            let pairs = try SpectralPairWeights(beta: c.beta, classes: data.train.labels["class"]!.codes)
            let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
            let gram = gramOfRows(problem.stackedInputs); lap("gram")
            var gen = SeededGenerator(seed: 1)
            let w0 = LinearGradientDescent.initialWeights(p: c.p, d: c.d, scale: 1e-3, using: &gen)
            var gd = LinearGradientDescent(learningRate: c.lr, steps: 1000, auditSteps: [])
            gd.precision = c.stepPrecision
            let w = try gd.train(problem, initial: w0, gram: gram) { _ in }
            lap("1000 steps")
            _ = try probeLabelSets(RidgeProbe(), trainEmbeddings: embed(data.train.features, w), trainSet: data.train,
                                   testEmbeddings: embed(data.test.features, w), testSet: data.test)
            lap("one audit (probes)")
            let solver = try MinimumNormSolver(problem: problem, gram: gram); lap("solver init (cholesky)")
            _ = try solver.normMatrix(); lap("H")
            _ = try solver.solve(p: c.p); lap("solve p (eigen of restricted H)")
        }
    }
}
