import Foundation

/// Errors when setting or validating an experiment config.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    /// `key` is not a config key; `known` lists the valid ones.
    case unknownKey(key: String, known: [String])
    /// `value` cannot be parsed as the type `key` needs, or is out of range (`expected`).
    case invalidValue(key: String, value: String, expected: String)
    /// `key` is a former key name that only old config files may use (`meaning` says what it
    /// maps to); `replacements` are the current keys to set instead.
    case retiredKey(key: String, meaning: String, replacements: [String])

    public var description: String {
        switch self {
        case let .retiredKey(k, meaning, r):
            return "config: '\(k)' is an old key name (\(meaning)); set \(r.joined(separator: " or ")) instead"
        case let .unknownKey(k, known): return "config: " + Self.unknownKeyMessage(k, known: known, kind: nil)
        case let .invalidValue(k, v, e): return "config: \(k) = '\(v)'; expected \(e)"
        }
    }

    /// The message for an unknown key: names the key (and the config kind, when given),
    /// suggests the nearest valid key when one is close (`suggestion(for:among:)`), and
    /// lists the valid keys.
    public static func unknownKeyMessage(_ key: String, known: [String], kind: String?) -> String {
        var s = "unknown key '\(key)'" + (kind.map { " in \($0) config" } ?? "")
        if let near = suggestion(for: key, among: known) { s += "; did you mean '\(near)'?" }
        return s + " (valid keys: \(known.joined(separator: ", ")))"
    }

    /// Rejects a JSON object (read through `decoder`) holding a key outside `allowed`: for
    /// the wrappers around a config (a config file's `preset`, `summary`, `base`, …), so a
    /// typo there is an error too.
    /// - Throws: `DecodingError.dataCorrupted` at the first unknown key, naming it and `what`
    ///   (e.g. "image config file") and suggesting the nearest allowed key.
    public static func rejectUnknownKeys(in decoder: Swift.Decoder, allowed: [String], what: String) throws {
        let c = try decoder.container(keyedBy: ConfigCodingKey.self)
        for key in c.allKeys where !allowed.contains(key.stringValue) {
            var s = "unknown key '\(key.stringValue)' in \(what)"
            if let near = suggestion(for: key.stringValue, among: allowed) { s += "; did you mean '\(near)'?" }
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [key],
                                                    debugDescription: s + " (valid keys: \(allowed.joined(separator: ", ")))"))
        }
    }

    /// The valid key nearest to `key` by edit distance (`editDistance`, case-insensitive), when
    /// it is close enough to be a plausible typo: at most 1 edit for keys of up to 5
    /// characters, 2 up to 8, else 3. Nil when none is that close.
    public static func suggestion(for key: String, among known: [String]) -> String? {
        let limit = key.count <= 5 ? 1 : key.count <= 8 ? 2 : 3
        var best: (String, Int)?
        for k in known {
            let d = editDistance(key.lowercased(), k.lowercased())
            if d <= limit, best == nil || d < best!.1 { best = (k, d) }
        }
        return best?.0
    }

    /// Edit distance between `a` and `b`: the fewest insertions, deletions, substitutions
    /// and swaps of two adjacent characters turning one into the other (optimal string
    /// alignment distance, so `stpes` is one edit from `steps`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        // d[i][j] = distance between the first i characters of x and the first j of y.
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[x.count][y.count]
    }
}

// MARK: Value types

/// A type a config key can hold: decoded from JSON by `Codable`, and from the string form
/// of `--set KEY=VALUE` by `init?(configString:)`.
public protocol ConfigValue: Codable, Equatable {
    /// The type as the key reference shows it (`integer`, `real`, `cc|fs-a|fs-b|combined`).
    static var configType: String { get }
    /// What a string must look like, for error messages (`an integer`).
    static var configExpected: String { get }
    /// Parses the string form; nil when it is not one.
    init?(configString: String)
    /// The string form (what `init?(configString:)` reads back).
    var configString: String { get }
}

extension Int: ConfigValue {
    public static var configType: String { "integer" }
    public static var configExpected: String { "an integer" }
    public init?(configString s: String) { self.init(s) }
    public var configString: String { String(self) }
}

extension UInt64: ConfigValue {
    public static var configType: String { "non-negative integer" }
    public static var configExpected: String { "a non-negative integer" }
    public init?(configString s: String) { self.init(s) }
    public var configString: String { String(self) }
}

