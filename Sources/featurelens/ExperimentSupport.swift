import ArgumentParser
import FeatureLens
import Foundation
import Logging

/// A failure the CLI reports as one line on stderr with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Describes any error in one line (typed errors print their own description).
func describe(_ error: Error) -> String {
    if let d = error as? DecodingError {
        // "field 'base.lr': wrong type: …" (the caller prefixes the file).
        let message = FeatureLensJSON.message(d)
        return FeatureLensJSON.fieldPath(d).map { "field '\($0)': \(message)" } ?? message
    }
    return String(describing: error)
}

/// The error a command rethrows: `CLIError` and `ExitCode` pass through (they already say
/// what happened and choose the exit code); anything else becomes a one-line `CLIError`.
func oneLineError(_ error: Error) -> Error {
    if error is CLIError || error is ExitCode { return error }
    return CLIError(describe(error))
}

/// Pretty JSON with sorted keys (`FeatureLensJSON`).
func prettyJSON<T: Encodable>(_ value: T) throws -> Data {
    try FeatureLensJSON.encode(value)
}

/// The `config.json` of a synthetic run: the preset as run plus provenance. `featurelens run
/// config.json` accepts it as is.
struct SyntheticConfigFile: Codable {
    var preset: String
    var summary: String
    var base: SyntheticExperimentConfig
    var settings: [PresetSetting]
    var provenance: Provenance?

    init(_ p: SyntheticPreset, provenance: Provenance?) {
        preset = p.name; summary = p.summary; base = p.base; settings = p.settings; self.provenance = provenance
    }

    /// Decodes the file; a key other than the five above is an error (a typo must not be ignored).
    init(from decoder: Decoder) throws {
        try ConfigError.rejectUnknownKeys(in: decoder, allowed: ["preset", "summary", "base", "settings", "provenance"],
                                          what: "synthetic config file")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(String.self, forKey: .preset)
        summary = try c.decode(String.self, forKey: .summary)
        base = try c.decode(SyntheticExperimentConfig.self, forKey: .base)
        settings = try c.decode([PresetSetting].self, forKey: .settings)
        provenance = try c.decodeIfPresent(Provenance.self, forKey: .provenance)
    }

    var asPreset: SyntheticPreset {
        SyntheticPreset(name: preset, summary: summary, base: base, settings: settings)
    }
}

/// Resolves `PRESET|CONFIG.json` to a synthetic preset.
func resolveSyntheticPreset(_ nameOrPath: String) throws -> SyntheticPreset {
    if nameOrPath.hasSuffix(".json") || FileManager.default.fileExists(atPath: nameOrPath) && nameOrPath.contains("/") {
        let url = URL(fileURLWithPath: nameOrPath)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIError("cannot read config \(nameOrPath): \(error.localizedDescription)")
        }
        let dec = FeatureLensJSON.decoder()
        // Full form (as written next to every run) or a flat config (one run).
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw CLIError("\(nameOrPath): not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else { throw CLIError("\(nameOrPath): expected a JSON object at the top level") }
        do {
            if dict["base"] != nil {
                return try dec.decode(SyntheticConfigFile.self, from: data).asPreset
            }
            let c = try dec.decode(SyntheticExperimentConfig.self, from: data)
            return SyntheticPreset(name: url.deletingPathExtension().lastPathComponent, summary: "config \(nameOrPath)",
                                   base: c, settings: [PresetSetting(values: [:], overrides: [])])
        } catch {
            throw CLIError("\(nameOrPath): \(describe(error))")
        }
    }
    do { return try SyntheticPreset.named(nameOrPath) } catch {
        throw CLIError("unknown preset '\(nameOrPath)'; run `featurelens presets` for the list (\(allPresetNames.joined(separator: ", ")))")
    }
}

/// All built-in preset names (synthetic, then real data).
var allPresetNames: [String] { SyntheticPreset.names + ImagePresets.names }

/// SIGINT/SIGTERM for the whole process: training stops after the current step, the
/// partial report is written, and the command exits with 130 (SIGINT) or 143 (SIGTERM).
enum Interruption {
    nonisolated(unsafe) static var monitor: AnyObject?

    /// Installs the handlers (once).
    static func install() {
        // A parent may hand us SIGINT/SIGTERM blocked (test harnesses do); unblock them so
        // the handlers can run.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
        #if os(Linux)
        if monitor == nil { monitor = InterruptionMonitor() }
        #else
        if #available(macOS 15.0, *), monitor == nil { monitor = InterruptionMonitor() }
        #endif
    }

