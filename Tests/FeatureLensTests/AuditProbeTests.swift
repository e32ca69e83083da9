import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Two Gaussian classes ±shift along dimension 0, plus N(0, 1) noise in every dimension.
func twoClassData(n: Int, p: Int, shift: Double, seed: UInt64) -> (Tensor<Double>, [Int]) {
    var g = SeededGenerator(seed: seed)
    var x = Tensor<Double>(randomNormal: [n, p], using: &g)
    var y = [Int](repeating: 0, count: n)
    for i in 0..<n {
        y[i] = i % 2
        x[i, 0] += y[i] == 1 ? shift : -shift
    }
    return (x, y)
}

struct LogisticFixture: Decodable {
    var C: Double
    var classes: Int
    var train_x: [[Double]], train_y: [Int], test_x: [[Double]], test_y: [Int]
    var sklearn_test_predictions: [Int]
    var sklearn_test_accuracy: Double
    var sklearn_coef: [[Double]]
    var sklearn_intercept: [Double]
}

@Suite struct AuditProbeTests {
    @Test func scoresBalancedAndPlainAccuracyWithChance() {
        // 6 of class 0, 2 of class 1; a majority predictor.
        let truth = [0, 0, 0, 0, 0, 0, 1, 1]
        let majority = ProbeScore(predicted: Array(repeating: 0, count: 8), truth: truth, measure: .plain)
        #expect(majority.accuracy == 0.75 && majority.chance == 0.75 && majority.retention == 0)
        let bal = ProbeScore(predicted: Array(repeating: 0, count: 8), truth: truth, measure: .balanced)
        #expect(bal.accuracy == 0.5 && bal.chance == 0.5 && bal.retention == 0)
        let some = ProbeScore(predicted: [0, 0, 0, 1, 1, 1, 1, 0], truth: truth, measure: .balanced)
        #expect(abs(some.accuracy - (0.5 + 0.5) / 2) < 1e-15)
        let perfect = ProbeScore(predicted: truth, truth: truth, measure: .balanced)
        #expect(perfect.retention == 1)
    }

    @Test func everyProbeReadsASeparableLabel() throws {
        let (x, y) = twoClassData(n: 400, p: 6, shift: 4, seed: 1)
        let (tx, ty) = twoClassData(n: 200, p: 6, shift: 4, seed: 2)
        for kind in ProbeKind.allCases {
            let s = try ProbeEvaluation.score(probe: kind.makeProbe(), train: x, trainLabels: y, test: tx, testLabels: ty)
            #expect(s.accuracy > 0.98, "\(kind): \(s)")
            // A label unrelated to the embedding stays near chance.
            var g = SeededGenerator(seed: 9)
            let noise = (0..<400).map { _ in g.nextInt(below: 2) }, noiseTest = (0..<200).map { _ in g.nextInt(below: 2) }
            let r = try ProbeEvaluation.score(probe: kind.makeProbe(), train: x, trainLabels: noise, test: tx, testLabels: noiseTest)
            #expect(abs(r.accuracy - 0.5) < 0.12, "\(kind) on noise labels: \(r)")
        }
    }

    @Test func ridgeZeroVarianceEmbeddingsPredictTheMajorityClass() throws {
        let x = Tensor<Double>(repeating: 0.3, shape: [10, 4])
        let y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
        let pred = try RidgeProbe().predict(train: x, trainLabels: y, test: x)
        #expect(pred == Array(repeating: 0, count: 10))
        let s = try ProbeEvaluation.score(probe: RidgeProbe(), train: x, trainLabels: y, test: x, testLabels: y)
        #expect(s.accuracy == 0.5)
    }

