import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The synthetic data models of SCIENCE.md §2 and the experiment config.
@Suite struct SyntheticDataTests {
    @Test func ccStatistics() throws {
        let model = SyntheticModel(kind: .cc, d: 500, n: 400, nTest: 1000, sigma: 1, aC: 1, aS: 0.6, rho: 0.6)
        let data = try model.generate(augmentation: .none, seed: 7)
        #expect(data.trainViews.count == 1)
        let y = data.train.labels["class"]!.codes, s = data.train.labels["subclass"]!.codes
        #expect(y.filter { $0 == 1 }.count == 200)
        for c in 0...1 {                                   // ρ = 0.6 within each class
            #expect(zip(y, s).filter { $0.0 == c && $0.1 == 1 }.count == 120)
        }
        #expect(data.train.labels["subclass"]!.within == "class")
        let x = data.train.features
        for i in 0..<400 {                                  // planted coordinates: a·label + noise
            #expect(abs(x[i, 0] - (y[i] == 1 ? 1 : -1)) < 0.25)
            #expect(abs(x[i, 1] - (s[i] == 1 ? 0.6 : -0.6)) < 0.25)
        }
        var ss = 0.0, count = 0                              // noise variance σ²/d on free coordinates
        for i in 0..<400 { for j in 2..<500 { ss += x[i, j] * x[i, j]; count += 1 } }
        let variance = ss / Double(count)
        #expect(abs(variance - 1.0 / 500) < 0.05 / 500, "noise variance \(variance)")
        let ts = data.test.labels["subclass"]!.codes, ty = data.test.labels["class"]!.codes
        #expect(ty.filter { $0 == 1 }.count == 500)
        #expect(zip(ty, ts).filter { $0.0 == 0 && $0.1 == 1 }.count == 300)
    }

