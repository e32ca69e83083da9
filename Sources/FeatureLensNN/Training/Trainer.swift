// The training loop: mini-batch (or full-batch) gradient descent of an encoder on a
// contrastive loss.
//
// One step t (t = 0, 1, 2, …; the encoder "at step t" has received t updates):
//     indices  ← the next b examples of this epoch's seeded permutation (or all n: full batch)
//     V        ← viewMaker(x[indices])                     [2b, …]  = [view 1; view 2]
//     (h, z)   ← encoder(V)                                 z: [2b, p] (head output, or h)
//     (L, ∂L/∂z) ← loss(z, labels[indices])
//     ∂L/∂θ    ← encoder.backward(∂L/∂z)
//     η_t      ← schedule(t) (or the optimizer's rate);  θ ← optimizer(θ, ∂L/∂θ)
// When the view maker's two views are the batch itself (no augmentation) and the encoder has
// no batch statistics (no buffers), the batch is encoded once: z = encoder(x), the loss sees
// [z; z], and ∂L/∂z is the sum of its two halves; the same step at half the cost.
//
// Randomness: epoch e's permutation comes from a generator seeded by (seed, e); the views draw
// from one generator that advances across steps and is part of `TrainerState`. So (state,
// weights, optimizer state) determine the rest of the run exactly: a run interrupted after
// step t and resumed from its state reproduces the uninterrupted run bit for bit.

import Foundation
import FeatureLensNumerics
import Logging

/// A training failure or a bad trainer setup. Every message names the field or step.
public enum TrainerError: Error, CustomStringConvertible, Equatable {
    /// The loss or a parameter gradient became NaN or ±∞ at step `step` (the encoder had
    /// received `step` updates). `quantity` is `"loss"` or `"gradient"`; `hint` names the
    /// likely cause (learning rate, temperature, input scale).
    case nonFinite(step: Int, quantity: String, hint: String)
    /// A configuration value is out of range.
    case invalidConfiguration(field: String, expected: String, got: String)
    /// The inputs contain a NaN or ±∞ (first offending example and position in its row).
    case nonFiniteInput(example: Int, position: Int)
    /// The loss needs labels and none were given, or their count differs from the examples'.
    case labelMismatch(loss: String, expected: Int, got: Int?)
    /// The encoder rejects the views' shape (the underlying `LayerError` message).
    case encoderRejectsInput(shape: [Int], message: String)
    /// The view maker returned a tensor whose row count is not 2b.
    case viewShapeMismatch(expectedRows: Int, got: [Int])
    /// A `TrainerState` that does not fit this trainer (other dataset size, batch size, seed…).
    case stateMismatch(field: String, expected: String, got: String)

    public var description: String {
        switch self {
        case let .nonFinite(step, quantity, hint):
            return "training diverged: the \(quantity) is not finite at step \(step). \(hint)"
        case let .invalidConfiguration(field, expected, got):
            return "trainer: \(field) must be \(expected), got \(got)"
        case let .nonFiniteInput(example, position):
            return "trainer: inputs contain NaN or ±∞ at example \(example), position \(position) of its row"
        case let .labelMismatch(loss, expected, got):
            if let got { return "trainer: \(got) labels given for \(expected) examples (\(loss) needs one label per example)" }
            return "trainer: \(loss) needs labels (one per example, \(expected) in all) and none were given"
        case let .encoderRejectsInput(shape, message):
            return "trainer: the encoder does not accept views of shape \(shape): \(message)"
        case let .viewShapeMismatch(rows, got):
            return "trainer: the view maker returned shape \(got); expected \(rows) rows (two views per example)"
        case let .stateMismatch(field, expected, got):
            return "trainer state: \(field) is \(got); this trainer expects \(expected)"
        }
    }
}

/// What the trainer does when the loss or a gradient is not finite.
public enum DivergencePolicy: String, Codable, Equatable, Sendable {
    /// Throw `TrainerError.nonFinite` (the parameters keep their last finite values).
    case stop
    /// Skip the update (the step and its batch still count), log a warning, and go on; after
    /// `TrainerConfiguration.maxConsecutiveSkips` skipped steps in a row, throw as `.stop`.
    case skipStep
}

