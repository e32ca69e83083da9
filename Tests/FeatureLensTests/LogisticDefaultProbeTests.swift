import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensAudit

/// One case of `logistic_agreement.json.gz` (written by Tools/audit/make_audit_fixtures.py):
/// data rounded to 0.01 and scikit-learn's test balanced accuracy of
/// `LogisticRegression(C)` on `StandardScaler` features.
struct AgreementCase: Decodable {
    var name: String
    var C: Double
    var classes: Int
    var train_x: [[Double]], train_y: [Int], test_x: [[Double]], test_y: [Int]
    var sklearn_test_predictions: [Int]
    var sklearn_balanced_accuracy: Double
}

struct AgreementFixture: Decodable {
    var sklearn_version: String
    var cases: [AgreementCase]
}

/// Reads the gzip-compressed agreement fixture once.
let agreementFixture: AgreementFixture = {
    let url = auditFixture("logistic_agreement.json.gz")
    let bytes = [UInt8](try! Data(contentsOf: url))
    let inflater = try! GzipInflater(bytes, file: url.lastPathComponent)
    var json: [UInt8] = []
    while true {
        let chunk = try! inflater.read(1 << 20)
        json += chunk
        if chunk.count < 1 << 20 { break }
    }
    return try! JSONDecoder().decode(AgreementFixture.self, from: Data(json))
}()

func agreementCase(_ name: String) -> AgreementCase {
    agreementFixture.cases.first { $0.name == name }!
}