    @Test func viewsKeepPlantedComponentsAndRedrawNoise() throws {
        let fsA = SyntheticModel(kind: .fsA, d: 300, n: 50, nTest: 20, aC: 1, k: 3, aE: 2)
        let a = try fsA.generate(augmentation: .imperfect, seed: 1)
        #expect(a.trainViews.count == 2)
        #expect(Set(a.train.labels.keys) == ["class", "easy0", "easy1", "easy2"])
        let (x1, x2) = (a.trainViews[0], a.trainViews[1])
        for i in 0..<50 {
            for j in 0..<5 { #expect(abs(x1[i, j] - x2[i, j]) < 0.5) }   // kept components agree
        }
        #expect((x1 - x2).norm() > 0.5)                                  // noise redrawn
        let easy0 = a.train.labels["easy0"]!.codes
        for i in 0..<50 { #expect((x1[i, 2] > 0) == (easy0[i] == 1)) }
        // FS-b: imperfect keeps ζ (same in both views), perfect redraws it.
        let fsB = SyntheticModel(kind: .fsB, d: 300, n: 30, nTest: 20, aC: 1, aZ: 20, m: 100)
        for aug in [AugmentationKind.imperfect, .perfect] {
            let b = try fsB.generate(augmentation: aug, seed: 2)
            let zeta = b.train.plantedDirections["zeta"]!
            #expect(zeta.shape == [100, 300])
            let z1 = b.trainViews[0].matmul(zeta, transposeOther: true), z2 = b.trainViews[1].matmul(zeta, transposeOther: true)
            let norm0 = z1.rows(0..<1).norm()
            #expect(abs(norm0 - 20) < 1, "‖ζ‖ ≈ a_z, got \(norm0)")
            let diff = (z1 - z2).norm() / z1.norm()
            if aug == .imperfect { #expect(diff < 0.05) } else { #expect(diff > 1) }
        }
        // Same seed, same data; different seed, different data.
        let again = try fsA.generate(augmentation: .imperfect, seed: 1)
        #expect(again.trainViews == a.trainViews && again.test.features == a.test.features)
        let other = try fsA.generate(augmentation: .imperfect, seed: 2)
        #expect(other.trainViews[0] != a.trainViews[0])
        // Online views: fresh noise, same latents.
        var g = SeededGenerator(seed: 5)
        let fresh = a.drawViews(using: &g)
        #expect(fresh.count == 2 && fresh[0] != a.trainViews[0])
        for i in 0..<50 { #expect(abs(fresh[0][i, 0] - x1[i, 0]) < 0.5) }
    }

    @Test func invalidParametersThrowNamingTheField() throws {
        var m = SyntheticModel(kind: .fsB, d: 50, n: 10, m: 100)
        #expect(throws: SyntheticModelError.self) { try m.generate(augmentation: .perfect, seed: 0) }
        do { try m.validate() } catch let e as SyntheticModelError { #expect("\(e)".contains("d = 50")) }
        m = SyntheticModel(kind: .cc, d: 50, n: 10, rho: 1.5)
        do { try m.validate(); Issue.record("ρ = 1.5 accepted") } catch let e as SyntheticModelError { #expect("\(e)".contains("rho")) }
    }

    @Test func configSetParsesAndRejects() throws {
        var c = SyntheticExperimentConfig()
        try c.set(key: "lr", value: "0.2")
        try c.set(key: "K", value: "3")
        try c.set(key: "audit_steps", value: "0, 10,100")
        try c.set(key: "augmentation", value: "perfect")
        try c.set(key: "data", value: "fs-a")
        try c.set(key: "online_augmentation", value: "true")
        #expect(c.lr == 0.2 && c.k == 3 && c.auditSteps == [0, 10, 100] && c.augmentation == .perfect)
        #expect(c.data == .fsA && c.onlineAugmentation)
        #expect(throws: ConfigError.invalidValue(key: "steps", value: "many", expected: "an integer")) {
            try c.set(key: "steps", value: "many")
        }
        #expect(throws: ConfigError.self) { try c.set(key: "data", value: "mnist") }
        do { try c.set(key: "learning_rate", value: "1"); Issue.record("unknown key accepted") } catch let e as ConfigError {
            #expect("\(e)".contains("learning_rate") && "\(e)".contains("audit_steps"))
        }
        // snake_case JSON round trip; missing keys keep defaults.
        let json = try JSONEncoder().encode(c)
        let text = String(decoding: json, as: UTF8.self)
        for key in SyntheticExperimentConfig.keys { #expect(text.contains("\"\(key)\""), "key \(key)") }
        #expect(try JSONDecoder().decode(SyntheticExperimentConfig.self, from: json) == c)
        let partial = try JSONDecoder().decode(SyntheticExperimentConfig.self, from: Data(#"{"p": 3, "a_c": 2}"#.utf8))
        #expect(partial.p == 3 && partial.aC == 2 && partial.steps == SyntheticExperimentConfig().steps)
        var bad = SyntheticExperimentConfig(); bad.auditSteps = [5000]; bad.steps = 10
        #expect(throws: ConfigError.self) { try bad.validate() }
    }

    @Test func presetsMatchTheRecipes() throws {
        for name in SyntheticPreset.names {
            let p = try SyntheticPreset.named(name)
            for i in p.settings.indices { try p.config(setting: i).validate() }
        }
        let cc = try SyntheticPreset.classCollapse.config(setting: 0)
        #expect(cc.d == 2000 && cc.n == 400 && cc.p == 8 && cc.rho == 0.6 && cc.lr == 0.05 && cc.steps == 20_000)
        #expect(cc.beta == 1 && cc.augmentation == .none && cc.auditSteps == [0, 10, 30, 100, 300, 1000, 3000, 10_000, 20_000])
        #expect(try SyntheticPreset.classCollapse.config(setting: 1).rho == 0.5)
        let fsa = SyntheticPreset.suppressionEmbeddingSize
        #expect(fsa.settings.map { $0.values["p"]! } == (1...7).map(String.init))
        let fsb = try SyntheticPreset.suppressionAugmentation.config(setting: 0)
        #expect(fsb.p == 64 && fsb.lr == 0.02 && fsb.steps == 10_000 && fsb.m == 100 && fsb.aZ == 20)
        let joint = SyntheticPreset.jointLoss
        #expect(joint.settings.count == 15)
        let ccJoint = try joint.config(setting: 1)
        #expect(ccJoint.data == .cc && ccJoint.beta == 0.25 && ccJoint.rho == 0.5 && ccJoint.lr == 0.2 && ccJoint.n == 200)
        let combined = try joint.config(setting: 12, extra: [("steps", "10"), ("audit_steps", "0,10")])
        #expect(combined.data == .combined && combined.k == 2 && combined.aS == 2 && combined.p == 3 && combined.steps == 10)
        #expect(throws: SyntheticPreset.LookupError.self) { try SyntheticPreset.named("nope") }
    }
}
