import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The full recipes of SCIENCE.md §5. Slow: run in a release build with
///
///     FEATURELENS_FULL_RECIPES=1 swift test -c release --filter SyntheticFullRecipeTests
///
/// Optional: FEATURELENS_SEEDS=0,1,2 (default), FEATURELENS_PRESETS=class-collapse,… (default all).
/// Without the variable every test is reported as skipped (disabled with its reason). Run
/// times of the presets are measured by `featurelens bench linear` and `featurelens run`, not here.
@Suite(.serialized) struct SyntheticFullRecipeTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["FEATURELENS_FULL_RECIPES"] == "1" }
    static var seeds: [UInt64] {
        (ProcessInfo.processInfo.environment["FEATURELENS_SEEDS"] ?? "0,1,2").split(separator: ",").compactMap { UInt64($0) }
    }
    /// True when the full recipes are enabled and `preset` is selected by FEATURELENS_PRESETS (or it is unset).
    static func wanted(_ preset: String) -> Bool {
        guard enabled else { return false }
        guard let list = ProcessInfo.processInfo.environment["FEATURELENS_PRESETS"] else { return true }
        return list.split(separator: ",").map(String.init).contains(preset)
    }
    static let reason: Comment = "full recipe: set FEATURELENS_FULL_RECIPES=1 (release build); FEATURELENS_PRESETS selects presets"
    static func f(_ x: Double) -> String { String(format: "%.3f", x) }
    static func run(_ preset: SyntheticPreset, seed: UInt64) throws -> PresetOutcome {
        try PresetOutcome.run(preset, overrides: [("seed", "\(seed)")])
    }

    @Test(.enabled(if: SyntheticFullRecipeTests.wanted("class-collapse"), SyntheticFullRecipeTests.reason))
    func classCollapse() throws {
        for seed in Self.seeds {
            let r = try Self.run(.classCollapse, seed: seed)
            let main = try #require(r.setting(["rho": "0.6"]))
            for a in main.timeline {
                print("  step \(a.step): loss \(Self.f(a.loss!)) class \(Self.f(a.probes["class"]!)) subclass \(Self.f(a.probes["subclass"]!)) |Wv| \(Self.f(a.featureWeights!["subclass"]!)) |Wu| \(Self.f(a.featureWeights!["class"]!))")
            }
            let th = try #require(main.theory)
            print("  theory: L* \(th.minimumNorm.optimalLoss) L(W*) \(th.minimumNorm.loss) L_GD \(main.final!.loss!) W* probes \(th.minimumNorm.probes) ratio \(Self.f(th.comparison.normRatio)) (full \(Self.f(th.comparison.fullNormRatio))) gram \(Self.f(th.comparison.gramDistance)) gap \(th.comparison.lossGap)")
            let final = try #require(main.final)
            #expect(final.probes["class"]! >= 0.99)
            let early = main.timeline.filter { $0.step >= 100 && $0.step <= 5000 }
            #expect(early.contains { $0.featureWeights!["subclass"]! >= 0.3 && $0.probes["subclass"]! >= 0.95 },
                    "learned early (seed \(seed))")
            #expect(final.probes["subclass"]! <= 0.6, "lost later (seed \(seed))")
            #expect(th.minimumNorm.probes["subclass"]! <= 0.6)
            #expect(th.comparison.normRatio >= 0.9 && th.comparison.normRatio <= 1.1)
            #expect(th.comparison.gramDistance <= 0.15)
            #expect(th.comparison.lossGap <= 0.01)
            let neg = try #require(r.setting(["rho": "0.5"]))
            let maxV = neg.timeline.map { $0.featureWeights!["subclass"]! }.max()!
            print("  rho=0.5: max |Wv| \(Self.f(maxV)), final subclass probe \(Self.f(neg.final!.probes["subclass"]!))")
            #expect(maxV < 0.1, "negative check (seed \(seed))")
        }
    }

    @Test(.enabled(if: SyntheticFullRecipeTests.wanted("suppression-embedding-size"), SyntheticFullRecipeTests.reason))
    func suppressionEmbeddingSize() throws {
        for seed in Self.seeds {
            let r = try Self.run(.suppressionEmbeddingSize, seed: seed)
            for p in 1...7 {
                let s = try #require(r.setting(["p": "\(p)"]))
                let gd = s.final!.probes, th = s.theory!.minimumNorm.probes
                let easyMean = (0..<4).map { gd["easy\($0)"]! }.reduce(0, +) / 4
                print("  p=\(p): GD class \(Self.f(gd["class"]!)) easy mean \(Self.f(easyMean)) | W* class \(Self.f(th["class"]!)) | L_GD \(Self.f(s.final!.loss!)) L* \(Self.f(s.theory!.minimumNorm.optimalLoss)) ratio \(Self.f(s.theory!.comparison.normRatio))")
                if p <= 4 {
                    #expect(gd["class"]! <= 0.6, "GD p=\(p) seed \(seed)")
                    #expect(th["class"]! <= 0.6, "W* p=\(p) seed \(seed)")
                } else {
                    #expect(gd["class"]! >= 0.95, "GD p=\(p) seed \(seed)")
                    #expect(th["class"]! >= 0.95, "W* p=\(p) seed \(seed)")
                }
            }
        }
    }

    @Test(.enabled(if: SyntheticFullRecipeTests.wanted("suppression-augmentation"), SyntheticFullRecipeTests.reason))
    func suppressionAugmentation() throws {
        for seed in Self.seeds {
            let r = try Self.run(.suppressionAugmentation, seed: seed)
            let imp = try #require(r.setting(["augmentation": "imperfect"]))
            let per = try #require(r.setting(["augmentation": "perfect"]))
            for s in [imp, per] {
                print("  \(s.name): class \(Self.f(s.final!.probes["class"]!)) |Wu| \(Self.f(s.final!.featureWeights!["class"]!)) |W zeta| \(Self.f(s.final!.featureWeights!["zeta"]!)); W* across p: " +
                      s.theory!.acrossP.map { "p=\($0.p): \(Self.f($0.probes["class"]!))" }.joined(separator: ", "))
            }
            #expect(imp.final!.probes["class"]! <= 0.65, "imperfect seed \(seed)")
            #expect(per.final!.probes["class"]! >= 0.95, "perfect seed \(seed)")
        }
    }

    @Test(.enabled(if: SyntheticFullRecipeTests.wanted("joint-loss"), SyntheticFullRecipeTests.reason))
    func jointLoss() throws {
        for seed in Self.seeds {
            let r = try Self.run(.jointLoss, seed: seed)
            for s in r.settings {
                let pr = s.final!.probes
                let easy = pr.keys.filter { $0.hasPrefix("easy") }.map { pr[$0]! }
                let easyMean = easy.isEmpty ? Double.nan : easy.reduce(0, +) / Double(easy.count)
                print("  \(s.name): class \(Self.f(pr["class"]!)) subclass \(pr["subclass"].map(Self.f) ?? "-") easy mean \(easy.isEmpty ? "-" : Self.f(easyMean))")
            }
            let cc = r.settings.filter { $0.values["data"] == "cc" }
            let ccOne = try #require(r.setting(["data": "cc", "beta": "1"]))
            #expect(ccOne.final!.probes["subclass"]! <= 0.6, "cc beta=1 collapses (seed \(seed))")
            #expect(cc.contains { s in
                let b = Double(s.values["beta"]!)!
                return b > 0 && b < 1 && s.final!.probes.values.allSatisfy { $0 >= 0.9 }
            }, "cc: some beta in (0,1) keeps every label (seed \(seed))")
            let fs = r.settings.filter { $0.values["data"] == "fs-a" }
            let fsZero = try #require(r.setting(["data": "fs-a", "beta": "0"]))
            #expect(fsZero.final!.probes["class"]! <= 0.6, "fs-a beta=0 suppresses (seed \(seed))")
            #expect(fs.contains { s in
                let b = Double(s.values["beta"]!)!
                return b > 0 && b < 1 && s.final!.probes["class"]! >= 0.9
            }, "fs-a: some beta in (0,1) keeps the class (seed \(seed))")
        }
    }
}
