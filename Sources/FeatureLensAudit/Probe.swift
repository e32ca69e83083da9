import Foundation

// Shared probe protocol: a probe is fit on train embeddings `[n_train, p]` with integer class
// labels and predicts a class for every test embedding `[n_test, p]`; `ProbeEvaluation` turns
// predictions into an accuracy, its chance level and the retention.

/// Errors raised by probes and by the audit. Messages name the offending input.
public enum ProbeError: Error, CustomStringConvertible, Equatable {
    /// Embeddings are not `[n, p]`, or train and test widths differ.
    case badShape(String)
    /// The label count differs from the row count.
    case labelCount(what: String, labels: Int, rows: Int)
    /// No training rows (or no test rows).
    case empty(String)
    /// A non-finite value in the embeddings.
    case nonFinite(String)
    /// A configuration value is out of range.
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .badShape(let m): return "bad embedding shape: \(m)"
        case .labelCount(let w, let l, let r): return "\(w): \(l) labels for \(r) embedding rows"
        case .empty(let m): return "nothing to probe: \(m)"
        case .nonFinite(let m): return "non-finite value in \(m)"
        case .invalidParameter(let m): return "invalid probe parameter: \(m)"
        }
    }
}

/// The probes the audit offers.
public enum ProbeKind: String, Codable, Sendable, CaseIterable {
    /// `RidgeProbe`: ridge least squares with bias, one-vs-rest (the signature probe of SCIENCE.md §5).
    case ridge
    /// `LogisticProbe`: multinomial logistic regression with L2 on standardized features, C
    /// chosen per fit on held-out training rows (the default probe of `featurelens audit` and
    /// of the image experiments).
    case logistic
    /// `KNNProbe`: weighted k-nearest neighbours on cosine similarity.
    case knn
    /// `CentroidProbe`: nearest class centroid.
    case centroid

    /// The probe with its default settings.
    public func makeProbe() -> any Probe {
        switch self {
        case .ridge: return RidgeProbe()
        case .logistic: return LogisticProbe()
        case .knn: return KNNProbe()
        case .centroid: return CentroidProbe()
        }
    }
}

/// How predictions are scored.
public enum AccuracyMeasure: String, Codable, Sendable {
    /// Balanced accuracy: the mean over the classes present in the test labels of the recall
    /// (correct / count) of that class. Its chance level is 1 / (number of those classes):
    /// what a constant (e.g. majority-class) prediction scores.
    case balanced
    /// Plain accuracy: the fraction of correct predictions. Its chance level is the
    /// majority-class rate of the test labels.
    case plain
}

/// A classifier fit on embeddings of one label set.
///
/// Labels are arbitrary integers (class codes); a test label never seen in training can never
/// be predicted (it still counts in the score).
public protocol Probe: Sendable {
    /// Which probe this is.
    var kind: ProbeKind { get }

    /// Fits on `train` (`[n_train, p]`, row i labelled `trainLabels[i]`) and returns the
    /// predicted label of every row of `test` (`[n_test, p]`).
    /// - Throws: `ProbeError` for mismatched shapes or counts, or no training rows.
    func predict(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws -> [Int]

    /// Predictions for several label sets on the same embeddings (probes may share work, e.g.
    /// the ridge probe's Gram matrix). Default: `predict` once per label set.
    func predictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [[Int]]

    /// Like `predictMany`, with the regularization each label set's fit used (the logistic
    /// probe's C). Default: `predictMany` with no C.
    func fitPredictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [ProbePrediction]
}

/// One label set's predictions and the inverse regularization strength C its probe was fit
/// with (nil for probes without a C).
public struct ProbePrediction: Sendable, Equatable {
    /// Predicted label of every test row: `[n_test]`.
    public var predicted: [Int]
    /// The C used (see `LogisticProbe`), or nil.
    public var c: Double?

    /// Creates a prediction record.
    public init(predicted: [Int], c: Double? = nil) {
        self.predicted = predicted
        self.c = c
    }
}

extension Probe {
    public func predictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [[Int]] {
        try labelSets.map { try predict(train: train, trainLabels: $0, test: test) }
    }

