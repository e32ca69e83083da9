import FeatureLensNumerics

/// A 2-D principal-component projection of embeddings with the labels of each point, for
/// scatter plots. JSON: `{"x": [...], "y": [...], "explained": [r1, r2], "labels": {name: [...]}}`.
public struct PCAProjection: Codable, Sendable, Equatable {
    /// First principal coordinate of each point.
    public var x: [Double]
    /// Second principal coordinate of each point (0 when p = 1).
    public var y: [Double]
    /// Fraction of the total variance along each of the two components.
    public var explained: [Double]
    /// Label-set name → the label of each point.
    public var labels: [String: [Int]]

    /// Projects the rows of `embeddings` (`[n, p]`) onto their top two principal components
    /// (eigenvectors of the `[p, p]` covariance). At most `maxPoints` rows are kept: the first
    /// `maxPoints` (callers pass test sets in random order, so this is a fair subsample and
    /// deterministic). Signs are fixed so that the largest-magnitude loading is positive.
    /// - Throws: `LinearAlgebraError` if the covariance cannot be decomposed.
    public static func compute(_ embeddings: Tensor<Double>, labels: [String: [Int]], maxPoints: Int = 300) throws -> PCAProjection {
        precondition(embeddings.rank == 2, "PCA needs [n, p] embeddings")
        let n = min(embeddings.shape[0], maxPoints), p = embeddings.shape[1]
        let z = embeddings.rows(0..<n)
        var labelsOut: [String: [Int]] = [:]
        for (k, v) in labels { labelsOut[k] = Array(v.prefix(n)) }
        guard n > 0, p > 0 else { return PCAProjection(x: [], y: [], explained: [0, 0], labels: labelsOut) }
        let mean = z.meanOverRows()
        let zc = z.addingRowVector(mean.map { -$0 })
        let cov = zc.matmul(zc, transposeSelf: true) / Double(max(1, n - 1))
        let eig = try SymmetricEigen(cov)
        let total = eig.values.reduce(0) { $0 + max($1, 0) }
        var comps: [[Double]] = []
        for c in 0..<min(2, p) {
            var v = (0..<p).map { eig.vectors[$0, c] }
            if let big = v.indices.max(by: { abs(v[$0]) < abs(v[$1]) }), v[big] < 0 { v = v.map { -$0 } }
            comps.append(v)
        }
        var xs = [Double](repeating: 0, count: n), ys = [Double](repeating: 0, count: n)
        for i in 0..<n {
            for j in 0..<p {
                xs[i] += zc[i, j] * comps[0][j]
                if comps.count > 1 { ys[i] += zc[i, j] * comps[1][j] }
            }
        }
        let explained = (0..<2).map { c in c < eig.values.count && total > 0 ? max(eig.values[c], 0) / total : 0 }
        return PCAProjection(x: xs, y: ys, explained: explained, labels: labelsOut)
    }
}
