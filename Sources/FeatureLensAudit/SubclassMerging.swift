import Foundation

/// Which subclasses of each group an encoder has merged: for a label read within the groups
/// of another (subclass within class), the per-subclass recall and the confusion of the
/// within-group probe, and the separability of every pair of subclasses of a group, most
/// merged first. Class collapse (Xue et al., ICML 2023, §4) merges the subclasses of a class
/// in the embedding; this says which ones.
///
/// Protocol, per qualifying group (the groups of the one within-group rule, `WithinGroups`):
/// 1. **Recall and confusion.** The probe is fit on the group's train rows with their subclass
///    labels and predicts the group's test rows. `confusion[i][j]` counts the test rows of
///    subclass i predicted as subclass j (subclasses in ascending code order: every code in the
///    group's train or test rows); `recall[i]` = confusion[i][i] / (test rows of i), with the
///    binomial standard error √(r(1 − r)/n_i) (NaN for a subclass without test rows).
/// 2. **Pairwise separability.** For every pair (a, b) of the group's subclasses with train
///    and test rows on both sides, a two-subclass probe (the same probe kind) is fit on the
///    train rows of a and b and scored on their test rows by balanced accuracy (chance 0.5),
///    with the standard error of `ProbeScore`. A pair is **merged** when its accuracy is not
///    significantly above chance: accuracy − 0.5 < 2·SE (about a one-sided 2 % test), or
///    exactly at or below 0.5. A two-subclass probe, rather than a Fisher ratio, is used
///    because its number reads as the probes elsewhere in the report (0.50: cannot tell a
///    from b; 1.00: always can) and because it sees every direction, not only the mean gap.
/// Pairs are ranked by accuracy, ascending (most merged first; ties by group, then by a, b).
public struct SubclassMerging: Codable, Sendable, Equatable {
    /// The label read within groups (e.g. `subclass`).
    public var label: String
    /// The grouping label (e.g. `class`).
    public var group: String
    /// One entry per qualifying group, in ascending group code.
    public var groups: [Group]

    /// The subclasses of one group.
    public struct Group: Codable, Sendable, Equatable {
        /// The group's name (its class name, or its code when the labels have no names).
        public var name: String
        /// The group's subclasses, ascending code, by name (or code).
        public var subclasses: [String]
        /// Test rows per subclass.
        public var testRows: [Int]
        /// Recall of the within-group probe per subclass (NaN without test rows).
        public var recall: [Double]
        /// Binomial standard error of each recall.
        public var recallStandardError: [Double]
        /// `confusion[i][j]`: test rows of subclass i predicted as subclass j.
        public var confusion: [[Int]]
        /// Every separable-or-not pair, most merged first.
        public var pairs: [Pair]

        enum CodingKeys: String, CodingKey {
            case name, subclasses, testRows = "test_rows", recall, recallStandardError = "recall_standard_error"
            case confusion, pairs
        }
    }

    /// How well a two-subclass probe tells two subclasses apart.
    public struct Pair: Codable, Sendable, Equatable {
        /// The two subclasses (a before b in code order).
        public var a: String, b: String
        /// Balanced accuracy of the two-subclass probe on the test rows of a and b.
        public var accuracy: Double
        /// Its standard error (`ProbeScore.standardError`).
        public var standardError: Double
        /// Chance level (0.5).
        public var chance: Double
        /// Not significantly above chance (see the type's protocol).
        public var merged: Bool

        enum CodingKeys: String, CodingKey {
            case a, b, accuracy, standardError = "standard_error", chance, merged
        }

        /// Whether `accuracy` with standard error `se` is not significantly above `chance`.
        public static func isMerged(accuracy: Double, standardError se: Double, chance: Double) -> Bool {
            accuracy <= chance || accuracy - chance < 2 * se
        }
    }

    /// Every pair of every group with its group's name, most merged first (accuracy ascending;
    /// ties by group order, then pair order).
    public var rankedPairs: [(group: String, pair: Pair)] {
        let all = groups.enumerated().flatMap { gi, g in g.pairs.enumerated().map { (gi, $0, g.name, $1) } }
        return all.sorted { x, y in
            x.3.accuracy != y.3.accuracy ? x.3.accuracy < y.3.accuracy : (x.0, x.1) < (y.0, y.1)
        }.map { (group: $0.2, pair: $0.3) }
    }

