import FeatureLensNumerics

/// Errors raised while training a linear encoder.
public enum LinearTrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite at `step` (0 = before the first update).
    case nonFiniteLoss(step: Int, value: Double)
    /// `shouldStop` asked to stop (e.g. SIGINT) after `step` updates; that step was audited.
    case stopped(step: Int)
    /// Inputs with inconsistent shapes; the message names them.
    case shapeMismatch(String)
    /// An invalid setting (`field`, its value, what is expected).
    case invalidSetting(field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, value):
            return "training stopped: loss is \(value) at step \(step); try a smaller learning rate"
        case let .stopped(step):
            return "training stopped on request after step \(step)"
        case .shapeMismatch(let m): return "linear training: \(m)"
        case let .invalidSetting(f, v, e): return "linear training: \(f) = \(v); expected \(e)"
        }
    }
}

/// A contrastive problem for a linear encoder f(x) = W x on a fixed training set.
public struct LinearContrastiveProblem: Sendable {
    /// The training views, each `[n, d]`: one input (no augmentation: Z₁ = Z₂ = X Wᵀ) or two
    /// views (Z₁ = X₁Wᵀ, Z₂ = X₂Wᵀ).
    public var views: [Tensor<Double>]
    /// Positive-pair weights P (n × n).
    public var pairs: SpectralPairWeights

    /// - Throws: `LinearTrainingError.shapeMismatch` unless there are 1 or 2 views of equal
    ///   shape `[n, d]` with n = `pairs.n`.
    public init(views: [Tensor<Double>], pairs: SpectralPairWeights) throws {
        guard views.count == 1 || views.count == 2 else {
            throw LinearTrainingError.shapeMismatch("\(views.count) views; expected 1 or 2")
        }
        guard views.allSatisfy({ $0.rank == 2 && $0.shape == views[0].shape }), views[0].shape[0] == pairs.n else {
            throw LinearTrainingError.shapeMismatch(
                "views \(views.map { $0.shape }); expected 1 or 2 views of shape [\(pairs.n), d]")
        }
        self.views = views
        self.pairs = pairs
    }

    /// Input dimension d.
    public var dimension: Int { views[0].shape[1] }
    /// Xs = [X₁; X₂] (`[2n, d]`), or X (`[n, d]`) without augmentation.
    public var stackedInputs: Tensor<Double> { views.count == 1 ? views[0] : Tensor.concatenateRows(views) }

    /// Loss and ∂L/∂Zs (`[rows of Xs, p]`) given the stacked embeddings Zs = Xs Wᵀ. Without
    /// augmentation both branches see Z, so the gradient is ∂L/∂Z₁ + ∂L/∂Z₂.
    ///
    /// The Gram-space step's hot path: one fused pass (`spectralPairingLossAndGradient`) computing the
    /// formulas of `LinearSpectralObjective` (which stays the readable reference; the two agree
    /// to rounding, tested), single-threaded and deterministic.
    public func lossAndGradient(stackedEmbeddings zs: Tensor<Double>) throws -> (value: Double, gradient: Tensor<Double>) {
        let n = pairs.n
        guard zs.rank == 2, zs.shape[0] == n * views.count else {
            throw LinearTrainingError.shapeMismatch("stacked embeddings \(zs.shape); expected [\(n * views.count), p]")
        }
        let p = zs.shape[1]
        let r = spectralPairingLossAndGradient(zs.scalars, n: n, p: p, views: views.count, classes: pairs.classes,
                                               classCount: pairs.classCounts.count, beta: pairs.beta,
                                               sameClassPairs: pairs.sameClassPairs)
        return (r.value, Tensor(shape: zs.shape, scalars: r.gradient))
    }

    /// Loss of the encoder W (`[p, d]`) on this problem (O(n·d·p)).
    public func loss(_ w: Tensor<Double>) throws -> Double {
        try lossAndGradient(stackedEmbeddings: embed(stackedInputs, w)).value
    }
}

/// Embeddings X Wᵀ: X `[n, d]`, W `[p, d]` → `[n, p]`.
public func embed(_ x: Tensor<Double>, _ w: Tensor<Double>, threads: Int = 1) -> Tensor<Double> {
    var out = Tensor<Double>(zeros: [x.shape[0], w.shape[0]])
    narrowGEMM(x, w.transposed(), into: &out, threads: threads)
    return out
}

