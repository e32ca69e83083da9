import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

// MARK: - Private helpers (names prefixed to avoid clashes with other test files)

/// Central finite differences of `loss` at `z` (Double), h = 1e-5.
private func lossFiniteDifference(_ loss: any ContrastiveLoss, _ z: Tensor<Double>, labels: [Int]?,
                                  h: Double = 1e-5) throws -> Tensor<Double> {
    var g = Tensor<Double>(zeros: z.shape)
    var zp = z
    for i in 0..<z.count {
        let x = z.scalars[i]
        zp.scalars[i] = x + h
        let fp = try loss.evaluate(zp, labels: labels).value
        zp.scalars[i] = x - h
        let fm = try loss.evaluate(zp, labels: labels).value
        zp.scalars[i] = x
        g.scalars[i] = (fp - fm) / (2 * h)
    }
    return g
}

/// ‖a − b‖₂ / max(‖b‖₂, floor).
private func lossRelativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-8) -> Double {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i] }
    return num.squareRoot() / max(den.squareRoot(), floor)
}

private func lossRelativeError(_ a: Double, _ b: Double, floor: Double = 1e-8) -> Double {
    abs(a - b) / max(abs(b), floor)
}

private func lossRandom(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
    var g = SeededGenerator(seed: seed)
    return Tensor<Double>(randomNormal: shape, standardDeviation: scale, using: &g)
}

private func lossFixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: "json",
                                   subdirectory: "Fixtures/golden/losses"),
                 "missing fixture \(name).json (run Tools/golden/make_loss_golden.py)")
}

private struct LossFixtureFile: Decodable { var cases: [LossFixtureCase] }

private struct LossFixtureCase: Decodable {
    var name: String
    var n: Int
    var p: Int
    var embeddings: [Double]
    var value: Double
    var gradient: [Double]
    var labels: [Int]?
    var pairing: String?
    var beta: Double?
    var P: [Double]?
    var temperature: Double?
    var views: Int?
    var kind: String?
    var lam: Double?

    var rows: Int { embeddings.count / p }
    var tensor: Tensor<Double> { Tensor(shape: [rows, p], scalars: embeddings) }
}

private func lossFixtureCases(_ file: String) throws -> [LossFixtureCase] {
    let data = try Data(contentsOf: try lossFixtureURL(file))
    let cases = try JSONDecoder().decode(LossFixtureFile.self, from: data).cases
    #expect(!cases.isEmpty)
    return cases
}

/// Builds the loss a fixture case describes.
private func lossFromFixture(_ file: String, _ c: LossFixtureCase) throws -> any ContrastiveLoss {
    switch file {
    case "spectral":
        switch c.pairing! {
        case "unsupervised": return try SpectralContrastiveLoss(pairing: .unsupervised)
        case "supervised": return try SpectralContrastiveLoss(pairing: .supervised)
        case "joint": return try SpectralContrastiveLoss(pairing: .joint(beta: c.beta!))
        default: return try SpectralContrastiveLoss(pairing: .explicit(Tensor(shape: [c.n, c.n], scalars: c.P!)))
        }
    case "infonce": return try InfoNCELoss(temperature: c.temperature!)
    case "supcon": return try SupConLoss(temperature: c.temperature!, viewsPerExample: c.views!)
    default:
        if c.kind == "supConPlusNTXent" {
            return try JointLoss.supConPlusNTXent(temperature: c.temperature!, lambda: c.lam!)
        }
        return try JointLoss.betaWeighted(supervised: SupConLoss(temperature: c.temperature!),
                                          unsupervised: InfoNCELoss(temperature: c.temperature!),
                                          beta: c.beta!)
    }
}

// MARK: - Golden values from PyTorch