/// When the trainer calls back with the current encoder (for the audit).
public enum CallbackSchedule: Codable, Equatable, Sendable {
    /// Never.
    case none
    /// At these steps (step t = after t updates; 0 = before any update), in increasing order.
    case steps([Int])
    /// At steps 0, k, 2k, … (k ≥ 1).
    case every(Int)

    /// Whether step `t` is scheduled.
    public func contains(_ t: Int) -> Bool {
        switch self {
        case .none: return false
        case .steps(let s): return s.contains(t)
        case .every(let k): return k > 0 && t % k == 0
        }
    }
}

/// The knobs of a training run (everything except the model, data, loss and optimizer).
public struct TrainerConfiguration: Codable, Equatable, Sendable {
    /// Examples per mini-batch b (each gives two views, so the loss sees 2b rows), or nil for
    /// full-batch gradient descent (every step uses all n examples in dataset order).
    public var batchSize: Int?
    /// Shuffle the examples at the start of every epoch (seeded); false keeps dataset order.
    public var shuffle: Bool
    /// Drop the last incomplete batch of an epoch (so every batch has b examples).
    public var dropLast: Bool
    /// Seed of the epoch permutations and of the view generator.
    public var seed: UInt64
    /// Reaction to a non-finite loss or gradient.
    public var onDivergence: DivergencePolicy
    /// With `.skipStep`: how many consecutive skipped steps are tolerated before stopping.
    public var maxConsecutiveSkips: Int
    /// Check every parameter gradient for NaN/∞ after backward (O(parameters) per step).
    public var checkGradients: Bool
    /// When to call the trainer's `callback`.
    public var callbacks: CallbackSchedule

    /// - Parameters: see the properties. Defaults: shuffled mini-batches of 256 with the last
    ///   partial batch dropped, seed 0, stop on divergence, gradients checked, no callbacks.
    public init(batchSize: Int? = 256, shuffle: Bool = true, dropLast: Bool = true, seed: UInt64 = 0,
                onDivergence: DivergencePolicy = .stop, maxConsecutiveSkips: Int = 10,
                checkGradients: Bool = true, callbacks: CallbackSchedule = .none) {
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        self.onDivergence = onDivergence
        self.maxConsecutiveSkips = maxConsecutiveSkips
        self.checkGradients = checkGradients
        self.callbacks = callbacks
    }
}

/// Everything besides the weights and buffers that a resumed run needs to continue exactly
/// where an interrupted one stopped. Codable, for checkpoints.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Updates done so far (the next step's index).
    public var step: Int
    /// Current epoch (0-based).
    public var epoch: Int
    /// Examples of the current epoch's permutation already used.
    public var positionInEpoch: Int
    /// The view generator's state.
    public var viewGenerator: SeededGenerator
    /// The configuration's seed (checked on restore).
    public var seed: UInt64
    /// Number of training examples (checked on restore).
    public var exampleCount: Int
    /// Batch size, nil for full batch (checked on restore).
    public var batchSize: Int?
    /// Steps skipped so far under `.skipStep`.
    public var skippedSteps: Int
    /// The loss of the last step, if any.
    public var lastLoss: Float?
    /// The optimizer's state (momentum buffers, moments, step count, learning rate).
    public var optimizer: OptimizerSnapshot
}

/// What the trainer passes to its callback.
public struct TrainingEvent {
    /// The step: the encoder has received `step` updates (0 = initial encoder).
    public var step: Int
    /// The trainer's current epoch (it advances when the first batch of the next epoch is
    /// drawn; with full batch, epoch = step).
    public var epoch: Int
    /// Loss of the step that produced this encoder (nil at step 0).
    public var loss: Float?
    /// The encoder being trained (not a copy: read it, do not train it; switch
    /// BatchNorm layers to eval by calling `encode(_:training: false)`).
    public var encoder: Encoder<Float>

    package init(step: Int, epoch: Int, loss: Float?, encoder: Encoder<Float>) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.encoder = encoder
    }
}

