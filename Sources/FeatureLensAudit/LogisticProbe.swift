import Foundation

/// Multinomial logistic-regression probe with L2 on standardized features, solved by L-BFGS,
/// with the regularization strength C either fixed or chosen per fit on held-out rows.
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
///    Stops when the largest gradient component (of the objective divided by n, intercepts
///    included) is ≤ `tolerance`, when the objective no longer decreases, or after
///    `maxIterations` iterations. scikit-learn's objective is the same function (its mean
///    cross-entropy plus ‖W‖²/(2Cn)) and its lbfgs solver stops on the same quantity (SciPy's
///    L-BFGS-B `gtol`, the largest projected gradient component, which without bounds is the
///    gradient) at its default `tol` = 1e-4, the default `tolerance` here. With `precision`
///    `.mixed` (the default) the softmax models' data term (X·W, the softmax, Xᵀ·dZ) runs on
///    `Float` features in `Float` chains of at most 128 terms summed in `Double`; the solver
///    stays `Double` (see `DataTermPrecision`).
/// 4. Prediction: the class with the largest logit (z > 0 for K = 2), ties → the smaller label.
///
/// Regularization rule (`c == nil`, the default): C is chosen for every fit, i.e. for every
/// label set (and every group of a within-group probe), by a held-out split of the training
/// rows:
/// 0. When there are more than `selectionRows` training rows, the rule works on a stratified
///    subsample of about `selectionRows` of them: per class, round(n_c·`selectionRows`/n) rows
///    (at most n_c − 1), drawn by a `SeededGenerator(seed: seed + 1)` as in step 1 (the choice
///    of C needs far fewer rows than the final fit, which always uses all of them).
/// 1. Stratified split: the rows of each class c (n_c rows) are shuffled by a
///    `SeededGenerator(seed: seed)` (classes in ascending label order, one generator) and the
///    first h_c = min(round(`heldOutFraction`·n_c), n_c − 1) are held out, so every class keeps
///    at least one fitting row (a class with one row is never held out).
/// 2. For C of `cGrid` in ascending order, the model is fit on the remaining rows (steps 1–3
///    above, standardized by those rows) and scored by balanced accuracy on the held-out rows.
///    Each fit starts from the previous C's solution (warm start) and stops at the looser
///    `selectionTolerance` (held-out accuracy does not need the last digits of the minimizer,
///    and weakly regularized fits converge slowly). The scan stops early once two successive
///    C's score strictly below the best so far: held-out accuracy past its peak only falls as
///    C grows, and the largest C's are the slowest fits. The table (`Model.heldOutAccuracy`)
///    lists the C's scored.
/// 3. The chosen C has the highest held-out balanced accuracy; ties go to the smaller C (the
///    stronger regularization).
/// 4. The model is refit on all training rows with the chosen C (warm-started from the
///    selection fit at that C, re-expressed for the standardization of all training rows) to
///    `tolerance` and reported with it (`Model.c`).
/// When the held-out rows hold fewer than two classes (too few rows to tell C apart), C = 1
/// (scikit-learn's default) is used without selection. A fixed `c` skips the rule.
public struct LogisticProbe: Probe {
    public var kind: ProbeKind { .logistic }
    /// Inverse regularization strength C (> 0), as in scikit-learn; nil (the default): chosen
    /// per fit from `cGrid` by the held-out rule of the type's documentation.
    public var c: Double?
    /// The candidate values of C for the held-out rule (each > 0; at least one).
    public var cGrid: [Double]
    /// Fraction of each class's training rows held out to choose C, in (0, 1).
    public var heldOutFraction: Double
    /// Seed of the held-out split.
    public var seed: UInt64
    /// Gradient tolerance of a fit at a fixed C and of the held-out rule's final fit: the
    /// largest absolute component of the gradient of the objective divided by n
    /// (scikit-learn's `tol`, default 1e-4, on the same quantity).
    public var tolerance: Double
    /// Gradient tolerance of the fits that choose C (the held-out rule); the final fit uses
    /// `tolerance`.
    public var selectionTolerance: Double
    /// Maximum number of L-BFGS iterations (per fit).
    public var maxIterations: Int
    /// L-BFGS memory (number of stored correction pairs).
    public var memory: Int
    /// Most training rows the held-out rule uses to choose C (step 0 of the rule; 0: all).
    public var selectionRows: Int
    /// Arithmetic of the objective's data term (logits, softmax and Xᵀ·dZ) for softmax models.
    public var precision: DataTermPrecision

