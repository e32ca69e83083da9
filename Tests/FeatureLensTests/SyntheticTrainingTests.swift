import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The linear spectral engine: loss and gradient, Gram-space vs direct steps, the probe.
@Suite struct SyntheticTrainingTests {
    /// Finite differences of the spectral loss in Double, and the stacked layout.
    @Test func spectralGradientMatchesFiniteDifferences() throws {
        var g = SeededGenerator(seed: 11)
        let n = 6, p = 3
        let classes = [0, 1, 0, 2, 1, 1]
        let pairs = try SpectralPairWeights(beta: 0.4, classes: classes)
        let z1 = Tensor<Double>(randomNormal: [n, p], using: &g), z2 = Tensor<Double>(randomNormal: [n, p], using: &g)
        let r = try LinearSpectralObjective.evaluate(z1, z2, pairs: pairs)
        // Value against the dense formula.
        let pd = pairs.dense()
        var dense = 0.0
        for i in 0..<n { for j in 0..<n {
            var dot = 0.0
            for k in 0..<p { dot += z1[i, k] * z2[j, k] }
            dense += -2 * pd[i, j] * dot + dot * dot / Double(n * n)
        } }
        #expect(abs(r.value - dense) < 1e-12)
        let h = 1e-6
        for (which, grad) in [(0, r.gradient1), (1, r.gradient2)] {
            for idx in 0..<(n * p) {
                var a1 = z1, a2 = z2, b1 = z1, b2 = z2
                if which == 0 { a1.scalars[idx] += h; b1.scalars[idx] -= h } else { a2.scalars[idx] += h; b2.scalars[idx] -= h }
                let fd = (try LinearSpectralObjective.evaluate(a1, a2, pairs: pairs).value
                          - LinearSpectralObjective.evaluate(b1, b2, pairs: pairs).value) / (2 * h)
                #expect(abs(fd - grad.scalars[idx]) < 1e-7, "view \(which + 1) entry \(idx): fd \(fd) vs \(grad.scalars[idx])")
            }
        }
        let stacked = try LinearSpectralObjective.evaluateStacked(Tensor.concatenateRows([z1, z2]), labels: classes, beta: 0.4)
        #expect(stacked.value == r.value)
        #expect(stacked.gradient == Tensor.concatenateRows([r.gradient1, r.gradient2]))
        let ucl = try LinearSpectralObjective.evaluateStacked(Tensor.concatenateRows([z1, z2]), labels: nil, beta: 0.4)
        #expect(ucl.value == (try LinearSpectralObjective.evaluate(z1, z2, pairs: .unsupervised(n: n)).value))
    }

    /// The engine's fused loss and gradient (`LinearContrastiveProblem.lossAndGradient`, one C
    /// pass) agree with the reference `LinearSpectralObjective` (checked against finite
    /// differences above) to rounding: one and two views, UCL, SCL and a mix, and widths on
    /// both sides of the vector width.
    @Test(arguments: [1, 3, 8, 13])
    func fusedLossAndGradientMatchesTheReference(p: Int) throws {
        var g = SeededGenerator(seed: UInt64(100 + p))
        let n = 37, d = 5
        let classes = (0..<n).map { ($0 * 7) % 4 }
        for beta in [0.0, 0.4, 1.0] {
            let pairs = try SpectralPairWeights(beta: beta, classes: classes)
            let x1 = Tensor<Double>(randomNormal: [n, d], using: &g), x2 = Tensor<Double>(randomNormal: [n, d], using: &g)
            let z1 = Tensor<Double>(randomNormal: [n, p], using: &g), z2 = Tensor<Double>(randomNormal: [n, p], using: &g)
            // Two views.
            let two = try LinearContrastiveProblem(views: [x1, x2], pairs: pairs)
            let fused2 = try two.lossAndGradient(stackedEmbeddings: Tensor.concatenateRows([z1, z2]))
            let ref2 = try LinearSpectralObjective.evaluate(z1, z2, pairs: pairs)
            let refGrad2 = Tensor.concatenateRows([ref2.gradient1, ref2.gradient2])
            #expect(abs(fused2.value - ref2.value) <= 1e-12 * max(1, abs(ref2.value)), "p \(p) β \(beta)")
            #expect((fused2.gradient - refGrad2).norm() <= 1e-12 * max(1, refGrad2.norm()), "p \(p) β \(beta)")
            // One view: both branches see Z.
            let one = try LinearContrastiveProblem(views: [x1], pairs: pairs)
            let fused1 = try one.lossAndGradient(stackedEmbeddings: z1)
            let ref1 = try LinearSpectralObjective.evaluate(z1, z1, pairs: pairs)
            let refGrad1 = ref1.gradient1 + ref1.gradient2
            #expect(abs(fused1.value - ref1.value) <= 1e-12 * max(1, abs(ref1.value)), "p \(p) β \(beta)")
            #expect((fused1.gradient - refGrad1).norm() <= 1e-12 * max(1, refGrad1.norm()), "p \(p) β \(beta)")
        }
    }

