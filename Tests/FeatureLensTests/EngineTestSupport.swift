import Foundation
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// A small unsupervised (P = I/n) problem on FS-a data (a_c = 1, K = 2 easy features,
/// a_e = 2, two views drawn once with imperfect augmentation, 10 test points) and an initial
/// W₀ `[p, d]` ~ N(0, scale²) drawn from `SeededGenerator(seed: initSeed)`.
func fsAUnsupervisedProblem(d: Int, n: Int, dataSeed: UInt64, p: Int, initSeed: UInt64, scale: Double) throws
    -> (problem: LinearContrastiveProblem, w0: Tensor<Double>)
{
    let model = SyntheticModel(kind: .fsA, d: d, n: n, nTest: 10, aC: 1, k: 2, aE: 2)
    let data = try model.generate(augmentation: .imperfect, seed: dataSeed)
    let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: .unsupervised(n: n))
    var gen = SeededGenerator(seed: initSeed)
    return (problem, LinearGradientDescent.initialWeights(p: p, d: d, scale: scale, using: &gen))
}

/// One synthetic setting trained to the end by the linear engine: its run report and the
/// full minimum-norm theory beside it.
struct SettingOutcome {
    /// The setting's config.
    var config: SyntheticExperimentConfig
    /// Setting name (e.g. `rho=0.6`).
    var name: String
    /// The named setting values.
    var values: [String: String]
    /// The run report (timeline, verdicts, theory summary, divergence).
    var report: RunReport
    /// The full theory (nil with online augmentation or a singular Gram matrix).
    var theory: TheoryReport?
    /// Wall time in seconds.
    var wallSeconds: Double

    var timeline: [TimelineEntry] { report.timeline }
    var final: TimelineEntry? { report.timeline.last }
    var divergence: String? { report.divergence }

    /// Trains `config` with a `LinearEngine` (no checkpoints) and audits it.
    static func run(_ config: SyntheticExperimentConfig, name: String = "", values: [String: String] = [:],
                    prepared: PreparedData? = nil) throws -> SettingOutcome {
        let start = Date()
        let engine = try LinearEngine(config: config, prepared: prepared)
        var timeline: [TimelineEntry] = []
        let progress = try engine.train(until: config.steps, shouldStop: nil) { timeline += $0 }
        var diverged: String? = nil
        if case let .diverged(_, message, error) = progress {
            if timeline.isEmpty { throw error }
            diverged = message
        }
        var report = try engine.reports(timelines: [timeline], settings: values.mapValues { SettingValue(parsing: $0) },
                                        finished: diverged == nil)[0]
        report.divergence = diverged
        return SettingOutcome(config: config, name: name, values: values, report: report, theory: engine.theory,
                              wallSeconds: Date().timeIntervalSince(start))
    }
}

/// Every setting of a synthetic preset trained by the linear engine, in grid order.
struct PresetOutcome {
    var settings: [SettingOutcome]
    var wallSeconds: Double

    /// Runs every setting of `preset` with `overrides` applied after each setting's own.
    static func run(_ preset: SyntheticPreset, overrides: [(String, String)] = []) throws -> PresetOutcome {
        let start = Date()
        let settings = try preset.settings.indices.map { i in
            try SettingOutcome.run(try preset.config(setting: i, extra: overrides), name: preset.settings[i].name,
                                   values: preset.settings[i].values)
        }
        return PresetOutcome(settings: settings, wallSeconds: Date().timeIntervalSince(start))
    }

    /// The setting whose values include all of `values`.
    func setting(_ values: [String: String]) -> SettingOutcome? {
        settings.first { s in values.allSatisfy { s.values[$0.key] == $0.value } }
    }
}
