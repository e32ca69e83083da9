import Foundation
import Testing
@testable import FeatureLens

/// The mini-batch engine audits behind training (`AuditPipeline`): the audits it delivers must
/// be the ones an audit in place gives, in step order, and a non-finite embedding found by a
/// queued audit must end training as a divergence at that audit's step.
@Suite("Audits behind training")
struct AuditPipelineTests {
    /// 48 training and 24 test 8×8 grey images with two label sets: `class` (bright left or
    /// right half) and `shade` (overall level), both readable from the pixels.
    static func data() throws -> (train: ImageDataset, test: ImageDataset) {
        func make(_ n: Int, seed: UInt64) throws -> ImageDataset {
            var g = SeededGenerator(seed: seed)
            var pixels = [Float](repeating: 0, count: n * 64)
            var cls: [Int] = [], shade: [Int] = []
            for i in 0..<n {
                let c = i % 2, s = (i / 2) % 2
                cls.append(c); shade.append(s)
                for y in 0..<8 {
                    for x in 0..<8 {
                        let bright = (x < 4) == (c == 0) ? Float(0.6) : 0.1
                        pixels[i * 64 + y * 8 + x] = bright + Float(s) * 0.3 + Float(g.nextUniform()) * 0.1
                    }
                }
            }
            return ImageDataset(name: "tiny", images: Tensor(shape: [n, 1, 8, 8], scalars: pixels),
                                labelSets: ["class": try LabelSet(name: "class", codes: cls),
                                            "shade": try LabelSet(name: "shade", codes: shade)])
        }
        return (try make(48, seed: 1), try make(24, seed: 2))
    }

    static func config(steps: Int, auditSteps: [Int], lr: Double = 1e-2) -> ImageExperimentConfig {
        var c = ImagePresets.images.base
        c.data = "in-memory"
        c.encoder = .mlp; c.mlpHidden = [16]; c.p = 8; c.backboneWidth = 12
        c.augmentation = "noise"
        c.trainLimit = 0; c.testLimit = 0; c.probeTrain = 0; c.pcaPoints = 0
        c.batchSize = 16; c.epochs = 0; c.steps = steps; c.auditSteps = auditSteps
        c.lr = lr; c.seed = 3
        return c
    }

    /// Every audit the engine delivers (queued at its step, run on a copy of the weights while
    /// training went on) equals the audit of a second engine stopped at that step and audited
    /// in place, entry for entry; and they arrive in step order.
    @Test func queuedAuditsEqualAuditsInPlace() throws {
        let (train, test) = try Self.data()
        let c = Self.config(steps: 12, auditSteps: [0, 1, 2, 5, 12])
        let engine = try MiniBatchEngine(config: c, label: "queued", train: train, test: test)
        var delivered: [[TimelineEntry]] = []
        // Two calls, as between checkpoints: the audits of each call arrive before it returns.
        var progress = try engine.train(until: 4, shouldStop: nil) { delivered.append($0) }
        guard case .reached = progress else { Issue.record("expected .reached, got \(progress)"); return }
        #expect(delivered.map { $0[0].step } == [0, 1, 2])
        progress = try engine.train(until: 12, shouldStop: nil) { delivered.append($0) }
        guard case .reached = progress else { Issue.record("expected .reached, got \(progress)"); return }
        #expect(delivered.map { $0[0].step } == [0, 1, 2, 5, 12])
        #expect(delivered.allSatisfy { $0.map(\.layer) == ["backbone", "head"] })

        let reference = try MiniBatchEngine(config: c, label: "in place", train: train, test: test)
        reference.trainer.callback = nil
        for entries in delivered {
            try reference.trainer.run(untilStep: entries[0].step)
            let inPlace = try reference.audit()
            #expect(inPlace == entries)
        }
        // The last audit (the last step) ran on a copy equal to the final weights.
        #expect(engine.auditEncoder.parameters.map(\.value) == engine.encoder.parameters.map(\.value))
    }

    /// A queued audit that finds a non-finite embedding (weights made infinite before training
    /// starts) ends the run as a divergence at that audit's step, and delivers no audit.
    @Test func nonFiniteEmbeddingInAQueuedAuditIsADivergenceAtItsStep() throws {
        let (train, test) = try Self.data()
        let c = Self.config(steps: 6, auditSteps: [0, 3, 6])
        let engine = try MiniBatchEngine(config: c, label: "blown", train: train, test: test)
        let w = engine.encoder.parameters[0]
        w.value = Tensor(repeating: .infinity, shape: w.value.shape)
        var delivered: [[TimelineEntry]] = []
        let progress = try engine.train(until: 6, shouldStop: nil) { delivered.append($0) }
        guard case let .diverged(step, message, _) = progress else {
            Issue.record("expected a divergence, got \(progress)"); return
        }
        #expect(step == 0)
        #expect(message.contains("embedding"))
        #expect(delivered.isEmpty)
    }

    /// The pipeline returns what it ran in step order, with errors kept by step, and lets at
    /// most `capacity` audits wait.
    @Test func pipelineKeepsStepOrderAndItsCapacity() throws {
        let pipeline = AuditPipeline(label: "test", capacity: 2)
        final class Overlap: @unchecked Sendable {
            let lock = NSLock()
            var running = 0, most = 0
            func enter() { lock.lock(); running += 1; most = max(most, running); lock.unlock() }
            func leave() { lock.lock(); running -= 1; lock.unlock() }
        }
        let overlap = Overlap()
        for step in [7, 3, 9, 1] {
            pipeline.submit(step: step) {
                overlap.enter()
                defer { overlap.leave() }
                if step == 9 { throw TrainerError.invalidConfiguration(field: "f", expected: "e", got: "g") }
                return []
            }
        }
        let done = pipeline.collect()
        #expect(done.map(\.step) == [1, 3, 7, 9])
        #expect(done.map { if case .failure = $0.result { return true } else { return false } } == [false, false, false, true])
        #expect(overlap.most == 1)  // one queue: the audits never overlap one another
        #expect(pipeline.collect().isEmpty)
        // A third audit waits while two are queued or running.
        let gate = DispatchSemaphore(value: 0)
        for step in [1, 2] { pipeline.submit(step: step) { gate.wait(); return [] } }
        let submitted = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { pipeline.submit(step: 3) { [] }; submitted.signal() }
        #expect(submitted.wait(timeout: .now() + 0.2) == .timedOut)
        gate.signal(); gate.signal()
        #expect(submitted.wait(timeout: .now() + 10) == .success)
        #expect(pipeline.collect().map(\.step) == [1, 2, 3])
        #expect(AuditPipeline.capacity(snapshotBytes: 45 << 20) == 2)  // ResNet-18's weights
        #expect(AuditPipeline.capacity(snapshotBytes: 200 << 20) == 1)
    }
}
