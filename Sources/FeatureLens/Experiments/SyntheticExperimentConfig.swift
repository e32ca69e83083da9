import Foundation
import FeatureLensNumerics

/// Every knob of one synthetic run (SCIENCE.md §2–§5): data model, encoder, loss, optimizer,
/// audits. Codable with snake_case keys; written next to results so a run can be repeated.
///
/// Every key (name, type, default, validation, doc) is in `SyntheticExperimentConfig.table`,
/// which drives JSON decoding (unknown keys rejected), `set(key:value:)`, `validate()` and
/// docs/CONFIG.md.
public struct SyntheticExperimentConfig: Codable, Equatable, Sendable {
    /// Learning rate of full-batch gradient descent.
    public var lr: Double = 0.05
    /// Number of gradient steps.
    public var steps: Int = 1000
    /// Embedding size p (rows of W).
    public var p: Int = 8
    /// Training points n.
    public var n: Int = 200
    /// Input dimension d.
    public var d: Int = 2000
    /// Test points (one view each).
    public var nTest: Int = 2000
    /// Noise scale σ (ξ ~ N(0, σ²/d · I)).
    public var sigma: Double = 1
    /// Class amplitude a_c.
    public var aC: Double = 1
    /// Subclass amplitude a_s.
    public var aS: Double = 0.6
    /// Easy-feature amplitude a_e.
    public var aE: Double = 2
    /// Number of easy features K.
    public var k: Int = 4
    /// Nuisance norm a_z (FS-b).
    public var aZ: Double = 20
    /// Nuisance dimension m (FS-b).
    public var m: Int = 100
    /// Fraction ρ of each class with subclass s = +1.
    public var rho: Double = 0.5
    /// Initialization scale ι: W₀ ~ N(0, ι²).
    public var initScale: Double = 1e-3
    /// Weight β of the supervised pairing: P = β·P_SCL + (1 − β)·P_UCL.
    public var beta: Double = 0
    /// How the views are formed.
    public var augmentation: AugmentationKind = .imperfect
    /// Which data model.
    public var data: SyntheticDataKind = .cc
    /// Seed of every random stream (data, init, online views).
    public var seed: UInt64 = 0
    /// Steps at which the audit runs (probes, feature weights, loss).
    public var auditSteps: [Int] = [0, 1000]
    /// Threads for matrix products inside one setting (results do not depend on it).
    public var threads: Int = 1
    /// Draw fresh views at every step (uses the direct O(n·d·p) step).
    public var onlineAugmentation: Bool = false
    /// Arithmetic of the Gram-space product K·Bᵀ (`mixed`: Float products, Double state).
    public var stepPrecision: LinearStepPrecision = .mixed
    /// Extra embedding sizes at which the minimum-norm minimizer is also probed.
    public var theoryP: [Int] = []

    /// A config with the defaults above.
    public init() {}

    /// Decodes a config. Missing keys keep their defaults, so a config file may list only what
    /// it changes; an unknown key is an error naming it and suggesting the nearest valid key
    /// (a typo must not silently run the default).
    /// - Throws: `DecodingError` naming the field.
    public init(from decoder: Swift.Decoder) throws { self = try Self.table.decode(from: decoder) }

    /// Encodes every key of `table` (snake_case names).
    public func encode(to encoder: Swift.Encoder) throws { try Self.table.encode(self, to: encoder) }

    /// Every settable key, in documentation order.
    public static var keys: [String] { table.names }

    /// Sets one key from its string form (as `--set KEY=VALUE` gives it). Integers and
    /// reals in Swift syntax; booleans `true`/`false`/`1`/`0`; lists comma-separated;
    /// `augmentation` ∈ none|imperfect|perfect; `data` ∈ cc|fs-a|fs-b|combined. `k` is
    /// accepted for `K`.
    /// - Throws: `ConfigError.unknownKey` (suggesting the nearest key) or `.invalidValue`
    ///   naming the key and the expected type.
    public mutating func set(key: String, value: String) throws { try Self.table.set(&self, key: key, value: value) }

    /// The string form of `key`'s current value (what `set(key:value:)` accepts), or nil for
    /// an unknown key.
    public func value(forKey key: String) -> String? { Self.table.value(of: self, key: key) }

