import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Theory of SCIENCE.md §4: closed-form minimum-norm minimizers, their optimality, and the
/// comparison metrics computed without d×d matrices.
@Suite struct TheoryTests {
    /// The toy of SCIENCE.md §1 as an SCL problem without augmentation: one class of two points,
    /// p = 1. ZZᵀ = n²P = 11ᵀ, so z* = ±(1, 1) and the minimum-norm w* = ±(x₁ + x₂)/2.16 (the
    /// toy's target 0.5 doubled): zero subclass weight and equal outputs on both test points.
    @Test func toyOfSectionOne() throws {
        let x = Tensor<Double>(rows: [[1, 1, 0.4, 0, 0, 0, 0, 0], [1, -1, 0, 0.4, 0, 0, 0, 0]])
        let pairs = try SpectralPairWeights(beta: 1, classes: [0, 0])
        let problem = try LinearContrastiveProblem(views: [x], pairs: pairs)
        let solver = try MinimumNormSolver(problem: problem)
        let sol = try solver.solve(p: 1)
        let w = sol.weights(stackedInputs: x)
        let sign = w[0, 0] > 0 ? 1.0 : -1.0
        let expected: [Double] = [2, 0, 0.4, 0.4, 0, 0, 0, 0].map { sign * $0 / 2.16 }
        for j in 0..<8 { #expect(abs(w[0, j] - expected[j]) < 1e-12, "w*[\(j)] = \(w[0, j])") }
        #expect(abs(w[0, 1]) < 1e-12)                                     // subclass weight 0
        let test = Tensor<Double>(rows: [[1, 1, 0, 0, 0.4, 0, 0, 0], [1, -1, 0, 0, 0, 0.4, 0, 0]])
        let out = embed(test, w)
        #expect(abs(abs(out[0, 0]) - 2 * 0.5 / 2.16 * 2) < 1e-12)          // 0.926 = 2 × 0.463
        #expect(abs(out[0, 0] - out[1, 0]) < 1e-12)                        // CC on test
        #expect(abs(sol.loss - (-1)) < 1e-12 && abs(sol.optimalLoss - (-1)) < 1e-12)
        // The non-minimum-norm fit of the toy (scaled to target 1) fits training but not test.
        let wAlt = Tensor<Double>(rows: [[1, 2, -5, 5, 0, 0, 0, 0]])
        let trainAlt = embed(x, wAlt), testAlt = embed(test, wAlt)
        #expect(abs(trainAlt[0, 0] - 1) < 1e-12 && abs(trainAlt[1, 0] - 1) < 1e-12)
        #expect(abs(testAlt[0, 0] - 3) < 1e-12 && abs(testAlt[1, 0] + 1) < 1e-12)
        #expect(abs(try problem.loss(wAlt) - sol.loss) < 1e-12)
        #expect(wAlt.norm() > w.norm())
    }

    static func smallData(_ kind: SyntheticDataKind, augmentation: AugmentationKind, n: Int = 40, d: Int = 120,
                          seed: UInt64 = 1) throws -> SyntheticData {
        var m = SyntheticModel(kind: kind, d: d, n: n, nTest: 200, aC: 1, aS: 0.6, rho: 0.6, k: 2, aE: 2, aZ: 5, m: 10)
        if kind == .fsB { m.m = 10 }
        return try m.generate(augmentation: augmentation, seed: seed)
    }

    /// ∂L/∂W = Gsᵀ Xs at W* vanishes (a stationary point) and L(W*) equals the closed-form
    /// optimum, for SCL without augmentation and for UCL / joint with two views.
    @Test(arguments: [(1.0, AugmentationKind.none, 8), (0.0, .imperfect, 3), (0.5, .imperfect, 5), (0.25, .perfect, 4)])
    func minimumNormIsOptimalAndStationary(beta: Double, augmentation: AugmentationKind, p: Int) throws {
        let data = try Self.smallData(augmentation == .perfect ? .fsB : .cc, augmentation: augmentation)
        let pairs = try SpectralPairWeights(beta: beta, classes: data.train.labels["class"]!.codes)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        let solver = try MinimumNormSolver(problem: problem)
        let sol = try solver.solve(p: p)
        #expect(abs(sol.loss - sol.optimalLoss) <= 1e-9 * abs(sol.optimalLoss), "L(W*) \(sol.loss) vs L* \(sol.optimalLoss)")
        let xs = problem.stackedInputs
        let w = sol.weights(stackedInputs: xs)
        let (_, g) = try problem.lossAndGradient(stackedEmbeddings: embed(xs, w))
        let gradW = g.matmul(xs, transposeSelf: true)
        #expect(gradW.norm() <= 1e-8 * max(1, w.norm()), "‖∇L(W*)‖ = \(gradW.norm())")
        // Norm bookkeeping: ‖W*‖² from coefficients equals the materialized norm.
        #expect(abs(sol.squaredNorm - w.norm() * w.norm()) <= 1e-9 * sol.squaredNorm)
        // Comparing W* with itself gives ratio 1, distance 0, gap 0.
        let c = try solver.compare(weights: w, loss: sol.loss, to: sol)
        #expect(abs(c.normRatio - 1) < 1e-9 && c.gramDistance < 1e-6 && abs(c.lossGap) < 1e-9)
    }

    /// Inside a degenerate eigenspace the min-norm choice beats any other minimizer of the same
    /// form: replace the bottom-of-H vectors by random ones in the same space (UCL: all of ℝⁿ).
    @Test func degenerateChoiceHasSmallestNorm() throws {
        let data = try Self.smallData(.fsA, augmentation: .imperfect)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: .unsupervised(n: data.model.n))
        let solver = try MinimumNormSolver(problem: problem)
        let p = 3, n = data.model.n
        let sol = try solver.solve(p: p)
        var g = SeededGenerator(seed: 9)
        for _ in 0..<5 {
            // Random orthonormal Q (Gram–Schmidt), Z = n·Q·√(1/n), Zs = [Z; Z].
            var q = Tensor<Double>(randomNormal: [n, p], using: &g)
            for j in 0..<p {
                for k in 0..<j {
                    var dot = 0.0
                    for i in 0..<n { dot += q[i, j] * q[i, k] }
                    for i in 0..<n { q[i, j] -= dot * q[i, k] }
                }
                var nrm = 0.0
                for i in 0..<n { nrm += q[i, j] * q[i, j] }
                for i in 0..<n { q[i, j] /= nrm.squareRoot() }
            }
            let z = q * Double(n).squareRoot()
            let zs = Tensor.concatenateRows([z, z])
            let c = try solver.solveGram(zs)
            var norm2 = 0.0
            for i in 0..<zs.count { norm2 += zs.scalars[i] * c.scalars[i] }
            let loss = try problem.lossAndGradient(stackedEmbeddings: zs).value
            #expect(abs(loss - sol.optimalLoss) < 1e-9 * abs(sol.optimalLoss))
            #expect(norm2 > sol.squaredNorm, "random minimizer norm² \(norm2) vs min-norm \(sol.squaredNorm)")
        }
    }