@Suite struct LossGoldenTests {
    @Test(arguments: ["spectral", "infonce", "supcon", "joint"])
    func matchesPyTorch(file: String) throws {
        for c in try lossFixtureCases(file) {
            let loss = try lossFromFixture(file, c)
            // Double: agreement to rounding.
            let d = try loss.evaluate(c.tensor, labels: c.labels)
            #expect(lossRelativeError(d.value, c.value) <= 1e-10, "\(file)/\(c.name) Double value \(d.value) vs \(c.value)")
            #expect(lossRelativeError(d.gradient.scalars, c.gradient) <= 1e-10, "\(file)/\(c.name) Double gradient")
            #expect(d.gradient.shape == [c.rows, c.p])
            // Float: the acceptance tolerance 1e-4 relative.
            let f = try loss.evaluate(Tensor<Float>(c.tensor), labels: c.labels)
            let fv = Double(f.value), fg = f.gradient.scalars.map(Double.init)
            #expect(lossRelativeError(fv, c.value) <= 1e-4, "\(file)/\(c.name) Float value \(fv) vs \(c.value)")
            #expect(lossRelativeError(fg, c.gradient) <= 1e-4, "\(file)/\(c.name) Float gradient")
            #expect(fv.isFinite && fg.allSatisfy { $0.isFinite })
        }
    }
}

// MARK: - Finite differences (Double)

@Suite struct LossGradientTests {
    /// (N, p) shapes: batch 1, odd sizes, p < N and p > N.
    static let shapes: [(Int, Int)] = [(1, 3), (2, 1), (3, 5), (5, 2), (7, 4)]

    private func check(_ loss: any ContrastiveLoss, labelsFor: (Int) -> [Int]?, seed: UInt64,
                       scale: Double = 1) throws {
        for (k, (n, p)) in Self.shapes.enumerated() {
            let z = lossRandom([2 * n, p], seed: seed &+ UInt64(k), scale: scale)
            let labels = labelsFor(n)
            let analytic = try loss.evaluate(z, labels: labels).gradient
            let numeric = try lossFiniteDifference(loss, z, labels: labels)
            let err = lossRelativeError(analytic.scalars, numeric.scalars, floor: 1e-12)
            if numeric.norm() < 1e-9 {  // e.g. NT-Xent with N = 1 is identically 0
                #expect(analytic.norm() <= 1e-12, "\(loss.name) N=\(n) p=\(p): expected zero gradient")
            } else {
                #expect(err <= 1e-6, "\(loss.name) N=\(n) p=\(p): relative error \(err)")
            }
        }
    }

    static func repeatedLabels(_ n: Int) -> [Int] { (0..<n).map { [4, -2, 4, 9, -2, 4, 1][$0 % 7] } }

    @Test func spectralUnsupervised() throws {
        try check(SpectralContrastiveLoss(pairing: .unsupervised), labelsFor: { _ in nil }, seed: 10)
    }
    @Test func spectralSupervised() throws {
        try check(SpectralContrastiveLoss(pairing: .supervised), labelsFor: Self.repeatedLabels, seed: 20)
    }
    @Test func spectralJoint() throws {
        try check(SpectralContrastiveLoss(pairing: .joint(beta: 0.35)), labelsFor: Self.repeatedLabels, seed: 30)
    }
    @Test func spectralExplicit() throws {
        for (k, (n, p)) in Self.shapes.enumerated() {
            var pm = lossRandom([n, n], seed: 40 + UInt64(k)).map { abs($0) }
            pm = pm / pm.sum()
            let loss = try SpectralContrastiveLoss(pairing: .explicit(pm))
            let z = lossRandom([2 * n, p], seed: 50 + UInt64(k))
            let err = lossRelativeError(try loss.evaluate(z, labels: nil).gradient.scalars,
                                        try lossFiniteDifference(loss, z, labels: nil).scalars)
            #expect(err <= 1e-6, "explicit P N=\(n) p=\(p): \(err)")
        }
    }
    @Test func infoNCE() throws {
        try check(InfoNCELoss(temperature: 0.5), labelsFor: { _ in nil }, seed: 60)
        try check(InfoNCELoss(temperature: 0.1), labelsFor: { _ in nil }, seed: 70, scale: 3)
    }
    @Test func infoNCEBlocked() throws {
        try check(InfoNCELoss(temperature: 0.3, rowBlockSize: 3), labelsFor: { _ in nil }, seed: 80)
    }
    @Test func supCon() throws {
        try check(SupConLoss(temperature: 0.2), labelsFor: Self.repeatedLabels, seed: 90)
        try check(SupConLoss(temperature: 0.5, rowBlockSize: 2), labelsFor: Self.repeatedLabels, seed: 100)
    }
    @Test func supConOneView() throws {
        // One view per example: singletons (label 1, 9) have no positive and are excluded.
        let loss = try SupConLoss(temperature: 0.3, viewsPerExample: 1)
        for (k, n) in [2, 5, 7].enumerated() {
            let z = lossRandom([n, 3], seed: 110 + UInt64(k))
            let labels = Self.repeatedLabels(n)
            let err = lossRelativeError(try loss.evaluate(z, labels: labels).gradient.scalars,
                                        try lossFiniteDifference(loss, z, labels: labels).scalars)
            #expect(err <= 1e-6, "one-view SupCon n=\(n): \(err)")
        }
    }
    @Test func joint() throws {
        try check(JointLoss.supConPlusNTXent(temperature: 0.4, lambda: 0.7), labelsFor: Self.repeatedLabels, seed: 120)
        try check(JointLoss.betaWeighted(supervised: SpectralContrastiveLoss(pairing: .supervised),
                                         unsupervised: InfoNCELoss(temperature: 0.5), beta: 0.6),
                  labelsFor: Self.repeatedLabels, seed: 130)
    }
}

