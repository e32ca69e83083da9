// Checkpoints of a preset run: one per setting, in the run folder,
//
//     <run folder>/checkpoints/<i>-<slug>/checkpoint.safetensors
//
// where i is the setting's position in the preset's grid (0-based) and slug its name with
// every character outside [A-Za-z0-9._-] replaced by "-" ("default" for a preset with one
// unnamed setting), e.g. `checkpoints/0-rho-0.6/`. Each file is replaced atomically at every
// save (Checkpoint.swift), every N steps, at the end of the setting's training and when a
// signal stops the run; a diverged setting keeps its last good checkpoint. A finished
// setting's checkpoint stays (at its last step, with its audits), so `--resume` restores it
// without retraining. Besides the weights and optimizer/engine state, every checkpoint carries:
//
//     run.setting      the setting's name (e.g. "rho=0.6"), checked on resume
//     run.timeline     the audits recorded up to its step (JSON, one timeline per probed
//                      layer), so a resumed run's report holds the whole timeline
//     run.wall_seconds training time so far, in seconds (informational)
//
// A run without --resume starts over: it first removes the folder's checkpoints.
import Foundation

/// Where and how often a preset run writes its checkpoints, and whether it resumes from them.
public struct CheckpointPolicy: Sendable, Equatable {
    /// The run folder (checkpoints go to `folder/checkpoints/<i>-<slug>/`).
    public var folder: URL
    /// Steps between periodic checkpoints (a checkpoint is written at every positive multiple
    /// of it); 0 = only at the end of each setting and when a signal stops the run.
    public var every: Int
    /// Continue every setting from its checkpoint (finished settings are restored, not
    /// retrained; settings without a checkpoint start at step 0). When false the run starts
    /// over and first removes the folder's checkpoints.
    public var resume: Bool

    /// Default `every` for the synthetic presets: 1000 steps (their steps take micro- to
    /// milliseconds; a preset runs 3000–30 000 steps per setting).
    public static let defaultSyntheticEvery = 1000
    /// Default `every` for the image presets: 100 steps (about 20–40 s of training on 2 cores).
    public static let defaultImageEvery = 100

    /// - Parameters: see the properties.
    public init(folder: URL, every: Int, resume: Bool = false) {
        self.folder = folder
        self.every = every
        self.resume = resume
    }
}

/// Why a run cannot be resumed from a folder. Each message names the file (and the field).
public enum ResumeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The folder holds no checkpoint at all.
    case nothingToResume(folder: String)
    /// A checkpoint's config differs from the requested config in `field`.
    case configMismatch(file: String, field: String, checkpoint: String, requested: String)
    /// A checkpoint's setting is not the requested setting at that position (`found` nil: the
    /// requested run has no setting at that position).
    case settingMismatch(file: String, expected: String?, found: String)
    /// A checkpoint was written by another kind of run (synthetic vs image).
    case wrongKind(file: String, expected: String, found: String)
    /// The checkpoint's config or timeline JSON cannot be read.
    case unreadable(file: String, field: String, detail: String)

    public var description: String {
        switch self {
        case let .nothingToResume(folder):
            return "\(folder): nothing to resume: no checkpoint (expected \(folder)/\(RunCheckpoints.folderName)/<setting>/\(Checkpoint.fileName)); run the preset again without --resume"
        case let .configMismatch(file, field, checkpoint, requested):
            return "\(file): config field \(field) is \(checkpoint) in the checkpoint but \(requested) in the requested run; resume with the same preset, --set and --grid values, or start over without --resume"
        case let .settingMismatch(file, expected, found):
            if let expected {
                return "\(file): field run.setting is \"\(found)\"; the requested run has \"\(expected)\" at this position (same preset, --set and --grid values?)"
            }
            return "\(file): field run.setting is \"\(found)\", which the requested run does not have (same preset, --set and --grid values?)"
        case let .wrongKind(file, expected, found):
            return "\(file): field run.kind is \"\(found)\"; expected \"\(expected)\" (a checkpoint of another kind of preset)"
        case let .unreadable(file, field, detail):
            return "\(file): field \(field): \(detail)"
        }
    }
}

