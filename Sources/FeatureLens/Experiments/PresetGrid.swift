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

extension SyntheticPreset {
    /// The preset with `--set` and `--grid` applied (issue 6):
    /// - `set` (`KEY=VALUE`) fixes a key for every run: it is set on the base config and
    ///   removed from every setting, so an axis it names collapses (duplicates are merged);
    /// - `grid` (`KEY=v1,v2`) replaces that axis when the preset has it, or adds it as a new
    ///   axis (every existing setting × every value);
    /// - a key with `coupled` recipes (joint-loss's `data`) brings each new value's recipe
    ///   keys (p, lr, steps, …) and drops the old value's, except keys fixed by `set`.
    /// - Throws: `ConfigError` for unknown keys or values of the wrong type.
    public func applying(set: [(String, String)], grid: [(String, [String])]) throws -> SyntheticPreset {
        var p = self
        let userKeys = Set(set.map(\.0))
        // The recipe keys that some value of `key` brings along (see `coupled`).
        func coupledKeys(_ key: String) -> Set<String> {
            Set((coupled[key] ?? [:]).values.flatMap { $0.map(\.key) })
        }
        // The overrides value `v` of `key` brings, minus the keys the user fixed.
        func recipe(_ key: String, _ v: String) -> [(String, String)] {
            (coupled[key]?[v] ?? []).filter { !userKeys.contains($0.key) }.map { ($0.key, $0.value) }
        }
        for (k, v) in set {
            try p.base.set(key: k, value: v)
            for (ck, cv) in recipe(k, v) { try p.base.set(key: ck, value: cv) }
            let drop = coupledKeys(k).union([k])
            p.settings = p.settings.map { s in
                var s = s
                s.values[k] = nil
                s.overrides.removeAll { drop.contains($0.0) }
                return s
            }
        }
        for (k, values) in grid {
            for v in values { var probe = p.base; try probe.set(key: k, value: v) }   // type check early
            let drop = coupledKeys(k).union([k])
            var out: [PresetSetting] = []
            for s in p.settings {
                var base = s
                base.values[k] = nil
                base.overrides.removeAll { drop.contains($0.0) }
                for v in values {
                    var n = base
                    n.values[k] = v
                    n.overrides.append((k, v))
                    n.overrides += recipe(k, v)
                    out.append(n)
                }
            }
            p.settings = out
        }
        // Merge duplicates (e.g. after --set collapsed an axis), keeping the first.
        var unique: [PresetSetting] = []
        for s in p.settings where !unique.contains(where: { $0.values == s.values }) { unique.append(s) }
        p.settings = unique.isEmpty ? [PresetSetting(values: [:], overrides: [])] : unique
        return p
    }
}