    /// The signal received so far, if any.
    static var signal: InterruptionSignal? {
        #if os(Linux)
        return (monitor as? InterruptionMonitor)?.signal
        #else
        if #available(macOS 15.0, *) { return (monitor as? InterruptionMonitor)?.signal }
        return nil
        #endif
    }

    /// Exits with the signal's code after work was saved, when a signal was received.
    /// `howToContinue` completes "…; " in the message (default: the `run --resume` hint).
    static func exitIfInterrupted(_ folder: URL, howToContinue: String? = nil) throws {
        if let s = signal {
            let hint = howToContinue ?? "continue by running the same command with --resume \(folder.path)"
            FileHandle.standardError.write(Data("interrupted by \(s): the partial report is in \(folder.path); \(hint)\n".utf8))
            throw ExitCode(s.exitCode)
        }
    }
}

/// Runs a synthetic preset and writes its folder (checkpoints per `checkpoints`, default:
/// every `CheckpointPolicy.defaultSyntheticEvery` steps, no resume); returns the document.
func runSynthetic(_ preset: SyntheticPreset, out: URL, threads: Int, checkpoints: CheckpointPolicy? = nil,
                  quiet: Bool, logger: Logger) throws -> ReportDocument<SyntheticPreset> {
    try AtomicFile.prepareDirectory(out)
    Interruption.install()
    let progress = ProgressReporter(label: preset.name, total: preset.settings.count, enabled: !quiet)
    var runner = SyntheticRunner(concurrency: min(2, max(1, threads)), logger: logger, recordsRepresentation: true,
                                 onSettingFinished: { done, total in progress.update(done) })
    runner.shouldStop = { Interruption.signal != nil }
    runner.checkpoints = checkpoints ?? CheckpointPolicy(folder: out, every: CheckpointPolicy.defaultSyntheticEvery)
    progress.update(0)
    let result = try runner.run(preset)
    progress.finish()
    let doc = try result.reportDocument(preset: preset)
    let config = try prettyJSON(SyntheticConfigFile(preset, provenance: doc.provenance))
    try RunOutput.write(doc, configJSON: config, to: out, testCount: preset.base.nTest)
    return doc
}

/// Prints a run document as tables, theory lines and verdict sentences.
func printDocument<C>(_ doc: ReportDocument<C>, headline: String? = nil) {
    if let h = headline { print(h) }
    for run in doc.runs {
        if doc.runs.count > 1 { print("— \(ReportCharts.title(run))") }
        if let d = run.divergence { print("DIVERGED: \(d); the table shows the audits before it.") }
        print(ReportText.table(run), terminator: "")
        if let t = ReportText.theoryLine(run) { print(t) }
        for s in ReportText.verdictSentences(run) { print("  " + s) }
    }
}

/// The `--json` summary of a document: per run, settings, final probes, verdicts, theory.
func jsonSummary<C>(_ doc: ReportDocument<C>, folder: String) -> [String: Any] {
    [
        "preset": doc.preset,
        "folder": folder,
        "runs": doc.runs.map { r -> [String: Any] in
            var d: [String: Any] = [
                "settings": r.settings.mapValues { $0.description },
                "final": r.final.probes,
                "verdicts": r.verdicts.mapValues { $0.rawValue },
            ]
            if let t = r.theory {
                d["theory"] = ["norm_ratio": t.normRatio, "gram_distance": t.gramDistance, "loss_gap": t.lossGap, "probes": t.probes]
            }
            return d
        },
    ]
}