    /// Arithmetic of the data term; the L-BFGS solver, its line search, the convergence test,
    /// the standardization statistics, the softmax and the cross-entropy are `Double` in both.
    public enum DataTermPrecision: Sendable, Equatable {
        /// Standardized features stored as `Float`; the products X·W and Xᵀ·dZ are `Float` FMA
        /// chains of at most 128 terms, each summed into `Double` (`logisticDataTermMixed`).
        /// Softmax models (K ≥ 3 classes) and binary models (one logit) alike.
        case mixed
        /// Everything in `Double` (`logisticDataTerm`).
        case float64
    }

    /// The default grid of C for the held-out rule: 10⁻², 10⁻¹, 1, 10, 10².
    public static let defaultCGrid: [Double] = [0.01, 0.1, 1, 10, 100]
    /// C used when the held-out rows cannot choose (fewer than two classes among them).
    public static let fallbackC = 1.0

    /// Creates the probe; parameters are checked when fitting.
    /// - Parameters: `c`: a fixed C, or nil for the held-out rule over `cGrid` with
    ///   `heldOutFraction` of each class held out by a split seeded with `seed`.
    public init(c: Double? = nil, cGrid: [Double] = LogisticProbe.defaultCGrid, heldOutFraction: Double = 0.2,
                seed: UInt64 = 0, tolerance: Double = 1e-4, selectionTolerance: Double = 1e-4,
                maxIterations: Int = 500, memory: Int = 10, selectionRows: Int = 10_000,
                precision: DataTermPrecision = .mixed) {
        self.c = c
        self.cGrid = cGrid
        self.heldOutFraction = heldOutFraction
        self.seed = seed
        self.tolerance = tolerance
        self.selectionTolerance = selectionTolerance
        self.maxIterations = maxIterations
        self.memory = memory
        self.selectionRows = selectionRows
        self.precision = precision
    }

    /// One L-BFGS run: its problem size, C, gradient tolerance and cost.
    public struct FitRecord: Sendable, Equatable {
        /// Training rows of the run (the held-out rule's fitting rows, or all training rows).
        public var rows: Int
        /// The C of the run.
        public var c: Double
        /// The gradient tolerance the run stopped at (or did not reach).
        public var tolerance: Double
        /// L-BFGS iterations.
        public var iterations: Int
        /// Evaluations of the objective and its gradient (one per iteration plus line-search
        /// backtracks, plus the first one).
        public var evaluations: Int
        /// Whether the gradient tolerance was reached.
        public var converged: Bool
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
        /// L-BFGS iterations used (of the final fit).
        public var iterations: Int
        /// Whether the gradient tolerance was reached (by the final fit).
        public var converged: Bool
        /// The C the model was fit with (fixed, chosen by the held-out rule, or the fallback).
        public var c: Double
        /// Held-out balanced accuracy per C of the sorted grid, when the held-out rule chose C;
        /// nil for a fixed C or the fallback.
        public var heldOutAccuracy: [(c: Double, accuracy: Double)]?
        /// Every L-BFGS run behind the model, in order: the held-out rule's fits (one per C
        /// scored), then the final fit.
        public var fits: [FitRecord] = []

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

    /// `Probe.fitPredictMany`: predictions and the C each label set's model was fit with.
    public func fitPredictMany(train: Tensor<Double>, labelSets: [[Int]], test: Tensor<Double>) throws -> [ProbePrediction] {
        try labelSets.map { labels in
            try checkProbeInputs(train: train, trainLabels: labels, test: test)
            let model = try fit(train: train, labels: labels)
            return ProbePrediction(predicted: model.predict(test), c: model.c)
        }
    }

    static func standardize(_ x: Tensor<Double>, mean: [Double], scale: [Double]) -> Tensor<Double> {
        let n = x.shape[0], p = x.shape[1]
        var s = x.scalars
        for i in 0..<n { for j in 0..<p { s[i * p + j] = (s[i * p + j] - mean[j]) / scale[j] } }
        return Tensor(shape: [n, p], scalars: s)
    }

