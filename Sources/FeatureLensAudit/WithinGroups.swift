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
        var accSum = 0.0, chanceSum = 0.0, weightSum = 0.0, varianceSum = 0.0, used = 0
        var logCSum = 0.0, cWeightSum = 0.0, cs: Set<Double> = []
        for (i, result) in results.enumerated() {
            let s = try result!.get()
            let w = averaging == .mean ? 1.0 : Double(qualifying[i].test.count)
            accSum += w * s.accuracy; chanceSum += w * s.chance; weightSum += w; used += 1
            varianceSum += w * w * s.standardError * s.standardError
            if let c = s.c { logCSum += w * Foundation.log(c); cWeightSum += w; cs.insert(c) }
        }
        if used == 0 { return (ProbeScore(accuracy: .nan, chance: .nan), 0) }
        return (ProbeScore(accuracy: accSum / weightSum, chance: chanceSum / weightSum,
                           standardError: varianceSum.squareRoot() / weightSum,
                           c: cs.count == 1 ? cs.first : (cs.isEmpty ? nil : Foundation.exp(logCSum / cWeightSum))), used)
    }
}