/// One finished step, for progress displays and loss curves.
public struct StepRecord: Equatable, Sendable {
    /// Index of the step (the encoder had received `step` updates when the loss was computed).
    public var step: Int
    /// Epoch of the step's batch.
    public var epoch: Int
    /// Loss value L of the batch (before the update).
    public var loss: Float
    /// Learning rate η used for the update.
    public var learningRate: Double
    /// Whether the update was skipped (non-finite loss or gradient under `.skipStep`).
    public var skipped: Bool
}

/// How a call of `Trainer.run` ended.
public struct TrainingSummary: Equatable, Sendable {
    /// Steps done during this call.
    public var stepsRun: Int
    /// The trainer's step count at the end.
    public var finalStep: Int
    /// Loss of the last step (nil if none ran).
    public var lastLoss: Float?
    /// Steps skipped during this call (`.skipStep`).
    public var skippedSteps: Int
    /// True when `shouldStop` ended the run before the target step.
    public var cancelled: Bool
}

/// Trains an `Encoder<Float>` with a `ContrastiveLoss` and an `Optimizer` on a dataset of
/// inputs `[n, …]` (optionally labelled), in seeded mini-batches or full batch.
///
/// Use: build it, optionally set `callback`, `stepObserver`, `shouldStop` and `logger`, then
/// `run(untilStep:)` (repeatedly, if you like: the step count carries on). `state` and
/// `restore(_:)` save and resume the run's position (weights and buffers are saved by the
/// checkpoint code; the optimizer's state travels in `TrainerState`).
///
/// Determinism: the same inputs, encoder initialization, configuration and seed give the same
/// weights bit for bit, for any `Parallel.threadCount`.
public final class Trainer {
    /// The model; its parameters are updated in place.
    public let encoder: Encoder<Float>
    /// The contrastive loss on the encoder's embedding z (projection-head output, or the
    /// backbone output when there is no head).
    public let loss: any ContrastiveLoss
    /// Training inputs `[n, …]`.
    public let inputs: Tensor<Float>
    /// One label per example, when given (passed to the loss batch by batch).
    public let labels: [Int]?
    /// Makes the two views of each batch.
    public let viewMaker: any ViewMaker
    /// The run's knobs.
    public let configuration: TrainerConfiguration
    /// Learning rate per step; nil keeps the optimizer's own rate.
    public let schedule: LearningRateSchedule?

    /// Called at the steps of `configuration.callbacks` (step 0 first, before any update).
    /// An error thrown here ends `run` and is rethrown.
    public var callback: ((TrainingEvent) throws -> Void)?
    /// Called after every step (progress, loss curves).
    public var stepObserver: ((StepRecord) -> Void)?
    /// Checked before every step; returning true ends `run` cleanly (`cancelled` in the
    /// summary) with a consistent `state`, e.g. on SIGINT.
    public var shouldStop: (() -> Bool)?
    /// Where skipped steps and divergence are reported (nil: silent).
    public var logger: Logger?

    /// Updates done so far.
    public private(set) var step = 0
    /// Current epoch.
    public private(set) var epoch = 0
    /// Position in the current epoch's permutation.
    public private(set) var positionInEpoch = 0
    /// Loss of the last step.
    public private(set) var lastLoss: Float?
    /// Steps skipped so far.
    public private(set) var skippedSteps = 0

    private let optimizer: any Optimizer<Float>
    private var viewGenerator: SeededGenerator
    private var permutation: [Int] = []
    private var permutationEpoch = -1
    private var consecutiveSkips = 0
    private var acceptedViewShape: [Int]?

    /// Number of examples n.
    public var exampleCount: Int { inputs.shape[0] }
    /// Examples per step (b, or n for full batch).
    public var examplesPerStep: Int { configuration.batchSize.map { min($0, exampleCount) } ?? exampleCount }
    /// Steps in one epoch: ⌊n/b⌋ with `dropLast`, else ⌈n/b⌉ (1 for full batch).
    public var stepsPerEpoch: Int {
        guard let b = configuration.batchSize else { return 1 }
        return configuration.dropLast ? exampleCount / b : (exampleCount + b - 1) / b
    }

