import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

// Small problems: a linear encoder x ↦ Wx (d = 8, p = 4) on n = 48 Gaussian inputs.

private let d = 8, p = 4, n = 48

private func dataset(seed: UInt64 = 7) -> Tensor<Float> {
    var g = SeededGenerator(seed: seed)
    return Tensor(randomNormal: [n, d], using: &g)
}

private func linearEncoder(seed: UInt64 = 3) throws -> Encoder<Float> {
    var g = SeededGenerator(seed: seed)
    return Encoder(backbone: try Linear<Float>(inFeatures: d, outFeatures: p, bias: false, using: &g))
}

private func weights(_ e: Encoder<Float>) -> [[Float]] { e.parameters.map { $0.value.scalars } }

private func makeTrainer(encoder: Encoder<Float>, loss: any ContrastiveLoss = try! InfoNCELoss(temperature: 0.5),
                         learningRate: Double = 0.1, momentum: Double = 0,
                         views: any ViewMaker = try! GaussianNoiseViews(standardDeviation: 0.1),
                         configuration: TrainerConfiguration = TrainerConfiguration(batchSize: 16, seed: 11),
                         inputs: Tensor<Float> = dataset(), labels: [Int]? = nil) throws -> Trainer {
    let sgd = try SGD<Float>(parameters: encoder.parameters, learningRate: learningRate, momentum: momentum)
    return try Trainer(encoder: encoder, loss: loss, optimizer: sgd, inputs: inputs, labels: labels,
                       viewMaker: views, configuration: configuration)
}

/// A view maker that returns `[x + ε; x − ε]` and poisons the views with NaN at chosen calls.
private final class PoisonedViews: ViewMaker {
    var calls = 0
    let poisonAt: Set<Int>
    init(poisonAt: Set<Int>) { self.poisonAt = poisonAt }
    func views(of batch: Tensor<Float>, exampleIndices: [Int], using generator: inout SeededGenerator) throws -> Tensor<Float> {
        defer { calls += 1 }
        var v = try GaussianNoiseViews(standardDeviation: 0.1).views(of: batch, exampleIndices: exampleIndices, using: &generator)
        if poisonAt.contains(calls) { v.scalars[0] = .nan }
        return v
    }
}

@Suite struct TrainerTests {
    @Test func sameSeedGivesIdenticalWeights() throws {
        let a = try makeTrainer(encoder: try linearEncoder())
        let b = try makeTrainer(encoder: try linearEncoder())
        try a.run(untilStep: 12)
        try b.run(untilStep: 12)
        #expect(weights(a.encoder) == weights(b.encoder))
        #expect(a.lastLoss == b.lastLoss)
        // A different seed takes a different path.
        let c = try makeTrainer(encoder: try linearEncoder(), configuration: TrainerConfiguration(batchSize: 16, seed: 12))
        try c.run(untilStep: 12)
        #expect(weights(a.encoder) != weights(c.encoder))
    }

    @Test func oneAndTwoThreadsGiveIdenticalWeights() throws {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        // Large enough that the noise (2 generator blocks) and the loss's row chunks split work.
        var g = SeededGenerator(seed: 5)
        let x = Tensor<Float>(randomNormal: [160, 256], using: &g)
        func train(threads: Int) throws -> [[Float]] {
            Parallel.threadCount = threads
            var ig = SeededGenerator(seed: 9)
            let enc = Encoder(backbone: try Linear<Float>(inFeatures: 256, outFeatures: 16, bias: false, using: &ig))
            let t = try makeTrainer(encoder: enc, configuration: TrainerConfiguration(batchSize: 80, seed: 1), inputs: x)
            try t.run(untilStep: 4)
            return weights(enc)
        }
        #expect(try train(threads: 1) == train(threads: 2))
    }

