import Foundation

/// Multinomial logistic-regression probe with L2 on standardized features, solved by L-BFGS.
///
/// Protocol (chosen to match scikit-learn's `LogisticRegression(C=C)` after a
/// `StandardScaler`):
/// 1. Standardize: each dimension j is mapped to (x_j − m_j)/s_j with the train mean m_j and
///    population std s_j (1/n); a dimension with s_j = 0 keeps s_j = 1.
/// 2. Model: K > 2 classes: softmax over K logits xᵀW + b, W: `[p, K]`, b: `[K]`. K = 2:
///    binary logistic regression, one logit z = xᵀw + b with P(larger label) = σ(z) (as
///    scikit-learn does for two classes).
/// 3. Objective: Σ_i CE_i + 1/(2C)·‖W‖²_F (intercept unpenalized), minimized (divided by n
///    for conditioning, which does not move the minimizer) by L-BFGS (Nocedal & Wright 2006,
///    Algorithm 7.4, memory `memory`) with a backtracking Armijo line search (c₁ = 1e-4).
///    Stops when the largest gradient component is ≤ `tolerance`, when the objective no longer
///    decreases, or after `maxIterations` iterations.
/// 4. Prediction: the class with the largest logit (z > 0 for K = 2), ties → the smaller label.
public struct LogisticProbe: Probe {
    public var kind: ProbeKind { .logistic }
    /// Inverse regularization strength C (> 0), as in scikit-learn.
    public var c: Double
    /// Gradient tolerance (max-abs of the gradient of the objective divided by n).
    public var tolerance: Double
    /// Maximum number of L-BFGS iterations.
    public var maxIterations: Int
    /// L-BFGS memory (number of stored correction pairs).
    public var memory: Int

    /// Creates the probe; parameters are checked when fitting.
    public init(c: Double = 1.0, tolerance: Double = 1e-6, maxIterations: Int = 500, memory: Int = 10) {
        self.c = c
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.memory = memory
    }

    /// The fitted model on standardized features.
    public struct Model: Sendable {
        /// Sorted class labels: `[K]`.
        public var classes: [Int]
        /// Standardization mean and scale: `[p]` each.
        public var mean: [Double], scale: [Double]
        /// Weights `[p, m]` (m = K, or 1 for two classes) on standardized features.
        public var weights: Tensor<Double>
        /// Intercepts `[m]`.
        public var intercept: [Double]
        /// L-BFGS iterations used.
        public var iterations: Int
        /// Whether the gradient tolerance was reached.
        public var converged: Bool

        /// Logits `[n, m]` of raw (unstandardized) embeddings `[n, p]`.
        public func logits(_ x: Tensor<Double>) -> Tensor<Double> {
            LogisticProbe.standardize(x, mean: mean, scale: scale).matmul(weights).addingRowVector(intercept)
        }

        /// Predicted labels of raw embeddings `[n, p]`.
        public func predict(_ x: Tensor<Double>) -> [Int] {
            let z = logits(x)
            let m = z.shape[1]
            return (0..<x.shape[0]).map { i in
                if m == 1 { return z.scalars[i] > 0 ? classes[1] : classes[0] }
                var best = 0
                for k in 1..<m where z.scalars[i * m + k] > z.scalars[i * m + best] { best = k }
                return classes[best]
            }
        }
    }

    public func predict(train: Tensor<Double>, trainLabels: [Int], test: Tensor<Double>) throws -> [Int] {
        try checkProbeInputs(train: train, trainLabels: trainLabels, test: test)
        let model = try fit(train: train, labels: trainLabels)
        return model.predict(test)
    }

    static func standardize(_ x: Tensor<Double>, mean: [Double], scale: [Double]) -> Tensor<Double> {
        let n = x.shape[0], p = x.shape[1]
        var s = x.scalars
        for i in 0..<n { for j in 0..<p { s[i * p + j] = (s[i * p + j] - mean[j]) / scale[j] } }
        return Tensor(shape: [n, p], scalars: s)
    }

    /// Fits the model on raw train embeddings `[n, p]`.
    /// - Throws: `ProbeError.invalidParameter` for C ≤ 0, `ProbeError.nonFinite` for
    ///   non-finite embeddings.
    public func fit(train: Tensor<Double>, labels: [Int]) throws -> Model {
        guard c > 0, c.isFinite else { throw ProbeError.invalidParameter("C must be > 0, got \(c)") }
        guard maxIterations >= 0, memory >= 1 else {
            throw ProbeError.invalidParameter("maxIterations ≥ 0 and memory ≥ 1 required")
        }
        guard train.scalars.allSatisfy({ $0.isFinite }) else { throw ProbeError.nonFinite("train embeddings") }
        let n = train.shape[0], p = train.shape[1]
        let (classes, y) = encodeClasses(labels)
        let mean = train.meanOverRows()
        let scale = squaredDeviationSums(train, from: mean).map { v in let s = (v / Double(n)).squareRoot(); return s > 0 ? s : 1 }
        let xs = LogisticProbe.standardize(train, mean: mean, scale: scale)
        let k = classes.count
        if k < 2 {
            return Model(classes: classes + classes, mean: mean, scale: scale, weights: Tensor(zeros: [p, 1]),
                         intercept: [-1], iterations: 0, converged: true)
        }
        let m = k == 2 ? 1 : k
        let objective = LogisticObjective(x: xs, y: y, classes: k, c: c)
        var theta = [Double](repeating: 0, count: p * m + m)
        let (iterations, converged) = lbfgs(&theta, objective.valueAndGradient)
        return Model(classes: classes, mean: mean, scale: scale,
                     weights: Tensor(shape: [p, m], scalars: Array(theta[0..<(p * m)])),
                     intercept: Array(theta[(p * m)...]), iterations: iterations, converged: converged)
    }