    /// - Parameters:
    ///   - encoder: the model (its parameters must include the optimizer's).
    ///   - loss: the contrastive loss on z.
    ///   - optimizer: updates (a subset of) the encoder's parameters.
    ///   - schedule: learning rate per step (nil: keep the optimizer's rate).
    ///   - inputs: `[n, …]`, n ≥ 1, all finite.
    ///   - labels: n labels, required when `loss.requiresLabels`.
    ///   - viewMaker: the two views of each batch.
    ///   - configuration: batch size, seed, callbacks…
    /// - Throws: `TrainerError.invalidConfiguration` (batch size < 1, or larger than n with
    ///   `dropLast`; maxConsecutiveSkips < 0; bad callback steps; optimizer parameters that are
    ///   not the encoder's; an invalid schedule), `.nonFiniteInput` or `.labelMismatch`.
    ///   Views the encoder cannot take are reported by the first step
    ///   (`TrainerError.encoderRejectsInput`).
    public init<O: Optimizer>(encoder: Encoder<Float>, loss: any ContrastiveLoss, optimizer: O,
                              schedule: LearningRateSchedule? = nil, inputs: Tensor<Float>, labels: [Int]? = nil,
                              viewMaker: any ViewMaker = IdentityViews(),
                              configuration: TrainerConfiguration = TrainerConfiguration()) throws
        where O.Scalar == Float
    {
        guard inputs.rank >= 1, inputs.shape[0] >= 1 else {
            throw TrainerError.invalidConfiguration(field: "inputs", expected: "a tensor [n, …] with n ≥ 1",
                                                    got: "shape \(inputs.shape)")
        }
        let n = inputs.shape[0]
        if let b = configuration.batchSize {
            guard b >= 1 else {
                throw TrainerError.invalidConfiguration(field: "batchSize", expected: "≥ 1 (or nil for full batch)", got: "\(b)")
            }
            if configuration.dropLast && b > n {
                throw TrainerError.invalidConfiguration(
                    field: "batchSize", expected: "≤ the number of examples (\(n)) when dropLast is set", got: "\(b)")
            }
        }
        guard configuration.maxConsecutiveSkips >= 0 else {
            throw TrainerError.invalidConfiguration(field: "maxConsecutiveSkips", expected: "≥ 0",
                                                    got: "\(configuration.maxConsecutiveSkips)")
        }
        switch configuration.callbacks {
        case .every(let k) where k < 1:
            throw TrainerError.invalidConfiguration(field: "callbacks.every", expected: "≥ 1", got: "\(k)")
        case .steps(let s) where s.contains(where: { $0 < 0 }):
            throw TrainerError.invalidConfiguration(field: "callbacks.steps", expected: "steps ≥ 0", got: "\(s)")
        default: break
        }
        if let schedule {
            do { try schedule.validate() } catch {
                throw TrainerError.invalidConfiguration(field: "schedule", expected: "a valid schedule", got: "\(error)")
            }
        }
        let owned = Set(encoder.parameters.map { ObjectIdentifier($0) })
        if let stray = optimizer.parameters.first(where: { !owned.contains(ObjectIdentifier($0)) }) {
            throw TrainerError.invalidConfiguration(field: "optimizer.parameters",
                                                    expected: "parameters of the encoder being trained",
                                                    got: "a parameter '\(stray.name)' the encoder does not own")
        }
        if let labels, labels.count != n {
            throw TrainerError.labelMismatch(loss: loss.name, expected: n, got: labels.count)
        }
        if loss.requiresLabels && labels == nil {
            throw TrainerError.labelMismatch(loss: loss.name, expected: n, got: nil)
        }
        if let bad = Trainer.firstNonFinite(inputs) {
            let w = inputs.rowWidth
            throw TrainerError.nonFiniteInput(example: bad / w, position: bad % w)
        }
        self.encoder = encoder
        self.loss = loss
        self.inputs = inputs
        self.labels = labels
        self.viewMaker = viewMaker
        self.configuration = configuration
        self.schedule = schedule
        self.optimizer = optimizer
        self.viewGenerator = SeededGenerator(seed: configuration.seed ^ 0x5EED_0F_7E_A1_5E_ED)
    }