extension Double: ConfigValue {
    public static var configType: String { "real" }
    public static var configExpected: String { "a finite real number" }
    public init?(configString s: String) {
        guard let x = Double(s), x.isFinite else { return nil }
        self = x
    }
    public var configString: String { "\(self)" }
}

extension Bool: ConfigValue {
    public static var configType: String { "true|false" }
    public static var configExpected: String { "true or false" }
    public init?(configString s: String) {
        switch s.lowercased() {
        case "true", "1", "yes": self = true
        case "false", "0", "no": self = false
        default: return nil
        }
    }
    public var configString: String { self ? "true" : "false" }
}

extension String: ConfigValue {
    public static var configType: String { "string" }
    public static var configExpected: String { "a string" }
    public init?(configString s: String) { self = s }
    public var configString: String { self }
}

extension Array: ConfigValue where Element == Int {
    public static var configType: String { "list of integers" }
    public static var configExpected: String { "a comma-separated list of integers" }
    /// Comma-separated integers; the empty string is the empty list.
    public init?(configString s: String) {
        if s.isEmpty { self = []; return }
        var out: [Int] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let x = Int(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            out.append(x)
        }
        self = out
    }
    public var configString: String { map(String.init).joined(separator: ",") }
}

/// A list of real numbers as a config value: a JSON array of numbers, or comma-separated
/// reals in the string form (the empty string is the empty list). A struct rather than
/// `[Double]` because `Array` already conforms to `ConfigValue` for integer lists.
public struct RealList: ConfigValue, Sendable, ExpressibleByArrayLiteral {
    /// The numbers, in order.
    public var values: [Double]
    public init(_ values: [Double]) { self.values = values }
    public init(arrayLiteral elements: Double...) { values = elements }
    public init(from decoder: Swift.Decoder) throws { values = try decoder.singleValueContainer().decode([Double].self) }
    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
    public static var configType: String { "list of reals" }
    public static var configExpected: String { "a comma-separated list of finite real numbers" }
    public init?(configString s: String) {
        if s.isEmpty { values = []; return }
        var out: [Double] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let x = Double(part.trimmingCharacters(in: .whitespaces)), x.isFinite else { return nil }
            out.append(x)
        }
        values = out
    }
    public var configString: String { values.map { "\($0)" }.joined(separator: ",") }
}

/// An enumeration a config key can hold, written by its raw name.
public protocol ConfigChoice: ConfigValue, RawRepresentable, CaseIterable where RawValue == String {}

extension ConfigChoice {
    public static var configType: String { allCases.map(\.rawValue).joined(separator: "|") }
    public static var configExpected: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public init?(configString s: String) { self.init(rawValue: s) }
    public var configString: String { rawValue }
}

// MARK: Keys and tables

/// A coding key for any string (config tables decode and encode by name).
struct ConfigCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// One key of an experiment config: its name, type, default (the value in the table's
/// `defaults`), validation and doc string, bound to a stored property of `Config`. A
/// `ConfigTable` of such keys drives JSON decoding and encoding, `set(key:value:)` (the
/// `--set`/`--grid` string form), `validate()`, the `presets --keys` listing and docs/CONFIG.md.
public struct ConfigKey<Config> {
    /// The key in JSON and in `--set KEY=VALUE`.
    public let name: String
    /// The type as the reference shows it (`integer`, `real`, `supcon|ntxent|…`).
    public let type: String
    /// One or two sentences: what the key does, its unit, its special values.
    public let doc: String
    let parse: (inout Config, String) throws -> Void
    let format: (Config) -> String
    let decode: (inout Config, KeyedDecodingContainer<ConfigCodingKey>) throws -> Void
    let encode: (Config, inout KeyedEncodingContainer<ConfigCodingKey>) throws -> Void
    let check: (Config) -> ConfigError?

