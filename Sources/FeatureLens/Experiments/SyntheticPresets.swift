import FeatureLensNumerics

/// One run inside a preset: the named setting values that distinguish it (`p`,
/// `augmentation`, `beta`, `data`, `rho`) and the config overrides it applies to the base.
public struct PresetSetting: Codable, Equatable, Sendable {
    /// Setting name → value, e.g. `["data": "cc", "beta": "0.25"]`.
    public var values: [String: String]
    /// Config key → value applied on top of the preset's base config (includes `values`
    /// plus any per-setting recipe parameters such as lr or steps).
    public var overrides: [(String, String)]

    /// A setting with its named values and the config overrides it applies (in order).
    public init(values: [String: String], overrides: [(String, String)]) {
        self.values = values; self.overrides = overrides
    }

    /// A readable name such as `data=cc,beta=0.25` (keys in the order p, augmentation, data, beta, rho).
    public var name: String {
        let order = ["p", "augmentation", "data", "beta", "rho"]
        let keys = values.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
        return keys.map { "\($0)=\(values[$0]!)" }.joined(separator: ",")
    }

    enum CodingKeys: String, CodingKey { case values, overrides }
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        values = try c.decode([String: String].self, forKey: .values)
        overrides = try c.decode([[String]].self, forKey: .overrides).compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
    }
    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(values, forKey: .values)
        try c.encode(overrides.map { [$0.0, $0.1] }, forKey: .overrides)
    }
    public static func == (l: PresetSetting, r: PresetSetting) -> Bool {
        l.values == r.values && l.overrides.map { [$0.0, $0.1] } == r.overrides.map { [$0.0, $0.1] }
    }
}

/// A named experiment of SCIENCE.md §5: a base config and one setting per compared run.
/// One `key = value` config override, as `--set key=value` gives it.
public struct ConfigOverride: Equatable, Sendable {
    /// Config key (a key of `SyntheticExperimentConfig.set(key:value:)`, e.g. `lr`).
    public var key: String
    /// The value as text, parsed by `set(key:value:)` when applied.
    public var value: String
    /// An override of `key` by `value`.
    public init(_ key: String, _ value: String) { self.key = key; self.value = value }
}

public struct SyntheticPreset: Codable, Equatable, Sendable {
    /// Preset name (`class-collapse`, `suppression-embedding-size`, `suppression-augmentation`, `joint-loss`).
    public var name: String
    /// One-line description.
    public var summary: String
    /// The recipe's base config.
    public var base: SyntheticExperimentConfig
    /// The settings compared (each one run).
    public var settings: [PresetSetting]
    /// Recipe keys that come with a value of another key: `coupled["data"]["fs-a"]` are the
    /// overrides (p, lr, steps, …) that go with `data=fs-a`. `--set`/`--grid` on `data` then
    /// bring the new value's recipe instead of keeping the old one's (keys the user `--set`
    /// explicitly still win). Not part of the JSON form.
    public var coupled: [String: [String: [ConfigOverride]]] = [:]

    enum CodingKeys: String, CodingKey { case name, summary, base, settings }

    /// The config of setting `index`: base ← setting overrides ← `extra` overrides (in order).
    /// - Throws: `ConfigError` for a bad key or value.
    /// Creates a preset from a base config and its grid of settings.
    public init(name: String, summary: String, base: SyntheticExperimentConfig, settings: [PresetSetting]) {
        self.name = name; self.summary = summary; self.base = base; self.settings = settings
    }

    public func config(setting index: Int, extra: [(String, String)] = []) throws -> SyntheticExperimentConfig {
        var c = base
        for (k, v) in settings[index].overrides { try c.set(key: k, value: v) }
        for (k, v) in extra { try c.set(key: k, value: v) }
        return c
    }

    /// Names of the built-in presets.
    public static let names = ["class-collapse", "suppression-embedding-size", "suppression-augmentation", "joint-loss"]

    /// Errors looking up presets.
    public enum LookupError: Error, CustomStringConvertible, Equatable {
        /// No built-in preset has this name.
        case unknown(String)
        public var description: String {
            "unknown preset '\(unknownName)'; expected one of \(SyntheticPreset.names.joined(separator: ", "))"
        }
        var unknownName: String { if case .unknown(let s) = self { return s }; return "" }
    }

    /// The built-in preset `name`, with the exact recipe of SCIENCE.md §5 as defaults.
    /// - Throws: `SyntheticPreset.LookupError.unknown` for any other name.
    public static func named(_ name: String) throws -> SyntheticPreset {
        switch name {
        case "class-collapse": return classCollapse
        case "suppression-embedding-size": return suppressionEmbeddingSize
        case "suppression-augmentation": return suppressionAugmentation
        case "joint-loss": return jointLoss
        default: throw LookupError.unknown(name)
        }
    }