    // MARK: Running

    /// Trains until `step == targetStep` (no-op if already there), firing the callback at the
    /// scheduled steps — at the current step first, if it is 0 and scheduled.
    /// - Returns: what happened in this call.
    /// - Throws: `TrainerError.nonFinite` on divergence (under `.stop`, or after too many
    ///   consecutive skips), `TrainerError.viewShapeMismatch`, `.encoderRejectsInput`, the loss's
    ///   `ContrastiveLossError`, or whatever the view maker or callback throws. The state stays
    ///   consistent: the failed step is not counted and the parameters keep their values.
    @discardableResult
    public func run(untilStep targetStep: Int) throws -> TrainingSummary {
        let startStep = step, startSkips = skippedSteps
        // Nobody reads ∂L/∂x: let the first layer with parameters skip it during the run.
        let first = Trainer.firstParametricLayer(of: encoder.backbone)
        let restoreInputGradient = Trainer.disableInputGradient(first)
        defer { restoreInputGradient() }
        if step == 0 && configuration.callbacks.contains(0) { try fire() }
        var cancelled = false
        while step < targetStep {
            if let stop = shouldStop, stop() { cancelled = true; break }
            try trainStep()
            if configuration.callbacks.contains(step) { try fire() }
        }
        return TrainingSummary(stepsRun: step - startStep, finalStep: step, lastLoss: lastLoss,
                               skippedSteps: skippedSteps - startSkips, cancelled: cancelled)
    }

    /// Trains for `epochs` more epochs (`epochs × stepsPerEpoch` steps).
    /// - Throws: as `run(untilStep:)`.
    @discardableResult
    public func run(epochs: Int) throws -> TrainingSummary {
        try run(untilStep: step + max(0, epochs) * stepsPerEpoch)
    }

    /// The first layer with parameters, looking through `Sequential` and `MLP` containers.
    static func firstParametricLayer(of layer: any Layer<Float>) -> (any Layer<Float>)? {
        layer.firstParametricLayer
    }

    /// Turns off the input gradient of a layer that honours `computesInputGradient` (`Linear`,
    /// `Conv2D`); returns the undo.
    static func disableInputGradient(_ layer: (any Layer<Float>)?) -> () -> Void {
        guard let layer else { return {} }
        let was = layer.computesInputGradient
        layer.computesInputGradient = false
        return { layer.computesInputGradient = was }
    }

    private func fire() throws {
        try callback?(TrainingEvent(step: step, epoch: epoch, loss: lastLoss, encoder: encoder))
    }

    /// Indices of the next mini-batch; advances the epoch position (mini-batch mode only).
    private func nextBatch(batchSize b: Int) -> [Int] {
        let n = exampleCount
        let take = min(b, n)
        if positionInEpoch + (configuration.dropLast ? take : 1) > n {
            epoch += 1
            positionInEpoch = 0
        }
        if permutationEpoch != epoch {
            permutation = epochOrder(epoch)
            permutationEpoch = epoch
        }
        let end = min(n, positionInEpoch + take)
        let batch = Array(permutation[positionInEpoch..<end])
        positionInEpoch = end
        return batch
    }

    /// The example order of epoch `e`: a permutation from a generator seeded by (seed, e), or
    /// dataset order without shuffling.
    private func epochOrder(_ e: Int) -> [Int] {
        guard configuration.shuffle else { return Array(0..<exampleCount) }
        var g = SeededGenerator(seed: configuration.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(e + 1))
        return g.permutation(exampleCount)
    }

    private func trainStep() throws {
        // Work on copies of the position so a failed step leaves the state untouched.
        let saved = (epoch, positionInEpoch, viewGenerator)
        let batchEpoch: Int
        let indices: [Int]
        if let b = configuration.batchSize {
            indices = nextBatch(batchSize: b)
            batchEpoch = epoch
        } else {
            batchEpoch = step
            indices = Array(0..<exampleCount)
        }
        do {
            try trainOnBatch(indices, epoch: batchEpoch)
        } catch {
            (epoch, positionInEpoch, viewGenerator) = saved
            throw error
        }
        if configuration.batchSize == nil { epoch = step }
    }

