// Experiments of both kinds behind one type, and their config files.
//
// A run folder's `config.json` is an `ExperimentFile`:
//
//     {"kind": "synthetic" | "image", "preset": NAME, "summary": TEXT,
//      "base": CONFIG, "settings": [...], "provenance": {...}}
//
// where CONFIG is a `SyntheticExperimentConfig` or an `ImageExperimentConfig` and the settings
// are `PresetSetting`s (synthetic) or key → value objects (image). A flat config (only the
// config keys, optionally with "kind") is one run. Files written before `kind` existed are
// still read: the kind is then inferred (an image preset's name, or an `encoder` key in the
// config, means image; anything else synthetic).
import Foundation

/// The two kinds of experiment: linear encoders on synthetic data (Gram-space gradient
/// descent) and image encoders trained with the mini-batch `Trainer`.
public enum ExperimentKind: String, Codable, Sendable, CaseIterable {
    /// Synthetic data, linear encoder (`SyntheticPreset`, `SyntheticExperimentConfig`).
    case synthetic
    /// Images, ConvNet/MLP encoder (`ImagePreset`, `ImageExperimentConfig`).
    case image
}

/// A preset of either kind: what `ExperimentRunner` runs.
public enum Experiment: Sendable, Equatable {
    /// A synthetic preset (or a synthetic config file).
    case synthetic(SyntheticPreset)
    /// An image preset (or an image config file).
    case image(ImagePreset)

    /// The kind of experiment.
    public var kind: ExperimentKind {
        switch self { case .synthetic: return .synthetic; case .image: return .image }
    }

    /// The preset's name.
    public var name: String {
        switch self { case let .synthetic(p): return p.name; case let .image(p): return p.name }
    }

    /// The preset's one-line description.
    public var summary: String {
        switch self { case let .synthetic(p): return p.summary; case let .image(p): return p.summary }
    }

    /// The named values of each setting of the grid, in grid order (e.g. `["p": "3"]`).
    public var settingValues: [[String: String]] {
        switch self { case let .synthetic(p): return p.settings.map(\.values); case let .image(p): return p.settings }
    }

    /// The base config's seed.
    public var seed: UInt64 {
        switch self { case let .synthetic(p): return p.base.seed; case let .image(p): return p.base.seed }
    }

    /// Names of every built-in preset (synthetic, then image).
    public static var presetNames: [String] { SyntheticPreset.names + ImagePresets.names }

    /// The built-in preset `name`.
    /// - Throws: `ExperimentFileError.unknownPreset` listing the names.
    public static func named(_ name: String) throws -> Experiment {
        if SyntheticPreset.names.contains(name) { return .synthetic(try SyntheticPreset.named(name)) }
        if ImagePresets.names.contains(name) { return .image(try ImagePresets.named(name)) }
        throw ExperimentFileError.unknownPreset(name: name, known: presetNames)
    }

    /// A built-in preset name, or a config file (a path ending in `.json`, or an existing file
    /// whose path contains `/`).
    /// - Throws: `ExperimentFileError` (unknown preset, unreadable or invalid file, naming the
    ///   file and the field).
    public static func resolve(_ nameOrPath: String) throws -> Experiment {
        if presetNames.contains(nameOrPath) { return try named(nameOrPath) }
        if nameOrPath.hasSuffix(".json") || (nameOrPath.contains("/") && FileManager.default.fileExists(atPath: nameOrPath)) {
            return try ExperimentFile.read(URL(fileURLWithPath: nameOrPath)).experiment
        }
        throw ExperimentFileError.unknownPreset(name: nameOrPath, known: presetNames)
    }

    /// The experiment with `--set` and `--grid` applied (`PresetGrid.apply`).
    /// - Throws: `ConfigError` for unknown keys or values of the wrong type.
    public func applying(set: [(String, String)], grid: [(String, [String])]) throws -> Experiment {
        switch self {
        case let .synthetic(p): return .synthetic(try p.applying(set: set, grid: grid))
        case let .image(p): return .image(try p.applying(set: set, grid: grid))
        }
    }

