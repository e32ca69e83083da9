import Foundation

/// Weighted k-nearest-neighbour probe on cosine similarity (Wu et al. 2018, "Unsupervised
/// feature learning via non-parametric instance discrimination" (InstDisc), §3.4; the same
/// weighting as DINO's `eval_knn.py`, Caron et al. 2021).
///
/// Protocol: train and test embeddings are L2-normalized (rows of zero norm stay zero, so
/// their similarity to everything is 0). For a test embedding x the `k` training embeddings
/// with the largest cosine similarity s_i (ties broken by the smaller training row index) vote
/// for their class with weight exp(s_i / τ); the class with the largest total vote wins (ties
/// → the smaller label). Defaults k = 20, τ = 0.07 (DINO). With fewer than k training rows,
/// all of them vote.
public struct KNNProbe: Probe {
    public var kind: ProbeKind { .knn }
    /// Number of neighbours (≥ 1).
    public var k: Int
    /// Temperature τ of the vote weights exp(s/τ) (> 0).
    public var temperature: Double

    /// Creates the probe; parameters are checked when fitting.
    public init(k: Int = 20, temperature: Double = 0.07) {
        self.k = k
        self.temperature = temperature
    }

    public func predict(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws -> [Int] {
        try checkProbeInputs(train: train, trainLabels: trainLabels, test: test)
        guard k >= 1 else { throw ProbeError.invalidParameter("k must be ≥ 1, got \(k)") }
        guard temperature > 0, temperature.isFinite else {
            throw ProbeError.invalidParameter("temperature must be > 0, got \(temperature)")
        }
        let (classes, index) = encodeClasses(trainLabels)
        let trainN = train.l2NormalizedRows(), testN = test.l2NormalizedRows()
        let n = train.shape[0], nTest = test.shape[0], kk = min(k, n), nc = classes.count
        var pred = [Int](repeating: classes[0], count: nTest)
        let block = 256
        var start = 0
        while start < nTest {
            let end = min(start + block, nTest)
            let sims = testN.rows(start..<end).matmul(trainN, transposeOther: true) // [b, n]
            let blockPred = Parallel.map(count: end - start) { r -> Int in
                let (topS, topI) = topKColumns(sims, row: r, k: kk)
                var votes = [Double](repeating: 0, count: nc)
                for t in 0..<kk where topI[t] >= 0 {
                    votes[index[topI[t]]] += Foundation.exp((topS[t] - 1) / temperature) // shift by 1 for range; argmax unchanged
                }
                var best = 0
                for c in 1..<max(1, nc) where votes[c] > votes[best] { best = c }
                return classes[best]
            }
            pred.replaceSubrange(start..<end, with: blockPred)
            start = end
        }
        return pred
    }
}