    private func trainOnBatch(_ indices: [Int], epoch batchEpoch: Int) throws {
        let b = indices.count
        let batch = configuration.batchSize == nil ? inputs : Trainer.gather(inputs, indices)
        let batchLabels = labels.map { l in indices.map { l[$0] } }
        // Identical views through a batch-independent encoder: encode the batch once; the loss
        // sees [z; z] and the encoder gets the sum of the two halves of ∂L/∂[z; z] (the chain
        // rule through both copies), the same gradient with half the work.
        let encodeOnce = viewMaker.viewsEqualInput && encoder.buffers.isEmpty
        let views = encodeOnce ? batch : try viewMaker.views(of: batch, exampleIndices: indices, using: &viewGenerator)
        guard views.rank >= 1, views.shape[0] == (encodeOnce ? b : 2 * b) else {
            throw TrainerError.viewShapeMismatch(expectedRows: 2 * b, got: views.shape)
        }
        if views.shape != acceptedViewShape {  // Checked once per distinct shape, before the layers trap.
            do { _ = try encoder.outputShape(for: views.shape) } catch {
                throw TrainerError.encoderRejectsInput(shape: views.shape, message: "\(error)")
            }
            acceptedViewShape = views.shape
        }
        encoder.zeroGradients()
        let out = encoder.encode(views, training: true)
        let embedding = encodeOnce ? Trainer.stackTwice(out.embedding) : out.embedding
        var (value, gradient) = try loss.evaluate(embedding, labels: batchLabels)
        if encodeOnce { gradient = Trainer.sumHalves(gradient) }
        let learningRate = schedule?.learningRate(atStep: step) ?? optimizer.learningRate

        var failure: String?
        if !value.isFinite {
            failure = "loss"
        } else {
            _ = encoder.backward(gradEmbedding: gradient)
            if configuration.checkGradients && optimizer.parameters.contains(where: { Trainer.firstNonFinite($0.gradient) != nil }) {
                failure = "gradient"
            }
        }
        if let quantity = failure {
            let hint = divergenceHint(quantity: quantity, value: value, learningRate: learningRate)
            consecutiveSkips += 1
            if configuration.onDivergence == .stop || consecutiveSkips > configuration.maxConsecutiveSkips {
                logger?.error("\(TrainerError.nonFinite(step: step, quantity: quantity, hint: hint))")
                consecutiveSkips -= 1
                throw TrainerError.nonFinite(step: step, quantity: quantity, hint: hint)
            }
            logger?.warning("step \(step): the \(quantity) is not finite; update skipped (\(consecutiveSkips) in a row)")
            encoder.zeroGradients()
            skippedSteps += 1
            lastLoss = value
            stepObserver?(StepRecord(step: step, epoch: batchEpoch, loss: value, learningRate: learningRate, skipped: true))
            step += 1
            return
        }
        consecutiveSkips = 0
        optimizer.learningRate = learningRate
        optimizer.step()
        lastLoss = value
        stepObserver?(StepRecord(step: step, epoch: batchEpoch, loss: value, learningRate: learningRate, skipped: false))
        step += 1
    }

    /// A sentence naming the likely cause of a divergence.
    private func divergenceHint(quantity: String, value: Float, learningRate: Double) -> String {
        var causes: [String] = []
        if let previous = lastLoss, previous.isFinite {
            causes.append("the previous step's loss was \(previous)")
        }
        causes.append("the learning rate \(learningRate) may be too large (try 10× smaller)")
        if let t = Trainer.temperature(of: loss), t < 0.05 {
            causes.append("the temperature τ = \(t) is small (logits up to 1/τ = \(Int(1 / t)))")
        }
        if step == 0 {
            causes.append("it failed before any update, so check the input scale and the initialization")
        }
        return "Likely causes: " + causes.joined(separator: "; ") + "."
    }

    private static func temperature(of loss: any ContrastiveLoss) -> Double? {
        loss.smallestTemperature
    }