// MARK: - Consistency between paths

@Suite struct LossConsistencyTests {
    @Test func structuredPairingEqualsExplicitMatrix() throws {
        let labels = [3, 1, 3, 3, 0, 1, 2]
        for (k, p) in [2, 11].enumerated() {  // Gram path (p ≤ n) and cross-matrix path (p > n)
            let z = lossRandom([14, p], seed: 200 + UInt64(k))
            for pairing in [SpectralPairing.unsupervised, .supervised, .joint(beta: 0.4)] {
                let structured = try SpectralContrastiveLoss(pairing: pairing)
                let pm = try structured.pairingMatrix(n: 7, labels: labels)
                #expect(abs(pm.sum() - 1) <= 1e-12)
                let dense = try SpectralContrastiveLoss(pairing: .explicit(pm))
                let a = try structured.evaluate(z, labels: labels), b = try dense.evaluate(z, labels: labels)
                #expect(lossRelativeError(a.value, b.value) <= 1e-12, "\(pairing) p=\(p)")
                #expect(lossRelativeError(a.gradient.scalars, b.gradient.scalars) <= 1e-12, "\(pairing) p=\(p)")
            }
        }
    }

    /// The linear Gram-space engine's objective (`LinearSpectralObjective`, used through
    /// `LinearContrastiveProblem`) and the mini-batch `SpectralContrastiveLoss` are the same
    /// loss of SCIENCE.md §3: same value and gradients, in Double, for UCL, SCL and joint
    /// pairings, with two views and without augmentation (Z₁ = Z₂), on both of the mini-batch
    /// loss's quadratic-term paths (p ≤ n and p > n).
    @Test func linearEngineObjectiveEqualsMiniBatchSpectralLoss() throws {
        let labels = [2, 0, 2, 2, 5, 0, 1, 5, 1]  // class 3 and 4 empty
        let n = labels.count
        for (k, p) in [3, 13].enumerated() {
            let z = lossRandom([2 * n, p], seed: 240 + UInt64(k))
            let z1 = z.rows(0..<n), z2 = z.rows(n..<(2 * n))
            let x = lossRandom([n, p], seed: 250 + UInt64(k))
            for (pairing, beta) in [(SpectralPairing.unsupervised, 0.0), (.supervised, 1.0), (.joint(beta: 0.3), 0.3)] {
                let miniBatch = try SpectralContrastiveLoss(pairing: pairing)
                let pairs = try SpectralPairWeights(beta: beta, classes: labels)
                // Two views.
                let a = try miniBatch.evaluate(z, labels: labels)
                let b = try LinearSpectralObjective.evaluate(z1, z2, pairs: pairs)
                let problem = try LinearContrastiveProblem(views: [x, x], pairs: pairs)
                let c = try problem.lossAndGradient(stackedEmbeddings: z)
                let stacked = try LinearSpectralObjective.evaluateStacked(z, labels: beta == 0 ? nil : labels, beta: beta)
                let engine = Tensor.concatenateRows([b.gradient1, b.gradient2]).scalars
                for (what, value, gradient) in [("evaluate", b.value, engine), ("problem", c.value, c.gradient.scalars),
                                                 ("stacked", stacked.value, stacked.gradient.scalars)] {
                    #expect(lossRelativeError(value, a.value) <= 1e-10, "\(what) \(pairing) p=\(p)")
                    #expect(lossRelativeError(gradient, a.gradient.scalars) <= 1e-10, "\(what) \(pairing) p=\(p)")
                }
                // No augmentation: the engine feeds Z to both branches and sums the two halves.
                let single = try LinearContrastiveProblem(views: [x], pairs: pairs).lossAndGradient(stackedEmbeddings: z1)
                let same = try miniBatch.evaluate(Tensor.concatenateRows([z1, z1]), labels: labels)
                let summed = same.gradient.rows(0..<n) + same.gradient.rows(n..<(2 * n))
                #expect(lossRelativeError(single.value, same.value) <= 1e-10, "one view \(pairing) p=\(p)")
                #expect(lossRelativeError(single.gradient.scalars, summed.scalars) <= 1e-10, "one view \(pairing) p=\(p)")
            }
        }
    }