/// X Xᵀ for X `[m, d]` → `[m, m]` (the Gram matrix of the rows).
public func gramOfRows(_ x: Tensor<Double>, threads: Int = 1) -> Tensor<Double> {
    var out = Tensor<Double>(zeros: [x.shape[0], x.shape[0]])
    narrowGEMM(x, x.transposed(), into: &out, threads: threads)
    return out
}

/// Which exact gradient-descent step to use for a linear encoder.
public enum LinearStepMethod: String, Codable, Sendable {
    /// Gram-space step (SCIENCE.md §4): W = W₀ + B·Xs, B ← B − lr·Gᵀ with G = ∂L/∂Zs; after one
    /// O(n²d) Gram matrix each step costs O(n²p). Needs a fixed training set.
    case gram
    /// Direct step W ← W − lr·Σ_v G_vᵀ X_v, O(n·d·p) per step; needed for online augmentation.
    case direct
}

/// The arithmetic of the Gram-space product Zs = Z₀ + K·Bᵀ, the O(m²p) part of every step.
public enum LinearStepPrecision: String, Codable, Sendable, CaseIterable {
    /// Everything in `Double`.
    case float64
    /// K and Bᵀ rounded to `Float` for the product K·Bᵀ, each element summed in `Float` and
    /// added to Z₀ in `Double`; the coefficients B, the loss, its gradient and the update stay
    /// `Double`, so rounding errors do not accumulate across steps (each step recomputes Zs from
    /// the exact B). Twice the arithmetic rate of `float64` on AVX2. Applies to `.gram` only.
    case mixed
}

/// What the audit callback receives.
public struct LinearAuditPoint {
    /// Number of updates applied so far (0 = the initialization).
    public var step: Int
    /// Training loss at this W (for online augmentation: on this step's fresh views).
    public var loss: Double
    /// The current encoder W, `[p, d]`.
    public var weights: Tensor<Double>
}

/// Everything that determines the rest of a `LinearGradientDescent` run after `step` updates,
/// so a run resumed from it ends bit for bit where an uninterrupted one does (saved by
/// `LinearCheckpoint`). Plain gradient descent has no momentum or other optimizer state, and
/// the learning rate is constant, so this is the whole state.
public struct LinearTrainingState: Equatable, Sendable {
    /// Updates applied so far (the next step's index), 0…steps.
    public var step: Int
    /// The step rule in use (`.gram` keeps Bᵀ, `.direct` keeps W).
    public var method: LinearStepMethod
    /// The initialization W₀, `[p, d]`.
    public var initialWeights: Tensor<Double>
    /// The encoder W after `step` updates, `[p, d]` (for `.gram`, W₀ + B·Xs).
    public var weights: Tensor<Double>
    /// `.gram` only: the coefficients Bᵀ `[m, p]` (m = rows of Xs) with W = W₀ + B·Xs; the
    /// Gram-space step updates them, so resuming from them (not from W) is exact.
    public var gramCoefficients: Tensor<Double>?
    /// `.direct` with online views only: the view stream as it was before step `step` drew
    /// its views.
    public var onlineGenerator: SeededGenerator?
    /// Training loss at W (before the update of step `step`), when known.
    public var loss: Double?

    /// - Parameters: see the properties.
    public init(step: Int, method: LinearStepMethod, initialWeights: Tensor<Double>, weights: Tensor<Double>,
                gramCoefficients: Tensor<Double>? = nil, onlineGenerator: SeededGenerator? = nil, loss: Double? = nil) {
        self.step = step; self.method = method; self.initialWeights = initialWeights; self.weights = weights
        self.gramCoefficients = gramCoefficients; self.onlineGenerator = onlineGenerator; self.loss = loss
    }
}