    /// `[z; z]` for z `[b, …]`.
    static func stackTwice(_ z: Tensor<Float>) -> Tensor<Float> {
        var shape = z.shape
        shape[0] *= 2
        return Tensor(shape: shape, scalars: z.scalars + z.scalars)
    }

    /// g[0 ..< b] + g[b ..< 2b] for g `[2b, …]`: the gradient of the rows of z from that of `[z; z]`.
    static func sumHalves(_ g: Tensor<Float>) -> Tensor<Float> {
        var shape = g.shape
        shape[0] /= 2
        let half = g.scalars.count / 2
        return Tensor(shape: shape, scalars: (0..<half).map { g.scalars[$0] + g.scalars[half + $0] })
    }

    /// Rows `indices` of `x` (whole-row copies; the indices come from the trainer, so in range).
    static func gather(_ x: Tensor<Float>, _ indices: [Int]) -> Tensor<Float> {
        copyRows(x, indices)
    }

    /// Index of the first NaN or ±∞, or nil.
    package static func firstNonFinite(_ t: Tensor<Float>) -> Int? {
        firstNonFiniteIndex(t)
    }

    // MARK: Resumable state

    /// The run's position, view generator and optimizer state (not the weights).
    public var state: TrainerState {
        TrainerState(step: step, epoch: epoch, positionInEpoch: positionInEpoch, viewGenerator: viewGenerator,
                     seed: configuration.seed, exampleCount: exampleCount, batchSize: configuration.batchSize,
                     skippedSteps: skippedSteps, lastLoss: lastLoss, optimizer: optimizer.snapshot())
    }

    /// Continues from `state` (taken from a trainer with the same data size, batch size and
    /// seed). Load the weights and buffers separately, before the next `run`.
    /// - Throws: `TrainerError.stateMismatch` naming the field that differs, or the
    ///   optimizer's `OptimizerError` for a snapshot that does not fit its parameters.
    public func restore(_ state: TrainerState) throws {
        guard state.exampleCount == exampleCount else {
            throw TrainerError.stateMismatch(field: "exampleCount", expected: "\(exampleCount)", got: "\(state.exampleCount)")
        }
        guard state.batchSize == configuration.batchSize else {
            throw TrainerError.stateMismatch(field: "batchSize", expected: "\(configuration.batchSize.map(String.init) ?? "nil")",
                                             got: "\(state.batchSize.map(String.init) ?? "nil")")
        }
        guard state.seed == configuration.seed else {
            throw TrainerError.stateMismatch(field: "seed", expected: "\(configuration.seed)", got: "\(state.seed)")
        }
        guard state.step >= 0, state.epoch >= 0, state.positionInEpoch >= 0, state.positionInEpoch <= exampleCount else {
            throw TrainerError.stateMismatch(field: "step/epoch/positionInEpoch",
                                             expected: "≥ 0, position ≤ \(exampleCount)",
                                             got: "\(state.step)/\(state.epoch)/\(state.positionInEpoch)")
        }
        try optimizer.restore(state.optimizer)
        step = state.step
        epoch = state.epoch
        positionInEpoch = state.positionInEpoch
        viewGenerator = state.viewGenerator
        skippedSteps = state.skippedSteps
        lastLoss = state.lastLoss
        permutationEpoch = -1
        consecutiveSkips = 0
    }
}

// MARK: Checkpoints

extension Trainer {
    /// Name of the view generator in a trainer checkpoint (`rng.views`).
    public static let viewGeneratorName = "views"

