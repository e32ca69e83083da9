import FeatureLensNumerics

/// A linear probe that is fit on training embeddings and scored on test embeddings by
/// balanced accuracy. The synthetic runner takes any conforming probe, so the audit's
/// probe can be swapped without touching the runner (default: `RidgeProbe`).
public protocol SignatureProbing: Sendable {
    /// The balanced-accuracy score (mean per-class recall over the classes present in
    /// `testLabels`, its chance 1/K and its standard error, see `ProbeScore`) of a probe fit
    /// on `train` (`[n_train, p]`) with `trainLabels` and scored on `test` (`[n_test, p]`).
    /// Labels are class indices ≥ 0.
    /// - Throws: `ProbeError.badShape` when counts or widths disagree.
    func balancedScore(train: Tensor<Double>, trainLabels: [Int],
                       test: Tensor<Double>, testLabels: [Int]) throws -> ProbeScore
}

extension SignatureProbing {
    /// The accuracy of `balancedScore`.
    public func balancedAccuracy(train: Tensor<Double>, trainLabels: [Int],
                                 test: Tensor<Double>, testLabels: [Int]) throws -> Double {
        try balancedScore(train: train, trainLabels: trainLabels, test: test, testLabels: testLabels).accuracy
    }
}

/// The audit's `RidgeProbe` is the signature probe of SCIENCE.md §5.
extension RidgeProbe: SignatureProbing {
    public func balancedScore(train: Tensor<Double>, trainLabels: [Int],
                              test: Tensor<Double>, testLabels: [Int]) throws -> ProbeScore {
        guard testLabels.count == test.shape[0] else {
            throw ProbeError.labelCount(what: "test labels", labels: testLabels.count, rows: test.shape[0])
        }
        let predicted = try predict(train: train, trainLabels: trainLabels, test: test)
        return ProbeScore(predicted: predicted, truth: testLabels, measure: .balanced)
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
    try probeLabelSetScores(probe, trainEmbeddings: trainEmbeddings, trainSet: trainSet,
                            testEmbeddings: testEmbeddings, testSet: testSet).mapValues(\.accuracy)
}

/// `probeLabelSets` with the whole score per label set: balanced accuracy, its chance and its
/// standard error (within groups combined by `WithinGroups.score`).
/// - Throws: `ProbeError` for missing label sets or shape mismatches.
public func probeLabelSetScores(_ probe: any SignatureProbing, trainEmbeddings: Tensor<Double>, trainSet: Dataset,
                                testEmbeddings: Tensor<Double>, testSet: Dataset) throws -> [String: ProbeScore] {
    var out: [String: ProbeScore] = [:]
    for name in trainSet.labelSetNames {
        let tr = trainSet.labels[name]!
        guard let te = testSet.labels[name] else { throw ProbeError.invalidParameter("label set '\(name)' missing from the test dataset") }
        if let parent = tr.within {
            guard let trP = trainSet.labels[parent], let teP = testSet.labels[parent] else {
                throw ProbeError.invalidParameter("label set '\(name)' is probed within '\(parent)', which the train or test dataset lacks")
            }
            out[name] = try WithinGroups.score(trainLabels: tr.codes, trainGroups: trP.codes,
                                               testLabels: te.codes, testGroups: teP.codes) { trIdx, teIdx in
                try probe.balancedScore(
                    train: trainEmbeddings.gatherRows(trIdx), trainLabels: trIdx.map { tr.codes[$0] },
                    test: testEmbeddings.gatherRows(teIdx), testLabels: teIdx.map { te.codes[$0] })
            }.score
        } else {
            out[name] = try probe.balancedScore(train: trainEmbeddings, trainLabels: tr.codes,
                                                test: testEmbeddings, testLabels: te.codes)
        }
    }
    return out
}
