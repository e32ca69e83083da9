import ArgumentParser
import FeatureLens
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a preset or a config file and write its report folder.",
        discussion: helpDiscussion("""
        PRESET is a built-in preset (see `featurelens presets`) or a config.json (as written next \
        to every run, or a flat config with only the keys you change). --set fixes a key for \
        every run of the preset; --grid replaces or adds an axis of its grid.
        Outputs in --out: config.json, report.json, metrics.csv, report.html, charts/*.svg.
        Setting `steps` of a synthetic preset without `audit_steps` keeps the preset's audit \
        steps below the new count and adds the last step (a note says which).
        """, examples: [
            HelpExample("One preset with seed 1, written to runs/cc1",
                        "featurelens run class-collapse --seed 1 --out runs/cc1"),
            HelpExample("Fewer steps (the audit steps follow), on a smaller input dimension",
                        "featurelens run class-collapse --set steps=2000 --set d=500"),
            HelpExample("Replace an axis of the preset's grid",
                        "featurelens run suppression-embedding-size --grid p=3,4,5,6"),
        ]))

    @Argument(help: "Preset name or path to a config .json file.")
    var preset: String

    @Option(name: .customLong("set"), help: "KEY=VALUE: fix a config key (repeatable).")
    var assignments: [String] = []

    @Option(name: .long, help: "KEY=v1,v2,...: replace or add a grid axis (repeatable).")
    var grid: [String] = []

    @Option(name: .long, help: "Random seed (same seed, same numbers).")
    var seed: UInt64?

    @Option(name: .long, help: "Output folder (default: featurelens-runs/<preset>).")
    var out: String?

    @Flag(name: .long, help: "Print a JSON summary on stdout instead of the tables.")
    var json = false

    @Option(name: .long, help: ArgumentHelp(
        "Continue the run in DIR from its checkpoints (give the same PRESET, --set, --grid and --seed).",
        valueName: "DIR"))
    var resume: String?

    @Option(name: .long, help: ArgumentHelp(
        "Steps between checkpoints (default: \(CheckpointPolicy.defaultSyntheticEvery) for synthetic presets, \(CheckpointPolicy.defaultImageEvery) for image presets; 0: only at the end and on SIGINT/SIGTERM).",
        valueName: "N"))
    var checkpointEvery: Int?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let n = checkpointEvery, n < 0 { throw ValidationError("--checkpoint-every must be ≥ 0, got \(n)") }
        if let r = resume, let o = out,
           URL(fileURLWithPath: r).standardizedFileURL.path != URL(fileURLWithPath: o).standardizedFileURL.path {
            throw ValidationError("--resume \(r) continues the run in \(r); --out \(o) names another folder (drop --out)")
        }
    }

    /// The run folder (`--resume`, `--out` or the default) and the checkpoint policy.
    func folderAndCheckpoints(defaultName: String, defaultEvery: Int) throws -> (URL, CheckpointPolicy) {
        let folder = URL(fileURLWithPath: resume ?? out ?? "featurelens-runs/\(defaultName)")
        if resume != nil {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("--resume \(folder.path): no such folder (nothing to resume)")
            }
        }
        return (folder, CheckpointPolicy(folder: folder, every: checkpointEvery ?? defaultEvery, resume: resume != nil))
    }

    func run() throws {
        let logger = global.apply()
        do {
            var sets = try assignments.map(parseAssignment)
            if let s = seed { sets.append(("seed", String(s))) }
            let axes = try grid.map(parseGridAxis)
            let experiment = try resolveExperiment(preset).applying(set: sets, grid: axes)
            try experiment.validate()
            if !global.quiet, let note = auditStepsNote(experiment, set: sets, grid: axes) {
                writeError("note: \(note)\n")
            }
            let defaultEvery = experiment.kind == .synthetic ? CheckpointPolicy.defaultSyntheticEvery : CheckpointPolicy.defaultImageEvery
            let (folder, policy) = try folderAndCheckpoints(defaultName: experiment.name, defaultEvery: defaultEvery)
            let result = try runExperiment(experiment, out: folder, checkpoints: policy, quiet: global.quiet || json, logger: logger)
            if json {
                try printJSONObject(jsonSummary(result, folder: folder.path))
            } else {
                printDocument(result.runs, headline: "\(experiment.name): \(experiment.summary)")
                print("Report: \(folder.appendingPathComponent("report.html").path)")
            }
            try finish(result.runs, folder: folder)
        } catch {
            throw oneLineError(error)
        }
    }

    /// Exit 130/143 after a signal, 3 after a divergence (the report is already written).
    func finish(_ runs: [RunReport], folder: URL) throws {
        try Interruption.exitIfInterrupted(folder)
        let diverged = runs.compactMap { r in r.divergence.map { "\(ReportCharts.title(r)): \($0)" } }
        if !diverged.isEmpty {
            for d in diverged { writeError("error: \(d)\n") }
            writeError("The audits before the divergence are in \(folder.path)/report.json.\n")
            throw ExitCode(3)
        }
    }
}