    /// A key bound to `path`.
    /// - Parameters:
    ///   - parse: the string form, when it differs from `V(configString:)` (e.g. `auto`).
    ///   - format: the string form of a value, when it differs from `configString`.
    ///   - expected: what a string must look like, when it differs from `V.configExpected`.
    ///   - valid: nil when the value is allowed, else what is expected (e.g. `"> 0"`);
    ///     run by `ConfigTable.validate`, and also by `set` when `checkOnSet`.
    public init<V: ConfigValue>(_ name: String, _ path: WritableKeyPath<Config, V>, type: String? = nil, doc: String,
                                parse: ((String) -> V?)? = nil, format: ((V) -> String)? = nil, expected: String? = nil,
                                valid: ((V) -> String?)? = nil, checkOnSet: Bool = false)
    {
        self.name = name
        self.type = type ?? V.configType
        self.doc = doc
        let read = parse ?? { V(configString: $0) }
        let write = format ?? { $0.configString }
        self.parse = { config, text in
            let v = text.trimmingCharacters(in: .whitespaces)
            guard let x = read(v) else {
                throw ConfigError.invalidValue(key: name, value: text, expected: expected ?? V.configExpected)
            }
            if checkOnSet, let valid, let e = valid(x) { throw ConfigError.invalidValue(key: name, value: text, expected: e) }
            config[keyPath: path] = x
        }
        self.format = { write($0[keyPath: path]) }
        self.decode = { config, c in
            if let v = try c.decodeIfPresent(V.self, forKey: ConfigCodingKey(name)) { config[keyPath: path] = v }
        }
        self.encode = { config, c in try c.encode(config[keyPath: path], forKey: ConfigCodingKey(name)) }
        self.check = { config in
            let v = config[keyPath: path]
            guard let valid, let e = valid(v) else { return nil }
            return ConfigError.invalidValue(key: name, value: "\(v)", expected: e)
        }
    }
}

/// A former key name still read from old config files and accepted by `set`: it maps onto
/// current keys (a rename, or a rule documented in `doc`). Never written.
public struct ConfigAlias<Config> {
    /// The old key name.
    public let name: String
    /// What the old key means in current keys.
    public let doc: String
    /// Current keys the alias writes; a JSON object may not hold both the alias and one of them.
    public let replaces: [String]
    let parse: (inout Config, String) throws -> Void
    let decode: (inout Config, KeyedDecodingContainer<ConfigCodingKey>) throws -> Void

    /// An alias read as a `V` and applied by `apply`.
    public init<V: ConfigValue>(_ name: String, as: V.Type, replaces: [String], doc: String,
                                apply: @escaping (inout Config, V) throws -> Void)
    {
        self.name = name
        self.doc = doc
        self.replaces = replaces
        self.parse = { config, text in
            guard let v = V(configString: text.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigError.invalidValue(key: name, value: text, expected: V.configExpected)
            }
            try apply(&config, v)
        }
        self.decode = { config, c in
            if let v = try c.decodeIfPresent(V.self, forKey: ConfigCodingKey(name)) { try apply(&config, v) }
        }
    }

    /// A plain rename: `name` is read as `key`.
    public static func renamed<V: ConfigValue>(_ name: String, to key: String, _ path: WritableKeyPath<Config, V>) -> ConfigAlias {
        ConfigAlias(name, as: V.self, replaces: [key], doc: "old name of `\(key)`") { $0[keyPath: path] = $1 }
    }
}

/// What the reference shows about one key.
public struct ConfigKeyInfo: Equatable, Sendable {
    /// Key name.
    public var name: String
    /// Type (`integer`, `real`, `a|b|c`, …).
    public var type: String
    /// The default, in string form (what `set` reads).
    public var defaultValue: String
    /// The doc string.
    public var doc: String
}

/// The table of keys of one experiment kind, in documentation order, with the default
/// config. Every way of reading or writing a config goes through it, so a key exists in
/// JSON, in `--set` and in the docs exactly when it is in the table.
public struct ConfigTable<Config> {
    /// The experiment kind (`synthetic`, `image`), named in error messages.
    public let kind: String
    /// The keys, in documentation order.
    public let keys: [ConfigKey<Config>]
    /// Old key names still read (see `ConfigAlias`).
    public let aliases: [ConfigAlias<Config>]
    /// The config every missing key keeps its value from.
    public let defaults: Config
    /// Checks that involve several keys, run by `validate` after the per-key checks.
    let crossChecks: (Config) throws -> Void

    /// A table. `crossChecks` throws `ConfigError.invalidValue` for combinations of keys.
    public init(kind: String, defaults: Config, keys: [ConfigKey<Config>], aliases: [ConfigAlias<Config>] = [],
                crossChecks: @escaping (Config) throws -> Void = { _ in })
    {
        self.kind = kind
        self.defaults = defaults
        self.keys = keys
        self.aliases = aliases
        self.crossChecks = crossChecks
    }

    /// Key names, in documentation order.
    public var names: [String] { keys.map(\.name) }

