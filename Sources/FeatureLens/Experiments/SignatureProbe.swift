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

/// Probes every label set of `trainSet` (SCIENCE.md §5): a label set with `nestedIn` is fit
/// and scored within each group of its parent and the scores are averaged over groups that
/// appear in both train and test; the others are probed on all points.
/// - Parameters: `trainEmbeddings` `[n_train, p]` (view 1), `testEmbeddings` `[n_test, p]`.
/// - Returns: balanced accuracy per label-set name.
/// - Throws: `ProbeError` for missing label sets or shape mismatches.
public func probeLabelSets(_ probe: any SignatureProbing, trainEmbeddings: Tensor<Double>, trainSet: Dataset,
                           testEmbeddings: Tensor<Double>, testSet: Dataset) throws -> [String: Double] {
    var out: [String: Double] = [:]
    for name in trainSet.labelSetNames {
        let tr = trainSet.labels[name]!
        guard let te = testSet.labels[name] else { throw ProbeError.invalidParameter("label set '\(name)' missing from the test dataset") }
        if let parent = tr.nestedIn, let trP = trainSet.labels[parent], let teP = testSet.labels[parent] {
            var scores: [Double] = []
            for g in Set(trP.labels).sorted() {
                let trIdx = trP.labels.indices.filter { trP.labels[$0] == g }
                let teIdx = teP.labels.indices.filter { teP.labels[$0] == g }
                guard !trIdx.isEmpty, !teIdx.isEmpty else { continue }
                scores.append(try probe.balancedAccuracy(
                    train: trainEmbeddings.gatherRows(trIdx), trainLabels: trIdx.map { tr.labels[$0] },
                    test: testEmbeddings.gatherRows(teIdx), testLabels: teIdx.map { te.labels[$0] }))
            }
            out[name] = scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
        } else {
            out[name] = try probe.balancedAccuracy(train: trainEmbeddings, trainLabels: tr.labels,
                                                   test: testEmbeddings, testLabels: te.labels)
        }
    }
    return out
}