    /// Measures the merging of `trainLabels` within `trainGroups` by the type's protocol.
    /// - Parameters:
    ///   - probe: the probe (fit anew for the within-group fit and for every pair).
    ///   - train, test: embeddings `[n_train, p]`, `[n_test, p]`.
    ///   - trainLabels, testLabels: the subclass label set of each side (same codes for the
    ///     same subclass); `trainGroups`, `testGroups`: the group label set of each side.
    /// - Throws: `ProbeError` for counts that do not match the rows, or what the probe throws.
    public static func measure(probe: any Probe, train: Tensor<Double>, trainLabels: LabelSet, trainGroups: LabelSet,
                               test: Tensor<Double>, testLabels: LabelSet, testGroups: LabelSet) throws -> SubclassMerging {
        for (what, labels, rows) in [("train labels", trainLabels.codes.count, train.shape[0]),
                                     ("train group labels", trainGroups.codes.count, train.shape[0]),
                                     ("test labels", testLabels.codes.count, test.shape[0]),
                                     ("test group labels", testGroups.codes.count, test.shape[0])] where labels != rows {
            throw ProbeError.labelCount(what: what, labels: labels, rows: rows)
        }
        let trainCodes = trainLabels.codes, testCodes = testLabels.codes
        func name(_ set: LabelSet, _ code: Int) -> String {
            if let names = set.names, code < names.count { return names[code] }
            return String(code)
        }
        let qualifying = try WithinGroups.qualifyingGroups(trainLabels: trainCodes, trainGroups: trainGroups.codes,
                                                           testLabels: testCodes, testGroups: testGroups.codes)
        // Jobs: per group, the within-group fit (pair nil) and one fit per pair.
        struct Job { var group: Int; var pair: (Int, Int)? }
        var jobs: [Job] = []
        var subclassesOf: [[Int]] = []
        for (gi, q) in qualifying.enumerated() {
            let codes = Set(q.train.map { trainCodes[$0] }).union(q.test.map { testCodes[$0] }).sorted()
            subclassesOf.append(codes)
            jobs.append(Job(group: gi, pair: nil))
            let trainHas = Set(q.train.map { trainCodes[$0] }), testHas = Set(q.test.map { testCodes[$0] })
            for (i, a) in codes.enumerated() {
                for b in codes[(i + 1)...] where trainHas.contains(a) && trainHas.contains(b) && testHas.contains(a) && testHas.contains(b) {
                    jobs.append(Job(group: gi, pair: (a, b)))
                }
            }
        }
        // Each job reads only its own rows; results are placed by job index, so the result does
        // not depend on the thread count.
        var results = [Result<(predicted: [Int], truth: [Int]), Error>?](repeating: nil, count: jobs.count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress
            Parallel.forEachJob(jobs.count, workers: Parallel.threadCount) { j, _ in
                let job = jobs[j], q = qualifying[job.group]
                var tr = q.train, te = q.test
                if let (a, b) = job.pair {
                    tr = tr.filter { trainCodes[$0] == a || trainCodes[$0] == b }
                    te = te.filter { testCodes[$0] == a || testCodes[$0] == b }
                }
                base![j] = Result {
                    (try probe.fitPredictMany(train: train.gatherRows(tr), labelSets: [tr.map { trainCodes[$0] }],
                                              test: test.gatherRows(te))[0].predicted, te.map { testCodes[$0] })
                }
            }
        }
        var groups: [Group] = []
        for (gi, q) in qualifying.enumerated() {
            let codes = subclassesOf[gi]
            let index = Dictionary(uniqueKeysWithValues: codes.enumerated().map { ($1, $0) })
            var group = Group(name: name(testGroups, q.group), subclasses: codes.map { name(testLabels, $0) },
                              testRows: [], recall: [], recallStandardError: [],
                              confusion: Array(repeating: Array(repeating: 0, count: codes.count), count: codes.count), pairs: [])
            for (j, job) in jobs.enumerated() where job.group == gi {
                let (predicted, truth) = try results[j]!.get()
                if let (a, b) = job.pair {
                    let s = ProbeScore(predicted: predicted, truth: truth, measure: .balanced)
                    group.pairs.append(Pair(a: name(testLabels, a), b: name(testLabels, b), accuracy: s.accuracy,
                                            standardError: s.standardError, chance: 0.5,
                                            merged: Pair.isMerged(accuracy: s.accuracy, standardError: s.standardError, chance: 0.5)))
                } else {
                    for (t, p) in zip(truth, predicted) { group.confusion[index[t]!][index[p]!] += 1 }
                }
            }
            for i in codes.indices {
                let n = group.confusion[i].reduce(0, +)
                let r = n > 0 ? Double(group.confusion[i][i]) / Double(n) : .nan
                group.testRows.append(n)
                group.recall.append(r)
                group.recallStandardError.append(n > 0 ? (r * (1 - r) / Double(n)).squareRoot() : .nan)
            }
            group.pairs = group.pairs.enumerated().sorted { x, y in
                x.element.accuracy != y.element.accuracy ? x.element.accuracy < y.element.accuracy : x.offset < y.offset
            }.map(\.element)
            groups.append(group)
        }
        return SubclassMerging(label: trainLabels.name, group: trainGroups.name, groups: groups)
    }

    /// The terminal block: a header naming the label, its group, the probe (`probe`, e.g.
    /// "logistic"; nil: not named) and the audit step (nil: not named), then `lines()`, each
    /// indented by two spaces; every line ends with a newline.
    public func textBlock(probe: String?, step: Int?) -> String {
        let at = step.map { " at step \($0)" } ?? ""
        let kind = probe.map { "two-subclass \($0) probe" } ?? "two-subclass probe"
        var out = "which \(label) merged within \(group)\(at) (\(kind), balanced accuracy on test rows, chance 0.50, most merged first; merged: not 2 SE above chance):\n"
        for line in lines() { out += "  " + line + "\n" }
        return out
    }

    /// One line per group for the terminal, e.g. "within defect: scratch ↔ dent 0.53 ± 0.02
    /// merged, stain ↔ crack 0.97 ± 0.01; recall scratch 0.48, dent 0.55, stain 0.97, crack 0.98":
    /// every merged pair and then the least separable others, `maxPairs` pairs in all at most
    /// (the count of the rest is given; report.json has them all).
    public func lines(maxPairs: Int = 5) -> [String] {
        groups.map { g in
            let shown = g.pairs.enumerated().filter { $0.offset < maxPairs || $0.element.merged }.map(\.element)
            var pairs = shown.map { p in
                "\(p.a) ↔ \(p.b) " + String(format: "%.2f ± %.2f", p.accuracy, p.standardError) + (p.merged ? " merged" : "")
            }
            if shown.count < g.pairs.count { pairs.append("\(g.pairs.count - shown.count) more pairs") }
            let recall = zip(g.subclasses, g.recall).map { "\($0) " + String(format: "%.2f", $1) }
            return "within \(g.name): " + (pairs.isEmpty ? "no pair has test rows on both sides" : pairs.joined(separator: ", "))
                + "; recall " + recall.joined(separator: ", ")
        }
    }
}