    @Test func jointSpectralEqualsBetaWeightedSum() throws {
        // The spectral loss is affine in P: L(βP_S + (1−β)P_U) = βL(P_S) + (1−β)L(P_U).
        let labels = [0, 1, 0, 2, 1]
        let z = lossRandom([10, 3], seed: 210)
        let a = try SpectralContrastiveLoss(pairing: .joint(beta: 0.25)).evaluate(z, labels: labels)
        let b = try JointLoss.betaWeighted(supervised: SpectralContrastiveLoss(pairing: .supervised),
                                           unsupervised: SpectralContrastiveLoss(pairing: .unsupervised),
                                           beta: 0.25).evaluate(z, labels: labels)
        #expect(lossRelativeError(a.value, b.value) <= 1e-12)
        #expect(lossRelativeError(a.gradient.scalars, b.gradient.scalars) <= 1e-12)
    }

    @Test func ntXentIsSupConWithOneClassPerExample() throws {
        let z = lossRandom([12, 5], seed: 220)
        let a = try InfoNCELoss(temperature: 0.2).evaluate(z)
        let b = try SupConLoss(temperature: 0.2).evaluate(z, labels: Array(100..<106))
        #expect(a.value == b.value)
        #expect(a.gradient == b.gradient)
    }

    @Test func rowBlocksMatchWholeMatrixAndThreadsAreBitIdentical() throws {
        let z = Tensor<Float>(lossRandom([26, 6], seed: 230))
        let labels = (0..<13).map { $0 % 4 }
        for block in [nil, 1, 4, 7] as [Int?] {
            let reference = try SupConLoss(temperature: 0.3, threadCount: 1).evaluate(Tensor<Double>(z), labels: labels)
            let one = try SupConLoss(temperature: 0.3, rowBlockSize: block, threadCount: 1).evaluate(z, labels: labels)
            let two = try SupConLoss(temperature: 0.3, rowBlockSize: block, threadCount: 2).evaluate(z, labels: labels)
            #expect(one.value == two.value, "block \(String(describing: block))")
            #expect(one.gradient == two.gradient, "block \(String(describing: block))")
            #expect(lossRelativeError(Double(one.value), reference.value) <= 1e-5)
            #expect(lossRelativeError(one.gradient.scalars.map(Double.init), reference.gradient.scalars) <= 1e-5)
            let n1 = try InfoNCELoss(temperature: 0.3, rowBlockSize: block, threadCount: 1).evaluate(z)
            let n2 = try InfoNCELoss(temperature: 0.3, rowBlockSize: block, threadCount: 2).evaluate(z)
            #expect(n1.value == n2.value && n1.gradient == n2.gradient)
        }
    }