    /// Fits the model on raw train embeddings `[n, p]` (`labels`: `[n]` class codes), with the
    /// fixed `c` or, when `c` is nil, the C chosen by the held-out rule (see the type).
    /// - Throws: `ProbeError.invalidParameter` for C ≤ 0, an empty or non-positive `cGrid`, a
    ///   `heldOutFraction` outside (0, 1), `maxIterations` < 0 or `memory` < 1;
    ///   `ProbeError.nonFinite` for non-finite embeddings; `ProbeError.labelCount` when
    ///   `labels` does not have one code per row.
    public func fit(train: Tensor<Double>, labels: [Int]) throws -> Model {
        if let c { guard c > 0, c.isFinite else { throw ProbeError.invalidParameter("C must be > 0, got \(c)") } }
        guard maxIterations >= 0, memory >= 1 else {
            throw ProbeError.invalidParameter("maxIterations ≥ 0 and memory ≥ 1 required")
        }
        guard train.rank == 2 else { throw ProbeError.badShape("train \(train.shape); must be [n, p]") }
        guard labels.count == train.shape[0] else {
            throw ProbeError.labelCount(what: "train labels", labels: labels.count, rows: train.shape[0])
        }
        guard train.scalars.allSatisfy({ $0.isFinite }) else { throw ProbeError.nonFinite("train embeddings") }
        if let c { return fitFixed(train: train, labels: labels, c: c, start: nil) }
        guard !cGrid.isEmpty, cGrid.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ProbeError.invalidParameter("cGrid must hold at least one finite C > 0, got \(cGrid)")
        }
        guard heldOutFraction > 0, heldOutFraction < 1 else {
            throw ProbeError.invalidParameter("heldOutFraction must be in (0, 1), got \(heldOutFraction)")
        }
        guard selectionRows >= 0 else { throw ProbeError.invalidParameter("selectionRows must be ≥ 0, got \(selectionRows)") }
        // Step 0: a stratified subsample when the training set is larger than selectionRows.
        var pool = Array(0..<labels.count)
        if selectionRows > 0 && labels.count > selectionRows {
            pool = Self.stratifiedSplit(labels: labels, fraction: Double(selectionRows) / Double(labels.count),
                                        seed: seed &+ 1).heldOut
        }
        let (fitInPool, heldOutInPool) = Self.stratifiedSplit(labels: pool.map { labels[$0] }, fraction: heldOutFraction, seed: seed)
        let fitRows = fitInPool.map { pool[$0] }, heldOutRows = heldOutInPool.map { pool[$0] }
        let heldOutLabels = heldOutRows.map { labels[$0] }
        guard Set(heldOutLabels).count >= 2 else {
            return fitFixed(train: train, labels: labels, c: Self.fallbackC, start: nil)
        }
        let fitX = train.gatherRows(fitRows), heldOutX = train.gatherRows(heldOutRows)
        let selection = LogisticProblem(train: fitX, labels: fitRows.map { labels[$0] }, precision: precision)
        var start: [Double]? = nil
        var best: (c: Double, accuracy: Double, theta: [Double]?)? = nil
        var table: [(c: Double, accuracy: Double)] = []
        var fallingSinceBest = 0
        var records: [FitRecord] = []
        for c in Array(Set(cGrid)).sorted() {
            let (model, theta) = fit(selection, c: c, start: start, tolerance: selectionTolerance)
            records += model.fits
            start = theta
            let acc = ProbeScore(predicted: model.predict(heldOutX), truth: heldOutLabels, measure: .balanced).accuracy
            table.append((c, acc))
            if best == nil || acc > best!.accuracy { best = (c, acc, theta) }
            fallingSinceBest = acc < best!.accuracy ? fallingSinceBest + 1 : 0
            if fallingSinceBest == 2 { break }
        }
        // The refit starts from the selection fit at the chosen C, carried over to the full
        // problem's standardization (the same logits on every input).
        let full = LogisticProblem(train: train, labels: labels, precision: precision)
        let refitStart = best!.theta.map { Self.restandardized($0, from: selection, to: full) }
        var model = fit(full, c: best!.c, start: refitStart).model
        model.heldOutAccuracy = table
        model.fits = records + model.fits
        return model
    }