@Suite struct LogisticDefaultProbeTests {
    /// FeatureLens's logistic probe at scikit-learn's C reads the same balanced accuracy
    /// (within 0.005) on the ordinal, ten-class, 1:20-imbalanced and missing-test-class cases.
    @Test(arguments: ["ordinal", "ten_class", "imbalance_1_20", "missing_test_class"])
    func fixedCAgreesWithScikitLearn(name: String) throws {
        let fx = agreementCase(name)
        let x = Tensor<Double>(rows: fx.train_x), t = Tensor<Double>(rows: fx.test_x)
        let model = try LogisticProbe(c: fx.C).fit(train: x, labels: fx.train_y)
        #expect(model.converged, "\(name): L-BFGS did not converge in \(model.iterations) iterations")
        #expect(model.c == fx.C && model.heldOutAccuracy == nil)
        let pred = model.predict(t)
        let score = ProbeScore(predicted: pred, truth: fx.test_y, measure: .balanced)
        let agree = Double(zip(pred, fx.sklearn_test_predictions).filter { $0 == $1 }.count) / Double(pred.count)
        print("agreement \(name): C=\(fx.C) FeatureLens \(score.accuracy) scikit-learn \(fx.sklearn_balanced_accuracy) "
              + "difference \(abs(score.accuracy - fx.sklearn_balanced_accuracy)) same predictions \(agree) SE \(score.standardError)")
        #expect(abs(score.accuracy - fx.sklearn_balanced_accuracy) <= 0.005,
                "\(name): \(score.accuracy) vs scikit-learn \(fx.sklearn_balanced_accuracy)")
    }

    /// The missing-test-class case really lacks a class in its test split (so the agreement
    /// above covers balanced accuracy over fewer test classes than train classes).
    /// The refit's warm start: a θ re-expressed for another standardization gives the same
    /// logits on every raw input, for the softmax (3 classes) and the binary model.
    @Test(arguments: [3, 2])
    func restandardizedThetaKeepsTheLogits(classes k: Int) {
        var g = SeededGenerator(seed: 77)
        let p = 5, m = k == 2 ? 1 : k
        var a = Tensor<Double>(randomNormal: [40, p], using: &g), b = Tensor<Double>(randomNormal: [60, p], using: &g)
        for i in 0..<40 { for j in 0..<p { a[i, j] = a[i, j] * Double(j + 1) + 3 } }
        for i in 0..<60 { for j in 0..<p { b[i, j] = b[i, j] * 0.5 - Double(j) } }
        let from = LogisticProblem(train: a, labels: (0..<40).map { $0 % k })
        let to = LogisticProblem(train: b, labels: (0..<60).map { $0 % k })
        let theta = Tensor<Double>(randomNormal: [p * m + m], using: &g).scalars
        let moved = LogisticProbe.restandardized(theta, from: from, to: to)
        #expect(moved != theta)
        func logits(_ t: [Double], _ q: LogisticProblem, _ x: [Double]) -> [Double] {
            (0..<m).map { c in (0..<p).reduce(t[p * m + c]) { $0 + (x[$1] - q.mean[$1]) / q.scale[$1] * t[$1 * m + c] } }
        }
        for _ in 0..<5 {
            let x = Tensor<Double>(randomNormal: [p], using: &g).scalars.map { $0 * 4 }
            for (u, v) in zip(logits(theta, from, x), logits(moved, to, x)) { #expect(abs(u - v) <= 1e-12 * max(1, abs(u))) }
        }
    }

    /// The default (mixed-precision) objective of a softmax model gives the same bits with 1 and
    /// 2 threads, from packing to the gradient, and stays within 1e-7 (value, relative) and
    /// 1e-6 (gradient, of its largest component) of the all-double objective.
    @Test func mixedObjectiveIsThreadCountInvariantAndCloseToFloat64() {
        var g = SeededGenerator(seed: 31)
        let (n, p, k) = (1500, 40, 6)
        let x = Tensor<Double>(randomNormal: [n, p], using: &g) * 2 + 1
        let labels = (0..<n).map { $0 % k }
        let theta = Tensor<Double>(randomNormal: [p * k + k], using: &g).scalars.map { $0 * 0.2 }
        var results: [(Double, [Double])] = []
        for threads in [1, 2] {
            let problem = LogisticProblem(train: x, labels: labels, precision: .mixed, threads: threads)
            guard case .mixed = problem.x else { Issue.record("a 6-class problem should pack Float features"); return }
            var objective = LogisticObjective(problem: problem, c: 0.5)
            objective.threads = threads
            results.append(objective.valueAndGradient(theta))
        }
        #expect(results[0].0.bitPattern == results[1].0.bitPattern)
        #expect(results[0].1.map(\.bitPattern) == results[1].1.map(\.bitPattern))
        let exact = LogisticObjective(problem: LogisticProblem(train: x, labels: labels, precision: .float64), c: 0.5)
            .valueAndGradient(theta)
        let scale = exact.1.map(abs).max()!
        #expect(abs(results[0].0 - exact.0) <= 1e-7 * exact.0, "value \(results[0].0) vs \(exact.0)")
        let gradientError = zip(results[0].1, exact.1).map { abs($0 - $1) }.max()!
        #expect(gradientError <= 1e-6 * scale, "gradient error \(gradientError), scale \(scale)")
    }

    @Test func missingTestClassCaseLacksATestClass() {
        let fx = agreementCase("missing_test_class")
        #expect(Set(fx.train_y).count == 4 && Set(fx.test_y).count == 3)
        let imbalance = agreementCase("imbalance_1_20")
        #expect(imbalance.train_y.filter { $0 == 0 }.count == 20 * imbalance.train_y.filter { $0 == 1 }.count)
    }

    /// The default probe (C chosen on held-out rows) reads the ordinal 3-valued label laid
    /// along one direction; the ridge one-vs-rest probe cannot single out the middle value.
    @Test func defaultProbeReadsTheOrdinalLabel() throws {
        let fx = agreementCase("ordinal")
        let x = Tensor<Double>(rows: fx.train_x), t = Tensor<Double>(rows: fx.test_x)
        let auto = try ProbeEvaluation.score(probe: ProbeKind.logistic.makeProbe(), train: x, trainLabels: fx.train_y,
                                             test: t, testLabels: fx.test_y)
        let ridge = try ProbeEvaluation.score(probe: RidgeProbe(), train: x, trainLabels: fx.train_y,
                                              test: t, testLabels: fx.test_y)
        print("ordinal: logistic (auto C = \(auto.c ?? .nan)) \(auto.accuracy) ± \(auto.standardError); ridge \(ridge.accuracy) ± \(ridge.standardError)")
        #expect(auto.accuracy >= 0.99, "logistic default: \(auto)")
        #expect(auto.c.map { LogisticProbe.defaultCGrid.contains($0) } == true)
        #expect(ridge.accuracy < 0.8, "ridge one-vs-rest: \(ridge)")
    }

    /// Standard errors on hand-computable cases.
    @Test func standardErrorsFollowTheBinomialFormulas() throws {
        // Class 0: 3 of 4 right (r = 3/4); class 1: 1 of 2 right (r = 1/2).
        let truth = [0, 0, 0, 0, 1, 1], predicted = [0, 0, 0, 1, 1, 0]
        let bal = ProbeScore(predicted: predicted, truth: truth, measure: .balanced)
        #expect(abs(bal.standardError - (0.75 * 0.25 / 4 + 0.5 * 0.5 / 2).squareRoot() / 2) < 1e-15)
        let plain = ProbeScore(predicted: predicted, truth: truth, measure: .plain)
        #expect(abs(plain.standardError - ((4.0 / 6) * (2.0 / 6) / 6).squareRoot()) < 1e-15)
        // Perfect reading: the plug-in estimate is 0. A score without predictions: unknown (NaN).
        #expect(ProbeScore(predicted: truth, truth: truth, measure: .balanced).standardError == 0)
        #expect(ProbeScore(accuracy: 0.7, chance: 0.5).standardError.isNaN)

        // Within groups: SE of the weighted mean, √(Σ w² SE²) / Σ w.
        let trainLabels = [0, 1, 0, 1], trainGroups = [0, 0, 1, 1]
        let testLabels = [0, 1, 0, 1, 1, 0], testGroups = [0, 0, 1, 1, 1, 1]
        for averaging in [GroupAveraging.mean, .sizeWeighted] {
            let (score, groups) = try WithinGroups.score(trainLabels: trainLabels, trainGroups: trainGroups,
                                                         testLabels: testLabels, testGroups: testGroups,
                                                         averaging: averaging) { _, te in
                te.count == 2 ? ProbeScore(accuracy: 0.9, chance: 0.5, standardError: 0.1, c: 0.1)
                              : ProbeScore(accuracy: 0.6, chance: 0.5, standardError: 0.2, c: 10)
            }
            let (w0, w1) = averaging == .mean ? (1.0, 1.0) : (2.0, 4.0)
            let expected = (w0 * w0 * 0.01 + w1 * w1 * 0.04).squareRoot() / (w0 + w1)
            #expect(groups == 2 && abs(score.standardError - expected) < 1e-15, "\(averaging): \(score)")
            // C: geometric mean over the groups, weighted like the accuracy.
            let expectedC = Foundation.exp((w0 * Foundation.log(0.1) + w1 * Foundation.log(10)) / (w0 + w1))
            #expect(abs(score.c! - expectedC) < 1e-12, "\(averaging): C \(score.c!)")
        }
        // One group without a measurable SE makes the combined SE unknown; equal C stays exact.
        let partial = try WithinGroups.score(trainLabels: trainLabels, trainGroups: trainGroups,
                                             testLabels: testLabels, testGroups: testGroups) { _, te in
            ProbeScore(accuracy: 0.8, chance: 0.5, standardError: te.count == 2 ? 0.1 : .nan, c: 10)
        }
        #expect(partial.score.standardError.isNaN && partial.score.c == 10)
        // Nothing qualifies: NaN, as the accuracy.
        let none = try WithinGroups.score(trainLabels: [0, 0], trainGroups: [0, 0], testLabels: [0, 1], testGroups: [0, 0]) { _, _ in
            ProbeScore(accuracy: 1, chance: 0.5, standardError: 0)
        }
        #expect(none.score.standardError.isNaN && none.score.c == nil)
    }

    /// Timeline entries built from scores carry `standard_error` on every label and `probe_c`
    /// only when the probe has a C; both keys reach the JSON.
    @Test func timelineEntriesRecordStandardErrorAndC() throws {
        let (x, y) = twoClassData(n: 200, p: 4, shift: 1, seed: 3)
        let (t, ty) = twoClassData(n: 100, p: 4, shift: 1, seed: 4)
        let auditor = EmbeddingAuditor(configuration: AuditConfiguration(computeMetrics: false))
        #expect(auditor.configuration.probe == .logistic)
        let entry = try auditor.audit(step: 0, train: x, trainLabels: [try LabelSet(name: "class", codes: y)],
                                      test: t, testLabels: [try LabelSet(name: "class", codes: ty)])
        let se = try #require(entry.standardError?["class"])
        let acc = entry.probes["class"]!
        #expect(se > 0 && abs(se - (acc * (1 - acc) / 100).squareRoot()) < 0.01, "SE \(se) at accuracy \(acc)")
        #expect(entry.probeC?["class"].map { LogisticProbe.defaultCGrid.contains($0) } == true)
        let json = String(decoding: try FeatureLensJSON.encoder().encode(entry), as: UTF8.self)
        #expect(json.contains("\"standard_error\"") && json.contains("\"probe_c\""))
        let back = try FeatureLensJSON.decoder().decode(TimelineEntry.self, from: Data(json.utf8))
        #expect(back == entry)

        let ridge = EmbeddingAuditor(configuration: AuditConfiguration(probe: .ridge, computeMetrics: false))
        let r = try ridge.audit(step: 0, train: x, trainLabels: [try LabelSet(name: "class", codes: y)],
                                test: t, testLabels: [try LabelSet(name: "class", codes: ty)])
        #expect(r.probeC == nil && r.standardError?["class"] != nil)

        // Not measurable → NaN; an accuracy without a known SE → left out; none known → nil.
        let mixed = TimelineEntry(step: 1, scores: ["gone": ProbeScore(accuracy: .nan, chance: .nan),
                                                    "bare": ProbeScore(accuracy: 0.7, chance: 0.5),
                                                    "read": ProbeScore(accuracy: 0.7, chance: 0.5, standardError: 0.02)])
        #expect(mixed.standardError?["gone"]?.isNaN == true && mixed.standardError?["bare"] == nil)
        #expect(mixed.standardError?["read"] == 0.02 && mixed.probeC == nil)
        #expect(TimelineEntry(step: 1, scores: ["bare": ProbeScore(accuracy: 0.7, chance: 0.5)]).standardError == nil)
    }

    /// The stratified split: per class h_c = min(round(0.2·n_c), n_c − 1) held-out rows,
    /// disjoint ascending lists covering every row, the same for the same seed.
    @Test func heldOutSplitIsStratifiedAndSeeded() {
        let labels = Array(repeating: 0, count: 50) + Array(repeating: 1, count: 7) + [2] + [3, 3]
        let (fit, held) = LogisticProbe.stratifiedSplit(labels: labels.reversed(), fraction: 0.2, seed: 5)
        let reversed = Array(labels.reversed())
        #expect(fit == fit.sorted() && held == held.sorted())
        #expect(Set(fit).isDisjoint(with: held) && (fit + held).sorted() == Array(0..<labels.count))
        let heldCounts = Dictionary(grouping: held.map { reversed[$0] }, by: { $0 }).mapValues(\.count)
        #expect(heldCounts == [0: 10, 1: 1])  // class 2 (one row) and class 3 (round(0.4) = 0) keep all rows
        let again = LogisticProbe.stratifiedSplit(labels: labels.reversed(), fraction: 0.2, seed: 5)
        #expect(again.fit == fit && again.heldOut == held)
        let other = LogisticProbe.stratifiedSplit(labels: labels.reversed(), fraction: 0.2, seed: 6)
        #expect(other.heldOut != held)
    }

    /// The held-out rule: deterministic for a seed; the chosen C is the best of the held-out
    /// table with ties going to the smaller C; heavy shrinkage that stops predicting a rare
    /// class is not chosen; the final model is refit on all training rows; the fallback when
    /// the held-out rows hold one class.
    @Test func heldOutRuleChoosesCAsDocumented() throws {
        /// The rule applied to a model's table: the first (smallest) C with the largest accuracy.
        func ruleOf(_ table: [(c: Double, accuracy: Double)]) -> Double {
            let best = table.map(\.accuracy).max()!
            return table.first { $0.accuracy == best }!.c
        }
        // Ties: a label read perfectly at every C → the smallest C.
        let (sx, sy) = twoClassData(n: 200, p: 3, shift: 6, seed: 31)
        let separable = try LogisticProbe().fit(train: sx, labels: sy)
        let table = try #require(separable.heldOutAccuracy)
        #expect(table.map(\.c) == LogisticProbe.defaultCGrid && table.allSatisfy { $0.accuracy == 1 })
        #expect(separable.c == 0.01)
        // Refit on all rows: the standardization is that of every training row.
        #expect(zip(separable.mean, sx.meanOverRows()).allSatisfy { abs($0 - $1) < 1e-12 })

        // Same data and seed → the same table, C and weights; another seed may split otherwise
        // but still follows the rule.
        let (nx, ny) = twoClassData(n: 150, p: 40, shift: 0.4, seed: 32)
        let wide = try LogisticProbe().fit(train: nx, labels: ny)
        let again = try LogisticProbe().fit(train: nx, labels: ny)
        #expect(again.c == wide.c && again.heldOutAccuracy!.map(\.accuracy) == wide.heldOutAccuracy!.map(\.accuracy))
        #expect(again.weights.scalars == wide.weights.scalars && again.intercept == wide.intercept)
        #expect(wide.c == ruleOf(wide.heldOutAccuracy!), "table \(wide.heldOutAccuracy!)")
        let otherSeed = try LogisticProbe(seed: 1).fit(train: nx, labels: ny)
        #expect(otherSeed.c == ruleOf(otherSeed.heldOutAccuracy!), "table \(otherSeed.heldOutAccuracy!)")

        // A rare class (1 in 15) 2.5σ away: at C = 0.01 the probe predicts only the majority
        // class (held-out balanced accuracy 0.5), so a weaker regularization is chosen.
        var g = SeededGenerator(seed: 33)
        var rx = Tensor<Double>(randomNormal: [600, 2], using: &g)
        let ry = (0..<600).map { $0 % 15 == 0 ? 1 : 0 }
        for i in 0..<600 where ry[i] == 1 { rx[i, 0] += 2.5 }
        let rare = try LogisticProbe().fit(train: rx, labels: ry)
        let rareTable = try #require(rare.heldOutAccuracy)
        #expect(rareTable[0].accuracy == 0.5 && rare.c > 0.01 && rare.c == ruleOf(rareTable), "table \(rareTable)")

        // Fallback: the only class with enough rows to hold out is class 0 → C = 1, no table.
        let fx = Tensor<Double>(shape: [6, 1], scalars: [0, 0.1, 0.2, 0.3, 0.4, 3])
        let fallback = try LogisticProbe().fit(train: fx, labels: [0, 0, 0, 0, 0, 1])
        #expect(fallback.c == LogisticProbe.fallbackC && fallback.heldOutAccuracy == nil)

        #expect(throws: ProbeError.self) { try LogisticProbe(cGrid: []).fit(train: sx, labels: sy) }
        #expect(throws: ProbeError.self) { try LogisticProbe(cGrid: [1, -1]).fit(train: sx, labels: sy) }
        #expect(throws: ProbeError.self) { try LogisticProbe(heldOutFraction: 1).fit(train: sx, labels: sy) }
    }

    /// The defaults: logistic for `featurelens audit` (through `AuditConfiguration`) and the
    /// image experiments; the synthetic runner keeps the ridge signature probe.
    @Test func defaultProbes() {
        #expect(AuditConfiguration().probe == .logistic)
        #expect(ImageExperimentConfig().probe == .logistic)
        #expect(ExperimentRunner().probe is RidgeProbe)
    }
}