    @Test func ridgeMatchesItsClosedFormInPrimalAndDual() throws {
        // p > n uses the dual form; compare with the primal solve on the same centered data.
        var g = SeededGenerator(seed: 4)
        let n = 12, p = 30, nt = 9
        let x = Tensor<Double>(randomNormal: [n, p], using: &g), t = Tensor<Double>(randomNormal: [nt, p], using: &g)
        let y = (0..<n).map { $0 % 3 }
        let mu = x.meanOverRows()
        let xc = Tensor<Double>(shape: [n, p], scalars: (0..<(n * p)).map { x.scalars[$0] - mu[$0 % p] })
        let meanVar = xc.scalars.reduce(0) { $0 + $1 * $1 } / Double(n * p)
        var yv = [Double](repeating: -1, count: n * 3)
        for i in 0..<n { yv[i * 3 + y[i]] = 1 }
        let ym = (0..<3).map { k in (0..<n).reduce(0.0) { $0 + yv[$1 * 3 + k] } / Double(n) }
        let yc = Tensor<Double>(shape: [n, 3], scalars: (0..<(n * 3)).map { yv[$0] - ym[$0 % 3] })
        let w = try ridgeLeastSquares(xc, yc, lambda: 1e-3 * Double(n) * meanVar)
        let tc = Tensor<Double>(shape: [nt, p], scalars: (0..<(nt * p)).map { t.scalars[$0] - mu[$0 % p] })
        let scores = tc.matmul(w)
        let expected = (0..<nt).map { i in (0..<3).max { scores[i, $0] + ym[$0] < scores[i, $1] + ym[$1] }! }
        #expect(try RidgeProbe().predict(train: x, trainLabels: y, test: t) == expected)
        // Transposed sizes (p < n) take the primal path; shared Gram across label sets agrees with one at a time.
        let (a, ay) = twoClassData(n: 60, p: 5, shift: 0.7, seed: 5)
        let other = (0..<60).map { $0 % 3 }
        let many = try RidgeProbe().predictMany(train: a, labelSets: [ay, other], test: a)
        #expect(many[0] == (try RidgeProbe().predict(train: a, trainLabels: ay, test: a)))
        #expect(many[1] == (try RidgeProbe().predict(train: a, trainLabels: other, test: a)))
    }

    @Test func ridgeIgnoresTinyLeftoverDirectionsThatPlainLeastSquaresReads() throws {
        // SCIENCE.md §5: the label lives only in a direction 1e-4 as large as the rest.
        var g = SeededGenerator(seed: 11)
        func make(_ n: Int) -> (Tensor<Double>, [Int]) {
            var x = Tensor<Double>(randomNormal: [n, 8], using: &g)
            let y = (0..<n).map { $0 % 2 }
            for i in 0..<n { x[i, 7] = 1e-4 * ((y[i] == 1 ? 1 : -1) + 0.1 * g.nextNormal()) }
            return (x, y)
        }
        let (x, y) = make(400), (t, ty) = make(400)
        let ridge = try ProbeEvaluation.score(probe: RidgeProbe(), train: x, trainLabels: y, test: t, testLabels: ty)
        let plain = try ProbeEvaluation.score(probe: RidgeProbe(relativeRidge: 1e-14), train: x, trainLabels: y, test: t, testLabels: ty)
        #expect(ridge.accuracy < 0.65, "ridge \(ridge)")
        #expect(plain.accuracy > 0.95, "near-plain least squares \(plain)")
    }

    @Test func logisticProbeMatchesScikitLearn() throws {
        for name in ["logistic_binary.json", "logistic_multiclass.json"] {
            let fx = try JSONDecoder().decode(LogisticFixture.self, from: Data(contentsOf: auditFixture(name)))
            let x = Tensor<Double>(rows: fx.train_x), t = Tensor<Double>(rows: fx.test_x)
            let probe = LogisticProbe(c: fx.C)
            let model = try probe.fit(train: x, labels: fx.train_y)
            #expect(model.converged, "\(name): L-BFGS did not converge in \(model.iterations)")
            let pred = model.predict(t)
            let acc = Double(zip(pred, fx.test_y).filter { $0 == $1 }.count) / Double(pred.count)
            #expect(abs(acc - fx.sklearn_test_accuracy) <= 0.01, "\(name): \(acc) vs scikit-learn \(fx.sklearn_test_accuracy)")
            let agree = Double(zip(pred, fx.sklearn_test_predictions).filter { $0 == $1 }.count) / Double(pred.count)
            #expect(agree >= 0.99, "\(name): agreement \(agree)")
            // Coefficients (standardized space): ours are [p, m], scikit-learn's [m, p].
            let m = fx.sklearn_coef.count, p = fx.sklearn_coef[0].count
            var maxErr = 0.0, maxAbs = 0.0
            for k in 0..<m {
                for j in 0..<p {
                    maxErr = max(maxErr, abs(model.weights[j, k] - fx.sklearn_coef[k][j]))
                    maxAbs = max(maxAbs, abs(fx.sklearn_coef[k][j]))
                }
                maxErr = max(maxErr, abs(model.intercept[k] - fx.sklearn_intercept[k]))
            }
            #expect(maxErr <= 1e-3 * maxAbs, "\(name): max coefficient error \(maxErr) (scale \(maxAbs))")
        }
    }

