import Foundation
import Testing
@testable import FeatureLens

/// The full recipes of SCIENCE.md §5 (issue 4 acceptance). Slow: run in a release build with
///
///     FEATURELENS_FULL_RECIPES=1 swift test -c release --filter SyntheticFullRecipeTests
///
/// Optional: FEATURELENS_SEEDS=0,1,2 (default), FEATURELENS_PRESETS=class-collapse,… (default all).
/// Without the variable every test returns after printing why it skipped.
@Suite(.serialized) struct SyntheticFullRecipeTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["FEATURELENS_FULL_RECIPES"] == "1" }
    static var seeds: [UInt64] {
        (ProcessInfo.processInfo.environment["FEATURELENS_SEEDS"] ?? "0,1,2").split(separator: ",").compactMap { UInt64($0) }
    }
    static func wanted(_ preset: String) -> Bool {
        guard let list = ProcessInfo.processInfo.environment["FEATURELENS_PRESETS"] else { return true }
        return list.split(separator: ",").map(String.init).contains(preset)
    }
    static func skip(_ name: String) -> Bool {
        if !enabled { print("skipped \(name): set FEATURELENS_FULL_RECIPES=1 (release build) to run the full recipes"); return true }
        if !wanted(name) { print("skipped \(name): not in FEATURELENS_PRESETS"); return true }
        return false
    }
    static func f(_ x: Double) -> String { String(format: "%.3f", x) }
    static func loadNote() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }
    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }
    static func run(_ preset: SyntheticPreset, seed: UInt64) throws -> PresetOutcome {
        let before = loadNote()
        let cpu0 = cpuSeconds()
        let r = try PresetOutcome.run(preset, overrides: [("seed", "\(seed)")])
        print("[\(preset.name) seed \(seed)] wall \(f(r.wallSeconds)) s, CPU \(f(cpuSeconds() - cpu0)) s (load average before \(before), after \(loadNote()))")
        return r
    }

    @Test func classCollapse() throws {
        if Self.skip("class-collapse") { return }
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
            print("  rho=0.5: max |Wv| \(Self.f(maxV)), final subclass probe \(Self.f(neg.final!.probes["subclass"]!)), wall \(Self.f(neg.wallSeconds)) s; rho=0.6 wall \(Self.f(main.wallSeconds)) s")
            #expect(maxV < 0.1, "negative check (seed \(seed))")
        }
    }

    @Test func suppressionEmbeddingSize() throws {
        if Self.skip("suppression-embedding-size") { return }
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

    @Test func suppressionAugmentation() throws {
        if Self.skip("suppression-augmentation") { return }
        for seed in Self.seeds {
            let r = try Self.run(.suppressionAugmentation, seed: seed)
            let imp = try #require(r.setting(["augmentation": "imperfect"]))
            let per = try #require(r.setting(["augmentation": "perfect"]))
            for s in [imp, per] {
                print("  \(s.name): class \(Self.f(s.final!.probes["class"]!)) |Wu| \(Self.f(s.final!.featureWeights!["class"]!)) |W zeta| \(Self.f(s.final!.featureWeights!["zeta"]!)) wall \(Self.f(s.wallSeconds)) s; W* across p: " +
                      s.theory!.acrossP.map { "p=\($0.p): \(Self.f($0.probes["class"]!))" }.joined(separator: ", "))
            }
            #expect(imp.final!.probes["class"]! <= 0.65, "imperfect seed \(seed)")
            #expect(per.final!.probes["class"]! >= 0.95, "perfect seed \(seed)")
        }
    }

    @Test func jointLoss() throws {
        if Self.skip("joint-loss") { return }
        for seed in Self.seeds {
            let r = try Self.run(.jointLoss, seed: seed)
            for s in r.settings {
                let pr = s.final!.probes
                let easy = pr.keys.filter { $0.hasPrefix("easy") }.map { pr[$0]! }
                let easyMean = easy.isEmpty ? Double.nan : easy.reduce(0, +) / Double(easy.count)
                print("  \(s.name): class \(Self.f(pr["class"]!)) subclass \(pr["subclass"].map(Self.f) ?? "-") easy mean \(easy.isEmpty ? "-" : Self.f(easyMean)) wall \(Self.f(s.wallSeconds)) s")
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

    /// Development aid: FEATURELENS_EXPLORE="preset-name;key=value;key=value" runs that preset
    /// with the overrides and prints every timeline (no expectations).
    @Test func explore() throws {
        guard let spec = ProcessInfo.processInfo.environment["FEATURELENS_EXPLORE"] else {
            print("skipped explore: set FEATURELENS_EXPLORE=\"preset;key=value;…\""); return
        }
        let parts = spec.split(separator: ";").map(String.init)
        let preset = try SyntheticPreset.named(parts[0])
        let overrides = parts.dropFirst().map { kv -> (String, String) in
            let s = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init); return (s[0], s.count > 1 ? s[1] : "")
        }
        let r = try PresetOutcome.run(preset, overrides: overrides)
        print("[explore \(spec)] wall \(Self.f(r.wallSeconds)) s")
        for s in r.settings {
            print(" \(s.name) (\(Self.f(s.wallSeconds)) s)")
            for a in s.timeline {
                let pr = orderedLabelNames(Array(a.probes.keys)).map { "\($0) \(Self.f(a.probes[$0]!))" }.joined(separator: " ")
                let fw = a.featureWeights!.keys.sorted().map { "\($0) \(Self.f(a.featureWeights![$0]!))" }.joined(separator: " ")
                print("   step \(a.step): loss \(Self.f(a.loss!)) | \(pr) | w: \(fw)")
            }
            if let t = s.theory {
                print("   W*: \(t.minimumNorm.probes.mapValues(Self.f)) ratio \(Self.f(t.comparison.normRatio)) gram \(Self.f(t.comparison.gramDistance)) gap \(t.comparison.lossGap) across p: \(t.acrossP.map { "\($0.p): \(Self.f($0.probes["class"]!))" })")
            }
        }
    }
}

/// Development aid (FEATURELENS_BENCH=1): per-step cost of the Gram-space engine's parts.
@Suite struct SyntheticEngineBenchmark {
    @Test func stepCost() throws {
        guard ProcessInfo.processInfo.environment["FEATURELENS_BENCH"] == "1" else {
            print("skipped stepCost: set FEATURELENS_BENCH=1"); return
        }
        print("narrow kernel: \(narrowGEMMKernelName)")
        var g = SeededGenerator(seed: 1)
        for (m, p) in [(400, 8), (400, 64)] {
            let k = Tensor<Double>(randomNormal: [m, m], using: &g)
            let b = Tensor<Double>(randomNormal: [m, p], using: &g)
            var c = Tensor<Double>(zeros: [m, p])
            let reps = 2000
            var t0 = Date()
            for _ in 0..<reps { narrowGEMM(k, b, beta: 1, into: &c) }
            let dt = Date().timeIntervalSince(t0)
            print("narrowGEMM \(m)x\(m) · \(m)x\(p): \(String(format: "%.1f", dt / Double(reps) * 1e6)) µs, \(String(format: "%.1f", 2.0 * Double(m * m * p * reps) / dt / 1e9)) GFlop/s")
            let pairs = try SpectralPairWeights(beta: 1, classes: (0..<m).map { $0 % 2 })
            let views = [Tensor<Double>(randomNormal: [m, 50], using: &g)]
            let problem = try LinearContrastiveProblem(views: views, pairs: pairs)
            t0 = Date()
            for _ in 0..<reps { _ = try problem.lossAndGradient(stackedEmbeddings: b) }
            let dt2 = Date().timeIntervalSince(t0)
            print("lossAndGradient n=\(m) p=\(p): \(String(format: "%.1f", dt2 / Double(reps) * 1e6)) µs")
        }
    }
}

/// Development aid (FEATURELENS_BENCH=1): where one setting's time goes.
@Suite struct SyntheticSettingBreakdown {
    @Test func breakdown() throws {
        guard ProcessInfo.processInfo.environment["FEATURELENS_BENCH"] == "1" else { return }
        for (preset, index) in [(SyntheticPreset.suppressionEmbeddingSize, 3), (.suppressionAugmentation, 0), (.jointLoss, 1)] {
            let c = try preset.config(setting: index)
            var t = Date()
            func lap(_ what: String) { print("  \(preset.name)[\(index)] \(what): \(String(format: "%.3f", Date().timeIntervalSince(t))) s"); t = Date() }
            let data = try c.model.generate(augmentation: c.augmentation, seed: 0); lap("generate")
            let pairs = try SpectralPairWeights(beta: c.beta, classes: data.train.labels["class"]!.labels)
            let problem = try LinearContrastiveProblem(views: data.trainViews, pairs: pairs)
            let xs = problem.stackedInputs
            let gram = gramOfRows(xs); lap("gram")
            var g = SeededGenerator(seed: 1)
            let w0 = LinearGradientDescent.initialWeights(p: c.p, d: c.d, scale: 1e-3, using: &g)
            let w = try LinearGradientDescent(learningRate: c.lr, steps: 1000, auditSteps: []).train(problem, initial: w0, gram: gram) { _ in }
            lap("1000 steps")
            _ = try LinearEngine(config: c).probes(w, data: data, threads: 1); lap("one audit (probes)")
            let solver = try MinimumNormSolver(problem: problem, gram: gram); lap("solver init (cholesky)")
            _ = try solver.normMatrix(); lap("H")
            _ = try solver.solve(p: c.p); lap("solve p (eigen of restricted H)")
        }
    }
}