    @Test func automaticBlockSizeDependsOnlyOnTheViewCount() {
        // Whole matrix up to V² ≤ 4 Mi entries (V ≤ 2048), row blocks beyond; the block size
        // is a function of V alone, so the thread count never changes the arithmetic.
        #expect(SoftmaxContrastiveEngine.blockRows(views: 2048, requested: nil) == 2048)
        #expect(SoftmaxContrastiveEngine.blockRows(views: 2050, requested: nil) == 2046)
        #expect(SoftmaxContrastiveEngine.blockRows(views: 10, requested: 4) == 4)
        #expect(SoftmaxContrastiveEngine.blockRows(views: 10, requested: 40) == 10)
    }

    @Test func memoryBoundForEightThousandViews() {
        // Design bound: one block of rows × 2N similarities per thread; for 8192 views (p = 128)
        // in Double, that is ≤ 32 MiB per block, far under 1 GiB even for many threads.
        let rows = SoftmaxContrastiveEngine.blockRows(views: 8192, requested: nil)
        let bytesPerBlock = rows * 8192 * MemoryLayout<Double>.size
        #expect(rows < 8192)
        #expect(bytesPerBlock <= 32 << 20)
        #expect(bytesPerBlock * 16 + 2 * 8192 * 128 * 8 < 1 << 30)
    }
}

// MARK: - Edge cases

@Suite struct LossEdgeCaseTests {
    @Test func supConSingletonLabelWithTwoViewsIsFinite() throws {
        // Label 7 appears once: its two views are each other's only positive (anchor kept).
        let z = lossRandom([8, 3], seed: 300)
        let r = try SupConLoss(temperature: 0.1).evaluate(z, labels: [0, 7, 0, 1])
        #expect(r.value.isFinite && r.gradient.scalars.allSatisfy { $0.isFinite })
    }

    @Test func supConAnchorWithoutPositiveIsExcluded() throws {
        // One view per example, labels [0, 0, 1]: anchor 2 has no positive and is excluded;
        // anchors 0 and 1 each have one positive. L = (ℓ₀ + ℓ₁)/2 with ℓᵢ = lseᵢ − s_i,partner.
        let z = lossRandom([3, 4], seed: 310)
        let tau = 0.25
        let u = z.l2NormalizedRows()
        func s(_ i: Int, _ k: Int) -> Double { (0..<4).reduce(0) { $0 + u[i, $1] * u[k, $1] } / tau }
        func lse(_ i: Int) -> Double { log((0..<3).filter { $0 != i }.reduce(0) { $0 + exp(s(i, $1)) }) }
        let expected = ((lse(0) - s(0, 1)) + (lse(1) - s(1, 0))) / 2
        for block in [nil, 1] as [Int?] {
            let r = try SupConLoss(temperature: tau, viewsPerExample: 1, rowBlockSize: block).evaluate(z, labels: [0, 0, 1])
            #expect(abs(r.value - expected) <= 1e-12, "block \(String(describing: block))")
            #expect(r.gradient.scalars.allSatisfy { $0.isFinite })
        }
        // With no positive anywhere the loss is 0 with zero gradient (not NaN).
        let none = try SupConLoss(temperature: tau, viewsPerExample: 1).evaluate(z, labels: [0, 1, 2])
        #expect(none.value == 0 && none.gradient.scalars.allSatisfy { $0 == 0 })
        let single = try SupConLoss(temperature: tau, viewsPerExample: 1).evaluate(lossRandom([1, 2], seed: 1), labels: [5])
        #expect(single.value == 0 && single.gradient.scalars.allSatisfy { $0 == 0 })
    }