    @Test func logisticGradientMatchesFiniteDifferences() {
        var g = SeededGenerator(seed: 21)
        for classes in [2, 3] {
            let x = Tensor<Double>(randomNormal: [15, 4], using: &g)
            let y = (0..<15).map { $0 % classes }
            let obj = LogisticObjective(x: x, y: y, classes: classes, c: 0.7)
            let m = classes == 2 ? 1 : classes
            let theta = (0..<(4 * m + m)).map { _ in g.nextNormal() }
            let (_, grad) = obj.valueAndGradient(theta)
            for i in theta.indices {
                var a = theta, b = theta
                a[i] += 1e-6; b[i] -= 1e-6
                let fd = (obj.valueAndGradient(a).0 - obj.valueAndGradient(b).0) / 2e-6
                #expect(abs(fd - grad[i]) < 1e-7, "K=\(classes) θ[\(i)]: fd \(fd) vs \(grad[i])")
            }
        }
    }

    @Test func knnWeightsCloseNeighboursByExpSimilarityOverTau() throws {
        // Two training points of class 0 almost aligned with the query, three of class 1 farther.
        let train = Tensor<Double>(rows: [[1, 0.01], [1, -0.01], [1, 0.6], [1, -0.6], [1, 0.7]])
        let y = [0, 0, 1, 1, 1]
        let q = Tensor<Double>(rows: [[1, 0]])
        #expect(try KNNProbe(k: 5).predict(train: train, trainLabels: y, test: q) == [0])
        // With a huge temperature the vote is nearly unweighted: the majority (class 1) wins.
        #expect(try KNNProbe(k: 5, temperature: 1e6).predict(train: train, trainLabels: y, test: q) == [1])
        // k = 1 is the nearest neighbour; invalid k is an error.
        #expect(try KNNProbe(k: 1).predict(train: train, trainLabels: y, test: Tensor(rows: [[1, 0.65]])) == [1])
        #expect(throws: ProbeError.self) { try KNNProbe(k: 0).predict(train: train, trainLabels: y, test: q) }
    }

    @Test func centroidPicksTheNearestClassMean() throws {
        let train = Tensor<Double>(rows: [[0, 0], [2, 0], [10, 10], [12, 10], [0, 10], [0, 12]])
        let y = [5, 5, 7, 7, 9, 9]
        let test = Tensor<Double>(rows: [[1.2, 0.5], [11, 9], [-1, 11], [6, 5.5]])
        // Centroids (1,0), (11,10), (0,11); the last point is nearer (11,10)? d²=(25+20.25)=45.25 vs (1,0): 25+30.25=55.25.
        #expect(try CentroidProbe().predict(train: train, trainLabels: y, test: test) == [5, 7, 9, 7])
    }

    @Test func withinGroupProbeReadsASubclassThatFlipsWithItsClass() throws {
        // subclass = sign of dim 1 times the class sign: linear within each class, XOR globally.
        var g = SeededGenerator(seed: 31)
        func make(_ n: Int) -> (Tensor<Double>, [Int], [Int]) {
            var x = Tensor<Double>(randomNormal: [n, 4], using: &g)
            var cls = [Int](), sub = [Int]()
            for i in 0..<n {
                let c = i % 2, s = (i / 2) % 2
                cls.append(c); sub.append(s)
                x[i, 0] += c == 1 ? 3 : -3
                x[i, 1] += (c == s ? 3 : -3)
            }
            return (x, cls, sub)
        }
        let (x, c, s) = make(400), (t, tc, ts) = make(400)
        let global = try ProbeEvaluation.score(probe: RidgeProbe(), train: x, trainLabels: s, test: t, testLabels: ts)
        let (within, groups) = try ProbeEvaluation.scoreWithinGroups(probe: RidgeProbe(), train: x, trainLabels: s, trainGroups: c,
                                                                     test: t, testLabels: ts, testGroups: tc)
        #expect(global.accuracy < 0.65, "global \(global)")
        #expect(within.accuracy > 0.97 && groups == 2, "within \(within)")
        #expect(within.chance == 0.5)
        let weighted = try ProbeEvaluation.scoreWithinGroups(probe: RidgeProbe(), train: x, trainLabels: s, trainGroups: c,
                                                             test: t, testLabels: ts, testGroups: tc, averaging: .sizeWeighted)
        #expect(abs(weighted.score.accuracy - within.accuracy) < 0.02)
    }