    /// Identical views (no augmentation) are encoded once; the step must be the one of the
    /// two-copy path up to float rounding: same loss, same weights after several steps, for a
    /// supervised loss on a small ConvNet with a head.
    @Test func identicalViewsAreEncodedOnceWithTheSameStep() throws {
        var g = SeededGenerator(seed: 31)
        let images = Tensor<Float>(randomNormal: [24, 1, 8, 8], using: &g)
        let labels = (0..<24).map { $0 % 3 }
        func train(_ views: any ViewMaker) throws -> (weights: [[Float]], loss: Float) {
            var ig = SeededGenerator(seed: 4)
            let enc: Encoder<Float> = try ImageEncoders.convNet(
                inputChannels: 1, height: 8, width: 8, channels: [4, 6, 6], featureDimension: 10,
                head: ProjectionHeadSpec(hiddenDimension: 10, outputDimension: 5), using: &ig)
            let t = try makeTrainer(encoder: enc, loss: try SupConLoss(temperature: 0.2), learningRate: 0.05,
                                    views: views, configuration: TrainerConfiguration(batchSize: 8, seed: 2),
                                    inputs: images, labels: labels)
            try t.run(untilStep: 6)
            return (weights(enc), t.lastLoss!)
        }
        #expect(IdentityViews().viewsEqualInput)
        #expect(TwoViewAugmenter(augmentation: Compose([])).viewsEqualInput)
        #expect(!TwoViewAugmenter(augmentation: try HorizontalFlip(probability: 0.5)).viewsEqualInput)
        let once = try train(IdentityViews())
        let twice = try train(ClosureViews { batch, _, _ in Trainer.stackTwice(batch) })
        #expect(abs(once.loss - twice.loss) <= 1e-4 * max(1, abs(twice.loss)), "loss \(once.loss) vs \(twice.loss)")
        for (a, b) in zip(once.weights, twice.weights) {
            let scale = b.map(abs).max() ?? 1
            let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(err <= 1e-4 * scale, "max weight difference \(err) (scale \(scale))")
        }
    }

    /// The trainer skips the view maker only when its views equal the input and the encoder has
    /// no batch statistics (a BatchNorm head keeps the two-view path).
    @Test func encodeOnceNeedsIdenticalViewsAndNoBatchStatistics() throws {
        final class CountingIdentity: ViewMaker {
            var calls = 0
            var viewsEqualInput: Bool { true }
            func views(of batch: Tensor<Float>, exampleIndices: [Int], using generator: inout SeededGenerator) throws -> Tensor<Float> {
                calls += 1
                return Trainer.stackTwice(batch)
            }
        }
        for batchNorm in [false, true] {
            var ig = SeededGenerator(seed: 4)
            let enc: Encoder<Float> = try ImageEncoders.mlp(
                inputShape: [d], hiddenWidths: [], featureDimension: 6,
                head: ProjectionHeadSpec(hiddenDimension: 6, outputDimension: 3, batchNorm: batchNorm), using: &ig)
            let views = CountingIdentity()
            let t = try makeTrainer(encoder: enc, views: views)
            try t.run(untilStep: 3)
            #expect(views.calls == (batchNorm ? 3 : 0), "batchNorm \(batchNorm): \(views.calls) calls")
        }
    }

    @Test func lossDecreasesOnATinyProblem() throws {
        // Signal in the first 4 coordinates, none in the last 4; the views add N(0, 1) noise to
        // all 8, so the encoder must learn to ignore the last 4 to make the views agree.
        var x = dataset()
        for i in 0..<n { for j in 4..<d { x.scalars[i * d + j] = 0 } }
        var losses: [Float] = []
        let t = try makeTrainer(encoder: try linearEncoder(), learningRate: 0.5,
                                views: try GaussianNoiseViews(standardDeviation: 1), inputs: x)
        t.stepObserver = { losses.append($0.loss) }
        try t.run(untilStep: 150)
        #expect(losses.count == 150)
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(last < first - 0.05, "mean loss of the first 10 steps \(first), of the last 10 \(last)")
    }

    @Test func callbacksFireAtRequestedStepsWithStepZeroFirst() throws {
        let enc = try linearEncoder()
        let initial = weights(enc)
        var seen: [(Int, Float?)] = []
        var weightsAtZero: [[Float]] = []
        let t = try makeTrainer(encoder: enc, configuration: TrainerConfiguration(batchSize: 16, seed: 1,
                                                                                  callbacks: .steps([0, 3, 7, 50])))
        t.callback = { e in
            seen.append((e.step, e.loss))
            if e.step == 0 { weightsAtZero = weights(e.encoder) }
            #expect(e.encoder === enc)
        }
        try t.run(untilStep: 10)
        #expect(seen.map(\.0) == [0, 3, 7])
        #expect(seen[0].1 == nil && seen[1].1 != nil)
        #expect(weightsAtZero == initial)
        // Continuing does not repeat step 0.
        seen = []
        try t.run(untilStep: 12)
        #expect(seen.isEmpty)

        var every: [Int] = []
        let u = try makeTrainer(encoder: try linearEncoder(), configuration: TrainerConfiguration(batchSize: 16, callbacks: .every(4)))
        u.callback = { every.append($0.step) }
        try u.run(untilStep: 10)
        #expect(every == [0, 4, 8])
    }