    @Test func ntXentTinyTemperatureLargeLogitsIsFinite() throws {
        // τ = 0.01 and embeddings of norm ~1e4, including near-duplicates: logits reach ±100.
        var z = lossRandom([16, 4], seed: 320, scale: 1e4)
        for j in 0..<4 { z[9, j] = z[1, j] * 1.0001; z[3, j] = -z[2, j] }
        for block in [nil, 3] as [Int?] {
            let loss = try InfoNCELoss(temperature: 0.01, rowBlockSize: block)
            let d = try loss.evaluate(z)
            let f = try loss.evaluate(Tensor<Float>(z))
            #expect(d.value.isFinite && d.gradient.scalars.allSatisfy { $0.isFinite })
            #expect(f.value.isFinite && f.gradient.scalars.allSatisfy { $0.isFinite })
            #expect(lossRelativeError(Double(f.value), d.value) <= 1e-4)
            let sup = try SupConLoss(temperature: 0.01, rowBlockSize: block).evaluate(Tensor<Float>(z), labels: [0, 1, 1, 0, 2, 2, 0, 1])
            #expect(sup.value.isFinite && sup.gradient.scalars.allSatisfy { $0.isFinite })
        }
    }

    @Test func zeroEmbeddingsAreFinite() throws {
        let labels = [0, 1, 0]
        for pairing in [SpectralPairing.unsupervised, .supervised, .joint(beta: 0.5)] {
            for z in [Tensor<Double>(zeros: [6, 4]), Tensor<Double>(zeros: [6, 2])] {
                let r = try SpectralContrastiveLoss(pairing: pairing).evaluate(z, labels: labels)
                #expect(r.value == 0 && r.gradient.scalars.allSatisfy { $0 == 0 })
                let f = try SpectralContrastiveLoss(pairing: pairing).evaluate(Tensor<Float>(z), labels: labels)
                #expect(f.value == 0 && f.gradient.scalars.allSatisfy { $0 == 0 })
            }
        }
        // Cosine losses on zero vectors: u = 0 (F.normalize's clamp), finite value log(2N − 1).
        let r = try InfoNCELoss(temperature: 0.1).evaluate(Tensor<Float>(zeros: [6, 3]))
        #expect(abs(Double(r.value) - log(5.0)) <= 1e-6 && r.gradient.scalars.allSatisfy { $0.isFinite })
    }

    @Test func spectralMinimumAtPerfectAlignment() throws {
        // UCL with Z₁ = Z₂ = √n·Q (orthonormal columns Q, p = n) gives Z₁Z₂ᵀ/n = I = nP:
        // L = −n²‖P‖²_F = −n, the global minimum, with zero gradient.
        let n = 3
        let z1 = Tensor<Double>.identity(n) * Double(n).squareRoot()
        let r = try SpectralContrastiveLoss(pairing: .unsupervised).evaluate(Tensor.concatenateRows([z1, z1]), labels: nil)
        #expect(abs(r.value + Double(n)) <= 1e-12)
        #expect(r.gradient.norm() <= 1e-12)
    }
}

// MARK: - Errors