    @Test func badProbeInputsThrow() {
        let x = Tensor<Double>(zeros: [4, 3])
        #expect(throws: ProbeError.labelCount(what: "train labels", labels: 3, rows: 4)) {
            try RidgeProbe().predict(train: x, trainLabels: [0, 1, 0], test: x)
        }
        #expect(throws: ProbeError.self) { try CentroidProbe().predict(train: x, trainLabels: [0, 1, 0, 1], test: Tensor(zeros: [2, 5])) }
        #expect(throws: ProbeError.self) { try LogisticProbe(c: 0).fit(train: x, labels: [0, 1, 0, 1]) }
    }

    /// The within-group rule: a group is probed only when its train rows and its test rows
    /// each hold at least two classes; nothing qualifying gives NaN, never the global score.
    @Test func withinGroupRuleSkipsGroupsWithOneClassAndIsNaNWhenNoneQualifies() throws {
        // Group 0: two classes on both sides. Group 1: one class in train. Group 2: one class in
        // test. Group 3: train only. Group 4: test only.
        let trainGroups = [0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
        let trainLabels = [0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1]
        let testGroups = [0, 0, 0, 1, 1, 2, 2, 4, 4]
        let testLabels = [0, 1, 1, 0, 1, 1, 1, 0, 1]
        var calls: [([Int], [Int])] = []
        let (score, groups) = try WithinGroups.score(trainLabels: trainLabels, trainGroups: trainGroups,
                                                     testLabels: testLabels, testGroups: testGroups) { tr, te in
            calls.append((tr, te))
            return ProbeScore(accuracy: 0.75, chance: 0.5)
        }
        #expect(groups == 1 && calls.count == 1)
        #expect(calls.first?.0 == [0, 1, 2, 3] && calls.first?.1 == [0, 1, 2])
        // The group's score is passed through (its unknown standard error stays unknown).
        #expect(score.accuracy == 0.75 && score.chance == 0.5 && score.retention == 0.5 && score.standardError.isNaN)

        // Size-weighted: weights are the groups' test-row counts.
        let weighted = try WithinGroups.score(trainLabels: [0, 1, 0, 1], trainGroups: [0, 0, 1, 1],
                                              testLabels: [0, 1, 0, 1, 1, 0], testGroups: [0, 0, 1, 1, 1, 1],
                                              averaging: .sizeWeighted) { _, te in
            ProbeScore(accuracy: te.count == 2 ? 1 : 0.4, chance: 0.5)
        }
        #expect(weighted.groups == 2 && abs(weighted.score.accuracy - (2 * 1 + 4 * 0.4) / 6) < 1e-15)

        // No group qualifies: NaN accuracy, chance and retention; 0 groups; the probe never runs.
        let x = Tensor<Double>(shape: [4, 1], scalars: [0, 1, 2, 3])
        let none = try ProbeEvaluation.scoreWithinGroups(probe: RidgeProbe(), train: x, trainLabels: [0, 0, 1, 1],
                                                         trainGroups: [0, 0, 1, 1], test: x, testLabels: [0, 1, 0, 1],
                                                         testGroups: [0, 0, 1, 1])
        #expect(none.groups == 0)
        #expect(none.score.accuracy.isNaN && none.score.chance.isNaN && none.score.retention.isNaN)
        #expect(throws: ProbeError.labelCount(what: "train group labels", labels: 3, rows: 4)) {
            try ProbeEvaluation.scoreWithinGroups(probe: RidgeProbe(), train: x, trainLabels: [0, 0, 1, 1],
                                                  trainGroups: [0, 0, 1], test: x, testLabels: [0, 1, 0, 1], testGroups: [0, 0, 1, 1])
        }
    }

    /// Audits that could not measure a label (NaN) are left out of its peak and verdict; a label
    /// never measured is "not measurable".
    @Test func notMeasurableAuditsAreLeftOutOfTheVerdict() throws {
        let steps = [0, 10, 20, 30]
        func entry(_ step: Int, _ acc: Double) -> TimelineEntry {
            TimelineEntry(step: step, scores: ["sub": ProbeScore(accuracy: acc, chance: acc.isNaN ? .nan : 0.5),
                                               "never": ProbeScore(accuracy: .nan, chance: .nan)])
        }
        let timeline = zip(steps, [0.5, 1.0, .nan, 0.5]).map { entry($0, $1) }
        let report = try FeatureReport(timeline: timeline, labels: ["sub", "never"], within: ["sub": "c", "never": "c"])
        let sub = report.features[0], never = report.features[1]
        #expect(sub.verdict == .collapsed && sub.peak == 1.0 && sub.peakStep == 10)
        #expect(never.verdict == .notMeasurable && never.peak.isNaN && never.final.isNaN)
        #expect(ReportText.sentence(never).contains("not measurable"))
    }
}
