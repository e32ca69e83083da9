import Foundation

/// The signature probe of SCIENCE.md §5: ridge least squares with an unpenalized bias.
///
/// Protocol, for train embeddings X (`[n, p]`) and labels with K classes:
/// 1. Targets: ±1. With K = 2 one column, +1 for the larger class label and −1 for the
///    other; with K > 2 one-vs-rest, K columns, +1 for the row's class and −1 elsewhere.
///    (K = 1: every test row gets that class.)
/// 2. Centering: μ = column means of X, ȳ = column means of the targets; the bias is then
///    ȳ − μᵀW, so it is never penalized.
/// 3. Ridge: W = argmin ‖(X − μ)W − (Y − ȳ)‖² + λ‖W‖² with
///    λ = `relativeRidge` · n · v̄, v̄ = mean over the p dimensions of the per-dimension
///    variance (1/n normalization) of X. Solved as (XcᵀXc + λI)W = XcᵀYc when p ≤ n, or in
///    the dual form W = Xcᵀ(XcXcᵀ + λI)⁻¹Yc when p > n, by Cholesky in `Double`.
/// 4. Prediction: score s(x) = (x − μ)ᵀW + ȳ; K = 2: the +1 class when s > 0, else the −1
///    class (sign, with 0 going to the smaller label); K > 2: argmax of the K scores.
/// 5. Zero-variance embeddings (exact collapse: v̄ = 0, or v̄ ≤ `zeroVarianceTolerance` × the
///    mean squared entry of X): every test row gets the majority training class (balanced
///    accuracy 1/K, i.e. 0.5 for two classes). The relative tolerance (default 1e-20) makes
///    "exact collapse" robust to rounding: the minimum-norm minimizer's embeddings are equal
///    within a class in exact arithmetic but differ at ~1e-15 relative in floating point,
///    which the scale-invariant ridge would otherwise read as signal.
///
/// The ridge matters: a plain least-squares probe is scale-invariant and reads tiny leftover
/// directions as signal (SCIENCE.md §5).
public struct RidgeProbe: Probe {
    public var kind: ProbeKind { .ridge }
    /// The factor 1e-3 in λ = 1e-3 · n · v̄ (SCIENCE.md §5). Must be > 0.
    public var relativeRidge: Double
    /// Relative variance below which the training embeddings count as collapsed.
    public var zeroVarianceTolerance: Double

    /// Creates the probe. `relativeRidge` must be positive (checked when fitting).
    public init(relativeRidge: Double = 1e-3, zeroVarianceTolerance: Double = 1e-20) {
        self.relativeRidge = relativeRidge
        self.zeroVarianceTolerance = zeroVarianceTolerance
    }

    public func predict(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws -> [Int] {
        try predictMany(train: train, labelSets: [trainLabels], test: test)[0]
    }

    /// Fits every label set with one shared Gram matrix and one Cholesky factorization.
    public func predictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [[Int]] {
        guard relativeRidge > 0, relativeRidge.isFinite else {
            throw ProbeError.invalidParameter("relativeRidge must be > 0, got \(relativeRidge)")
        }
        for l in labelSets { try checkProbeInputs(train: train, trainLabels: l, test: test) }
        if labelSets.isEmpty { return [] }
        let n = train.shape[0], p = train.shape[1], nTest = test.shape[0]

        // Center the training embeddings.
        var mu = train.sumOverRows()
        for j in 0..<p { mu[j] /= Double(n) }
        var xc = train.scalars
        var sumSq = 0.0, rawSq = 0.0
        for i in 0..<n {
            for j in 0..<p {
                rawSq += xc[i * p + j] * xc[i * p + j]
                let v = xc[i * p + j] - mu[j]
                xc[i * p + j] = v
                sumSq += v * v
            }
        }
        guard sumSq.isFinite else { throw ProbeError.nonFinite("train embeddings") }
        let meanVariance = sumSq / Double(n * max(p, 1))

        // Targets, one block of columns per label set.
        struct Block { var classes: [Int]; var firstColumn: Int; var columns: Int }
        var blocks: [Block] = []
        var columnCount = 0
        for labels in labelSets {
            let classes = Array(Set(labels)).sorted()
            let cols = classes.count < 2 ? 0 : (classes.count == 2 ? 1 : classes.count)
            blocks.append(Block(classes: classes, firstColumn: columnCount, columns: cols))
            columnCount += cols
        }
        let meanSquare = rawSq / Double(n * max(p, 1))
        if !(meanVariance > 0) || meanVariance <= zeroVarianceTolerance * meanSquare || columnCount == 0 {
            return labelSets.map { Array(repeating: majorityLabel($0), count: nTest) }
        }
        var y = [Double](repeating: -1, count: n * columnCount)
        for (b, labels) in zip(blocks, labelSets) where b.columns > 0 {
            if b.columns == 1 {
                for i in 0..<n where labels[i] == b.classes[1] { y[i * columnCount + b.firstColumn] = 1 }
            } else {
                var pos: [Int: Int] = [:]
                for (k, c) in b.classes.enumerated() { pos[c] = k }
                for i in 0..<n { y[i * columnCount + b.firstColumn + pos[labels[i]]!] = 1 }
            }
        }
        var yMean = [Double](repeating: 0, count: columnCount)
        for i in 0..<n { for c in 0..<columnCount { yMean[c] += y[i * columnCount + c] } }
        for c in 0..<columnCount { yMean[c] /= Double(n) }
        for i in 0..<n { for c in 0..<columnCount { y[i * columnCount + c] -= yMean[c] } }

        let lambda = relativeRidge * Double(n) * meanVariance
        let xcT = Tensor<Double>(shape: [n, p], scalars: xc)
        let yc = Tensor<Double>(shape: [n, columnCount], scalars: y)
        let w: Tensor<Double>
        do {
            if p <= n {
                var g = xcT.matmul(xcT, transposeSelf: true)          // [p, p]
                for j in 0..<p { g.scalars[j * p + j] += lambda }
                w = try choleskySolve(g, xcT.matmul(yc, transposeSelf: true))  // [p, m]
            } else {
                var k = xcT.matmul(xcT, transposeOther: true)         // [n, n]
                for i in 0..<n { k.scalars[i * n + i] += lambda }
                let a = try choleskySolve(k, yc)                       // [n, m]
                w = xcT.matmul(a, transposeSelf: true)                 // [p, m]
            }
        } catch {
            throw ProbeError.nonFinite("ridge system (λ = \(lambda)): \(error)")
        }
        // Scores on the centered test embeddings.
        var tc = test.scalars
        for i in 0..<nTest { for j in 0..<p { tc[i * p + j] -= mu[j] } }
        let scores = Tensor<Double>(shape: [nTest, p], scalars: tc).matmul(w)  // [nTest, m]
        var out: [[Int]] = []
        for (b, labels) in zip(blocks, labelSets) {
            if b.columns == 0 { out.append(Array(repeating: b.classes.first ?? majorityLabel(labels), count: nTest)); continue }
            var pred = [Int](repeating: 0, count: nTest)
            for i in 0..<nTest {
                let row = i * columnCount + b.firstColumn
                if b.columns == 1 {
                    pred[i] = scores.scalars[row] + yMean[b.firstColumn] > 0 ? b.classes[1] : b.classes[0]
                } else {
                    var best = 0, bestScore = -Double.infinity
                    for k in 0..<b.columns {
                        let s = scores.scalars[row + k] + yMean[b.firstColumn + k]
                        if s > bestScore { bestScore = s; best = k }
                    }
                    pred[i] = b.classes[best]
                }
            }
            out.append(pred)
        }
        return out
    }
}
