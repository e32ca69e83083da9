import ArgumentParser
import FeatureLens
import Foundation

/// Exit code of `sweep run-one` when another live task holds the run's lock (nothing done).
let exitCodeRunHeld: Int32 = 5
/// Exit code of `sweep collect` when some runs are not finished (the summary covers the others).
let exitCodeSweepIncomplete: Int32 = 4

/// The absolute path of the running featurelens binary (written into the plan's script).
func currentExecutablePath() -> String {
    #if os(Linux)
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    #endif
    let arg0 = CommandLine.arguments[0]
    if arg0.hasPrefix("/") { return arg0 }
    if arg0.contains("/") { return URL(fileURLWithPath: arg0).standardizedFileURL.path }
    return Slurm.find(arg0) ?? arg0
}

/// The plan folder argument, checked to hold a plan.
func loadPlan(_ path: String) throws -> SweepPlan {
    try SweepPlan.load(URL(fileURLWithPath: path))
}

struct SweepRunOneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-one",
        abstract: "Run one run of a planned sweep (what each Slurm array task does).",
        discussion: helpDiscussion("""
        Safe to run more than once and twice at once: a finished run is skipped (exit 0); an \
        interrupted one continues from its checkpoint; while a live task holds the run's lock \
        (DIR/tasks/I.lock: host, pid, SLURM_JOB_ID) another exits with code 5 without touching \
        the folder; a lock whose holder is gone (dead process on this host, or a Slurm job no \
        longer in squeue) is broken. A failure is recorded in DIR/tasks/I.failed.json for \
        `sweep status`. Exit codes: 0 finished, 1 failed, 3 diverged (its report is written and \
        the run counts as done, as in a local sweep), 5 held by another task, 130/143 stopped \
        by SIGINT/SIGTERM (checkpoint written).
        """, examples: [
            HelpExample("Run index 3 of the plan in sweeps/ses (any launcher)",
                        "featurelens sweep run-one sweeps/ses --index 3"),
            HelpExample("Index 0 on one thread (results do not depend on it)",
                        "featurelens sweep run-one sweeps/ses --index 0 --threads 1"),
        ]))

    @Argument(help: ArgumentHelp("The plan folder (written by `sweep … --plan DIR`).", valueName: "DIR"))
    var dir: String

    // Unconditional: `--index -1` reads -1 (and gets the range error), not a missing value.
    @Option(name: .long, parsing: .unconditional, help: "The run's index (0 … N−1; $SLURM_ARRAY_TASK_ID under Slurm).")
    var index: Int

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.apply()
        do {
            let plan = try loadPlan(dir)
            if plan.manifest.featurelensVersion != FeatureLensInfo.version && !global.quiet {
                writeError("note: the plan was made by featurelens \(plan.manifest.featurelensVersion); this is \(FeatureLensInfo.version)\n")
            }
            let outcome: RunOneOutcome
            do {
                outcome = try plan.runOne(index: index, signal: { Interruption.signal }) { experiment, policy in
                    try runExperiment(experiment, out: policy.folder, concurrency: 1, checkpoints: policy, quiet: true, logger: logger)
                }
            } catch let e as SweepError {
                if case .runHeld = e {
                    writeError("error: \(e)\n")
                    throw ExitCode(exitCodeRunHeld)
                }
                throw e
            }
            let folder = plan.runFolder(index)
            switch outcome {
            case .alreadyFinished:
                if !global.quiet { print("Run \(index) is already finished: \(folder.path)") }
            case let .finished(resumed):
                if !global.quiet { print("Run \(index) \(resumed ? "resumed and " : "")finished: \(folder.path)") }
            case .interrupted:
                try Interruption.exitIfInterrupted(folder, howToContinue: "run the same index again (it continues from its checkpoint)")
            case let .diverged(message):
                writeError("error: run \(index) diverged: \(message); its report is in \(folder.path)\n")
                throw ExitCode(3)
            }
        } catch {
            throw oneLineError(error)
        }
    }
}

struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each run of a planned sweep: done, running, failed or pending.",
        discussion: helpDiscussion("""
        Read from the run folders, the locks and failure records in DIR/tasks and, when squeue \
        is on PATH, Slurm's queue (sacct is not needed). One line per run: index, state, \
        folder, detail; then the counts.
        """, examples: [
            HelpExample("The state of every run of the plan in sweeps/ses",
                        "featurelens sweep status sweeps/ses"),
            HelpExample("Only the counts",
                        "featurelens sweep status sweeps/ses --quiet"),
        ]))

    @Argument(help: ArgumentHelp("The plan folder.", valueName: "DIR"))
    var dir: String

    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.apply()
        do {
            let plan = try loadPlan(dir)
            let states = plan.status(queue: Slurm.queue())
            if !global.quiet {
                for s in states {
                    print("\(s.index)\t\(s.state.rawValue)\t\(s.folder)" + (s.detail.isEmpty ? "" : "\t\(s.detail)"))
                }
            }
            print(SweepRunStatus.State.allCases.map { st in "\(states.filter { $0.state == st }.count) \(st.rawValue)" }
                .joined(separator: ", ") + " (of \(states.count))")
        } catch {
            throw oneLineError(error)
        }
    }
}

struct SweepCollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Write summary.csv and summary.html of a planned sweep.",
        discussion: helpDiscussion("""
        The same files a local `featurelens sweep` of the same grid writes, in DIR. Runs not \
        finished are listed (stderr and summary.html) and left out; the exit code is then 4. \
        --resubmit-failed writes DIR/sweep-resubmit.sbatch, the job array of only the \
        unfinished runs that no task is running (--submit also submits it).
        """, examples: [
            HelpExample("Summarize the plan in sweeps/ses",
                        "featurelens sweep collect sweeps/ses"),
            HelpExample("Summarize, and submit the runs that failed or were cancelled again",
                        "featurelens sweep collect sweeps/ses --resubmit-failed --submit"),
        ]))

    @Argument(help: ArgumentHelp("The plan folder.", valueName: "DIR"))
    var dir: String

    @Flag(name: .long, help: "Write DIR/sweep-resubmit.sbatch for the unfinished runs no task is running.")
    var resubmitFailed = false

    @Flag(name: .long, help: "With --resubmit-failed: also submit it with sbatch.")
    var submit = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if submit && !resubmitFailed { throw ValidationError("--submit goes with --resubmit-failed") }
    }

    func run() throws {
        _ = global.apply()
        do {
            let plan = try loadPlan(dir)
            let queue = Slurm.queue()
            let collection = try plan.collect(queue: queue)
            print("Summary: \(plan.folder.appendingPathComponent("summary.csv").path), \(plan.folder.appendingPathComponent("summary.html").path)")
            if resubmitFailed {
                let again = collection.unfinished.filter { $0.state != .running }.map(\.index)
                if again.isEmpty {
                    print("Nothing to resubmit.")
                } else {
                    let script = try plan.resubmitScript(indices: again)
                    print("Resubmit script: \(script.path) (\(again.count) run(s): \(again.map(String.init).joined(separator: ",")))")
                    if submit {
                        let id = try Slurm.submit(script, planFolder: plan.folder)
                        try plan.recordJob(id)
                        print("Submitted batch job \(id)")
                    }
                }
            }
            if !collection.unfinished.isEmpty {
                writeError("\(collection.unfinished.count) run(s) not finished, left out of the summary:\n")
                for s in collection.unfinished {
                    writeError("  \(s.index)\t\(s.state.rawValue)\t\(s.folder)\(s.detail.isEmpty ? "" : "\t\(s.detail)")\n")
                }
                throw ExitCode(exitCodeSweepIncomplete)
            }
        } catch {
            throw oneLineError(error)
        }
    }
}