    /// CC (SCIENCE.md §5): SCL without augmentation, d = 2000, n = 400, p = 8, a_s = 0.6,
    /// lr 0.05, 20 000 steps; settings ρ = 0.6 (the recipe) and ρ = 0.5 (the negative check).
    public static var classCollapse: SyntheticPreset {
        var c = SyntheticExperimentConfig()
        c.data = .cc; c.d = 2000; c.n = 400; c.nTest = 2000; c.p = 8; c.aC = 1; c.aS = 0.6; c.sigma = 1
        c.initScale = 1e-3; c.rho = 0.6; c.beta = 1; c.augmentation = .none; c.lr = 0.05; c.steps = 20_000
        c.auditSteps = [0, 10, 30, 100, 300, 1000, 3000, 10_000, 20_000]
        return SyntheticPreset(
            name: "class-collapse",
            summary: "SCL on the CC model: the subclass is learned early and lost later; W* collapses it",
            base: c,
            settings: ["0.6", "0.5"].map { PresetSetting(values: ["rho": $0], overrides: [("rho", $0)]) })
    }

    /// FS-a (SCIENCE.md §5): UCL with two views, d = 2000, n = 200, K = 4, a_e = 2,
    /// lr 0.05, 3000 steps; settings p = 1…7.
    public static var suppressionEmbeddingSize: SyntheticPreset {
        var c = SyntheticExperimentConfig()
        c.data = .fsA; c.d = 2000; c.n = 200; c.nTest = 2000; c.k = 4; c.aC = 1; c.aE = 2; c.sigma = 1
        c.initScale = 1e-3; c.beta = 0; c.augmentation = .imperfect; c.lr = 0.05; c.steps = 3000
        c.auditSteps = [0, 100, 300, 1000, 3000]
        return SyntheticPreset(
            name: "suppression-embedding-size",
            summary: "UCL on FS-a: easy features suppress the class until p > K",
            base: c,
            settings: (1...7).map { PresetSetting(values: ["p": "\($0)"], overrides: [("p", "\($0)")]) })
    }

    /// FS-b (SCIENCE.md §5): UCL, d = 2000, n = 200, m = 100, a_z = 20, p = 64, lr 0.02,
    /// 10 000 steps; settings imperfect (ζ kept) and perfect (ζ redrawn) augmentation; the
    /// minimum-norm minimizer is also probed at p = 8, 16, 32, 64, 128.
    public static var suppressionAugmentation: SyntheticPreset {
        var c = SyntheticExperimentConfig()
        c.data = .fsB; c.d = 2000; c.n = 200; c.nTest = 2000; c.m = 100; c.aC = 1; c.aZ = 20; c.sigma = 1
        c.p = 64; c.initScale = 1e-3; c.beta = 0; c.lr = 0.02; c.steps = 10_000
        c.auditSteps = [0, 100, 1000, 3000, 10_000]
        c.theoryP = [8, 16, 32, 64, 128]
        return SyntheticPreset(
            name: "suppression-augmentation",
            summary: "UCL on FS-b: a kept high-dimensional nuisance suppresses the class; redrawing it cures",
            base: c,
            settings: ["imperfect", "perfect"].map {
                PresetSetting(values: ["augmentation": $0], overrides: [("augmentation", $0)])
            })
    }

    /// Joint loss (SCIENCE.md §5): P = β·P_SCL + (1−β)·P_UCL, two views drawn once,
    /// β ∈ {0, 0.25, 0.5, 0.75, 1} on data `cc` (ρ = 0.5, n = 200, p = 8, lr 0.2, 20 000 steps),
    /// `fs-a` (K = 4, a_e = 2, p = 4, lr 0.05, 30 000 steps) and `combined` (a_s = 2, a_e = 1.5,
    /// K = 2, p = 3, lr 0.05, 30 000 steps; an illustration).
    public static var jointLoss: SyntheticPreset {
        var c = SyntheticExperimentConfig()
        c.d = 2000; c.n = 200; c.nTest = 2000; c.sigma = 1; c.aC = 1; c.initScale = 1e-3
        c.augmentation = .imperfect
        let perData: [(String, [(String, String)])] = [
            ("cc", [("rho", "0.5"), ("a_s", "0.6"), ("p", "8"), ("lr", "0.2"), ("steps", "20000"),
                    ("audit_steps", "0,100,1000,3000,10000,20000")]),
            ("fs-a", [("K", "4"), ("a_e", "2"), ("p", "4"), ("lr", "0.05"), ("steps", "30000"),
                      ("audit_steps", "0,100,1000,3000,10000,30000")]),
            ("combined", [("rho", "0.5"), ("a_s", "2"), ("a_e", "1.5"), ("K", "2"), ("p", "3"), ("lr", "0.05"),
                          ("steps", "30000"), ("audit_steps", "0,100,1000,3000,10000,30000")]),
        ]
        var settings: [PresetSetting] = []
        for (data, extra) in perData {
            for beta in ["0", "0.25", "0.5", "0.75", "1"] {
                settings.append(PresetSetting(values: ["data": data, "beta": beta],
                                              overrides: [("data", data), ("beta", beta)] + extra))
            }
        }
        var preset = SyntheticPreset(
            name: "joint-loss",
            summary: "β·SCL + (1−β)·UCL avoids both class collapse and feature suppression",
            base: c, settings: settings)
        preset.coupled["data"] = Dictionary(uniqueKeysWithValues: perData.map { data, extra in
            (data, extra.map { ConfigOverride($0.0, $0.1) })
        })
        return preset
    }
}