    /// The training problem of a small CC model (d = 150, a_s = 0.6, ρ = 0.6) with `n` points,
    /// its views drawn with `augmentation` from `seed`, pairs weighted by `beta`.
    static func ccProblem(n: Int, augmentation: AugmentationKind, beta: Double, seed: UInt64) throws -> LinearContrastiveProblem {
        let model = SyntheticModel(kind: .cc, d: 150, n: n, nTest: 10, aC: 1, aS: 0.6, rho: 0.6)
        let data = try model.generate(augmentation: augmentation, seed: seed)
        let pairs = try SpectralPairWeights(beta: beta, classes: data.train.labels["class"]!.codes)
        return try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
    }

    /// The Gram-space step (W = W₀ + B·Xs) gives the same W as the direct O(n·d·p) step, with
    /// and without augmentation, and the same losses at the audits.
    @Test(arguments: [(AugmentationKind.none, 1.0), (.imperfect, 0.0), (.imperfect, 0.5)])
    func gramStepEqualsDirectStep(augmentation: AugmentationKind, beta: Double) throws {
        let problem = try Self.ccProblem(n: 30, augmentation: augmentation, beta: beta, seed: 3)
        var gen = SeededGenerator(seed: 8)
        let w0 = LinearGradientDescent.initialWeights(p: 4, d: 150, scale: 0.1, using: &gen)
        let gd = LinearGradientDescent(learningRate: 0.1, steps: 60, auditSteps: [0, 7, 60])
        var lossesGram: [Double] = [], lossesDirect: [Double] = []
        let wg = try gd.train(problem, initial: w0, method: .gram) { lossesGram.append($0.loss) }
        let wd = try gd.train(problem, initial: w0, method: .direct) { lossesDirect.append($0.loss) }
        #expect(lossesGram.count == 3)
        #expect((wg - wd).norm() <= 1e-10 * wd.norm(), "‖W_gram − W_direct‖ = \((wg - wd).norm())")
        #expect((wg - w0).norm() > 0.1 * w0.norm())                      // training moved W
        for (a, b) in zip(lossesGram, lossesDirect) { #expect(abs(a - b) <= 1e-10 * max(1, abs(b))) }
        #expect(lossesGram.last! < lossesGram.first!)
    }

    /// `step_precision = mixed` (Float products K·Bᵀ, Double state) follows the Double run to
    /// within Float rounding, without drift over many steps, and is bit-identical for 1 and 2
    /// threads.
    @Test(arguments: [(AugmentationKind.none, 1.0), (.imperfect, 0.0)])
    func mixedPrecisionStepFollowsTheDoubleStep(augmentation: AugmentationKind, beta: Double) throws {
        let problem = try Self.ccProblem(n: 60, augmentation: augmentation, beta: beta, seed: 5)
        var gen = SeededGenerator(seed: 9)
        let w0 = LinearGradientDescent.initialWeights(p: 5, d: 150, scale: 1e-3, using: &gen)
        var gd = LinearGradientDescent(learningRate: 0.05, steps: 2000, auditSteps: [0, 2000])
        var exactLosses: [Double] = []
        let exact = try gd.train(problem, initial: w0, method: .gram) { exactLosses.append($0.loss) }
        gd.precision = .mixed
        var mixedLosses: [Double] = []
        let mixed = try gd.train(problem, initial: w0, method: .gram) { mixedLosses.append($0.loss) }
        gd.threads = 2
        let mixed2 = try gd.train(problem, initial: w0, method: .gram) { _ in }
        #expect(mixed == mixed2)
        #expect(mixed != exact)                                           // the Float path was taken
        #expect((exact - w0).norm() > 10 * w0.norm())                    // training moved W
        #expect((mixed - exact).norm() <= 1e-5 * exact.norm(), "‖W_mixed − W_float64‖ = \((mixed - exact).norm()) of \(exact.norm())")
        #expect(abs(mixedLosses.last! - exactLosses.last!) <= 1e-6 * abs(exactLosses.last!))
    }

    @Test func nonFiniteLossNamesTheStep() throws {
        let model = SyntheticModel(kind: .fsA, d: 100, n: 20, nTest: 10, aC: 1, k: 2, aE: 2)
        let data = try model.generate(augmentation: .imperfect, seed: 1)
        let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: .unsupervised(n: 20))
        var gen = SeededGenerator(seed: 1)
        let w0 = LinearGradientDescent.initialWeights(p: 2, d: 100, scale: 1, using: &gen)
        let gd = LinearGradientDescent(learningRate: 1e6, steps: 50, auditSteps: [])
        do {
            _ = try gd.train(problem, initial: w0) { _ in }
            Issue.record("diverging run did not throw")
        } catch let LinearTrainingError.nonFiniteLoss(step, _) {
            #expect(step > 0 && step <= 50)
        }
        #expect(throws: LinearTrainingError.self) {
            _ = try LinearGradientDescent(learningRate: 0.1, steps: 2, auditSteps: []).train(
                problem, initial: w0, method: .gram, onlineViews: { g in data.drawViews(using: &g) }) { _ in }
        }
    }

    /// Online augmentation (fresh views every step) runs through the direct step, is
    /// deterministic for a seed, and differs from fixed views.
    @Test func onlineAugmentationIsSeeded() throws {
        var c = SyntheticExperimentConfig()
        c.data = .fsA; c.d = 100; c.n = 20; c.nTest = 40; c.k = 2; c.p = 3; c.steps = 20; c.auditSteps = [0, 20]
        c.onlineAugmentation = true; c.lr = 0.05
        let a = try SettingOutcome.run(c), b = try SettingOutcome.run(c)
        #expect(a.report == b.report)
        #expect(a.theory == nil && a.report.theory == nil)
        c.onlineAugmentation = false
        let fixed = try SettingOutcome.run(c)
        #expect(fixed.timeline.last!.loss != a.timeline.last!.loss)
    }

    @Test func signatureProbe() throws {
        let probe = RidgeProbe()
        var g = SeededGenerator(seed: 2)
        // Separable along dim 0 with a large offset: balanced accuracy 1 (bias needed).
        let labels = (0..<100).map { $0 % 3 == 0 ? 1 : 0 }
        var train = Tensor<Double>(randomNormal: [100, 3], standardDeviation: 0.1, using: &g)
        for i in 0..<100 { train[i, 0] += 5 + (labels[i] == 1 ? 1 : -1) }
        #expect(try probe.balancedAccuracy(train: train, trainLabels: labels, test: train, testLabels: labels) == 1)
        // Exact collapse: majority class, balanced accuracy 0.5.
        let collapsed = Tensor<Double>(repeating: 0.7, shape: [100, 3])
        #expect(try probe.balancedAccuracy(train: collapsed, trainLabels: labels, test: train, testLabels: labels) == 0.5)
        // Collapse up to rounding also counts as collapse.
        var nearly = collapsed
        for i in 0..<100 { nearly[i, 1] += 1e-16 * Double(i % 2) }
        #expect(try probe.balancedAccuracy(train: nearly, trainLabels: labels, test: train, testLabels: labels) == 0.5)
        // Three classes, one-vs-rest.
        let l3 = (0..<90).map { $0 % 3 }
        var t3 = Tensor<Double>(randomNormal: [90, 2], standardDeviation: 0.05, using: &g)
        for i in 0..<90 { t3[i, 0] += [0.0, 1, 0][l3[i]]; t3[i, 1] += [0.0, 0, 1][l3[i]] }
        #expect(try probe.balancedAccuracy(train: t3, trainLabels: l3, test: t3, testLabels: l3) == 1)
        #expect(ProbeScore(predicted: [0, 0, 0, 1], truth: [0, 0, 0, 1], measure: .balanced).accuracy == 1)
        #expect(ProbeScore(predicted: [0, 0, 0, 0], truth: [0, 0, 0, 1], measure: .balanced).accuracy == 0.5)
        #expect(throws: ProbeError.self) { try probe.balancedAccuracy(train: t3, trainLabels: [0], test: t3, testLabels: l3) }
        // Nested label set: probed within each class. A subclass that flips meaning between
        // classes is perfectly readable within class but not globally.
        let y = (0..<80).map { $0 % 2 }, s = (0..<80).map { ($0 / 2) % 2 }
        var z = Tensor<Double>(zeros: [80, 2])
        for i in 0..<80 { z[i, 0] = Double(y[i]); z[i, 1] = (s[i] == y[i] ? 1 : -1) + 0.01 * Double(i % 5) }
        let ds = try Dataset(features: z, labels: ["class": LabelSet(name: "class", codes: y),
                                                   "subclass": LabelSet(name: "subclass", codes: s, within: "class")])
        let r = try probeLabelSets(probe, trainEmbeddings: z, trainSet: ds, testEmbeddings: z, testSet: ds)
        #expect(r["class"] == 1 && r["subclass"] == 1)
    }
}
