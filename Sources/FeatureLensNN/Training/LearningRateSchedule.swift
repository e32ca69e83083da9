// Learning-rate schedules. Step index t counts optimizer steps from 0 (the first update uses
// lr(0)). Formulas:
//
//   constant:  lr(t) = η
//   step:      lr(t) = η · γ^⌊t / s⌋                                  (torch.optim.lr_scheduler.StepLR)
//   cosine with linear warm-up (W warm-up steps, T total steps, floor η_min):
//              lr(t) = η · (t + 1) / W                               for t < W
//              lr(t) = η_min + (η − η_min) · (1 + cos(π (t − W) / (T − W))) / 2   for W ≤ t ≤ T
//              lr(t) = η_min                                          for t > T
//   (the warm-up reaches η at t = W − 1 and the cosine starts from η at t = W; with W = 0 it
//   is SGDR / CosineAnnealingLR without restarts).

import Foundation

/// A learning rate as a function of the optimizer step t = 0, 1, 2, … (formulas in the file header).
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// lr(t) = η.
    case constant(learningRate: Double)
    /// lr(t) = η · γ^⌊t / stepSize⌋ (PyTorch's StepLR).
    case step(learningRate: Double, stepSize: Int, gamma: Double)
    /// Linear warm-up over `warmupSteps` to η, then a half cosine from η down to
    /// `minimumLearningRate` at `totalSteps` (constant afterwards).
    case cosine(learningRate: Double, warmupSteps: Int, totalSteps: Int, minimumLearningRate: Double)

    /// Checks the parameters.
    /// - Throws: `LearningRateScheduleError` naming the field: η < 0 or not finite;
    ///   stepSize < 1; γ ≤ 0; warmupSteps < 0; totalSteps ≤ warmupSteps; η_min ∉ [0, η].
    public func validate() throws {
        func fail(_ field: String, _ v: Double, _ e: String) -> LearningRateScheduleError {
            LearningRateScheduleError(field: field, value: v, expected: e)
        }
        switch self {
        case .constant(let lr):
            guard lr.isFinite, lr >= 0 else { throw fail("learningRate", lr, "a finite number ≥ 0") }
        case .step(let lr, let s, let g):
            guard lr.isFinite, lr >= 0 else { throw fail("learningRate", lr, "a finite number ≥ 0") }
            guard s >= 1 else { throw fail("stepSize", Double(s), "an integer ≥ 1") }
            guard g.isFinite, g > 0 else { throw fail("gamma", g, "a finite number > 0") }
        case .cosine(let lr, let w, let t, let lo):
            guard lr.isFinite, lr >= 0 else { throw fail("learningRate", lr, "a finite number ≥ 0") }
            guard w >= 0 else { throw fail("warmupSteps", Double(w), "an integer ≥ 0") }
            guard t > w else { throw fail("totalSteps", Double(t), "an integer > warmupSteps (\(w))") }
            guard lo.isFinite, lo >= 0, lo <= lr else { throw fail("minimumLearningRate", lo, "a number in [0, learningRate]") }
        }
    }

    /// The learning rate for optimizer step `t` (0-based; negative t is treated as 0).
    public func learningRate(atStep t: Int) -> Double {
        let t = max(0, t)
        switch self {
        case .constant(let lr):
            return lr
        case .step(let lr, let s, let g):
            return lr * Foundation.pow(g, Double(t / max(1, s)))
        case .cosine(let lr, let w, let total, let lo):
            if t < w { return lr * Double(t + 1) / Double(w) }
            if t > total { return lo }
            let q = Double(t - w) / Double(max(1, total - w))
            return lo + (lr - lo) * (1 + Foundation.cos(Double.pi * q)) / 2
        }
    }
}

/// An invalid learning-rate schedule parameter.
public struct LearningRateScheduleError: Error, CustomStringConvertible, Equatable {
    /// The offending field (e.g. `"totalSteps"`).
    public var field: String
    /// Its value.
    public var value: Double
    /// What was expected.
    public var expected: String

    public var description: String { "LearningRateSchedule.\(field) = \(value); expected \(expected)" }
}

extension Optimizer {
    /// Sets `learningRate` from `schedule` for the next step (index `stepCount`).
    public func applySchedule(_ schedule: LearningRateSchedule) {
        learningRate = schedule.learningRate(atStep: stepCount)
    }
}
