import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

private struct OptimizerFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var kind: String
        var lr: Double
        var momentum: Double?
        var dampening: Double?
        var weight_decay: Double?
        var nesterov: Bool?
        var betas: [Double]?
        var eps: Double?
        var weights: [[Double]]
        var biases: [[Double]]
        var losses: [Double]
    }
    var n: Int, d: Int, k: Int
    var X: [Double], Y: [Double], W0: [Double], b0: [Double]
    var cases: [Case]
}

private struct ScheduleFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var lr: Double
        var step_size: Int?
        var gamma: Double?
        var total: Int?
        var eta_min: Double?
        var lrs: [Double]
    }
    var cases: [Case]
}

private func optimizerFixture<T: Decodable>(_ name: String, as: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json",
                                             subdirectory: "Fixtures/golden/losses"))
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// ‖a − b‖_∞ / ‖b‖_∞.
private func optimizerRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<a.count { num = max(num, abs(a[i] - b[i])); den = max(den, abs(b[i])) }
    return num / max(den, 1e-12)
}

/// The fixture's model: loss = (0.5/n) Σᵢ ‖W xᵢ + b − yᵢ‖²; writes ∂loss/∂W, ∂loss/∂b.
private func linearModelGradients<S: TensorScalar>(_ w: Parameter<S>, _ b: Parameter<S>,
                                                   x: Tensor<S>, y: Tensor<S>) {
    let n = x.shape[0]
    let r = x.matmul(w.value, transposeOther: true).addingRowVector(b.value.scalars) - y  // [n, k]
    w.gradient = r.matmul(x, transposeSelf: true) / S(Double(n))
    b.gradient = Tensor(shape: b.value.shape, scalars: r.sumOverRows().map { $0 / S(Double(n)) })
}

private func makeOptimizer<S: TensorScalar>(_ c: OptimizerFixture.Case, _ params: [Parameter<S>]) throws -> any Optimizer {
    switch c.kind {
    case "sgd":
        return try SGD(parameters: params, learningRate: c.lr, momentum: c.momentum ?? 0,
                       dampening: c.dampening ?? 0, weightDecay: c.weight_decay ?? 0, nesterov: c.nesterov ?? false)
    default:
        let betas = c.betas ?? [0.9, 0.999]
        return try Adam(parameters: params, learningRate: c.lr, beta1: betas[0], beta2: betas[1],
                        epsilon: c.eps ?? 1e-8, weightDecay: c.weight_decay ?? 0,
                        variant: c.kind == "adam" ? .adam : .adamW)
    }
}

@Suite struct OptimizerTrajectoryTests {
    private func run<S: TensorScalar>(_ type: S.Type, tolerance: Double) throws {
        let fx = try optimizerFixture("optimizers", as: OptimizerFixture.self)
        #expect(fx.cases.count == 8)
        let x = Tensor<S>(Tensor<Double>(shape: [fx.n, fx.d], scalars: fx.X))
        let y = Tensor<S>(Tensor<Double>(shape: [fx.n, fx.k], scalars: fx.Y))
        for c in fx.cases {
            let w = Parameter(name: "w", value: Tensor<S>(Tensor<Double>(shape: [fx.k, fx.d], scalars: fx.W0)))
            let b = Parameter(name: "b", value: Tensor<S>(Tensor<Double>(shape: [fx.k], scalars: fx.b0)))
            let opt = try makeOptimizer(c, [w, b])
            for t in 0..<10 {
                linearModelGradients(w, b, x: x, y: y)
                opt.step()
                let ew = optimizerRelativeError(w.value.scalars.map { $0.doubleValue }, c.weights[t])
                let eb = optimizerRelativeError(b.value.scalars.map { $0.doubleValue }, c.biases[t])
                #expect(ew <= tolerance && eb <= tolerance, "\(c.name) \(S.self) step \(t + 1): W \(ew), b \(eb)")
            }
            #expect(opt.stepCount == 10)
            // The loss really moved (the trajectory is not trivially constant).
            #expect(c.losses[9] < c.losses[0])
        }
    }

