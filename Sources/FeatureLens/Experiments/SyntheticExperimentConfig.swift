import Foundation
import FeatureLensNumerics

/// Errors when setting or validating an experiment config.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    /// `key` is not a config key; `known` lists the valid ones.
    case unknownKey(key: String, known: [String])
    /// `value` cannot be parsed as the type `key` needs (`expected`).
    case invalidValue(key: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .unknownKey(k, known): return "config: unknown key '\(k)'; expected one of \(known.joined(separator: ", "))"
        case let .invalidValue(k, v, e): return "config: \(k) = '\(v)'; expected \(e)"
        }
    }
}

/// Every knob of one synthetic run (SCIENCE.md §2–§5): data model, encoder, loss, optimizer,
/// audits. Codable with snake_case keys; written next to results so a run can be repeated.
///
/// Keys: `lr, steps, p, n, d, n_test, sigma, a_c, a_s, a_e, K, a_z, m, rho, init, beta,
/// augmentation, data, seed, audit_steps, threads, online_augmentation, theory_p`.
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
    /// Extra embedding sizes at which the minimum-norm minimizer is also probed.
    public var theoryP: [Int] = []

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lr, steps, p, n, d, nTest = "n_test", sigma, aC = "a_c", aS = "a_s", aE = "a_e", k = "K"
        case aZ = "a_z", m, rho, initScale = "init", beta, augmentation, data, seed
        case auditSteps = "audit_steps", threads, onlineAugmentation = "online_augmentation", theoryP = "theory_p"
    }

    /// A config with the defaults above.
    public init() {}

    public init(from decoder: Swift.Decoder) throws {
        // Missing keys keep their defaults, so a config file may list only what it changes;
        // an unknown key is an error (a typo must not silently run the default).
        let all = try decoder.container(keyedBy: AnyCodingKey.self)
        let known = Set(CodingKeys.allCases.map { $0.rawValue })
        if let bad = all.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(forKey: bad, in: all,
                debugDescription: "unknown config key '\(bad.stringValue)'; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var s = SyntheticExperimentConfig()
        func take<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<SyntheticExperimentConfig, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { s[keyPath: path] = v }
        }
        try take(.lr, \.lr); try take(.steps, \.steps); try take(.p, \.p); try take(.n, \.n); try take(.d, \.d)
        try take(.nTest, \.nTest); try take(.sigma, \.sigma); try take(.aC, \.aC); try take(.aS, \.aS)
        try take(.aE, \.aE); try take(.k, \.k); try take(.aZ, \.aZ); try take(.m, \.m); try take(.rho, \.rho)
        try take(.initScale, \.initScale); try take(.beta, \.beta); try take(.augmentation, \.augmentation)
        try take(.data, \.data); try take(.seed, \.seed); try take(.auditSteps, \.auditSteps)
        try take(.threads, \.threads); try take(.onlineAugmentation, \.onlineAugmentation); try take(.theoryP, \.theoryP)
        self = s
    }

    /// Every settable key, in documentation order.
    public static var keys: [String] { CodingKeys.allCases.map { $0.rawValue } }

    /// Sets one key from its string form (as `--set KEY=VALUE` gives it). Integers and
    /// reals in Swift syntax; booleans `true`/`false`/`1`/`0`; lists comma-separated;
    /// `augmentation` ∈ none|imperfect|perfect; `data` ∈ cc|fs-a|fs-b|combined. `k` is
    /// accepted for `K`.
    /// - Throws: `ConfigError.unknownKey` or `.invalidValue` naming the key and the expected type.
    public mutating func set(key: String, value: String) throws {
        let v = value.trimmingCharacters(in: .whitespaces)
        func double() throws -> Double {
            guard let x = Double(v), x.isFinite else { throw ConfigError.invalidValue(key: key, value: value, expected: "a finite real number") }
            return x
        }
        func int() throws -> Int {
            guard let x = Int(v) else { throw ConfigError.invalidValue(key: key, value: value, expected: "an integer") }
            return x
        }
        func ints() throws -> [Int] {
            if v.isEmpty { return [] }
            let parts = v.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.allSatisfy({ $0 != nil }) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "a comma-separated list of integers")
            }
            return parts.map { $0! }
        }
        switch key {
        case "lr": lr = try double()
        case "steps": steps = try int()
        case "p": p = try int()
        case "n": n = try int()
        case "d": d = try int()
        case "n_test": nTest = try int()
        case "sigma": sigma = try double()
        case "a_c": aC = try double()
        case "a_s": aS = try double()
        case "a_e": aE = try double()
        case "K", "k": k = try int()
        case "a_z": aZ = try double()
        case "m": m = try int()
        case "rho": rho = try double()
        case "init": initScale = try double()
        case "beta": beta = try double()
        case "augmentation":
            guard let a = AugmentationKind(rawValue: v) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "one of none, imperfect, perfect")
            }
            augmentation = a
        case "data":
            guard let dk = SyntheticDataKind(rawValue: v) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "one of cc, fs-a, fs-b, combined")
            }
            data = dk
        case "seed":
            guard let s = UInt64(v) else { throw ConfigError.invalidValue(key: key, value: value, expected: "a non-negative integer") }
            seed = s
        case "audit_steps": auditSteps = try ints()
        case "threads": threads = try int()
        case "online_augmentation":
            switch v.lowercased() {
            case "true", "1", "yes": onlineAugmentation = true
            case "false", "0", "no": onlineAugmentation = false
            default: throw ConfigError.invalidValue(key: key, value: value, expected: "true or false")
            }
        case "theory_p": theoryP = try ints()
        default: throw ConfigError.unknownKey(key: key, known: Self.keys)
        }
    }

    /// The data model these settings describe.
    public var model: SyntheticModel {
        SyntheticModel(kind: data, d: d, n: n, nTest: nTest, sigma: sigma, aC: aC, aS: aS, rho: rho,
                       k: k, aE: aE, aZ: aZ, m: m)
    }

    /// Checks every field.
    /// - Throws: `ConfigError.invalidValue` naming the key and the allowed values, or the
    ///   model's `SyntheticModelError`.
    public func validate() throws {
        func bad(_ k: String, _ v: Any, _ e: String) -> ConfigError { .invalidValue(key: k, value: "\(v)", expected: e) }
        guard lr > 0, lr.isFinite else { throw bad("lr", lr, "a finite value > 0") }
        guard steps >= 0 else { throw bad("steps", steps, "≥ 0") }
        guard p >= 1 else { throw bad("p", p, "≥ 1") }
        guard initScale >= 0, initScale.isFinite else { throw bad("init", initScale, "a finite value ≥ 0") }
        guard beta >= 0, beta <= 1 else { throw bad("beta", beta, "in [0, 1]") }
        guard threads >= 1 else { throw bad("threads", threads, "≥ 1") }
        guard auditSteps.allSatisfy({ $0 >= 0 && $0 <= steps }) else {
            throw bad("audit_steps", auditSteps, "steps in 0...\(steps) (lowering steps? also set audit_steps, e.g. --set audit_steps=0,\(max(1, steps / 2)),\(steps))")
        }
        // Memory guard: the data ([2n + n_test, d] doubles) and W ([p, d]) must fit in memory.
        let bytes = 8.0 * Double(d) * (Double(2 * n + nTest) + Double(p) * 4)
        guard bytes <= 8e9 else {
            throw bad("d", d, "d·(2n + n_test + 4p)·8 bytes ≤ 8 GB (this config needs \(Int(bytes / 1e9)) GB; lower d, n, n_test or p)")
        }
        guard p <= d else { throw bad("p", p, "≤ d = \(d)") }
        guard theoryP.allSatisfy({ $0 >= 1 }) else { throw bad("theory_p", theoryP, "embedding sizes ≥ 1") }
        try model.validate()
    }
}


/// A coding key for any string (used to list and reject unknown keys).
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}