/// Naming, listing and checking the per-setting checkpoints of a run folder (layout at the top
/// of this file).
public enum RunCheckpoints {
    /// Subfolder of the run folder holding one folder per setting.
    public static let folderName = "checkpoints"
    /// Config keys that do not change results and may differ on resume (thread counts).
    public static let ignoredConfigKeys: Set<String> = ["threads"]

    /// `runFolder/checkpoints/<index>-<slug>/` for setting `index` named `name`.
    public static func directory(in runFolder: URL, setting index: Int, name: String) -> URL {
        runFolder.appendingPathComponent(folderName).appendingPathComponent("\(index)-\(slug(name))")
    }

    /// `name` with every character outside `[A-Za-z0-9._-]` replaced by `-`; `default` when empty.
    public static func slug(_ name: String) -> String {
        let s = String(name.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "-"
        })
        return s.isEmpty ? "default" : s
    }

    /// The setting folders under `runFolder/checkpoints/` that hold a checkpoint file, sorted.
    public static func existing(in runFolder: URL) -> [URL] {
        let root = runFolder.appendingPathComponent(folderName)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.sorted().map { root.appendingPathComponent($0) }.filter { Checkpoint.exists(in: $0) }
    }

    /// Removes the checkpoints of an earlier run (each `checkpoint.safetensors` and its stale
    /// temporaries, then the folders left empty). Files FeatureLens did not write stay.
    public static func removeAll(in runFolder: URL) {
        let root = runFolder.appendingPathComponent(folderName)
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root.path) else { return }
        for n in names {
            let dir = root.appendingPathComponent(n)
            Checkpoint.removeStaleTemporaries(in: dir)
            try? fm.removeItem(at: Checkpoint.url(in: dir))
            if (try? fm.contentsOfDirectory(atPath: dir.path))?.isEmpty == true { try? fm.removeItem(at: dir) }
        }
        if (try? fm.contentsOfDirectory(atPath: root.path))?.isEmpty == true { try? fm.removeItem(at: root) }
    }

    /// A setting as a resume check needs it.
    public struct Expected: Sendable {
        /// The setting's name (`run.setting`).
        public var name: String
        /// Its full config as JSON text.
        public var configJSON: String
        /// - Parameters: see the properties.
        public init(name: String, configJSON: String) { self.name = name; self.configJSON = configJSON }
    }

    /// Checks, before any training, that the checkpoints in `policy.folder` belong to the
    /// requested settings: every checkpoint folder is the folder of a requested setting, its
    /// `run.kind`, `run.setting` and config (ignoring `ignoredConfigKeys`) match.
    /// - Returns: per requested setting, its decoded checkpoint (nil: none yet).
    /// - Throws: `ResumeError.nothingToResume` when the folder holds no checkpoint,
    ///   `.settingMismatch`, `.wrongKind`, `.configMismatch` naming the file and the field;
    ///   `SafeTensorsError` / `CheckpointError` for a damaged file.
    public static func checkResume(_ policy: CheckpointPolicy, kind: String,
                                   settings: [Expected]) throws -> [SafeTensorsFile?] {
        let found = existing(in: policy.folder)
        guard !found.isEmpty else { throw ResumeError.nothingToResume(folder: policy.folder.path) }
        let dirs = settings.indices.map { directory(in: policy.folder, setting: $0, name: settings[$0].name).standardizedFileURL.path }
        for f in found {
            let file = try SafeTensors.read(contentsOf: Checkpoint.url(in: f))
            let foundKind = file.metadata["run.kind"] ?? "missing"
            guard foundKind == kind else { throw ResumeError.wrongKind(file: file.file, expected: kind, found: foundKind) }
            if dirs.contains(f.standardizedFileURL.path) { continue }
            let index = Int(f.lastPathComponent.prefix { $0.isNumber }).flatMap { settings.indices.contains($0) ? $0 : nil }
            throw ResumeError.settingMismatch(file: file.file, expected: index.map { settings[$0].name },
                                              found: file.metadata["run.setting"] ?? f.lastPathComponent)
        }
        var out: [SafeTensorsFile?] = []
        for (i, s) in settings.enumerated() {
            let dir = directory(in: policy.folder, setting: i, name: s.name)
            guard Checkpoint.exists(in: dir) else { out.append(nil); continue }
            let file = try SafeTensors.read(contentsOf: Checkpoint.url(in: dir))
            let name = file.metadata["run.setting"] ?? "missing"
            guard name == s.name else { throw ResumeError.settingMismatch(file: file.file, expected: s.name, found: name) }
            let config = try Checkpoint.metadataField(file, "config", expected: "the run config as JSON text")
            if let (field, a, b) = try configDifference(checkpoint: config, requested: s.configJSON, file: file.file, kind: kind) {
                throw ResumeError.configMismatch(file: file.file, field: field, checkpoint: a, requested: b)
            }
            out.append(file)
        }
        return out
    }

    /// The first config field (sorted by key, ignoring `ignoredConfigKeys`) whose value differs
    /// between two config JSON objects, with both values as JSON text; nil when they agree.
    /// `kind` is the checkpoint kind of the run (`MiniBatchEngine.checkpointKind` for image runs).
    /// - Throws: `ResumeError.unreadable` when the checkpoint's text is not a JSON object.
    static func configDifference(checkpoint: String, requested: String, file: String, kind: String) throws -> (String, String, String)? {
        guard var a = try? JSONSerialization.jsonObject(with: Data(checkpoint.utf8)) as? [String: Any] else {
            throw ResumeError.unreadable(file: file, field: "config", detail: "not a JSON object")
        }
        // An image checkpoint written by an earlier version may use old key names
        // (`embedding`/`head`, `class_within`) and lack keys added since (`within`, `labels`,
        // …): read it through the config table, which maps the old names and gives missing
        // keys their defaults, so it compares in the current keys. Versions before `grouping`
        // applied Fashion-MNIST's grouping to every image folder: that is its value there.
        if kind == MiniBatchEngine.checkpointKind {
            var withGrouping = a
            if withGrouping["grouping"] == nil { withGrouping["grouping"] = "fashion-mnist" }
            if let text = try? JSONSerialization.data(withJSONObject: withGrouping),
               let old = try? FeatureLensJSON.decoder().decode(ImageExperimentConfig.self, from: text),
               let current = try? JSONSerialization.jsonObject(with: FeatureLensJSON.encode(old, pretty: false)) as? [String: Any] {
                a = current
            }
        }
        let b = (try? JSONSerialization.jsonObject(with: Data(requested.utf8)) as? [String: Any]) ?? [:]
        func text(_ v: Any?) -> String {
            guard let v else { return "absent" }
            guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) else { return "\(v)" }
            return String(decoding: d, as: UTF8.self)
        }
        for key in Set(a.keys).union(b.keys).subtracting(ignoredConfigKeys).sorted() {
            let x = text(a[key]), y = text(b[key])
            if x != y { return (key, x, y) }
        }
        return nil
    }

    /// JSON text of `value` for checkpoint metadata: sorted keys, NaN/±∞ as strings, numbers
    /// in their shortest round-trip form (so they read back bit for bit).
    static func json<T: Encodable>(_ value: T) throws -> String {
        try FeatureLensJSON.string(value, pretty: false)
    }

    /// Decodes checkpoint metadata `field` written by `json(_:)`.
    /// - Throws: `ResumeError.unreadable` naming the file and the field.
    static func decode<T: Decodable>(_ type: T.Type, field: String, of checkpoint: SafeTensorsFile) throws -> T {
        guard let text = checkpoint.metadata[field] else {
            throw ResumeError.unreadable(file: checkpoint.file, field: field, detail: "missing")
        }
        do { return try FeatureLensJSON.decoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw ResumeError.unreadable(file: checkpoint.file, field: field, detail: "\(error)".prefix(200).description)
        }
    }
}
