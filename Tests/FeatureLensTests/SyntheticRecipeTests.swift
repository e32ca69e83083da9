import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Reduced versions of the SCIENCE.md §5 recipes (d = 400, n = 60–80, a few thousand steps)
/// that still show the direction of every signature, fast enough for a debug build. The
/// full recipes live in `SyntheticFullRecipeTests` (gated, release build).
@Suite struct SyntheticRecipeTests {
    static func run(_ preset: SyntheticPreset, setting: Int, _ overrides: [(String, String)]) throws -> SettingOutcome {
        let config = try preset.config(setting: setting, extra: overrides)
        return try SettingOutcome.run(config, name: preset.settings[setting].name, values: preset.settings[setting].values)
    }

    /// CC: the subclass is learned early (weight ≥ 0.3, probe ≥ 0.95 at a middle audit) and lost
    /// later (final probe ≤ 0.6); W* collapses it; GD ends near W*; ρ = 0.5 never learns it.
    @Test func classCollapseReduced() throws {
        let reduced = [("d", "400"), ("n", "80"), ("n_test", "400"), ("p", "4"), ("lr", "0.1"), ("steps", "3000"),
                       ("audit_steps", "0,100,300,450,600,800,3000")]
        let main = try Self.run(.classCollapse, setting: 0, reduced)
        let initial = main.timeline.first!.featureWeights!["subclass"]!
        let early = main.timeline.filter { $0.step > 0 && $0.step < 3000 }
        #expect(early.contains { $0.featureWeights!["subclass"]! >= 0.3 && $0.probes["subclass"]! >= 0.95 },
                "learned early: \(early.map { ($0.step, $0.featureWeights!["subclass"]!, $0.probes["subclass"]!) })")
        #expect(early.map { $0.featureWeights!["subclass"]! }.max()! >= 100 * initial)
        let final = main.final!
        #expect(final.probes["class"]! >= 0.99)
        #expect(final.probes["subclass"]! <= 0.6, "lost later: \(final.probes)")
        let th = try #require(main.theory)
        #expect(th.minimumNorm.probes["subclass"]! <= 0.6)
        #expect(th.minimumNorm.probes["class"]! >= 0.99)
        #expect(th.comparison.normRatio >= 0.9 && th.comparison.normRatio <= 1.1)
        #expect(th.comparison.gramDistance <= 0.15)
        #expect(th.comparison.lossGap >= 0 && th.comparison.lossGap <= 0.01)
        #expect(abs(th.minimumNorm.loss - th.minimumNorm.optimalLoss) < 1e-9)
        let negative = try Self.run(.classCollapse, setting: 1, reduced)
        #expect(negative.values == ["rho": "0.5"])
        #expect(negative.timeline.map { $0.featureWeights!["subclass"]! }.max()! < 0.1)
    }

    /// FS-a: with K = 2 easy features the class is suppressed at p = K and kept at p = K + 1,
    /// by gradient descent and by the two-view minimum-norm minimizer.
    @Test func suppressionEmbeddingSizeReduced() throws {
        let reduced = [("d", "400"), ("n", "80"), ("n_test", "400"), ("K", "2"), ("steps", "1500"), ("audit_steps", "0,1500")]
        let preset = SyntheticPreset.suppressionEmbeddingSize
        let atK = try Self.run(preset, setting: 1, reduced)     // p = 2
        let above = try Self.run(preset, setting: 2, reduced)   // p = 3
        #expect(atK.config.p == 2 && above.config.p == 3)
        #expect(atK.final!.probes["class"]! <= 0.6)
        #expect(atK.theory!.minimumNorm.probes["class"]! <= 0.6)
        #expect(atK.final!.probes["easy0"]! >= 0.95 && atK.final!.probes["easy1"]! >= 0.95)
        #expect(above.final!.probes["class"]! >= 0.95)
        #expect(above.theory!.minimumNorm.probes["class"]! >= 0.95)
    }

    /// FS-b: a kept nuisance block suppresses the class, a redrawn one does not; W* agrees
    /// and recovers the class only once p exceeds the nuisance dimension m.
    @Test func suppressionAugmentationReduced() throws {
        let reduced = [("d", "400"), ("n", "60"), ("n_test", "400"), ("m", "30"), ("p", "16"), ("lr", "0.005"),
                       ("steps", "2000"), ("audit_steps", "0,2000"), ("theory_p", "16,32")]
        let preset = SyntheticPreset.suppressionAugmentation
        let imperfect = try Self.run(preset, setting: 0, reduced)
        let perfect = try Self.run(preset, setting: 1, reduced)
        #expect(imperfect.values == ["augmentation": "imperfect"] && perfect.values == ["augmentation": "perfect"])
        #expect(imperfect.final!.probes["class"]! <= 0.65)
        #expect(perfect.final!.probes["class"]! >= 0.95)
        let across = imperfect.theory!.acrossP
        #expect(across.first { $0.p == 16 }!.probes["class"]! <= 0.65)
        #expect(across.first { $0.p == 32 }!.probes["class"]! >= 0.95)
        #expect(perfect.final!.featureWeights!["class"]! > 3 * imperfect.final!.featureWeights!["class"]!)
    }

    /// Joint loss: on CC data β = 1 collapses the subclass and β = 0.25 keeps every label; on
    /// FS-a data β = 0 suppresses the class and β = 0.25 keeps it.
    @Test func jointLossReduced() throws {
        let reduced = [("d", "400"), ("n", "60"), ("n_test", "400"), ("steps", "3000"), ("audit_steps", "0,3000")]
        let preset = SyntheticPreset.jointLoss
        func index(_ data: String, _ beta: String) -> Int {
            preset.settings.firstIndex { $0.values == ["data": data, "beta": beta] }!
        }
        let ccOne = try Self.run(preset, setting: index("cc", "1"), reduced)
        let ccJoint = try Self.run(preset, setting: index("cc", "0.25"), reduced)
        #expect(ccOne.final!.probes["subclass"]! <= 0.6)
        #expect(ccJoint.final!.probes.values.allSatisfy { $0 >= 0.9 }, "\(ccJoint.final!.probes)")
        let fsZero = try Self.run(preset, setting: index("fs-a", "0"), reduced)
        let fsJoint = try Self.run(preset, setting: index("fs-a", "0.25"), reduced)
        #expect(fsZero.final!.probes["class"]! <= 0.6)
        #expect(fsJoint.final!.probes["class"]! >= 0.9)
    }

    /// Running a preset with two settings at a time gives the same results as one at a time.
    @Test func resultsDoNotDependOnConcurrency() throws {
        let reduced = [("d", "200"), ("n", "30"), ("n_test", "100"), ("K", "2"), ("steps", "200"), ("audit_steps", "0,100,200")]
        var preset = SyntheticPreset.suppressionEmbeddingSize
        preset.settings = Array(preset.settings.prefix(3))
        let one = try ExperimentRunner(concurrency: 1).run(preset.applying(set: reduced, grid: []))
        let two = try ExperimentRunner(concurrency: 2).run(preset.applying(set: reduced + [("threads", "2")], grid: []))
        #expect(one.runs.count == 3)
        #expect(one.runs.map { $0.timeline } == two.runs.map { $0.timeline })
        #expect(one.runs.map { $0.theory } == two.runs.map { $0.theory } && one.runs.allSatisfy { $0.theory != nil })
        let json = try one.jsonData()
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"feature_weights\"") && text.contains("\"timeline\"") && text.contains("\"norm_ratio\""))
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try dec.decode(ReportDocument<SyntheticPreset>.self, from: json).runs == one.runs)
    }
}