    /// The CC minimum-norm minimizer collapses the subclass at test and keeps the class.
    @Test func classCollapseMinimumNormCollapsesSubclass() throws {
        let data = try Self.smallData(.cc, augmentation: .none, n: 60, d: 300, seed: 3)
        let pairs = try SpectralPairWeights(beta: 1, classes: data.train.labels["class"]!.codes)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        let sol = try MinimumNormSolver(problem: problem).solve(p: 4)
        let w = sol.weights(stackedInputs: problem.stackedInputs)
        let probes = try probeLabelSets(RidgeProbe(), trainEmbeddings: embed(data.train.features, w), trainSet: data.train,
                                        testEmbeddings: embed(data.test.features, w), testSet: data.test)
        #expect(probes["class"]! >= 0.99)
        #expect(probes["subclass"]! <= 0.6)
        #expect(abs(sol.optimalLoss + 2) < 1e-12)   // two balanced classes: L* = −2
        // Training embeddings of one class are identical (collapse on train), up to rounding.
        let z = embed(data.train.features, w)
        let y = data.train.labels["class"]!.codes
        let first = (0...1).map { c in y.firstIndex(of: c)! }
        for i in 0..<y.count { for j in 0..<4 { #expect(abs(z[i, j] - z[first[y[i]], j]) < 1e-9) } }
    }

    /// The Gram distance and norm ratio computed through p×p traces match the brute-force
    /// d×d computation (allowed here because d is tiny).
    @Test func comparisonMatchesBruteForce() throws {
        let data = try Self.smallData(.cc, augmentation: .imperfect, n: 12, d: 40)
        let pairs = try SpectralPairWeights(beta: 0.5, classes: data.train.labels["class"]!.codes)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
        let solver = try MinimumNormSolver(problem: problem)
        let sol = try solver.solve(p: 3)
        let xs = problem.stackedInputs
        var g = SeededGenerator(seed: 4)
        let w = Tensor<Double>(randomNormal: [3, 40], standardDeviation: 0.3, using: &g)
        let c = try solver.compare(weights: w, loss: try problem.loss(w), to: sol)
        // Brute force: Π_row = Xsᵀ G⁻¹ Xs (d×d), W_row = W Π_row.
        let gInvXs = try solver.solveGram(xs)
        let proj = xs.matmul(gInvXs, transposeSelf: true)
        let wRow = w.matmul(proj)
        let wStar = sol.weights(stackedInputs: xs)
        let a = wRow.matmul(wRow, transposeSelf: true), b = wStar.matmul(wStar, transposeSelf: true)
        #expect(abs(c.normRatio - wRow.norm() / wStar.norm()) < 1e-9)
        #expect(abs(c.fullNormRatio - w.norm() / wStar.norm()) < 1e-9)
        #expect(abs(c.gramDistance - (a - b).norm() / b.norm()) < 1e-9)
    }

    /// The structured spectrum of P matches a dense eigendecomposition.
    @Test func pairWeightSpectrumMatchesDense() throws {
        let classes = [0, 1, 1, 0, 2, 1, 0, 1, 2, 1]
        for beta in [0.0, 0.3, 1.0] {
            let pw = try SpectralPairWeights(beta: beta, classes: classes)
            let dense = pw.dense()
            #expect(abs(dense.sum() - 1) < 1e-12)
            #expect(abs(pw.squaredNorm - dense.norm() * dense.norm()) < 1e-12)
            let eig = try SymmetricEigen(dense)
            var structured: [Double] = []
            for s in pw.eigenspaces() { structured += [Double](repeating: s.value, count: s.dimension) }
            for (a, b) in zip(structured, eig.values) { #expect(abs(a - b) < 1e-12, "β \(beta): \(structured) vs \(eig.values)") }
            var g = SeededGenerator(seed: 2)
            let z = Tensor<Double>(randomNormal: [classes.count, 3], using: &g)
            #expect((pw.apply(z) - dense.matmul(z)).norm() < 1e-12)
        }
        #expect(throws: SpectralObjectiveError.betaOutOfRange(1.5)) { try SpectralPairWeights(beta: 1.5, classes: [0]) }
    }

    /// Population minimizer: easy features (a_e > a_c) come first in the learning order of
    /// FS-a; for SCL on CC data the subclass enters M only through (2ρ − 1)².
    @Test func populationMinimizer() throws {
        let fsA = SyntheticModel(kind: .fsA, d: 2000, n: 200, aC: 1, k: 4, aE: 2)
        let pop = try PopulationMinimizer(model: fsA, augmentation: .imperfect, beta: 0, p: 4)
        #expect(pop.learningOrder.prefix(4).allSatisfy { $0.hasPrefix("easy") })
        #expect(pop.learningOrder[4] == "class")
        #expect(pop.eigenvalues.count == 4)
        let expected = 4.0 / (4 + 1.0 / 2000)
        #expect(abs(pop.minimumValue + 4 * expected * expected) < 1e-12)
        let cc = SyntheticModel(kind: .cc, d: 2000, n: 400, aC: 1, aS: 0.6, rho: 0.5)
        let popCC = try PopulationMinimizer(model: cc, augmentation: .none, beta: 1, p: 8)
        #expect(popCC.featureWeights["subclass"]! == 0)
        #expect(popCC.featureWeights["class"]! > 0.9)
        let cc6 = SyntheticModel(kind: .cc, d: 2000, n: 400, aC: 1, aS: 0.6, rho: 0.6)
        let popCC6 = try PopulationMinimizer(model: cc6, augmentation: .none, beta: 1, p: 8)
        #expect(popCC6.featureWeights["subclass"]! > 0)
        #expect(popCC6.learningOrder == ["class", "subclass"])
    }
}