/// Full-batch gradient descent for a linear encoder on the spectral contrastive loss.
///
/// Mini-batch SGD and nonlinear encoders go through the generic `Trainer` (training issue);
/// this engine exists because the synthetic recipes of SCIENCE.md §5 need 10⁴–3·10⁴ exact
/// full-batch steps, which the Gram-space formulation makes cheap.
public struct LinearGradientDescent: Sendable {
    /// Learning rate (step size), > 0.
    public var learningRate: Double
    /// Number of updates.
    public var steps: Int
    /// Steps (0…steps) at which `audit` is called with the current W; out-of-range steps are ignored.
    public var auditSteps: [Int]
    /// Threads for the matrix products (results do not depend on it).
    public var threads: Int
    /// When set, read before every Gram-space product K·Bᵀ and used as its thread count
    /// instead of `threads` (at least 1): a runner lends a setting the cores other settings
    /// have left idle. Results do not depend on it (`narrowGEMM` is bit-identical for any
    /// thread count).
    public var threadBudget: (@Sendable () -> Int)?
    /// Checked before every update; when it returns true the current step is audited and
    /// training throws `LinearTrainingError.stopped(step:)` (used for SIGINT/SIGTERM).
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called with the number of updates done (absolute, counting those of a resumed state)
    /// after every update whose count is a multiple of `stepObserverInterval`, and after the
    /// last update of the call. For progress displays; it runs on the training thread, so it
    /// must be cheap. Nil: not called.
    public var stepObserver: (@Sendable (Int) -> Void)?
    /// How many updates apart `stepObserver` is called (≥ 1; default 100, which keeps its cost
    /// out of the loop's time: one call per 100 Gram-space updates).
    public var stepObserverInterval = 100
    /// Arithmetic of the Gram-space product (`.gram` only; `.direct` always uses `Double`).
    public var precision: LinearStepPrecision = .float64

    public init(learningRate: Double, steps: Int, auditSteps: [Int], threads: Int = 1) {
        self.learningRate = learningRate; self.steps = steps; self.auditSteps = auditSteps; self.threads = threads
    }

    /// Initial encoder W₀ ~ N(0, ι²), `[p, d]`, drawn in row-major order from `generator`.
    public static func initialWeights(p: Int, d: Int, scale: Double, using generator: inout SeededGenerator) -> Tensor<Double> {
        Tensor(randomNormal: [p, d], standardDeviation: scale, using: &generator)
    }

    /// Trains from `initial` and returns the final W (`[p, d]`).
    ///
    /// - Parameters:
    ///   - problem: the training views and pair weights.
    ///   - initial: W₀, `[p, d]`.
    ///   - method: `.gram` (fast, exact) or `.direct`.
    ///   - onlineViews: when given, fresh views are drawn from it at every step (online
    ///     augmentation); requires `.direct`.
    ///   - onlineGenerator: the stream `onlineViews` draws from.
    ///   - gram: K = Xs Xsᵀ if already computed (`.gram` only; saves O(m²d)).
    ///   - resumeFrom: continue from this state (a checkpoint of a run with the same problem,
    ///     W₀, method and learning rate) instead of from W₀. The audit of the state's own step
    ///     is not repeated: it was recorded before the checkpoint was taken.
    ///   - checkpointEvery: call `checkpoint` at every step that is a positive multiple of it
    ///     (0: never periodically); `checkpoint` is also called at the last step and when
    ///     `shouldStop` stops the run, in both cases after that step's audit.
    ///   - checkpoint: receives the state after `step` updates (before that step's update).
    ///   - audit: called at each audit step with the current W and loss.
    /// - Throws: `LinearTrainingError.nonFiniteLoss` naming the step; `.invalidSetting` for
    ///   lr ≤ 0, steps < 0, `.gram` with online views, or a `resumeFrom` state that does not
    ///   fit (step beyond `steps`, other method, shapes); `.stopped` after `shouldStop`;
    ///   errors thrown by `audit` or `checkpoint`.
    public func train(
        _ problem: LinearContrastiveProblem, initial: Tensor<Double>, method: LinearStepMethod = .gram,
        onlineViews: ((inout SeededGenerator) -> [Tensor<Double>])? = nil,
        onlineGenerator: SeededGenerator = SeededGenerator(seed: 0),
        gram: Tensor<Double>? = nil,
        resumeFrom: LinearTrainingState? = nil,
        checkpointEvery: Int = 0,
        checkpoint: ((LinearTrainingState) throws -> Void)? = nil,
        audit: (LinearAuditPoint) throws -> Void
    ) throws -> Tensor<Double> {
        guard learningRate > 0, learningRate.isFinite else {
            throw LinearTrainingError.invalidSetting(field: "lr", value: "\(learningRate)", expected: "a finite value > 0")
        }
        guard steps >= 0 else {
            throw LinearTrainingError.invalidSetting(field: "steps", value: "\(steps)", expected: "≥ 0")
        }
        guard initial.rank == 2, initial.shape[1] == problem.dimension else {
            throw LinearTrainingError.shapeMismatch("initial W \(initial.shape); expected [p, \(problem.dimension)]")
        }
        if onlineViews != nil && method == .gram {
            throw LinearTrainingError.invalidSetting(field: "method", value: "gram",
                                                     expected: "direct when views are redrawn every step (online augmentation)")
        }
        guard checkpointEvery >= 0 else {
            throw LinearTrainingError.invalidSetting(field: "checkpointEvery", value: "\(checkpointEvery)", expected: "≥ 0")
        }
        if let r = resumeFrom {
            try checkResumable(r, problem: problem, initial: initial, method: method, online: onlineViews != nil)
        }
        let audits = Set(auditSteps)
        let saver = CheckpointSchedule(every: checkpointEvery, last: steps, save: checkpoint)
        switch method {
        case .gram:
            return try trainGram(problem, initial: initial, audits: audits, gram: gram, resume: resumeFrom,
                                 saver: saver, audit: audit)
        case .direct:
            return try trainDirect(problem, initial: initial, audits: audits, online: onlineViews,
                                   generator: onlineGenerator, resume: resumeFrom, saver: saver, audit: audit)
        }
    }