    @Test func floatFollowsPyTorch() throws { try run(Float.self, tolerance: 1e-5) }
    @Test func doubleFollowsPyTorch() throws { try run(Double.self, tolerance: 1e-12) }

    @Test func snapshotRestoreResumesExactly() throws {
        let fx = try optimizerFixture("optimizers", as: OptimizerFixture.self)
        let x = Tensor<Float>(Tensor<Double>(shape: [fx.n, fx.d], scalars: fx.X))
        let y = Tensor<Float>(Tensor<Double>(shape: [fx.n, fx.k], scalars: fx.Y))
        for c in fx.cases {
            func fresh() -> (Parameter<Float>, Parameter<Float>) {
                (Parameter(name: "w", value: Tensor<Float>(Tensor<Double>(shape: [fx.k, fx.d], scalars: fx.W0))),
                 Parameter(name: "b", value: Tensor<Float>(Tensor<Double>(shape: [fx.k], scalars: fx.b0))))
            }
            let (w1, b1) = fresh()
            let straight = try makeOptimizer(c, [w1, b1])
            for _ in 0..<10 { linearModelGradients(w1, b1, x: x, y: y); straight.step() }

            let (w2, b2) = fresh()
            let first = try makeOptimizer(c, [w2, b2])
            for _ in 0..<5 { linearModelGradients(w2, b2, x: x, y: y); first.step() }
            let json = try JSONEncoder().encode(first.snapshot())
            let snap = try JSONDecoder().decode(OptimizerSnapshot.self, from: json)
            let (w3, b3) = (Parameter(name: "w", value: w2.value), Parameter(name: "b", value: b2.value))
            let resumed = try makeOptimizer(c, [w3, b3])
            try resumed.restore(snap)
            #expect(resumed.stepCount == 5)
            for _ in 0..<5 { linearModelGradients(w3, b3, x: x, y: y); resumed.step() }
            #expect(w3.value == w1.value && b3.value == b1.value, "\(c.name): resumed run differs")
        }
    }
}

@Suite struct OptimizerErrorTests {
    @Test func invalidHyperparametersThrow() {
        let p = [Parameter(name: "w", value: Tensor<Float>(zeros: [2]))]
        #expect(throws: OptimizerError.self) { _ = try SGD(parameters: p, learningRate: -1) }
        #expect(throws: OptimizerError.self) { _ = try SGD(parameters: p, learningRate: .nan) }
        #expect(throws: OptimizerError.self) { _ = try SGD(parameters: p, learningRate: 0.1, momentum: -0.9) }
        #expect(throws: OptimizerError.self) { _ = try SGD(parameters: p, learningRate: 0.1, nesterov: true) }
        #expect(throws: OptimizerError.self) {
            _ = try SGD(parameters: p, learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        }
        #expect(throws: OptimizerError.self) { _ = try Adam(parameters: p, beta1: 1) }
        #expect(throws: OptimizerError.self) { _ = try Adam(parameters: p, epsilon: 0) }
        #expect(throws: OptimizerError.self) { _ = try Adam(parameters: p, weightDecay: -1, variant: .adamW) }
        do {
            _ = try SGD(parameters: p, learningRate: -1)
        } catch {
            #expect("\(error)".contains("SGD.learningRate"))
        }
    }