    /// The table of keys: name, type, default, validation and doc of each.
    public static let table = ConfigTable<SyntheticExperimentConfig>(
        kind: "synthetic", defaults: SyntheticExperimentConfig(),
        keys: [
            .init("lr", \.lr, doc: "Learning rate of full-batch gradient descent.", valid: { $0 > 0 && $0.isFinite ? nil : "a finite value > 0" }),
            .init("steps", \.steps, doc: "Number of gradient steps.", valid: { $0 >= 0 ? nil : "≥ 0" }),
            .init("p", \.p, doc: "Embedding size p: width of z = W x (rows of W).", valid: { $0 >= 1 ? nil : "≥ 1" }),
            .init("n", \.n, doc: "Training points n."),
            .init("d", \.d, doc: "Input dimension d."),
            .init("n_test", \.nTest, doc: "Test points (one view each)."),
            .init("sigma", \.sigma, doc: "Noise scale σ (ξ ~ N(0, σ²/d · I))."),
            .init("a_c", \.aC, doc: "Class amplitude a_c."),
            .init("a_s", \.aS, doc: "Subclass amplitude a_s."),
            .init("a_e", \.aE, doc: "Easy-feature amplitude a_e."),
            .init("K", \.k, doc: "Number of easy features K (`k` is accepted too)."),
            .init("a_z", \.aZ, doc: "Nuisance norm a_z (fs-b)."),
            .init("m", \.m, doc: "Nuisance dimension m (fs-b)."),
            .init("rho", \.rho, doc: "Fraction ρ of each class with subclass s = +1."),
            .init("init", \.initScale, doc: "Initialization scale ι: W₀ ~ N(0, ι²).",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("beta", \.beta, doc: "Weight β of the supervised pairing: P = β·P_SCL + (1 − β)·P_UCL.",
                  valid: { $0 >= 0 && $0 <= 1 ? nil : "in [0, 1]" }),
            .init("augmentation", \.augmentation, doc: "How the views are formed (SCIENCE.md §2)."),
            .init("data", \.data, doc: "Which data model (SCIENCE.md §2)."),
            .init("seed", \.seed, doc: "Seed of every random stream (data, init, online views)."),
            .init("audit_steps", \.auditSteps, doc: "Steps at which the audit runs (probes, feature weights, loss); each in 0…steps. When `--set`/`--grid` change `steps` but not `audit_steps`, the audit steps below the new `steps` are kept and `steps` is added."),
            .init("threads", \.threads, doc: "Threads for matrix products inside one setting (results do not depend on it).",
                  valid: { $0 >= 1 ? nil : "≥ 1" }),
            .init("online_augmentation", \.onlineAugmentation, doc: "Draw fresh views at every step (uses the direct O(n·d·p) step)."),
            .init("step_precision", \.stepPrecision, doc: "Arithmetic of the Gram-space product K·Bᵀ, the O(m²p) part of each step: `mixed` rounds K and Bᵀ to float32 for the product and keeps B, the loss, its gradient and the update in float64 (twice as fast on AVX2; rounding does not accumulate across steps); `float64` does it all in float64. Ignored with online augmentation (the direct step is float64)."),
            .init("theory_p", \.theoryP, doc: "Extra embedding sizes at which the minimum-norm minimizer is also probed.",
                  valid: { $0.allSatisfy { $0 >= 1 } ? nil : "embedding sizes ≥ 1" }),
        ],
        aliases: [.renamed("k", to: "K", \.k)],
        crossChecks: { c in
            func bad(_ k: String, _ v: Any, _ e: String) -> ConfigError { .invalidValue(key: k, value: "\(v)", expected: e) }
            guard c.auditSteps.allSatisfy({ $0 >= 0 && $0 <= c.steps }) else {
                throw bad("audit_steps", c.auditSteps, "steps in 0...\(c.steps) (e.g. --set audit_steps=\(SyntheticExperimentConfig.auditSteps(c.auditSteps, fittedTo: c.steps).configString))")
            }
            // Memory guard: the data ([2n + n_test, d] doubles) and W ([p, d]) must fit in memory.
            let bytes = 8.0 * Double(c.d) * (Double(2 * c.n + c.nTest) + Double(c.p) * 4)
            guard bytes <= 8e9 else {
                throw bad("d", c.d, "d·(2n + n_test + 4p)·8 bytes ≤ 8 GB (this config needs \(Int(bytes / 1e9)) GB; lower d, n, n_test or p)")
            }
            guard c.p <= c.d else { throw bad("p", c.p, "≤ d = \(c.d)") }
            try c.model.validate()
        })

    /// `audits` fitted to a run of `steps` steps: the audit steps in 0..<steps, then `steps`
    /// itself (sorted, without duplicates). Always a valid `audit_steps` for `steps` ≥ 0; e.g.
    /// [0, 100, 1000, 20000] fitted to 500 is [0, 100, 500], and [0, 1000] fitted to 0 is [0].
    public static func auditSteps(_ audits: [Int], fittedTo steps: Int) -> [Int] {
        Array(Swift.Set(audits.filter { $0 >= 0 && $0 < steps } + [steps])).sorted()
    }

    /// The data model these settings describe.
    public var model: SyntheticModel {
        SyntheticModel(kind: data, d: d, n: n, nTest: nTest, sigma: sigma, aC: aC, aS: aS, rho: rho,
                       k: k, aE: aE, aZ: aZ, m: m)
    }

    /// Checks every field (`table`'s per-key validations, then the audit steps against
    /// `steps`, the memory guard, p ≤ d and the data model).
    /// - Throws: `ConfigError.invalidValue` naming the key and the allowed values, or the
    ///   model's `SyntheticModelError`.
    public func validate() throws { try Self.table.validate(self) }
}

extension AugmentationKind: ConfigChoice {}
extension SyntheticDataKind: ConfigChoice {}
extension LinearStepPrecision: ConfigChoice {}