    /// When to call the checkpoint callback.
    private struct CheckpointSchedule {
        var every: Int
        var last: Int
        var save: ((LinearTrainingState) throws -> Void)?
        /// Whether step `step` (reached during this call, after `first`) gets a checkpoint.
        func due(_ step: Int, first: Int, stopping: Bool) -> Bool {
            guard save != nil else { return false }
            if stopping || step == last { return true }
            return every > 0 && step > first && step % every == 0
        }
    }

    /// Checks that `state` can continue this run.
    private func checkResumable(_ state: LinearTrainingState, problem: LinearContrastiveProblem, initial: Tensor<Double>,
                                method: LinearStepMethod, online: Bool) throws {
        func bad(_ field: String, _ value: String, _ expected: String) -> LinearTrainingError {
            .invalidSetting(field: "resumeFrom.\(field)", value: value, expected: expected)
        }
        guard state.step >= 0, state.step <= steps else { throw bad("step", "\(state.step)", "in 0...\(steps)") }
        guard state.method == method else { throw bad("method", state.method.rawValue, method.rawValue) }
        guard state.initialWeights.shape == initial.shape else {
            throw bad("initialWeights", "\(state.initialWeights.shape)", "shape \(initial.shape)")
        }
        guard state.weights.shape == initial.shape else { throw bad("weights", "\(state.weights.shape)", "shape \(initial.shape)") }
        if method == .gram {
            let m = problem.views.count * problem.pairs.n
            guard let b = state.gramCoefficients, b.shape == [m, initial.shape[0]] else {
                throw bad("gramCoefficients", "\(state.gramCoefficients?.shape.description ?? "nil")", "shape [\(m), \(initial.shape[0])]")
            }
        }
        if online && state.onlineGenerator == nil {
            throw bad("onlineGenerator", "nil", "the view stream's state (online augmentation)")
        }
    }

