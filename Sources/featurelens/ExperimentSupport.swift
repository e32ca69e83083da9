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

/// Resolves `PRESET|CONFIG.json` to an experiment (a built-in preset or a config file of
/// either kind, which names its kind or, when written before kinds existed, has it inferred).
func resolveExperiment(_ nameOrPath: String) throws -> Experiment {
    try Experiment.resolve(nameOrPath)
}

/// The note for a synthetic experiment whose `steps` were changed by `--set`/`--grid` without
/// `audit_steps` (`SyntheticPreset.applying` then fits the audit steps to the steps): which
/// audit steps the runs use. Nil otherwise.
func auditStepsNote(_ experiment: Experiment, set: [(String, String)], grid: [(String, [String])]) -> String? {
    let keys = Set(set.map(\.0) + grid.map(\.0))
    guard keys.contains("steps"), !keys.contains("audit_steps"), case let .synthetic(p) = experiment else { return nil }
    var lists: [String] = []
    for i in p.settings.indices {
        guard let c = try? p.config(setting: i) else { continue }
        let text = "\(c.auditSteps.map(String.init).joined(separator: ",")) (steps=\(c.steps))"
        if !lists.contains(text) { lists.append(text) }
    }
    return "audit_steps follow steps: " + lists.joined(separator: "; ")
        + " (the preset's audit steps below steps, then steps; --set audit_steps=... to choose others)"
}

/// All built-in preset names (synthetic, then real data).
var allPresetNames: [String] { Experiment.presetNames }

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
            writeError("interrupted by \(s): the partial report is in \(folder.path); \(hint)\n")
            throw ExitCode(s.exitCode)
        }
    }
}

/// A test hook: with `FEATURELENS_INTERRUPT_AFTER_UPDATES=N` in the environment the process
/// sends itself SIGINT when training reaches its N-th update check (counted over all
/// settings), so interruption tests stop at a chosen point instead of after a timed delay.
/// The stop then takes the same path as a signal from outside (handler, checkpoints,
/// partial report, exit 130).
final class InterruptionHook: @unchecked Sendable {
    private let limit: Int
    private var count = 0
    private let lock = NSLock()

    private init(limit: Int) { self.limit = limit }

    /// The hook the environment asks for, if any (a value that is not a positive integer is ignored).
    static func fromEnvironment() -> InterruptionHook? {
        guard let text = ProcessInfo.processInfo.environment["FEATURELENS_INTERRUPT_AFTER_UPDATES"],
              let n = Int(text), n > 0 else { return nil }
        return InterruptionHook(limit: n)
    }

    /// Counts one update check; at the limit, raises SIGINT once.
    func countUpdate() {
        lock.lock()
        count += 1
        let fire = count == limit
        lock.unlock()
        if fire { raise(SIGINT) }
    }
}

/// The runner of a command and its progress display: one status line on a terminal for the
/// whole run (steps of all settings, windowed rate, time left; `ProgressDisplay`) unless
/// `quiet`, stop on SIGINT/SIGTERM, checkpoints per `checkpoints`.
func makeRunner(_ experiment: Experiment, concurrency: Int, checkpoints: CheckpointPolicy?, quiet: Bool,
                logger: Logger) -> (runner: ExperimentRunner, progress: ProgressDisplay?) {
    Interruption.install()
    var runner = ExperimentRunner(concurrency: concurrency, logger: logger, recordsRepresentation: true, checkpoints: checkpoints)
    let hook = InterruptionHook.fromEnvironment()
    runner.shouldStop = {
        hook?.countUpdate()
        return Interruption.signal != nil
    }
    guard !quiet else { return (runner, nil) }
    let display = ProgressDisplay(label: experiment.name)
    guard display.isActive else { return (runner, nil) }
    runner.onProgress = { display.handle($0) }
    return (runner, display)
}

/// Runs an experiment and writes its folder (checkpoints per `checkpoints`, default: every
/// `CheckpointPolicy.defaultSyntheticEvery` / `defaultImageEvery` steps, no resume); returns
/// the result (partial after SIGINT/SIGTERM: check `Interruption.signal`).
func runExperiment(_ experiment: Experiment, out: URL, concurrency: Int = min(2, max(1, Parallel.threadCount)),
                   checkpoints: CheckpointPolicy? = nil, quiet: Bool, logger: Logger) throws -> ExperimentResult {
    let (runner, progress) = makeRunner(experiment, concurrency: concurrency, checkpoints: checkpoints, quiet: quiet, logger: logger)
    defer { progress?.finish() }
    return try runner.run(experiment, writingTo: out)
}

/// Prints a run document as tables, theory lines and verdict sentences.
func printDocument(_ runs: [RunReport], headline: String? = nil) {
    if let h = headline { print(h) }
    for run in runs {
        if runs.count > 1 { print("— \(ReportCharts.title(run))") }
        if let d = run.divergence { print("DIVERGED: \(d); the table shows the audits before it.") }
        if let s = run.interruptedAtStep {
            print("INTERRUPTED at step \(s): a partial report; the table and verdicts cover the audits up to that step (continue with --resume).")
        }
        print(ReportText.table(run), terminator: "")
        if let t = ReportText.theoryLine(run) { print(t) }
        for s in ReportText.verdictSentences(run) { print("  " + s) }
    }
}

/// The `--json` summary of a document: per run, settings, final probes, verdicts, theory.
func jsonSummary(_ result: ExperimentResult, folder: String) -> [String: Any] {
    [
        "preset": result.experiment.name,
        "folder": folder,
        "runs": result.runs.map { r -> [String: Any] in
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
    print(String(decoding: try FeatureLensJSON.data(jsonObject: obj), as: UTF8.self))
}