    public func fitPredictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [ProbePrediction] {
        try predictMany(train: train, labelSets: labelSets, test: test).map { ProbePrediction(predicted: $0) }
    }
}

/// Validates probe inputs: both rank 2, equal widths, label count = train rows, finite values.
func checkProbeInputs(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws {
    guard train.rank == 2, test.rank == 2 else {
        throw ProbeError.badShape("train \(train.shape), test \(test.shape); both must be [n, p]")
    }
    guard train.shape[1] == test.shape[1] else {
        throw ProbeError.badShape("train has width \(train.shape[1]) but test has width \(test.shape[1])")
    }
    guard trainLabels.count == train.shape[0] else {
        throw ProbeError.labelCount(what: "train labels", labels: trainLabels.count, rows: train.shape[0])
    }
    guard train.shape[0] > 0 else { throw ProbeError.empty("no training rows") }
}

/// The sorted distinct labels and, for each row, the index of its label in that list.
func encodeClasses(_ labels: [Int]) -> (classes: [Int], index: [Int]) {
    let classes = Array(Set(labels)).sorted()
    var pos: [Int: Int] = [:]
    for (k, c) in classes.enumerated() { pos[c] = k }
    return (classes, labels.map { pos[$0]! })
}

/// The most frequent label (ties → the smallest label).
func majorityLabel(_ labels: [Int]) -> Int {
    var counts: [Int: Int] = [:]
    for l in labels { counts[l, default: 0] += 1 }
    return counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }!.key
}

/// Accuracy, chance level, retention and standard error of one probe on one label set.
public struct ProbeScore: Codable, Sendable, Equatable {
    /// Accuracy in [0, 1] under `measure`.
    public var accuracy: Double
    /// Chance level in [0, 1] under `measure` (see `AccuracyMeasure`).
    public var chance: Double
    /// (accuracy − chance) / (1 − chance); 0 when chance is 1 (a single class: nothing to
    /// read); NaN when accuracy or chance is NaN (not measurable, see `WithinGroups`).
    public var retention: Double
    /// Standard error of `accuracy` over the test rows, treating each test row's correctness
    /// as an independent Bernoulli draw (the probe fit held fixed): for balanced accuracy over
    /// K test classes with recalls r_c on n_c rows, SE = √(Σ_c r_c(1 − r_c)/n_c) / K; for plain
    /// accuracy a on n rows, SE = √(a(1 − a)/n); within groups see `WithinGroups`. Plug-in
    /// (Wald) estimates, so 0 when every class is read perfectly (or always wrong). NaN when
    /// not measurable or unknown.
    public var standardError: Double
    /// The inverse regularization strength C the probe was fit with (logistic probe; within
    /// groups the geometric mean over the groups, see `WithinGroups`); nil for probes
    /// without a C.
    public var c: Double?

    enum CodingKeys: String, CodingKey {
        case accuracy, chance, retention, standardError = "standard_error", c
    }

    /// Creates a score, computing the retention.
    public init(accuracy: Double, chance: Double, standardError: Double = .nan, c: Double? = nil) {
        self.accuracy = accuracy
        self.chance = chance
        if accuracy.isNaN || chance.isNaN {
            self.retention = .nan
        } else {
            self.retention = chance < 1 ? (accuracy - chance) / (1 - chance) : 0
        }
        self.standardError = standardError
        self.c = c
    }

    /// Reads a score; a missing `standard_error` reads as NaN (unknown).
    public init(from decoder: Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        accuracy = try k.decode(Double.self, forKey: .accuracy)
        chance = try k.decode(Double.self, forKey: .chance)
        retention = try k.decode(Double.self, forKey: .retention)
        standardError = try k.decodeIfPresent(Double.self, forKey: .standardError) ?? .nan
        c = try k.decodeIfPresent(Double.self, forKey: .c)
    }

    /// Scores `predicted` against `truth` (equal lengths, at least one row), with the
    /// standard error of the accuracy (see `standardError`); `c` is recorded as given.
    public init(predicted: [Int], truth: [Int], measure: AccuracyMeasure, c: Double? = nil) {
        precondition(predicted.count == truth.count && !truth.isEmpty, "prediction/truth length")
        var total: [Int: Int] = [:], correct: [Int: Int] = [:]
        for (p, t) in zip(predicted, truth) {
            total[t, default: 0] += 1
            if p == t { correct[t, default: 0] += 1 }
        }
        switch measure {
        case .balanced:
            var s = 0.0, v = 0.0
            // Sorted classes: a fixed summation order, so equal inputs give bit-equal results.
            for cls in total.keys.sorted() {
                let n = Double(total[cls]!), r = Double(correct[cls] ?? 0) / n
                s += r
                v += r * (1 - r) / n
            }
            let k = Double(total.count)
            self.init(accuracy: s / k, chance: 1 / k, standardError: v.squareRoot() / k, c: c)
        case .plain:
            let nCorrect = correct.values.reduce(0, +)
            let majority = total.values.max()!
            let n = Double(truth.count), a = Double(nCorrect) / n
            self.init(accuracy: a, chance: Double(majority) / n, standardError: (a * (1 - a) / n).squareRoot(), c: c)
        }
    }
}

/// How the per-group scores of a within-group probe are combined.
public enum GroupAveraging: String, Codable, Sendable {
    /// Every group counts equally (SCIENCE.md §5: "fit and scored within each class and averaged").
    case mean
    /// Groups are weighted by their number of test rows.
    case sizeWeighted = "size_weighted"
}

/// Fits and scores probes, globally or within the groups of another label set.
public enum ProbeEvaluation {
    /// Fits `probe` on the train rows and scores it on the test rows.
    /// - Throws: `ProbeError` for bad shapes/counts or empty sets.
    public static func score(probe: any Probe, train: Tensor<Double>, trainLabels: [Int],
                             test: Tensor<Double>, testLabels: [Int],
                             measure: AccuracyMeasure = .balanced) throws -> ProbeScore {
        try scoreMany(probe: probe, train: train, trainLabels: [trainLabels], test: test,
                      testLabels: [testLabels], measure: measure)[0]
    }

