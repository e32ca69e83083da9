import Foundation

/// Errors in `--set` / `--grid` arguments.
public enum GridError: Error, CustomStringConvertible, Equatable {
    /// `KEY=VALUE` (or `KEY=v1,v2`) was malformed.
    case malformed(argument: String, expected: String)

    public var description: String {
        switch self {
        case let .malformed(arg, expected): return "malformed argument '\(arg)': expected \(expected)"
        }
    }
}

/// Parses `KEY=VALUE`.
public func parseAssignment(_ s: String) throws -> (String, String) {
    guard let eq = s.firstIndex(of: "="), eq != s.startIndex else {
        throw GridError.malformed(argument: s, expected: "KEY=VALUE")
    }
    return (String(s[..<eq]).trimmingCharacters(in: .whitespaces), String(s[s.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
}

/// Parses `KEY=v1,v2,...` (at least one value).
public func parseGridAxis(_ s: String) throws -> (String, [String]) {
    let (k, v) = try parseAssignment(s)
    let values = v.split(separator: ",", omittingEmptySubsequences: true).map { String($0).trimmingCharacters(in: .whitespaces) }
    guard !values.isEmpty else { throw GridError.malformed(argument: s, expected: "KEY=v1,v2,...") }
    return (k, values)
}

/// A config whose keys can be set from text (`--set KEY=VALUE`), as both experiment kinds' configs can.
public protocol KeyValueConfigurable {
    /// Sets config key `key` from its text form.
    /// - Throws: `ConfigError` for an unknown key or a value of the wrong type.
    mutating func set(key: String, value: String) throws
}

extension SyntheticExperimentConfig: KeyValueConfigurable {}
extension ImageExperimentConfig: KeyValueConfigurable {}

/// The one grid algebra of every preset kind: how `--set` and `--grid` change a base config
/// and its list of settings.
/// - `set` (`KEY=VALUE`) fixes a key for every run: it is set on the base config and removed
///   from every setting, so an axis it names collapses (duplicates are merged);
/// - `grid` (`KEY=v1,v2`) replaces that axis when the preset has it, or adds it as a new axis
///   (every existing setting × every value);
/// - a key with `coupled` recipes (joint-loss's `data`) brings each new value's recipe keys
///   (p, lr, steps, …) and drops the old value's, except keys fixed by `set`.
public enum PresetGrid {
    /// Applies `set` then `grid` to `base` and `settings` (see the type's documentation).
    /// - Returns: the new base config and settings (at least one, possibly with no values).
    /// - Throws: `ConfigError` for unknown keys or values of the wrong type (every grid value
    ///   is checked against the base config before any run).
    public static func apply<Config: KeyValueConfigurable>(
        base: Config, settings: [PresetSetting], coupled: [String: [String: [ConfigOverride]]] = [:],
        set: [(String, String)], grid: [(String, [String])]
    ) throws -> (base: Config, settings: [PresetSetting]) {
        var base = base
        var settings = settings
        let userKeys = Swift.Set(set.map(\.0))
        // The recipe keys that some value of `key` brings along (see `coupled`).
        func coupledKeys(_ key: String) -> Swift.Set<String> {
            Swift.Set((coupled[key] ?? [:]).values.flatMap { $0.map(\.key) })
        }
        // The overrides value `v` of `key` brings, minus the keys the user fixed.
        func recipe(_ key: String, _ v: String) -> [(String, String)] {
            (coupled[key]?[v] ?? []).filter { !userKeys.contains($0.key) }.map { ($0.key, $0.value) }
        }
        for (k, v) in set {
            try base.set(key: k, value: v)
            for (ck, cv) in recipe(k, v) { try base.set(key: ck, value: cv) }
            let drop = coupledKeys(k).union([k])
            settings = settings.map { s in
                var s = s
                s.values[k] = nil
                s.overrides.removeAll { drop.contains($0.0) }
                return s
            }
        }
        for (k, values) in grid {
            for v in values { var probe = base; try probe.set(key: k, value: v) }   // type check early
            let drop = coupledKeys(k).union([k])
            var out: [PresetSetting] = []
            for s in settings {
                var stripped = s
                stripped.values[k] = nil
                stripped.overrides.removeAll { drop.contains($0.0) }
                for v in values {
                    var n = stripped
                    n.values[k] = v
                    n.overrides.append((k, v))
                    n.overrides += recipe(k, v)
                    out.append(n)
                }
            }
            settings = out
        }
        // Merge duplicates (e.g. after --set collapsed an axis), keeping the first.
        var unique: [PresetSetting] = []
        for s in settings where !unique.contains(where: { $0.values == s.values }) { unique.append(s) }
        return (base, unique.isEmpty ? [PresetSetting(values: [:], overrides: [])] : unique)
    }
}

extension SyntheticPreset {
    /// The preset with `--set` and `--grid` applied (`PresetGrid.apply`). When they change
    /// `steps` but not `audit_steps`, the audit steps follow: every config whose audit steps do
    /// not end at its `steps` gets `SyntheticExperimentConfig.auditSteps(_:fittedTo:)` (the old
    /// audit steps below `steps`, then `steps`), so `--set steps=500` alone is a valid run.
    /// - Throws: `ConfigError` for unknown keys or values of the wrong type.
    public func applying(set: [(String, String)], grid: [(String, [String])]) throws -> SyntheticPreset {
        var p = self
        (p.base, p.settings) = try PresetGrid.apply(base: base, settings: settings, coupled: coupled, set: set, grid: grid)
        let keys = Swift.Set(set.map(\.0) + grid.map(\.0))
        if keys.contains("steps") && !keys.contains("audit_steps") { try p.fitAuditStepsToSteps() }
        return p
    }

    /// Fits the audit steps of the base config and of every setting to their `steps` (see
    /// `applying`); a setting whose fitted list differs gets an `audit_steps` override.
    /// - Throws: `ConfigError` (cannot happen for the preset's own overrides).
    mutating func fitAuditStepsToSteps() throws {
        base.auditSteps = SyntheticExperimentConfig.auditSteps(base.auditSteps, fittedTo: base.steps)
        for i in settings.indices {
            let c = try config(setting: i)
            let fitted = SyntheticExperimentConfig.auditSteps(c.auditSteps, fittedTo: c.steps)
            guard fitted != c.auditSteps else { continue }
            settings[i].overrides.removeAll { $0.0 == "audit_steps" }
            settings[i].overrides.append(("audit_steps", fitted.configString))
        }
    }
}

extension ImagePreset {
    /// The preset with `--set` and `--grid` applied (`PresetGrid.apply`; image presets have no
    /// coupled recipes, and a setting's values are its overrides).
    /// - Throws: `ConfigError` for unknown keys or values of the wrong type.
    public func applying(set: [(String, String)], grid: [(String, [String])]) throws -> ImagePreset {
        // The old keys `embedding`/`head` map onto p and backbone_width by a rule (old config
        // files stay readable); as a --set/--grid axis they would not replace the preset's own.
        for k in set.map(\.0) + grid.map(\.0) {
            if let a = ImageExperimentConfig.table.aliases.first(where: { $0.name == k }) {
                throw ConfigError.retiredKey(key: k, meaning: a.doc, replacements: a.replaces)
            }
        }
        var p = self
        let asSettings = settings.map { s in
            PresetSetting(values: s, overrides: s.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
        let (b, out) = try PresetGrid.apply(base: base, settings: asSettings, set: set, grid: grid)
        p.base = b
        p.settings = out.map(\.values)
        return p
    }
}