    /// L-BFGS with a backtracking Armijo line search. Returns (iterations, converged).
    func lbfgs(_ x: inout [Double], _ f: ([Double]) -> (Double, [Double])) -> (Int, Bool) {
        let dim = x.count
        var (fx, g) = f(x)
        var sList: [[Double]] = [], yList: [[Double]] = [], rhoList: [Double] = []
        func dot(_ a: [Double], _ b: [Double]) -> Double { var s = 0.0; for i in 0..<a.count { s += a[i] * b[i] }; return s }
        for iter in 0..<maxIterations {
            if g.map(abs).max()! <= tolerance { return (iter, true) }
            // Two-loop recursion: direction d = −H·g.
            var q = g
            var alphas = [Double](repeating: 0, count: sList.count)
            for i in stride(from: sList.count - 1, through: 0, by: -1) {
                alphas[i] = rhoList[i] * dot(sList[i], q)
                for j in 0..<dim { q[j] -= alphas[i] * yList[i][j] }
            }
            var gamma = 1.0
            if let s = sList.last, let yv = yList.last { gamma = dot(s, yv) / dot(yv, yv) }
            else { gamma = 1 / max(1, g.map(abs).max()!) }
            for j in 0..<dim { q[j] *= gamma }
            for i in 0..<sList.count {
                let beta = rhoList[i] * dot(yList[i], q)
                for j in 0..<dim { q[j] += sList[i][j] * (alphas[i] - beta) }
            }
            var d = q.map { -$0 }
            var slope = dot(g, d)
            if !(slope < 0) { // not a descent direction: restart with steepest descent
                sList.removeAll(); yList.removeAll(); rhoList.removeAll()
                d = g.map { -$0 }; slope = dot(g, d)
            }
            var step = 1.0
            var accepted = false
            var xNew = x, fNew = fx, gNew = g
            for _ in 0..<60 {
                for j in 0..<dim { xNew[j] = x[j] + step * d[j] }
                (fNew, gNew) = f(xNew)
                if fNew.isFinite && fNew <= fx + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            if !accepted { return (iter, false) }
            var s = [Double](repeating: 0, count: dim), yv = s
            for j in 0..<dim { s[j] = xNew[j] - x[j]; yv[j] = gNew[j] - g[j] }
            let sy = dot(s, yv)
            if sy > 1e-12 * dot(yv, yv).squareRoot() * dot(s, s).squareRoot() && sy > 0 {
                sList.append(s); yList.append(yv); rhoList.append(1 / sy)
                if sList.count > memory { sList.removeFirst(); yList.removeFirst(); rhoList.removeFirst() }
            }
            let decrease = fx - fNew
            x = xNew; g = gNew; fx = fNew
            if decrease <= 1e-15 * max(1, abs(fx)) && g.map(abs).max()! > tolerance {
                return (iter + 1, false)
            }
        }
        return (maxIterations, g.map(abs).max()! <= tolerance)
    }
}

/// The logistic objective (1/n)·[Σ_i CE_i + 1/(2C)‖W‖²] and its gradient, on standardized
/// features `x` (`[n, p]`), labels `y` in 0..<K, parameters θ = (W `[p, m]` row-major, b `[m]`).
struct LogisticObjective {
    let x: Tensor<Double>
    let y: [Int]
    let classes: Int
    let c: Double

    func valueAndGradient(_ theta: [Double]) -> (Double, [Double]) {
        let n = x.shape[0], p = x.shape[1]
        let m = classes == 2 ? 1 : classes
        let w = Tensor<Double>(shape: [p, m], scalars: Array(theta[0..<(p * m)]))
        let b = Array(theta[(p * m)...])
        let z = x.matmul(w).addingRowVector(b)   // [n, m]
        var dz = [Double](repeating: 0, count: n * m)
        var loss = 0.0
        for i in 0..<n {
            if m == 1 {
                let zi = z.scalars[i]
                // CE = log(1 + e^z) − z·[y = 1], stable.
                let lse = zi > 0 ? zi + Foundation.log1p(Foundation.exp(-zi)) : Foundation.log1p(Foundation.exp(zi))
                loss += lse - (y[i] == 1 ? zi : 0)
                let sig = zi >= 0 ? 1 / (1 + Foundation.exp(-zi)) : Foundation.exp(zi) / (1 + Foundation.exp(zi))
                dz[i] = sig - (y[i] == 1 ? 1 : 0)
            } else {
                var mx = -Double.infinity
                for k in 0..<m { mx = max(mx, z.scalars[i * m + k]) }
                var sum = 0.0
                for k in 0..<m { let e = Foundation.exp(z.scalars[i * m + k] - mx); dz[i * m + k] = e; sum += e }
                loss += mx + Foundation.log(sum) - z.scalars[i * m + y[i]]
                for k in 0..<m { dz[i * m + k] /= sum }
                dz[i * m + y[i]] -= 1
            }
        }
        var wsq = 0.0
        for v in w.scalars { wsq += v * v }
        let value = (loss + wsq / (2 * c)) / Double(n)
        let dzT = Tensor<Double>(shape: [n, m], scalars: dz)
        let gw = x.matmul(dzT, transposeSelf: true)  // [p, m]
        var grad = [Double](repeating: 0, count: p * m + m)
        for j in 0..<(p * m) { grad[j] = (gw.scalars[j] + w.scalars[j] / c) / Double(n) }
        for i in 0..<n { for k in 0..<m { grad[p * m + k] += dz[i * m + k] } }
        for k in 0..<m { grad[p * m + k] /= Double(n) }
        return (value, grad)
    }
}