    /// The experiment reduced to setting `index` of its grid, with the seed replaced (one run
    /// of a sweep).
    /// - Throws: `ConfigError` (cannot happen for a seed).
    public func single(setting index: Int, seed: UInt64) throws -> Experiment {
        switch self {
        case var .synthetic(p):
            p.settings = [p.settings[index]]
            return .synthetic(try p.applying(set: [("seed", String(seed))], grid: []))
        case var .image(p):
            p.settings = [p.settings[index]]
            return .image(try p.applying(set: [("seed", String(seed))], grid: []))
        }
    }

    /// Checks every setting's config.
    /// - Throws: `ConfigError` naming the key.
    public func validate() throws {
        switch self {
        case let .synthetic(p): for i in p.settings.indices { try p.config(setting: i).validate() }
        case let .image(p): for i in p.settings.indices { try p.config(setting: i).validate() }
        }
    }
}

/// A config file that cannot be read.
public enum ExperimentFileError: Error, CustomStringConvertible, Equatable {
    /// Not a built-in preset (and not a config file).
    case unknownPreset(name: String, known: [String])
    /// The file cannot be read.
    case unreadable(file: String, detail: String)
    /// The file is not JSON or not a JSON object.
    case invalidJSON(file: String, detail: String)
    /// A top-level key the format does not have.
    case unknownKey(file: String, key: String, known: [String])
    /// A field with a bad value (e.g. an unknown `kind`) or a config that does not decode.
    case invalidField(file: String, field: String, detail: String)

    public var description: String {
        switch self {
        case let .unknownPreset(name, known):
            return "unknown preset '\(name)'; run `featurelens presets` for the list (\(known.joined(separator: ", ")))"
        case let .unreadable(file, detail): return "cannot read config \(file): \(detail)"
        case let .invalidJSON(file, detail): return "\(file): \(detail)"
        case let .unknownKey(file, key, known):
            return "\(file): top level: " + ConfigError.unknownKeyMessage(key, known: known, kind: nil)
        case let .invalidField(file, field, detail): return "\(file): field \(field): \(detail)"
        }
    }
}

/// The `config.json` of a run folder: an experiment of either kind, named explicitly, plus
/// provenance. `featurelens run config.json` (and `ExperimentFile.read`) accepts it as is.
public struct ExperimentFile: Sendable, Equatable {
    /// The experiment (its kind, name, summary, base config and settings).
    public var experiment: Experiment
    /// Where and how it was run (nil in a hand-written file).
    public var provenance: Provenance?

    /// The top-level keys of the full form.
    public static let keys = ["base", "kind", "preset", "provenance", "settings", "summary"]

    /// - Parameters: see the properties.
    public init(_ experiment: Experiment, provenance: Provenance? = nil) {
        self.experiment = experiment
        self.provenance = provenance
    }

    /// Pretty JSON with sorted keys (NaN/±∞ as strings), `kind` first among equals.
    /// - Throws: `EncodingError` (not for valid configs).
    public func jsonData() throws -> Data {
        let e = FeatureLensJSON.encoder()
        switch experiment {
        case let .synthetic(p):
            return try e.encode(SyntheticForm(kind: .synthetic, preset: p.name, summary: p.summary, base: p.base,
                                              settings: p.settings, provenance: provenance))
        case let .image(p):
            return try e.encode(ImageForm(kind: .image, preset: p.name, summary: p.summary, base: p.base,
                                          settings: p.settings, provenance: provenance))
        }
    }