    /// Writes a complete checkpoint of this run to `directory/checkpoint.safetensors`
    /// (atomically; Checkpoint.swift): the encoder's parameters and buffers, the optimizer
    /// state, `step`, `epoch`, the view generator (`rng.views`) and the rest of `state` as
    /// metadata (`trainer.position_in_epoch`, `trainer.skipped_steps`, `trainer.last_loss`,
    /// `trainer.seed`, `trainer.example_count`, `trainer.batch_size`), plus the caller's
    /// `metadata` and config JSON. `restoreCheckpoint` continues the run bit for bit.
    /// - Returns: the checkpoint's URL.
    /// - Throws: `OutputError` when it cannot be written; `CheckpointError.nameCollision` for
    ///   a reserved or `trainer.*` key in `metadata`.
    @discardableResult
    public func saveCheckpoint(to directory: URL, configJSON: String, metadata: [String: String] = [:]) throws -> URL {
        let s = state
        var md = metadata
        for key in md.keys where key.hasPrefix("trainer.") {
            throw CheckpointError.nameCollision(file: Checkpoint.url(in: directory).path, name: key)
        }
        md["trainer.position_in_epoch"] = String(s.positionInEpoch)
        md["trainer.skipped_steps"] = String(s.skippedSteps)
        md["trainer.seed"] = String(s.seed)
        md["trainer.example_count"] = String(s.exampleCount)
        md["trainer.batch_size"] = s.batchSize.map(String.init) ?? "full"
        if let l = s.lastLoss { md["trainer.last_loss"] = "\(l)" }
        let checkpointState = CheckpointState(step: s.step, epoch: s.epoch, generators: [Self.viewGeneratorName: s.viewGenerator],
                                              configJSON: configJSON, metadata: md)
        return try Checkpoint.save(model: encoder, optimizer: optimizer, state: checkpointState, to: directory)
    }

    /// Continues from a checkpoint written by `saveCheckpoint` of a trainer with the same
    /// encoder architecture, optimizer, data size, batch size and seed: restores weights,
    /// buffers, optimizer state, position and view generator. Nothing changes unless all of it fits.
    /// - Returns: the checkpoint's step, epoch, config JSON and metadata (the caller's fields
    ///   and the `trainer.*` ones).
    /// - Throws: `CheckpointError` naming the file and the tensor or field (including
    ///   `trainer.*` fields that are missing, malformed or differ from this trainer's seed,
    ///   example count or batch size).
    @discardableResult
    public func restoreCheckpoint(_ checkpoint: SafeTensorsFile) throws -> CheckpointState {
        let file = checkpoint.file
        func int(_ key: String) throws -> Int { try Checkpoint.metadataCount(checkpoint, key) }
        func mismatch(_ key: String, _ expected: String) throws {
            let found = try Checkpoint.metadataField(checkpoint, key, expected: expected)
            guard found == expected else {
                throw CheckpointError.invalidMetadata(file: file, field: key, expected: expected + " (this run's value)", found: "\"\(found.prefix(40))\"")
            }
        }
        // Check the trainer's fields before anything is modified.
        try mismatch("trainer.seed", String(configuration.seed))
        try mismatch("trainer.example_count", String(exampleCount))
        try mismatch("trainer.batch_size", configuration.batchSize.map(String.init) ?? "full")
        let position = try int("trainer.position_in_epoch")
        guard position <= exampleCount else {
            throw CheckpointError.invalidMetadata(file: file, field: "trainer.position_in_epoch", expected: "≤ \(exampleCount)", found: "\(position)")
        }
        let skipped = try int("trainer.skipped_steps")
        var lastLoss: Float? = nil
        if let text = checkpoint.metadata["trainer.last_loss"] {
            guard let v = Float(text) else {
                throw CheckpointError.invalidMetadata(file: file, field: "trainer.last_loss", expected: "a number", found: "\"\(text.prefix(40))\"")
            }
            lastLoss = v
        }
        let header = try Checkpoint.header(checkpoint)
        guard checkpoint.tensors["rng.\(Self.viewGeneratorName)"] != nil else {
            throw CheckpointError.invalidGeneratorState(file: file, tensor: "rng.\(Self.viewGeneratorName)",
                                                        detail: "missing; expected the view generator's state, U64 [4]")
        }
        _ = try Checkpoint.generators(checkpoint)  // valid states, before the model changes
        let restored = try Checkpoint.restore(checkpoint, into: encoder, optimizer: optimizer)
        try restore(TrainerState(step: header.step, epoch: header.epoch, positionInEpoch: position,
                                 viewGenerator: restored.generators[Self.viewGeneratorName]!, seed: configuration.seed,
                                 exampleCount: exampleCount, batchSize: configuration.batchSize, skippedSteps: skipped,
                                 lastLoss: lastLoss, optimizer: optimizer.snapshot()))
        return restored
    }
}