    /// Sets `key` (or an alias) from its string form.
    /// - Throws: `ConfigError.unknownKey` (with the nearest key suggested) or
    ///   `ConfigError.invalidValue` naming the key and what it expects.
    public func set(_ config: inout Config, key: String, value: String) throws {
        if let k = keys.first(where: { $0.name == key }) { return try k.parse(&config, value) }
        if let a = aliases.first(where: { $0.name == key }) { return try a.parse(&config, value) }
        throw ConfigError.unknownKey(key: key, known: names)
    }

    /// The string form of `key`'s value in `config`, or nil for an unknown key.
    public func value(of config: Config, key: String) -> String? {
        keys.first(where: { $0.name == key })?.format(config)
    }

    /// Decodes a config: every key present is read, missing keys keep `defaults`, then the
    /// aliases present are applied. An unknown key, or an alias next to a key it replaces,
    /// is a `DecodingError.dataCorrupted` at that key naming it (and suggesting the nearest
    /// valid key).
    /// - Throws: `DecodingError`, or what an alias's rule throws.
    public func decode(from decoder: Swift.Decoder) throws -> Config {
        let c = try decoder.container(keyedBy: ConfigCodingKey.self)
        let known = Set(names), old = Set(aliases.map(\.name))
        for key in c.allKeys where !known.contains(key.stringValue) && !old.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: c.codingPath + [key],
                debugDescription: ConfigError.unknownKeyMessage(key.stringValue, known: names, kind: kind)))
        }
        var config = defaults
        for k in keys { try k.decode(&config, c) }
        for a in aliases where c.contains(ConfigCodingKey(a.name)) {
            if let both = a.replaces.first(where: { c.contains(ConfigCodingKey($0)) }) {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: c.codingPath + [ConfigCodingKey(a.name)],
                    debugDescription: "'\(a.name)' (\(a.doc)) and '\(both)' in one \(kind) config; keep only '\(both)'"))
            }
            do { try a.decode(&config, c) } catch let e as ConfigError {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [ConfigCodingKey(a.name)],
                                                        debugDescription: e.description))
            }
        }
        return config
    }

    /// Encodes every key (never the aliases).
    /// - Throws: `EncodingError`.
    public func encode(_ config: Config, to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: ConfigCodingKey.self)
        for k in keys { try k.encode(config, &c) }
    }

    /// Runs every key's validation, in table order, then the cross-key checks.
    /// - Throws: the first `ConfigError.invalidValue` (or what the cross-key checks throw).
    public func validate(_ config: Config) throws {
        for k in keys { if let e = k.check(config) { throw e } }
        try crossChecks(config)
    }

    /// Name, type, default and doc of every key.
    public var reference: [ConfigKeyInfo] {
        keys.map { ConfigKeyInfo(name: $0.name, type: $0.type, defaultValue: $0.format(defaults), doc: $0.doc) }
    }

    /// The keys as a Markdown table (`| key | type | default | meaning |`), then the aliases.
    public var markdown: String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var out = "| key | type | default | meaning |\n|---|---|---|---|\n"
        for k in reference {
            out += "| `\(k.name)` | \(cell(k.type)) | `\(cell(k.defaultValue.isEmpty ? "\"\"" : k.defaultValue))` | \(cell(k.doc)) |\n"
        }
        if !aliases.isEmpty {
            out += "\nOld key names, still read from config files (never written; a file may not mix one with the keys it replaces):\n\n"
            for a in aliases { out += "- `\(a.name)`: \(a.doc).\n" }
        }
        return out
    }

    /// The keys as plain text for a terminal: name, type, the value in `current`, the
    /// default when it differs, and the doc, one key per line.
    public func listing(current: Config) -> String {
        let w = (keys.map(\.name.count).max() ?? 0) + 2
        let tw = min(28, (keys.map(\.type.count).max() ?? 0) + 2)
        var out = ""
        for k in keys {
            let v = k.format(current), d = k.format(defaults)
            var line = "  " + k.name.padding(toLength: w, withPad: " ", startingAt: 0)
                + k.type.padding(toLength: max(tw, k.type.count + 1), withPad: " ", startingAt: 0)
                + "= " + (v.isEmpty ? "\"\"" : v)
            if v != d { line += " (default \(d.isEmpty ? "\"\"" : d))" }
            out += line + "\n      " + k.doc + "\n"
        }
        return out
    }
}