    @Test func mismatchedSnapshotThrows() throws {
        let p = [Parameter(name: "w", value: Tensor<Float>(zeros: [2]))]
        let sgd = try SGD(parameters: p, learningRate: 0.1, momentum: 0.9)
        p[0].gradient = Tensor(shape: [2], scalars: [1, 2])
        sgd.step()
        let snap = sgd.snapshot()
        #expect(snap.state[0]["momentum_buffer"]?.values == [1, 2])
        #expect(throws: OptimizerError.snapshotKindMismatch(expected: "adam", got: "sgd")) {
            try Adam(parameters: p).restore(snap)
        }
        let other = [Parameter(name: "v", value: Tensor<Float>(zeros: [2]))]
        #expect(throws: OptimizerError.self) { try SGD(parameters: other, learningRate: 0.1).restore(snap) }
        let wider = [Parameter(name: "w", value: Tensor<Float>(zeros: [3]))]
        #expect(throws: OptimizerError.self) { try SGD(parameters: wider, learningRate: 0.1).restore(snap) }
        // AdamW defaults to PyTorch's weight decay 0.01.
        #expect(try Adam(parameters: p, variant: .adamW).weightDecay == 0.01)
        #expect(try Adam(parameters: p).weightDecay == 0)
    }
}

@Suite struct LearningRateScheduleTests {
    @Test func matchesPyTorchSchedulers() throws {
        let fx = try optimizerFixture("schedules", as: ScheduleFixture.self)
        for c in fx.cases {
            let schedule: LearningRateSchedule
            if c.name == "step" {
                schedule = .step(learningRate: c.lr, stepSize: c.step_size!, gamma: c.gamma!)
            } else {
                schedule = .cosine(learningRate: c.lr, warmupSteps: 0, totalSteps: c.total!, minimumLearningRate: c.eta_min!)
            }
            try schedule.validate()
            for (t, expected) in c.lrs.enumerated() {
                #expect(abs(schedule.learningRate(atStep: t) - expected) <= 1e-12 * max(1, expected), "\(c.name) t=\(t)")
            }
        }
    }

    @Test func cosineWarmupFormula() throws {
        let s = LearningRateSchedule.cosine(learningRate: 1.0, warmupSteps: 4, totalSteps: 12, minimumLearningRate: 0.1)
        try s.validate()
        #expect(s.learningRate(atStep: 0) == 0.25)
        #expect(s.learningRate(atStep: 3) == 1.0)
        #expect(s.learningRate(atStep: 4) == 1.0)
        #expect(abs(s.learningRate(atStep: 8) - 0.55) <= 1e-15)   // halfway: η_min + (η − η_min)/2
        #expect(abs(s.learningRate(atStep: 12) - 0.1) <= 1e-15)
        #expect(s.learningRate(atStep: 100) == 0.1)
        let c = LearningRateSchedule.constant(learningRate: 0.3)
        #expect(c.learningRate(atStep: 0) == 0.3 && c.learningRate(atStep: 999) == 0.3)
        // Round trip through Codable (schedules live in ExperimentConfig).
        let back = try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(s))
        #expect(back == s)
        // applySchedule uses the optimizer's next step index.
        let p = [Parameter(name: "w", value: Tensor<Float>(zeros: [1]))]
        let opt = try SGD(parameters: p, learningRate: 9)
        opt.applySchedule(s)
        #expect(opt.learningRate == 0.25)
        opt.step(); opt.applySchedule(s)
        #expect(opt.learningRate == 0.5)
    }

    @Test func invalidSchedulesThrow() {
        let bad: [LearningRateSchedule] = [
            .constant(learningRate: -1),
            .step(learningRate: 0.1, stepSize: 0, gamma: 0.5),
            .step(learningRate: 0.1, stepSize: 2, gamma: 0),
            .cosine(learningRate: 0.1, warmupSteps: 10, totalSteps: 10, minimumLearningRate: 0),
            .cosine(learningRate: 0.1, warmupSteps: -1, totalSteps: 10, minimumLearningRate: 0),
            .cosine(learningRate: 0.1, warmupSteps: 0, totalSteps: 10, minimumLearningRate: 0.2),
        ]
        for s in bad { #expect(throws: LearningRateScheduleError.self) { try s.validate() } }
        #expect("\(LearningRateScheduleError(field: "totalSteps", value: 10, expected: "> 10"))".contains("totalSteps"))
    }
}
