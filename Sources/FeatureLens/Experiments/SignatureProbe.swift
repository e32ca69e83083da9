import FeatureLensNumerics

/// Errors of the signature probe.
public enum ProbeError: Error, CustomStringConvertible, Equatable {
    /// Embeddings and labels disagree in count, or train and test widths differ.
    case shapeMismatch(String)
    /// A label set named in a dataset is missing from the other dataset.
    case missingLabelSet(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "probe: \(m)"
        case .missingLabelSet(let n): return "probe: label set '\(n)' missing from the test dataset"
        }
    }
}

/// A linear probe that is fit on training embeddings and scored on test embeddings by
/// balanced accuracy. The synthetic runner takes any conforming probe, so the audit's
/// `RidgeProbe` can replace `SignatureProbe` without touching the runner.
public protocol SignatureProbing: Sendable {
    /// Balanced accuracy (mean per-class recall over the classes present in `testLabels`)
    /// of a probe fit on `train` (`[n_train, p]`) with `trainLabels` and scored on `test`
    /// (`[n_test, p]`). Labels are class indices ≥ 0.
    /// - Throws: `ProbeError.shapeMismatch` when counts or widths disagree.
    func balancedAccuracy(train: Tensor<Double>, trainLabels: [Int],
                          test: Tensor<Double>, testLabels: [Int]) throws -> Double
}

/// The signature probe of SCIENCE.md §5, exactly:
///
/// - least squares with a bias term on the training embeddings, labels ±1 (one-vs-rest
///   columns for more than two classes), the bias not penalized (features and targets are
///   centered, the bias is recovered from the means);
/// - ridge λ = `ridgeScale` · n_train · (mean per-dimension variance of the training
///   embeddings), variance with divisor n_train; default `ridgeScale` = 1e-3;
/// - prediction sign(score) for two classes (score > 0 → the larger class index), argmax of
///   the one-vs-rest scores otherwise;
/// - scored by balanced accuracy on the test embeddings;
/// - zero variance (exact collapse: mean variance ≤ `zeroVarianceTolerance` × mean squared
///   entry, or exactly 0) → predict the majority training class (balanced accuracy 1/C).
///
/// The relative tolerance makes "exact collapse" robust to rounding: the minimum-norm
/// minimizer's training embeddings are identical within a class in exact arithmetic but
/// differ at ~1e-15 relative in floating point, which an un-thresholded probe would read.
public struct SignatureProbe: SignatureProbing {
    /// Ridge scale (SCIENCE.md §5: 1e-3).
    public var ridgeScale: Double
    /// Relative variance below which the embeddings count as collapsed.
    public var zeroVarianceTolerance: Double

    public init(ridgeScale: Double = 1e-3, zeroVarianceTolerance: Double = 1e-20) {
        self.ridgeScale = ridgeScale
        self.zeroVarianceTolerance = zeroVarianceTolerance
    }

    public func balancedAccuracy(train: Tensor<Double>, trainLabels: [Int],
                                 test: Tensor<Double>, testLabels: [Int]) throws -> Double {
        guard train.rank == 2, test.rank == 2, train.shape[1] == test.shape[1] else {
            throw ProbeError.shapeMismatch("train embeddings \(train.shape), test \(test.shape); expected [*, p] both")
        }
        let n = train.shape[0], p = train.shape[1]
        guard trainLabels.count == n, testLabels.count == test.shape[0], n > 0 else {
            throw ProbeError.shapeMismatch("\(trainLabels.count) train labels for \(n) rows, \(testLabels.count) test labels for \(test.shape[0]) rows")
        }
        let classes = Array(Set(trainLabels)).sorted()
        var counts = [Int: Int]()
        for l in trainLabels { counts[l, default: 0] += 1 }
        let majority = classes.max { (counts[$0]!, -$0) < (counts[$1]!, -$1) }!
        // Centering and mean per-dimension variance.
        let mean = train.meanOverRows()
        var variance = 0.0, meanSquare = 0.0
        for i in 0..<n { for j in 0..<p {
            let v = train.scalars[i * p + j]
            let c = v - mean[j]
            variance += c * c; meanSquare += v * v
        } }
        variance /= Double(n * p); meanSquare /= Double(n * p)
        var predictions: [Int]
        if classes.count < 2 || p == 0 || variance == 0 || variance <= zeroVarianceTolerance * meanSquare {
            predictions = [Int](repeating: majority, count: testLabels.count)
        } else {
            let centered = train.addingRowVector(mean.map { -$0 })
            let columns = classes.count == 2 ? [classes[1]] : classes
            var y = Tensor<Double>(zeros: [n, columns.count])
            for i in 0..<n { for (c, cls) in columns.enumerated() { y[i, c] = trainLabels[i] == cls ? 1 : -1 } }
            let yMean = y.meanOverRows()
            let yc = y.addingRowVector(yMean.map { -$0 })
            let lambda = ridgeScale * Double(n) * variance
            let w = try ridgeLeastSquares(centered, yc, lambda: lambda)          // [p, C']
            // bias_c = ȳ_c − z̄ᵀ w_c
            var bias = yMean
            for c in 0..<columns.count { for j in 0..<p { bias[c] -= mean[j] * w[j, c] } }
            let scores = test.matmul(w, threads: 1).addingRowVector(bias)
            predictions = (0..<testLabels.count).map { i in
                if columns.count == 1 { return scores[i, 0] > 0 ? classes[1] : classes[0] }
                var best = 0
                for c in 1..<columns.count where scores[i, c] > scores[i, best] { best = c }
                return columns[best]
            }
        }
        return SignatureProbe.score(predictions: predictions, labels: testLabels)
    }
}

extension SignatureProbe {
/// Balanced accuracy: mean per-class recall over the classes present in `labels` (0 for empty input).
public static func score(predictions: [Int], labels: [Int]) -> Double {
    var hit = [Int: Int](), total = [Int: Int]()
    for (p, l) in zip(predictions, labels) {
        total[l, default: 0] += 1
        if p == l { hit[l, default: 0] += 1 }
    }
    guard !total.isEmpty else { return 0 }
    return total.keys.sorted().reduce(0.0) { $0 + Double(hit[$1] ?? 0) / Double(total[$1]!) } / Double(total.count)
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
        guard let te = testSet.labels[name] else { throw ProbeError.missingLabelSet(name) }
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
