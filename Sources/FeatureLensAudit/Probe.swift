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
    /// `LogisticProbe`: multinomial logistic regression with L2 on standardized features.
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
}

extension Probe {
    public func predictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [[Int]] {
        try labelSets.map { try predict(train: train, trainLabels: $0, test: test) }
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

/// Accuracy, chance level and retention of one probe on one label set.
public struct ProbeScore: Codable, Sendable, Equatable {
    /// Accuracy in [0, 1] under `measure`.
    public var accuracy: Double
    /// Chance level in [0, 1] under `measure` (see `AccuracyMeasure`).
    public var chance: Double
    /// (accuracy − chance) / (1 − chance); 0 when chance is 1 (a single class: nothing to
    /// read); NaN when accuracy or chance is NaN (not measurable, see `WithinGroups`).
    public var retention: Double

    /// Creates a score, computing the retention.
    public init(accuracy: Double, chance: Double) {
        self.accuracy = accuracy
        self.chance = chance
        if accuracy.isNaN || chance.isNaN {
            self.retention = .nan
        } else {
            self.retention = chance < 1 ? (accuracy - chance) / (1 - chance) : 0
        }
    }

    /// Scores `predicted` against `truth` (equal lengths, at least one row).
    public init(predicted: [Int], truth: [Int], measure: AccuracyMeasure) {
        precondition(predicted.count == truth.count && !truth.isEmpty, "prediction/truth length")
        var total: [Int: Int] = [:], correct: [Int: Int] = [:]
        for (p, t) in zip(predicted, truth) {
            total[t, default: 0] += 1
            if p == t { correct[t, default: 0] += 1 }
        }
        switch measure {
        case .balanced:
            var s = 0.0
            // Sorted classes: a fixed summation order, so equal inputs give bit-equal results.
            for c in total.keys.sorted() { s += Double(correct[c] ?? 0) / Double(total[c]!) }
            self.init(accuracy: s / Double(total.count), chance: 1 / Double(total.count))
        case .plain:
            let nCorrect = correct.values.reduce(0, +)
            let majority = total.values.max()!
            self.init(accuracy: Double(nCorrect) / Double(truth.count), chance: Double(majority) / Double(truth.count))
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
        precondition(trainLabels.count == testLabels.count, "one test label set per train label set")
        guard test.rank == 2, test.shape[0] > 0 else { throw ProbeError.empty("no test rows") }
        for t in testLabels where t.count != test.shape[0] {
            throw ProbeError.labelCount(what: "test labels", labels: t.count, rows: test.shape[0])
        }
        if trainLabels.isEmpty { return [] }
        let predictions = try probe.predictMany(train: train, labelSets: trainLabels, test: test)
        return zip(predictions, testLabels).map { ProbeScore(predicted: $0, truth: $1, measure: measure) }
    }

    /// Fits and scores `probe` separately within each group of `trainGroups` / `testGroups`
    /// (for example subclass within class), by the one within-group rule `WithinGroups.score`:
    /// only groups with at least two classes in both their train and test rows are probed,
    /// accuracy and chance are the (weighted, per `averaging`) means over those groups and the
    /// retention is computed from the means; when no group qualifies the score is NaN
    /// ("not measurable") and `groups` is 0.
    /// - Throws: `ProbeError`.
    public static func scoreWithinGroups(probe: any Probe, train: Tensor<Double>, trainLabels: [Int], trainGroups: [Int],
                                         test: Tensor<Double>, testLabels: [Int], testGroups: [Int],
                                         measure: AccuracyMeasure = .balanced,
                                         averaging: GroupAveraging = .mean) throws -> (score: ProbeScore, groups: Int) {
        try WithinGroups.score(trainLabels: trainLabels, trainGroups: trainGroups, testLabels: testLabels,
                               testGroups: testGroups, averaging: averaging) { tr, te in
            try score(probe: probe, train: train.gatherRows(tr), trainLabels: tr.map { trainLabels[$0] },
                      test: test.gatherRows(te), testLabels: te.map { testLabels[$0] }, measure: measure)
        }
    }
}