    @Test func nonFiniteLossNamesTheStep() throws {
        // The spectral loss is quartic in W: a learning rate of 1e6 overflows within a few steps.
        let loss = try SpectralContrastiveLoss(pairing: .unsupervised)
        let t = try makeTrainer(encoder: try linearEncoder(), loss: loss, learningRate: 1e6)
        var recorded: [Int] = []
        t.stepObserver = { recorded.append($0.step) }
        do {
            try t.run(untilStep: 100)
            Issue.record("expected divergence")
        } catch let TrainerError.nonFinite(step, quantity, hint) {
            #expect(step >= 1 && step < 100)
            #expect(step == t.step, "the failed step is not counted")
            #expect(recorded.last == step - 1)
            #expect(quantity == "loss" || quantity == "gradient")
            #expect(hint.contains("learning rate 1000000"))
            let message = "\(TrainerError.nonFinite(step: step, quantity: quantity, hint: hint))"
            #expect(message.contains("step \(step)"))
        }
    }

    @Test func poisonedStepStopsOrIsSkipped() throws {
        // Stop: the error names step 2 and the trainer stays at step 2.
        let stopper = try makeTrainer(encoder: try linearEncoder(), views: PoisonedViews(poisonAt: [2]))
        #expect(throws: TrainerError.self) { try stopper.run(untilStep: 6) }
        #expect(stopper.step == 2)
        do { try stopper.run(untilStep: 6) } catch let TrainerError.nonFinite(step, quantity, _) {
            #expect(step == 2 && quantity == "loss")
        }

        // Skip: step 2 is skipped, training goes on, weights stay finite.
        let enc = try linearEncoder()
        var config = TrainerConfiguration(batchSize: 16, seed: 11)
        config.onDivergence = .skipStep
        let skipper = try makeTrainer(encoder: enc, views: PoisonedViews(poisonAt: [2]), configuration: config)
        var records: [StepRecord] = []
        skipper.stepObserver = { records.append($0) }
        var before: [[Float]] = []
        skipper.callback = nil
        let summary = try skipper.run(untilStep: 2)
        #expect(summary.skippedSteps == 0)
        before = weights(enc)
        try skipper.run(untilStep: 3)
        #expect(weights(enc) == before, "a skipped step does not update")
        let rest = try skipper.run(untilStep: 6)
        #expect(rest.finalStep == 6 && skipper.skippedSteps == 1)
        #expect(records.map(\.skipped) == [false, false, true, false, false, false])
        #expect(weights(enc).allSatisfy { $0.allSatisfy(\.isFinite) })

        // Too many consecutive skips: stops anyway.
        config.maxConsecutiveSkips = 2
        let stubborn = try makeTrainer(encoder: try linearEncoder(), views: PoisonedViews(poisonAt: [1, 2, 3, 4]),
                                       configuration: config)
        do {
            try stubborn.run(untilStep: 10)
            Issue.record("expected a stop after 2 skips")
        } catch let TrainerError.nonFinite(step, _, _) {
            #expect(step == 3 && stubborn.skippedSteps == 2)
        }
    }

    @Test func resumedRunReproducesUninterruptedRun() throws {
        // n = 48, b = 16: 3 steps per epoch, so step 4 is mid-epoch; momentum makes optimizer state matter.
        let config = TrainerConfiguration(batchSize: 16, seed: 21)
        let full = try makeTrainer(encoder: try linearEncoder(), momentum: 0.9, configuration: config)
        try full.run(untilStep: 10)

        let first = try makeTrainer(encoder: try linearEncoder(), momentum: 0.9, configuration: config)
        try first.run(untilStep: 4)
        #expect(first.epoch == 1 && first.positionInEpoch == 16)
        let json = try JSONEncoder().encode(first.state)
        let state = try JSONDecoder().decode(TrainerState.self, from: json)
        #expect(state == first.state)
        let savedWeights = first.encoder.parameters.map(\.value)

        let freshEncoder = try linearEncoder(seed: 99)  // other init: the weights come from the "checkpoint"
        for (p, v) in zip(freshEncoder.parameters, savedWeights) { p.value = v }
        let resumed = try makeTrainer(encoder: freshEncoder, momentum: 0.9, configuration: config)
        try resumed.restore(state)
        try resumed.run(untilStep: 10)
        #expect(weights(resumed.encoder) == weights(full.encoder))
        #expect(resumed.lastLoss == full.lastLoss)

        // A state from another setup is refused, naming the field.
        let other = try makeTrainer(encoder: try linearEncoder(), configuration: TrainerConfiguration(batchSize: 8, seed: 21))
        #expect(throws: TrainerError.stateMismatch(field: "batchSize", expected: "8", got: "16")) { try other.restore(state) }
    }

