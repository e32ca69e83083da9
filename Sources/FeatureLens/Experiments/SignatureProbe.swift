import FeatureLensNumerics

/// A linear probe that is fit on training embeddings and scored on test embeddings by
/// balanced accuracy. The synthetic runner takes any conforming probe, so the audit's
/// probe can be swapped without touching the runner (default: `RidgeProbe`).
public protocol SignatureProbing: Sendable {
    /// Balanced accuracy (mean per-class recall over the classes present in `testLabels`)
    /// of a probe fit on `train` (`[n_train, p]`) with `trainLabels` and scored on `test`
    /// (`[n_test, p]`). Labels are class indices ≥ 0.
    /// - Throws: `ProbeError.badShape` when counts or widths disagree.
    func balancedAccuracy(train: Tensor<Double>, trainLabels: [Int],
                          test: Tensor<Double>, testLabels: [Int]) throws -> Double
}

/// The audit's `RidgeProbe` is the signature probe of SCIENCE.md §5.
extension RidgeProbe: SignatureProbing {
    public func balancedAccuracy(train: Tensor<Double>, trainLabels: [Int],
                                 test: Tensor<Double>, testLabels: [Int]) throws -> Double {
        guard testLabels.count == test.shape[0] else {
            throw ProbeError.labelCount(what: "test labels", labels: testLabels.count, rows: test.shape[0])
        }
        let predicted = try predict(train: train, trainLabels: trainLabels, test: test)
        return ProbeScore(predicted: predicted, truth: testLabels, measure: .balanced).accuracy
    }
}

/// Probes every label set of `trainSet` (SCIENCE.md §5): a label set with `within` set is
/// fit and scored within each group of its parent by the one within-group rule
/// `WithinGroups.score` (groups with at least two classes in train and test, plain mean over
/// groups, NaN when no group qualifies); the others are probed on all points.
/// - Parameters: `trainEmbeddings` `[n_train, p]` (view 1), `testEmbeddings` `[n_test, p]`.
/// - Returns: balanced accuracy per label-set name (NaN for a within-group label set that
///   cannot be measured).
/// - Throws: `ProbeError` for missing label sets or shape mismatches.
public func probeLabelSets(_ probe: any SignatureProbing, trainEmbeddings: Tensor<Double>, trainSet: Dataset,
                           testEmbeddings: Tensor<Double>, testSet: Dataset) throws -> [String: Double] {
    var out: [String: Double] = [:]
    for name in trainSet.labelSetNames {
        let tr = trainSet.labels[name]!
        guard let te = testSet.labels[name] else { throw ProbeError.invalidParameter("label set '\(name)' missing from the test dataset") }
        if let parent = tr.within {
            guard let trP = trainSet.labels[parent], let teP = testSet.labels[parent] else {
                throw ProbeError.invalidParameter("label set '\(name)' is probed within '\(parent)', which the train or test dataset lacks")
            }
            out[name] = try WithinGroups.score(trainLabels: tr.codes, trainGroups: trP.codes,
                                               testLabels: te.codes, testGroups: teP.codes) { trIdx, teIdx in
                let teLabels = teIdx.map { te.codes[$0] }
                let acc = try probe.balancedAccuracy(
                    train: trainEmbeddings.gatherRows(trIdx), trainLabels: trIdx.map { tr.codes[$0] },
                    test: testEmbeddings.gatherRows(teIdx), testLabels: teLabels)
                return ProbeScore(accuracy: acc, chance: 1 / Double(Set(teLabels).count))
            }.score.accuracy
        } else {
            out[name] = try probe.balancedAccuracy(train: trainEmbeddings, trainLabels: tr.codes,
                                                   test: testEmbeddings, testLabels: te.codes)
        }
    }
    return out
}