    /// The held-out rule's split: (fitting rows, held-out rows), each ascending (see the type).
    static func stratifiedSplit(labels: [Int], fraction: Double, seed: UInt64) -> (fit: [Int], heldOut: [Int]) {
        var byClass: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
        var g = SeededGenerator(seed: seed)
        var fit: [Int] = [], heldOut: [Int] = []
        for l in byClass.keys.sorted() {
            var rows = byClass[l]!
            if rows.count > 1 {
                for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, g.nextInt(below: i + 1)) }
            }
            let h = min(Int((fraction * Double(rows.count)).rounded()), rows.count - 1)
            heldOut += rows[0..<h]
            fit += rows[h...]
        }
        return (fit.sorted(), heldOut.sorted())
    }

    /// θ = (W `[p, m]`, b `[m]`) of a model on features standardized by `from` re-expressed for
    /// the standardization of `to`, so that both give the same logits on every raw input x:
    /// with u = (x − μ₁)/σ₁ and v = (x − μ₂)/σ₂, uᵀW₁ + b₁ = vᵀW₂ + b₂ for
    /// W₂[j, :] = W₁[j, :]·σ₂ⱼ/σ₁ⱼ and b₂ = b₁ + Σⱼ W₁[j, :]·(μ₂ⱼ − μ₁ⱼ)/σ₁ⱼ. Returns θ unchanged
    /// when the class sets differ (the rows of θ would not correspond).
    static func restandardized(_ theta: [Double], from: LogisticProblem, to: LogisticProblem) -> [Double] {
        guard from.classes == to.classes, from.width == to.width else { return theta }
        let p = from.width, m = from.classes.count == 2 ? 1 : from.classes.count
        guard theta.count == p * m + m else { return theta }
        var out = theta
        for j in 0..<p {
            let ratio = to.scale[j] / from.scale[j], shift = (to.mean[j] - from.mean[j]) / from.scale[j]
            for k in 0..<m {
                out[j * m + k] = theta[j * m + k] * ratio
                out[p * m + k] += theta[j * m + k] * shift
            }
        }
        return out
    }

    /// Fits at a fixed C (inputs already checked).
    func fitFixed(train: Tensor<Double>, labels: [Int], c: Double, start: [Double]?) -> Model {
        fit(LogisticProblem(train: train, labels: labels, precision: precision), c: c, start: start).model
    }

    /// Fits `problem` at a fixed C from `start` (θ = (W, b) on standardized features; zeros
    /// when nil or of the wrong size), to `tolerance` (nil: the probe's), and returns the model
    /// with its parameter vector θ.
    func fit(_ problem: LogisticProblem, c: Double, start: [Double]?, tolerance: Double? = nil) -> (model: Model, theta: [Double]?) {
        let p = problem.width, k = problem.classes.count
        if k < 2 {
            return (Model(classes: problem.classes + problem.classes, mean: problem.mean, scale: problem.scale,
                          weights: Tensor(zeros: [p, 1]), intercept: [-1], iterations: 0, converged: true, c: c,
                          heldOutAccuracy: nil), nil)
        }
        let m = k == 2 ? 1 : k
        let objective = LogisticObjective(problem: problem, c: c)
        var theta = [Double](repeating: 0, count: p * m + m)
        if let start, start.count == theta.count { theta = start }
        let tol = tolerance ?? self.tolerance
        var evaluations = 0
        let (iterations, converged) = lbfgs(&theta, tolerance: tol) { evaluations += 1; return objective.valueAndGradient($0) }
        var model = Model(classes: problem.classes, mean: problem.mean, scale: problem.scale,
                          weights: Tensor(shape: [p, m], scalars: Array(theta[0..<(p * m)])),
                          intercept: Array(theta[(p * m)...]), iterations: iterations, converged: converged,
                          c: c, heldOutAccuracy: nil)
        model.fits = [FitRecord(rows: problem.rows, c: c, tolerance: tol, iterations: iterations,
                                evaluations: evaluations, converged: converged)]
        return (model, theta)
    }

    /// L-BFGS with a backtracking Armijo line search. Returns (iterations, converged).
    func lbfgs(_ x: inout [Double], tolerance: Double, _ f: ([Double]) -> (Double, [Double])) -> (Int, Bool) {
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

/// The data of one logistic fit, prepared once for every C and every evaluation of the
/// objective: the sorted classes and class indices, the standardization, and the standardized
/// features X `[n, p]` packed in blocks of rows, which one pass of the data term reads once per
/// evaluation for both products of the objective, X·W (`[n, m]`) and Xᵀ·dZ (`[p, m]`), m = K
/// (or 1 for two classes).
struct LogisticProblem {
    /// The packed standardized features: `Double` (`logisticDataTerm`) or `Float` with float
    /// chains summed in `Double` (`logisticDataTermMixed`).
    enum Features {
        case float64(PackedNarrowOperand)
        case mixed(PackedLogisticFeatures)
    }
    /// Sorted class labels `[K]` and each row's index into them `[n]`.
    let classes: [Int], y: [Int]
    /// Standardization mean and scale `[p]` (train statistics, population std; 0 → 1).
    let mean: [Double], scale: [Double]
    /// Standardized features X `[n, p]`, packed.
    let x: Features
    /// Rows n and features p.
    let rows: Int, width: Int
    /// Rows per panel of the gradient's reduction Xᵀ·dZ (a multiple of
    /// `PackedLogisticFeatures.chainRows`).
    static let panelRows = 512

    /// Standardizes raw `train` `[n, p]` by its own statistics; `labels`: `[n]` class codes.
    /// `precision` `.mixed` packs `Float` features (softmax and binary models); `.float64` keeps
    /// `Double`.
    init(train: Tensor<Double>, labels: [Int], precision: LogisticProbe.DataTermPrecision = .float64,
         threads: Int = Parallel.threadCount) {
        let n = train.shape[0]
        (classes, y) = encodeClasses(labels)
        rows = n; width = train.shape[1]
        let (mean, deviations) = columnMeansAndSquaredDeviations(train, threads: threads)
        self.mean = mean
        scale = deviations.map { v in let s = (v / Double(n)).squareRoot(); return s > 0 ? s : 1 }
        if precision == .mixed && classes.count >= 2 {
            x = .mixed(PackedLogisticFeatures(train, mean: mean, scale: scale, threads: threads))
        } else {
            x = .float64(PackedNarrowOperand(LogisticProbe.standardize(train, mean: mean, scale: scale)))
        }
    }

    /// Already standardized features `x` `[n, p]` with class indices `y` in 0..<`classes`,
    /// packed in `precision` (`.mixed` when `classes` ≥ 2).
    init(standardized x: Tensor<Double>, y: [Int], classes: Int, precision: LogisticProbe.DataTermPrecision = .float64) {
        self.classes = Array(0..<classes)
        self.y = y
        rows = x.shape[0]; width = x.shape[1]
        mean = [Double](repeating: 0, count: x.shape[1])
        scale = [Double](repeating: 1, count: x.shape[1])
        self.x = precision == .mixed && classes >= 2
            ? .mixed(PackedLogisticFeatures(x, mean: mean, scale: scale)) : .float64(PackedNarrowOperand(x))
    }
}

/// The logistic objective (1/n)·[Σ_i CE_i + 1/(2C)‖W‖²] and its gradient, on the standardized
/// features X `[n, p]` of `problem`, class indices y in 0..<K, parameters θ = (W `[p, m]`
/// row-major, b `[m]`). Both products (Z = X·W, ∂W = Xᵀ·dZ, the latter accumulated panel by
/// panel of rows) come from one pass over the packed X (`logisticDataTerm`), block of rows by
/// block of rows while it is in cache; every sum is in a fixed order, so the value does not
/// depend on the thread count.
struct LogisticObjective {
    let problem: LogisticProblem
    let c: Double
    /// Threads of the two products.
    var threads: Int = Parallel.threadCount

    /// The objective on standardized `x` `[n, p]` with class indices `y` in 0..<`classes`.
    init(x: Tensor<Double>, y: [Int], classes: Int, c: Double) {
        self.init(problem: LogisticProblem(standardized: x, y: y, classes: classes), c: c)
    }

    init(problem: LogisticProblem, c: Double) {
        self.problem = problem
        self.c = c
    }

    func valueAndGradient(_ theta: [Double]) -> (Double, [Double]) {
        let n = problem.rows, p = problem.width
        let m = problem.classes.count == 2 ? 1 : problem.classes.count
        let w = Array(theta[0..<(p * m)]), b = Array(theta[(p * m)...])
        let loss: [Double], gb: [Double], gw: [Double]
        switch problem.x {
        case .float64(let x):
            let term = logisticDataTerm(x, weights: w, intercept: b, classes: m, labels: problem.y,
                                        panelRows: LogisticProblem.panelRows, threads: threads)
            var sums = [Double](repeating: 0, count: m)
            for i in 0..<n { for k in 0..<m { sums[k] += term.dz[i * term.dzStride + k] } }
            (loss, gb, gw) = (term.loss, sums, term.gradient)
        case .mixed(let x):
            let term = logisticDataTermMixed(x, weights: w, intercept: b, classes: m, labels: problem.y,
                                             panelRows: LogisticProblem.panelRows, threads: threads)
            (loss, gb, gw) = (term.loss, term.dzSum, term.gradient)
        }
        var total = 0.0
        for v in loss { total += v }
        var wsq = 0.0
        for v in w { wsq += v * v }
        let value = (total + wsq / (2 * c)) / Double(n)
        var grad = [Double](repeating: 0, count: p * m + m)
        for j in 0..<(p * m) { grad[j] = (gw[j] + w[j] / c) / Double(n) }
        for k in 0..<m { grad[p * m + k] = gb[k] / Double(n) }
        return (value, grad)
    }
}