func printJSONObject(_ obj: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

// MARK: Real-data (image) presets

/// The `config.json` of an image run; `featurelens run config.json` accepts it as is.
struct ImageConfigFile: Codable {
    var preset: String
    var summary: String
    var base: ImageExperimentConfig
    var settings: [[String: String]]
    var provenance: Provenance?

    /// Decodes the file; a key other than the five above is an error (a typo must not be ignored).
    init(from decoder: Decoder) throws {
        try ConfigError.rejectUnknownKeys(in: decoder, allowed: ["preset", "summary", "base", "settings", "provenance"],
                                          what: "image config file")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(String.self, forKey: .preset)
        summary = try c.decode(String.self, forKey: .summary)
        base = try c.decode(ImageExperimentConfig.self, forKey: .base)
        settings = try c.decode([[String: String]].self, forKey: .settings)
        provenance = try c.decodeIfPresent(Provenance.self, forKey: .provenance)
    }

    init(preset: String, summary: String, base: ImageExperimentConfig, settings: [[String: String]], provenance: Provenance?) {
        self.preset = preset; self.summary = summary; self.base = base; self.settings = settings; self.provenance = provenance
    }

    var asPreset: ImagePreset {
        ImagePreset(name: preset, summary: summary, base: base, settings: settings, expectedMinutes: 0)
    }
}

extension ImagePreset {
    /// `--set` fixes a key for every run (removing it from the grid); `--grid` replaces or adds an axis.
    func applying(set: [(String, String)], grid: [(String, [String])]) throws -> ImagePreset {
        var p = self
        // The old keys `embedding`/`head` map onto p and backbone_width by a rule (config files
        // keep them readable); as a --set/--grid axis they would not replace the preset's own.
        for k in set.map(\.0) + grid.map(\.0) {
            if let a = ImageExperimentConfig.table.aliases.first(where: { $0.name == k }) {
                throw CLIError("'\(k)' is an old key name (\(a.doc)); set \(a.replaces.joined(separator: " or ")) instead")
            }
        }
        for (k, v) in set {
            try p.base.set(key: k, value: v)
            p.settings = p.settings.map { var s = $0; s[k] = nil; return s }
        }
        for (k, values) in grid {
            for v in values { var probe = p.base; try probe.set(key: k, value: v) }
            p.settings = p.settings.flatMap { s in values.map { v in var n = s; n[k] = v; return n } }
        }
        var unique: [[String: String]] = []
        for s in p.settings where !unique.contains(s) { unique.append(s) }
        p.settings = unique.isEmpty ? [[:]] : unique
        return p
    }
}

/// Resolves an image preset name or an image config file; nil when `nameOrPath` is neither.
func resolveImagePreset(_ nameOrPath: String) throws -> ImagePreset? {
    if ImagePresets.names.contains(nameOrPath) { return try ImagePresets.named(nameOrPath) }
    guard nameOrPath.hasSuffix(".json"), let data = FileManager.default.contents(atPath: nameOrPath),
          let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    let isImage = (obj["preset"] as? String).map { ImagePresets.names.contains($0) } ?? false
        || (obj["base"] as? [String: Any])?["encoder"] != nil || obj["encoder"] != nil
    guard isImage else { return nil }
    let dec = FeatureLensJSON.decoder()
    do {
        if obj["base"] != nil { return try dec.decode(ImageConfigFile.self, from: data).asPreset }
        let c = try dec.decode(ImageExperimentConfig.self, from: data)
        return ImagePreset(name: URL(fileURLWithPath: nameOrPath).deletingPathExtension().lastPathComponent,
                           summary: "config \(nameOrPath)", base: c, settings: [[:]], expectedMinutes: 0)
    } catch {
        throw CLIError("\(nameOrPath): \(describe(error))")
    }
}

/// Runs an image preset and writes its folder (checkpoints per `checkpoints`); returns the
/// document (partial after SIGINT/SIGTERM: check `Interruption.signal`).
func runImage(_ preset: ImagePreset, out: URL, checkpoints: CheckpointPolicy, quiet: Bool,
              logger: Logger) throws -> ReportDocument<ImageExperimentConfig> {
    try AtomicFile.prepareDirectory(out)
    Interruption.install()
    var reporter: ProgressReporter?
    var current = ""
    var runner = ImageRunner(logger: logger, progress: quiet ? nil : { label, step, total, loss in
        if label != current {
            reporter?.finish()
            current = label
            reporter = ProgressReporter(label: label, total: total, enabled: true)
        }
        reporter?.update(step, loss: loss)
    })
    runner.shouldStop = { Interruption.signal != nil }
    runner.checkpoints = checkpoints
    let doc = try runner.run(preset, overrides: [], seed: nil)
    reporter?.finish()
    let file = ImageConfigFile(preset: preset.name, summary: preset.summary, base: preset.base,
                               settings: preset.settings, provenance: doc.provenance)
    try RunOutput.write(doc, configJSON: try prettyJSON(file), to: out, testCount: preset.base.testLimit)
    return doc
}