/// `--set` / `--grid` on joint-loss's `data` bring that data's recipe (p, lr, steps, …).
@Suite struct CoupledRecipeTests {
    @Test func gridOnDataBringsEachDataRecipe() throws {
        let p = try SyntheticPreset.jointLoss.applying(set: [], grid: [("data", ["fs-a", "cc"])])
        let fsA = try p.config(setting: p.settings.firstIndex { $0.values["data"] == "fs-a" }!)
        let cc = try p.config(setting: p.settings.firstIndex { $0.values["data"] == "cc" }!)
        #expect(fsA.p == 4 && fsA.lr == 0.05 && fsA.steps == 30000)
        #expect(cc.p == 8 && cc.lr == 0.2 && cc.steps == 20000)
        #expect(p.settings.count == 10)  // 2 data × 5 β
    }

    @Test func setOnDataBringsItsRecipeButUserKeysWin() throws {
        let p = try SyntheticPreset.jointLoss.applying(set: [("lr", "0.01"), ("data", "fs-a")], grid: [])
        #expect(p.settings.count == 5)  // the data axis collapsed; β remains
        for i in p.settings.indices {
            let c = try p.config(setting: i)
            #expect(c.data == .fsA && c.p == 4 && c.steps == 30000 && c.lr == 0.01)
        }
    }
}