    /// Scores several label sets on the same embeddings (sharing the probe's work).
    /// - Throws: `ProbeError`.
    public static func scoreMany(probe: any Probe, train: Tensor<Double>, trainLabels: [[Int]],
                                 test: Tensor<Double>, testLabels: [[Int]],
                                 measure: AccuracyMeasure = .balanced) throws -> [ProbeScore] {
        try predictAndScoreMany(probe: probe, train: train, trainLabels: trainLabels, test: test, testLabels: testLabels,
                                measure: measure).map(\.score)
    }

    /// Like `scoreMany`, with each label set's predicted label of every test row (`[n_test]`).
    /// - Throws: `ProbeError`.
    public static func predictAndScoreMany(probe: any Probe, train: Tensor<Double>, trainLabels: [[Int]],
                                           test: Tensor<Double>, testLabels: [[Int]],
                                           measure: AccuracyMeasure = .balanced) throws -> [(predicted: [Int], score: ProbeScore)] {
        precondition(trainLabels.count == testLabels.count, "one test label set per train label set")
        guard test.rank == 2, test.shape[0] > 0 else { throw ProbeError.empty("no test rows") }
        for t in testLabels where t.count != test.shape[0] {
            throw ProbeError.labelCount(what: "test labels", labels: t.count, rows: test.shape[0])
        }
        if trainLabels.isEmpty { return [] }
        let predictions = try probe.fitPredictMany(train: train, labelSets: trainLabels, test: test)
        return zip(predictions, testLabels).map {
            ($0.predicted, ProbeScore(predicted: $0.predicted, truth: $1, measure: measure, c: $0.c))
        }
    }

    /// Fits and scores `probe` separately within each group of `trainGroups` / `testGroups`
    /// (for example subclass within class), by the one within-group rule `WithinGroups.score`:
    /// only groups with at least two classes in both their train and test rows are probed,
    /// accuracy and chance are the (weighted, per `averaging`) means over those groups and the
    /// retention is computed from the means (standard error and C as `WithinGroups` says); when no group qualifies the score is NaN
    /// ("not measurable") and `groups` is 0.
    /// - Throws: `ProbeError`.
    public static func scoreWithinGroups(probe: any Probe, train: Tensor<Double>, trainLabels: [Int], trainGroups: [Int],
                                         test: Tensor<Double>, testLabels: [Int], testGroups: [Int],
                                         measure: AccuracyMeasure = .balanced,
                                         averaging: GroupAveraging = .mean) throws -> (score: ProbeScore, groups: Int) {
        let r = try predictAndScoreWithinGroups(probe: probe, train: train, trainLabels: trainLabels, trainGroups: trainGroups,
                                                test: test, testLabels: testLabels, testGroups: testGroups,
                                                measure: measure, averaging: averaging)
        return (r.score, r.groups)
    }

    /// Like `scoreWithinGroups`, with the predicted label of every test row (`[n_test]`; each
    /// row of a qualifying group predicted by its group's probe, every other row
    /// `notPredicted`).
    /// - Throws: `ProbeError`.
    public static func predictAndScoreWithinGroups(probe: any Probe, train: Tensor<Double>, trainLabels: [Int], trainGroups: [Int],
                                                   test: Tensor<Double>, testLabels: [Int], testGroups: [Int],
                                                   measure: AccuracyMeasure = .balanced, averaging: GroupAveraging = .mean)
        throws -> (score: ProbeScore, groups: Int, predicted: [Int]) {
        var predicted = [Int](repeating: notPredicted, count: testLabels.count)
        let result = try predicted.withUnsafeMutableBufferPointer { out -> (score: ProbeScore, groups: Int) in
            let base = out.baseAddress
            return try WithinGroups.score(trainLabels: trainLabels, trainGroups: trainGroups, testLabels: testLabels,
                                          testGroups: testGroups, averaging: averaging) { tr, te in
                let r = try predictAndScoreMany(probe: probe, train: train.gatherRows(tr), trainLabels: [tr.map { trainLabels[$0] }],
                                                test: test.gatherRows(te), testLabels: [te.map { testLabels[$0] }],
                                                measure: measure)[0]
                // The groups' test rows are disjoint, so concurrent groups write disjoint entries.
                for (row, p) in zip(te, r.predicted) { base![row] = p }
                return r.score
            }
        }
        return (result.score, result.groups, predicted)
    }

    /// The prediction recorded for a test row that no probe scored (a row outside every
    /// qualifying group of a within-group probe).
    public static let notPredicted = Int.min
}
