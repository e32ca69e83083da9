import Foundation
import FeatureLensNumerics

/// The one rule for probing a label set within the groups of another (for example subclass
/// within class, SCIENCE.md §5: "fit and scored within each class and averaged"). Every path
/// that probes within groups (the synthetic runner's `probeLabelSets`, `EmbeddingAuditor`,
/// `featurelens audit`, the image runner) goes through `WithinGroups.score`.
///
/// The rule:
/// 1. The groups are the distinct group codes that occur in both the train and the test rows.
/// 2. A group **qualifies** when its train rows hold at least two classes and its test rows
///    hold at least two classes. A group with one class on either side cannot be probed: a
///    probe fit on one class predicts it everywhere (its balanced accuracy is chance by
///    construction), and a test side with one class has chance 1 (nothing to tell apart).
/// 3. The probe is fit on a qualifying group's train rows and scored on its test rows.
/// 4. Accuracy and chance are averaged over the qualifying groups, each group with weight 1
///    (`GroupAveraging.mean`, the default) or with weight = its number of test rows
///    (`.sizeWeighted`); the retention is computed from the two averages.
///    The standard error is that of the weighted mean of independent group scores:
///    SE = √(Σ_g w_g² SE_g²) / Σ_g w_g (NaN when any group's SE is NaN). The reported C (a
///    probe with a regularization strength, e.g. the logistic probe choosing C per group) is
///    the geometric mean of the groups' C, exp(Σ_g w_g ln C_g / Σ_g w_g), the mean on the log
///    scale of C's grid (exactly that C when all groups chose the same); nil when no group has a C.
/// 5. When no group qualifies the label set is **not measurable**: accuracy, chance and
///    retention are NaN (written "nan" in report.json), never 0 and never the global score.
public enum WithinGroups {
    /// The qualifying groups of the rule (steps 1–2), in ascending group code, each with its
    /// train and test row indices (ascending).
    /// - Throws: `ProbeError.labelCount` when a group array's length differs from its label array's.
    public static func qualifyingGroups(trainLabels: [Int], trainGroups: [Int], testLabels: [Int], testGroups: [Int])
        throws -> [(group: Int, train: [Int], test: [Int])] {
        guard trainGroups.count == trainLabels.count else {
            throw ProbeError.labelCount(what: "train group labels", labels: trainGroups.count, rows: trainLabels.count)
        }
        guard testGroups.count == testLabels.count else {
            throw ProbeError.labelCount(what: "test group labels", labels: testGroups.count, rows: testLabels.count)
        }
        var trainRows: [Int: [Int]] = [:], testRows: [Int: [Int]] = [:]
        for (i, g) in trainGroups.enumerated() { trainRows[g, default: []].append(i) }
        for (i, g) in testGroups.enumerated() { testRows[g, default: []].append(i) }
        var qualifying: [(group: Int, train: [Int], test: [Int])] = []
        for g in testRows.keys.sorted() {
            guard let tr = trainRows[g], let te = testRows[g] else { continue }
            guard Set(tr.map { trainLabels[$0] }).count >= 2, Set(te.map { testLabels[$0] }).count >= 2 else { continue }
            qualifying.append((g, tr, te))
        }
        return qualifying
    }

    /// Applies the rule, scoring each qualifying group with `scoreGroup`.
    /// - Parameters:
    ///   - trainLabels, trainGroups: label and group code of every train row (`[n_train]` each).
    ///   - testLabels, testGroups: label and group code of every test row (`[n_test]` each).
    ///   - averaging: how group scores are combined (see the type's rule 4).
    ///   - scoreGroup: fits on the given train rows and scores on the given test rows (row
    ///     indices, ascending); called once per qualifying group, possibly concurrently
    ///     from several threads (the groups' results are combined in ascending group order).
    /// - Returns: the combined score (NaN when not measurable) and the number of groups used.
    /// - Throws: `ProbeError.labelCount` when a group array's length differs from its
    ///   label array's, and whatever `scoreGroup` throws.
    public static func score(trainLabels: [Int], trainGroups: [Int], testLabels: [Int], testGroups: [Int],
                             averaging: GroupAveraging = .mean,
                             scoreGroup: (_ trainRows: [Int], _ testRows: [Int]) throws -> ProbeScore)
        throws -> (score: ProbeScore, groups: Int) {
        let qualifying = try qualifyingGroups(trainLabels: trainLabels, trainGroups: trainGroups,
                                              testLabels: testLabels, testGroups: testGroups)
        // The groups are fit concurrently (each fit reads only its own rows) and combined in
        // ascending group order, so the result does not depend on the thread count.
        var results = [Result<ProbeScore, Error>?](repeating: nil, count: qualifying.count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress
            Parallel.forEachJob(qualifying.count, workers: Parallel.threadCount) { i, _ in
                base![i] = Result { try scoreGroup(qualifying[i].train, qualifying[i].test) }
            }
        }
        let scores = try results.map { try $0!.get() }
        if scores.isEmpty { return (ProbeScore(accuracy: .nan, chance: .nan), 0) }
        let weights = qualifying.map { weight(averaging, testRows: $0.test.count) }
        let accuracy = weightedMean(scores.map(\.accuracy), standardErrors: scores.map(\.standardError), weights: weights)
        let chance = weightedMean(scores.map(\.chance), standardErrors: scores.map { _ in 0 }, weights: weights)
        var logCSum = 0.0, cWeightSum = 0.0, cs: Set<Double> = []
        for (s, w) in zip(scores, weights) {
            if let c = s.c { logCSum += w * Foundation.log(c); cWeightSum += w; cs.insert(c) }
        }
        return (ProbeScore(accuracy: accuracy.mean, chance: chance.mean, standardError: accuracy.standardError,
                           c: cs.count == 1 ? cs.first : (cs.isEmpty ? nil : Foundation.exp(logCSum / cWeightSum))), scores.count)
    }

    /// A group's weight in the averages of rule 4: 1 (`mean`) or its number of test rows
    /// (`sizeWeighted`).
    public static func weight(_ averaging: GroupAveraging, testRows: Int) -> Double {
        averaging == .mean ? 1.0 : Double(testRows)
    }

    /// Rule 4's combination of independent group values v_g with standard errors SE_g and
    /// weights w_g (equal counts, at least one): mean = Σ_g w_g v_g / Σ_g w_g and
    /// SE = √(Σ_g w_g² SE_g²) / Σ_g w_g (NaN when any SE_g is NaN). Sums in group order, so
    /// the result does not depend on the thread count. Used for the within-group accuracy and
    /// for the paired difference of two encoders within groups (`EncoderComparison`).
    public static func weightedMean(_ values: [Double], standardErrors: [Double], weights: [Double])
        -> (mean: Double, standardError: Double) {
        precondition(values.count == weights.count && standardErrors.count == weights.count && !weights.isEmpty,
                     "one value, standard error and weight per group")
        var sum = 0.0, weightSum = 0.0, varianceSum = 0.0
        for ((v, se), w) in zip(zip(values, standardErrors), weights) {
            sum += w * v; weightSum += w
            varianceSum += w * w * se * se
        }
        return (sum / weightSum, varianceSum.squareRoot() / weightSum)
    }
}
