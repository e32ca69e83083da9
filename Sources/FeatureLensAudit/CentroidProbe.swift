import Foundation

/// Nearest class centroid probe.
///
/// Protocol: the centroid μ_k of each training class is the mean of its embeddings (raw, not
/// normalized); a test embedding x gets the class with the smallest squared Euclidean
/// distance ‖x − μ_k‖², computed as ‖μ_k‖² − 2xᵀμ_k (the ‖x‖² term is common to all classes),
/// ties going to the smaller label.
public struct CentroidProbe: Probe {
    public var kind: ProbeKind { .centroid }

    /// Creates the probe (it has no parameters).
    public init() {}

    public func predict(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws -> [Int] {
        try checkProbeInputs(train: train, trainLabels: trainLabels, test: test)
        let (classes, index) = encodeClasses(trainLabels)
        let n = train.shape[0], p = train.shape[1], k = classes.count
        var centroids = groupedColumnSums(train, groups: index, groupCount: k)
        var counts = [Double](repeating: 0, count: k)
        for i in 0..<n { counts[index[i]] += 1 }
        var sqNorm = [Double](repeating: 0, count: k)
        for c in 0..<k {
            for j in 0..<p { centroids[c * p + j] /= counts[c]; sqNorm[c] += centroids[c * p + j] * centroids[c * p + j] }
        }
        let dots = test.matmul(Tensor(shape: [k, p], scalars: centroids), transposeOther: true) // [nTest, k]
        let nTest = test.shape[0]
        var pred = [Int](repeating: classes[0], count: nTest)
        for i in 0..<nTest {
            var best = 0, bestD = Double.infinity
            for c in 0..<k {
                let d = sqNorm[c] - 2 * dots.scalars[i * k + c]
                if d < bestD { bestD = d; best = c }
            }
            pred[i] = classes[best]
        }
        return pred
    }
}