@Suite struct LossErrorTests {
    @Test func nonPositiveTemperatureThrows() {
        for tau in [0.0, -0.5, .nan, .infinity] {
            #expect(throws: ContrastiveLossError.self) { _ = try InfoNCELoss(temperature: tau) }
            #expect(throws: ContrastiveLossError.self) { _ = try SupConLoss(temperature: tau) }
            #expect(throws: ContrastiveLossError.self) { _ = try JointLoss.supConPlusNTXent(temperature: tau, lambda: 1) }
        }
        do {
            _ = try InfoNCELoss(temperature: 0)
            Issue.record("τ = 0 must throw")
        } catch let e as ContrastiveLossError {
            #expect(e == .nonPositiveTemperature(loss: "InfoNCELoss", value: 0))
            #expect(e.description.contains("InfoNCELoss.temperature") && e.description.contains("> 0"))
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func oddViewCountThrows() throws {
        let z = lossRandom([5, 3], seed: 1)
        let losses: [any ContrastiveLoss] = [
            try InfoNCELoss(temperature: 0.5), try SupConLoss(temperature: 0.5),
            try SpectralContrastiveLoss(pairing: .unsupervised),
            try JointLoss.supConPlusNTXent(temperature: 0.5, lambda: 1),
        ]
        for loss in losses {
            do {
                _ = try loss.evaluate(z, labels: [0, 1])
                Issue.record("\(loss.name): 5 rows must throw")
            } catch let e as ContrastiveLossError {
                guard case .oddViewCount(_, 5) = e else { Issue.record("\(loss.name): wrong error \(e)"); continue }
                #expect(e.description.contains("5 rows") && e.description.contains("even"))
            }
        }
        #expect(throws: ContrastiveLossError.self) { _ = try InfoNCELoss(temperature: 1).evaluate(Tensor<Double>(zeros: [0, 3])) }
        #expect(throws: ContrastiveLossError.self) { _ = try InfoNCELoss(temperature: 1).evaluate(Tensor<Double>(zeros: [4])) }
    }

    @Test func labelCountThrows() throws {
        let z = lossRandom([8, 3], seed: 2)
        #expect(throws: ContrastiveLossError.labelCountMismatch(loss: "SupConLoss", expected: 4, got: 3)) {
            _ = try SupConLoss(temperature: 0.5).evaluate(z, labels: [0, 1, 2])
        }
        #expect(throws: ContrastiveLossError.labelCountMismatch(loss: "SupConLoss", expected: 4, got: 8)) {
            _ = try SupConLoss(temperature: 0.5).evaluate(z, labels: Array(0..<8))  // per view, not per example
        }
        #expect(throws: ContrastiveLossError.missingLabels(loss: "SupConLoss", expected: 4)) {
            _ = try SupConLoss(temperature: 0.5).evaluate(z, labels: nil)
        }
        #expect(throws: ContrastiveLossError.labelCountMismatch(loss: "SpectralContrastiveLoss", expected: 4, got: 5)) {
            _ = try SpectralContrastiveLoss(pairing: .supervised).evaluate(z, labels: [0, 1, 0, 1, 0])
        }
        #expect(throws: ContrastiveLossError.missingLabels(loss: "SpectralContrastiveLoss", expected: 4)) {
            _ = try SpectralContrastiveLoss(pairing: .joint(beta: 0.5)).evaluate(z, labels: nil)
        }
        let message = ContrastiveLossError.labelCountMismatch(loss: "SupConLoss", expected: 4, got: 3).description
        #expect(message.contains("labels") && message.contains("3") && message.contains("4"))
    }

    @Test func badPairingMatrixThrows() throws {
        #expect(throws: ContrastiveLossError.invalidPairingEntry(row: 0, column: 1, value: -0.5)) {
            _ = try SpectralContrastiveLoss(pairing: .explicit(Tensor(rows: [[1, -0.5], [0, 0.5]])))
        }
        #expect(throws: ContrastiveLossError.self) {
            _ = try SpectralContrastiveLoss(pairing: .explicit(Tensor(rows: [[1, .nan], [0, 0.5]])))
        }
        #expect(throws: ContrastiveLossError.pairingShapeMismatch(expected: [2, 2], got: [2, 3])) {
            _ = try SpectralContrastiveLoss(pairing: .explicit(Tensor(zeros: [2, 3])))
        }
        let loss = try SpectralContrastiveLoss(pairing: .explicit(Tensor.identity(3) / 3))
        #expect(throws: ContrastiveLossError.pairingShapeMismatch(expected: [4, 4], got: [3, 3])) {
            _ = try loss.evaluate(lossRandom([8, 2], seed: 3), labels: nil)
        }
        for beta in [-0.1, 1.5, .nan] {
            #expect(throws: ContrastiveLossError.self) { _ = try SpectralContrastiveLoss(pairing: .joint(beta: beta)) }
            #expect(throws: ContrastiveLossError.self) {
                _ = try JointLoss.betaWeighted(supervised: SupConLoss(temperature: 1), unsupervised: InfoNCELoss(temperature: 1), beta: beta)
            }
        }
        #expect(throws: ContrastiveLossError.self) { _ = try SupConLoss(temperature: 1, viewsPerExample: 3) }
        #expect(throws: ContrastiveLossError.self) { _ = try InfoNCELoss(temperature: 1, rowBlockSize: 0) }
    }
}