    /// Reads a config file.
    /// - Throws: `ExperimentFileError` naming the file and the field.
    public static func read(_ url: URL) throws -> ExperimentFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ExperimentFileError.unreadable(file: url.path, detail: error.localizedDescription)
        }
        return try decode(data, file: url.path)
    }

    /// Decodes config-file bytes; `file` names the source in errors and names a flat config's
    /// preset (its last path component without extension).
    /// - Throws: `ExperimentFileError` naming the file and the field.
    public static func decode(_ data: Data, file: String) throws -> ExperimentFile {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ExperimentFileError.invalidJSON(file: file, detail: "not valid JSON (\(error.localizedDescription))")
        }
        guard var dict = object as? [String: Any] else {
            throw ExperimentFileError.invalidJSON(file: file, detail: "expected a JSON object at the top level")
        }
        let kind: ExperimentKind
        if let k = dict["kind"] {
            guard let s = k as? String, let parsed = ExperimentKind(rawValue: s) else {
                throw ExperimentFileError.invalidField(file: file, field: "kind", detail: "'\(k)'; expected \"synthetic\" or \"image\"")
            }
            kind = parsed
        } else {
            // Files written before `kind` existed.
            let isImage = (dict["preset"] as? String).map { ImagePresets.names.contains($0) } ?? false
                || (dict["base"] as? [String: Any])?["encoder"] != nil || dict["encoder"] != nil
            kind = isImage ? .image : .synthetic
        }
        let dec = FeatureLensJSON.decoder()
        func decoded<T: Decodable>(_ type: T.Type, _ bytes: Data, field: String) throws -> T {
            do { return try dec.decode(type, from: bytes) } catch {
                throw ExperimentFileError.invalidField(file: file, field: field, detail: Self.describe(error))
            }
        }
        if dict["base"] != nil {
            for key in dict.keys.sorted() where !keys.contains(key) {
                throw ExperimentFileError.unknownKey(file: file, key: key, known: keys)
            }
            for key in ["preset", "summary", "settings"] where dict[key] == nil {
                throw ExperimentFileError.invalidField(file: file, field: key, detail: "missing")
            }
            switch kind {
            case .synthetic:
                let f = try decoded(SyntheticForm.self, data, field: "base/settings")
                return ExperimentFile(.synthetic(SyntheticPreset(name: f.preset, summary: f.summary, base: f.base, settings: f.settings)),
                                      provenance: f.provenance)
            case .image:
                let f = try decoded(ImageForm.self, data, field: "base/settings")
                return ExperimentFile(.image(ImagePreset(name: f.preset, summary: f.summary, base: f.base, settings: f.settings,
                                                         expectedMinutes: 0)), provenance: f.provenance)
            }
        }
        // A flat config: one run (without its `kind`, which is not a config key).
        var flat = data
        if dict.removeValue(forKey: "kind") != nil {
            flat = (try? JSONSerialization.data(withJSONObject: dict)) ?? data
        }
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        switch kind {
        case .synthetic:
            let c = try decoded(SyntheticExperimentConfig.self, flat, field: "config")
            return ExperimentFile(.synthetic(SyntheticPreset(name: name, summary: "config \(file)", base: c,
                                                             settings: [PresetSetting(values: [:], overrides: [])])))
        case .image:
            let c = try decoded(ImageExperimentConfig.self, flat, field: "config")
            return ExperimentFile(.image(ImagePreset(name: name, summary: "config \(file)", base: c, settings: [[:]],
                                                     expectedMinutes: 0)))
        }
    }

    /// One line for a decoding error: the coding path and what was expected.
    static func describe(_ error: Error) -> String {
        guard let d = error as? DecodingError else { return String(describing: error) }
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch d {
        case let .dataCorrupted(c): return path(c).isEmpty ? c.debugDescription : "at '\(path(c))': \(c.debugDescription)"
        case let .keyNotFound(k, c): return "missing key '\(k.stringValue)'\(path(c).isEmpty ? "" : " at '\(path(c))'")"
        case let .typeMismatch(t, c): return "wrong type at '\(path(c))': expected \(t)"
        case let .valueNotFound(t, c): return "missing value at '\(path(c))': expected \(t)"
        @unknown default: return "\(d)"
        }
    }

    /// The full form of a synthetic experiment.
    struct SyntheticForm: Codable {
        var kind: ExperimentKind?
        var preset: String
        var summary: String
        var base: SyntheticExperimentConfig
        var settings: [PresetSetting]
        var provenance: Provenance?
    }

    /// The full form of an image experiment.
    struct ImageForm: Codable {
        var kind: ExperimentKind?
        var preset: String
        var summary: String
        var base: ImageExperimentConfig
        var settings: [[String: String]]
        var provenance: Provenance?
    }
}

extension Experiment {
    /// Whether `other` runs the same configs: same kind, base config and settings (name,
    /// summary and coupled recipes aside). A sweep keeps a finished run only when its
    /// config.json has the same config as the run it would make.
    public func hasSameConfig(as other: Experiment) -> Bool {
        switch (self, other) {
        case let (.synthetic(a), .synthetic(b)): return a.base == b.base && a.settings == b.settings
        case let (.image(a), .image(b)): return a.base == b.base && a.settings == b.settings
        default: return false
        }
    }
}