    private func trainGram(_ problem: LinearContrastiveProblem, initial: Tensor<Double>, audits: Set<Int>,
                           gram precomputed: Tensor<Double>?, resume: LinearTrainingState?, saver: CheckpointSchedule,
                           audit: (LinearAuditPoint) throws -> Void) throws -> Tensor<Double> {
        let xs = problem.stackedInputs                       // [m, d]
        let gram = precomputed ?? gramOfRows(xs, threads: threads) // K = Xs Xsᵀ [m, m]
        let w0 = resume?.initialWeights ?? initial
        // K multiplies a new Bᵀ every step: packed once, in the precision of the product;
        // addGramProduct(Bᵀ, &Zs, threads) does Zs ← Zs + K·Bᵀ.
        let addGramProduct: (Tensor<Double>, inout Tensor<Double>, Int) -> Void
        switch precision {
        case .float64:
            let k = PackedNarrowOperand(gram)
            addGramProduct = { b, z, t in narrowGEMM(k, b, beta: 1, into: &z, threads: t) }
        case .mixed:
            let k = PackedNarrowOperandFloat32(gram)
            addGramProduct = { b, z, t in narrowGEMMAccumulatingInFloat(k, b, into: &z, threads: t) }
        }
        let z0 = embed(xs, w0, threads: threads)             // Xs W₀ᵀ [m, p]
        var bt = resume?.gramCoefficients ?? Tensor<Double>(zeros: z0.shape)  // Bᵀ [m, p]; W = W₀ + B Xs
        func weights() -> Tensor<Double> {
            var w = w0
            narrowGEMM(bt.transposed(), xs, beta: 1, into: &w, threads: threads)
            return w
        }
        let first = resume?.step ?? 0
        var zs = z0
        for step in first...steps {
            if step > 0 {
                // Zs = Xs Wᵀ = Z₀ + K Bᵀ.
                zs = z0
                addGramProduct(bt, &zs, max(1, threadBudget?() ?? threads))
            }
            let (value, g) = try problem.lossAndGradient(stackedEmbeddings: zs)
            guard value.isFinite else { throw LinearTrainingError.nonFiniteLoss(step: step, value: value) }
            let stop = step < steps && (shouldStop?() ?? false)
            // The audit of a resumed state's own step was recorded before its checkpoint.
            let audited = audits.contains(step) && !(resume != nil && step == first)
            var w: Tensor<Double>? = nil
            if audited {
                w = weights()
                try audit(LinearAuditPoint(step: step, loss: value, weights: w!))
            }
            if saver.due(step, first: first, stopping: stop) {
                try saver.save!(LinearTrainingState(step: step, method: .gram, initialWeights: w0, weights: w ?? weights(),
                                                    gramCoefficients: bt, loss: value))
            }
            if stop {
                // The partial report ends at the step reached.
                if !audits.contains(step) { try audit(LinearAuditPoint(step: step, loss: value, weights: w ?? weights())) }
                throw LinearTrainingError.stopped(step: step)
            }
            if step == steps { break }
            let lr = learningRate                            // B ← B − lr·Gᵀ
            bt.addScaled(g, -lr)  // b − lr·g, bit for bit
            observe(updates: step + 1)
        }
        return weights()
    }

    private func trainDirect(_ problem: LinearContrastiveProblem, initial: Tensor<Double>, audits: Set<Int>,
                             online: ((inout SeededGenerator) -> [Tensor<Double>])?, generator: SeededGenerator,
                             resume: LinearTrainingState?, saver: CheckpointSchedule,
                             audit: (LinearAuditPoint) throws -> Void) throws -> Tensor<Double> {
        let w0 = resume?.initialWeights ?? initial
        var w = resume?.weights ?? initial
        var g = resume?.onlineGenerator ?? generator
        let first = resume?.step ?? 0
        for step in first...steps {
            let streamBefore = g                             // the state a checkpoint of this step keeps
            var current = problem
            if let online = online {
                let fresh = online(&g)
                current = try LinearContrastiveProblem(views: fresh, pairs: problem.pairs)
            }
            let xs = current.stackedInputs
            let (value, grad) = try current.lossAndGradient(stackedEmbeddings: embed(xs, w, threads: threads))
            guard value.isFinite else { throw LinearTrainingError.nonFiniteLoss(step: step, value: value) }
            let stop = step < steps && (shouldStop?() ?? false)
            if audits.contains(step) && !(resume != nil && step == first) {
                try audit(LinearAuditPoint(step: step, loss: value, weights: w))
            }
            if saver.due(step, first: first, stopping: stop) {
                try saver.save!(LinearTrainingState(step: step, method: .direct, initialWeights: w0, weights: w,
                                                    onlineGenerator: online != nil ? streamBefore : nil, loss: value))
            }
            if stop {
                if !audits.contains(step) { try audit(LinearAuditPoint(step: step, loss: value, weights: w)) }
                throw LinearTrainingError.stopped(step: step)
            }
            if step == steps { break }
            // ∂L/∂W = Gᵀ Xs.
            narrowGEMM(grad.transposed() * -learningRate, xs, beta: 1, into: &w, threads: threads)
            observe(updates: step + 1)
        }
        return w
    }

    /// Calls `stepObserver` when `updates` is a multiple of its interval or the last update.
    @inline(__always)
    private func observe(updates: Int) {
        guard let observer = stepObserver else { return }
        if updates == steps || updates % max(1, stepObserverInterval) == 0 { observer(updates) }
    }
}