    @Test func cancellationStopsBetweenSteps() throws {
        let t = try makeTrainer(encoder: try linearEncoder())
        var steps = 0
        t.stepObserver = { _ in steps += 1 }
        t.shouldStop = { steps >= 5 }
        let summary = try t.run(untilStep: 100)
        #expect(summary.cancelled && summary.finalStep == 5 && t.step == 5)
    }

    @Test func fullBatchUsesEveryExampleEachStep() throws {
        var sizes: [Int] = []
        let views = ClosureViews { batch, indices, _ in
            sizes.append(indices.count)
            #expect(indices == Array(0..<n))
            return Tensor.concatenateRows([batch, batch])
        }
        let labels = (0..<n).map { $0 % 3 }
        let t = try makeTrainer(encoder: try linearEncoder(), loss: try SupConLoss(temperature: 0.5), views: views,
                                configuration: TrainerConfiguration(batchSize: nil), labels: labels)
        try t.run(untilStep: 3)
        #expect(sizes == [n, n, n] && t.stepsPerEpoch == 1 && t.epoch == 3)
    }

    @Test func badSetupsAreTypedErrors() throws {
        #expect(throws: TrainerError.invalidConfiguration(field: "batchSize", expected: "≥ 1 (or nil for full batch)", got: "0")) {
            _ = try makeTrainer(encoder: try linearEncoder(), configuration: TrainerConfiguration(batchSize: 0))
        }
        #expect(throws: TrainerError.labelMismatch(loss: "SupConLoss", expected: n, got: nil)) {
            _ = try makeTrainer(encoder: try linearEncoder(), loss: try SupConLoss(temperature: 0.5))
        }
        #expect(throws: TrainerError.labelMismatch(loss: "SupConLoss", expected: n, got: 3)) {
            _ = try makeTrainer(encoder: try linearEncoder(), loss: try SupConLoss(temperature: 0.5), labels: [0, 1, 2])
        }
        var x = dataset()
        x.scalars[3 * d + 5] = .infinity
        #expect(throws: TrainerError.nonFiniteInput(example: 3, position: 5)) {
            _ = try makeTrainer(encoder: try linearEncoder(), inputs: x)
        }
        // The optimizer must update the encoder's own parameters.
        let enc = try linearEncoder(), stranger = try linearEncoder()
        let sgd = try SGD<Float>(parameters: stranger.parameters, learningRate: 0.1)
        #expect(throws: TrainerError.self) {
            _ = try Trainer(encoder: enc, loss: try InfoNCELoss(temperature: 0.5), optimizer: sgd, inputs: dataset())
        }
        // Views the encoder cannot take: reported by the first step, before any layer traps.
        let wide = try makeTrainer(encoder: try linearEncoder(), inputs: Tensor<Float>(zeros: [n, d + 1]))
        do {
            try wide.run(untilStep: 1)
            Issue.record("expected encoderRejectsInput")
        } catch let TrainerError.encoderRejectsInput(shape, message) {
            #expect(shape == [32, d + 1] && message.contains("Linear"))
        }
        #expect(wide.step == 0)
    }

    @Test func gaussianNoiseViewsHaveTheRequestedStatistics() throws {
        let x = Tensor<Float>(repeating: 2, shape: [300, 100])  // 60 000 values: two generator blocks
        var g = SeededGenerator(seed: 4)
        let v = try GaussianNoiseViews(standardDeviation: 0.1).views(of: x, exampleIndices: Array(0..<300), using: &g)
        #expect(v.shape == [600, 100])
        let diffs = v.scalars.map { Double($0) - 2 }
        let mean = diffs.reduce(0, +) / Double(diffs.count)
        let sd = (diffs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(diffs.count)).squareRoot()
        #expect(abs(mean) < 0.002 && abs(sd - 0.1) < 0.002, "mean \(mean), sd \(sd)")
        // The two views differ (independent noise).
        #expect(Array(v.scalars[0..<30_000]) != Array(v.scalars[30_000...]))
    }
}
