import ArgumentParser
import FeatureLens
import Foundation

/// `featurelens sweep`: the sweep of a grid (`sweep PRESET …`, the default subcommand
/// `sweep run`) and the commands of a planned sweep (`run-one`, `status`, `collect`).
struct SweepGroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a preset over a grid and several seeds; summarize final probe accuracy against the swept keys.",
        discussion: helpDiscussion("""
        `featurelens sweep PRESET …` runs the sweep here (the same as `sweep run PRESET …`; \
        see `featurelens sweep run --help`), a shard of it (--shard i/n) or writes it as a plan \
        for Slurm or any other launcher (--plan DIR); `run-one`, `status` and `collect` work on \
        a plan.
        """, examples: [
            HelpExample("Class probe against the embedding size, three seeds",
                        "featurelens sweep suppression-embedding-size --grid p=1,3,5,7 --seeds 0,1,2"),
            HelpExample("Plan a Slurm job array, 4 tasks at a time, and submit it",
                        "featurelens sweep suppression-embedding-size --seeds 0,1,2",
                        "--plan sweeps/ses --array-limit 4 --time 30 --submit"),
            HelpExample("Summarize the plan once its runs are done",
                        "featurelens sweep collect sweeps/ses"),
        ]),
        subcommands: [SweepCommand.self, SweepRunOneCommand.self, SweepStatusCommand.self, SweepCollectCommand.self],
        defaultSubcommand: SweepCommand.self)
}

/// `featurelens sweep [run] PRESET …`: every (grid point, seed) of a preset, here, a shard of
/// it, or as a plan.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a preset over a grid and several seeds (here, a shard, or as a plan).",
        discussion: helpDiscussion("""
        Each (grid point, seed) gets its own run folder under --out; a folder that already \
        holds a complete report.json of the same config is skipped, and a run cut short by \
        SIGINT/SIGTERM continues from its checkpoints, so an interrupted sweep resumes where it stopped. \
        Writes summary.csv (mean and standard deviation over seeds) and summary.html.
        --shard i/n runs only the runs whose index is i modulo n (0 ≤ i < n), so n machines \
        split one sweep folder; the summary is written once every run is finished.
        --plan DIR writes the sweep without running it: DIR/manifest.json (every run's index, \
        grid point, seed and config), one folder per run and DIR/sweep.sbatch, a Slurm job \
        array whose task i runs `featurelens sweep run-one DIR --index i` (--submit: sbatch \
        it). Then `sweep status DIR` and `sweep collect DIR`.
        """, examples: [
            HelpExample("Two learning rates on a shorter run (the audit steps follow steps)",
                        "featurelens sweep class-collapse --grid lr=0.01,0.05 --set steps=2000"),
            HelpExample("The second of four machines sharing one sweep folder",
                        "featurelens sweep run class-collapse --seeds 0,1,2,3 --shard 1/4 --out sw"),
            HelpExample("Plan a Slurm job array with a partition and a time limit",
                        "featurelens sweep joint-loss --plan sweeps/jl --partition cpu --time 1:00:00"),
        ]))

    @Argument(help: "Preset name or config .json.")
    var preset: String

    @Option(name: .long, help: "KEY=v1,v2,...: replace or add a grid axis (repeatable).")
    var grid: [String] = []

    @Option(name: .customLong("set"), help: "KEY=VALUE: fix a config key (repeatable).")
    var assignments: [String] = []

    @Option(name: .long, help: "Comma-separated seeds.")
    var seeds: String = "0"

    @Option(name: .long, help: "Output folder (default: featurelens-sweeps/<preset>).")
    var out: String?

    // Unconditional: `--shard -1/2` reads "-1/2" (and gets the shard error), not a missing value.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Run only the runs whose index is i modulo n (0 ≤ i < n).", valueName: "i/n"))
    var shard: String?

    @Option(name: .long, help: ArgumentHelp("Write the plan (manifest, run folders, sweep.sbatch) to DIR instead of running.", valueName: "DIR"))
    var plan: String?

    @Flag(name: .long, help: "With --plan: submit sweep.sbatch with sbatch and print the job id.")
    var submit = false

    @Option(name: .long, help: ArgumentHelp("With --plan: at most M array tasks at once (%M).", valueName: "M"))
    var arrayLimit: Int?

    @Option(name: .long, help: ArgumentHelp("With --plan: Slurm partition.", valueName: "P"))
    var partition: String?

    @Option(name: .long, help: ArgumentHelp("With --plan: Slurm time limit per task (e.g. 30, 2:00:00).", valueName: "T"))
    var time: String?

    @Option(name: .long, help: ArgumentHelp("With --plan: CPUs per task (also each run's --threads).", valueName: "N"))
    var cpusPerTask: Int?

    @Option(name: .long, help: ArgumentHelp("With --plan: memory per task (e.g. 4G).", valueName: "M"))
    var mem: String?

    @Option(name: .long, help: ArgumentHelp("With --plan: Slurm account.", valueName: "A"))
    var account: String?

    @Option(name: .long, help: ArgumentHelp("With --plan: any other #SBATCH option (repeatable).", valueName: "KEY=VALUE"))
    var slurmOption: [String] = []

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if plan == nil {
            let slurmOnly: [(String, Bool)] = [("--submit", submit), ("--array-limit", arrayLimit != nil), ("--partition", partition != nil),
                                               ("--time", time != nil), ("--cpus-per-task", cpusPerTask != nil), ("--mem", mem != nil),
                                               ("--account", account != nil), ("--slurm-option", !slurmOption.isEmpty)]
            if let (name, _) = slurmOnly.first(where: { $0.1 }) { throw ValidationError("\(name) goes with --plan DIR") }
        } else {
            if out != nil { throw ValidationError("--plan DIR is the sweep folder; drop --out") }
            if shard != nil { throw ValidationError("--shard runs a local sweep; a plan's runs are run by `sweep run-one` (drop --shard or --plan)") }
        }
        if let m = arrayLimit, m < 1 { throw ValidationError("--array-limit must be at least 1, got \(m)") }
        if let n = cpusPerTask, n < 1 { throw ValidationError("--cpus-per-task must be at least 1, got \(n)") }
    }

    func run() throws {
        let logger = global.apply()
        do {
            let seedList = try SweepRun.parseSeeds(seeds)
            let shard = try self.shard.map { try SweepShard(parsing: $0) }
            let sets = try assignments.map(parseAssignment), axes = try grid.map(parseGridAxis)
            let base = try resolveExperiment(preset).applying(set: sets, grid: axes)
            try base.validate()
            if !global.quiet, let note = auditStepsNote(base, set: sets, grid: axes) {
                writeError("note: \(note)\n")
            }
            let runs = try SweepRun.all(of: base, seeds: seedList)
            if let plan {
                try writePlan(runs, base: base, folder: URL(fileURLWithPath: plan))
                return
            }
            let root = URL(fileURLWithPath: out ?? "featurelens-sweeps/\(base.name)")
            try AtomicFile.prepareDirectory(root)
            struct Job { var run: SweepRun; var folder: URL }
            let jobs = runs.map { Job(run: $0, folder: root.appendingPathComponent($0.folderName)) }
            let mine = jobs.filter { shard?.contains($0.run.index) ?? true }
            let todo = mine.filter { !$0.run.isFinished(in: $0.folder) }
            if todo.count < mine.count && !global.quiet {
                print("Skipping \(mine.count - todo.count) finished run(s) already in \(root.path).")
            }
            let progress = ProgressDisplay(label: "sweep \(base.name)", unit: "runs", enabled: !global.quiet)
            progress.handle(.planned(steps: [todo.count]))
            let lock = NSLock()
            var done = 0
            var firstError: Error?
            // Synthetic runs: one per core, each on one thread; image runs: one at a time, each
            // using the parallel kernels.
            let workers = base.kind == .synthetic ? min(2, max(1, Parallel.threadCount)) : 1
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < todo.count {
                    lock.lock(); let stop = firstError != nil || Interruption.signal != nil; lock.unlock()
                    if stop { return }
                    let job = todo[i]
                    do {
                        // A run cut short by a signal continues from its checkpoints; one
                        // whose checkpoints do not fit (another config, damaged) starts over.
                        let resumable = !RunCheckpoints.existing(in: job.folder).isEmpty
                        func attempt(_ resume: Bool) throws {
                            let every = base.kind == .synthetic ? CheckpointPolicy.defaultSyntheticEvery : CheckpointPolicy.defaultImageEvery
                            let policy = CheckpointPolicy(folder: job.folder, every: every, resume: resume)
                            _ = try runExperiment(job.run.experiment, out: job.folder, concurrency: 1, checkpoints: policy,
                                                  quiet: true, logger: logger)
                        }
                        do { try attempt(resumable) } catch where resumable && (error is ResumeError || error is CheckpointError || error is SafeTensorsError) {
                            try attempt(false)
                        }
                    } catch {
                        lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
                    }
                    lock.lock(); done += 1; let d = done; lock.unlock()
                    progress.handle(.stepped(setting: 0, done: d, loss: nil))
                    i += workers
                }
            }
            progress.finish()
            if let e = firstError { throw e }
            try Interruption.exitIfInterrupted(
                root, howToContinue: "continue by running the same sweep command again (finished runs are kept, interrupted ones continue from their checkpoints)")
            if shard != nil {
                let others = jobs.filter { !$0.run.isFinished(in: $0.folder) }
                if !others.isEmpty {
                    print("Shard \(self.shard!) finished; \(others.count) run(s) of other shards are not finished yet. The summary is written by the shard that finishes last, or by the same command without --shard.")
                    return
                }
            }
            try SweepSummary.write(name: base.name, runs: jobs.map { ($0.run.gridPoint, $0.run.seed, $0.folder) }, root: root)
            print("Summary: \(root.appendingPathComponent("summary.csv").path), \(root.appendingPathComponent("summary.html").path)")
        } catch {
            throw oneLineError(error)
        }
    }

    /// `--plan DIR`: writes the plan and, with `--submit`, submits it.
    func writePlan(_ runs: [SweepRun], base: Experiment, folder: URL) throws {
        let seedList = try SweepRun.parseSeeds(seeds)
        let options = SlurmOptions(arrayLimit: arrayLimit, partition: partition, time: time, cpusPerTask: cpusPerTask,
                                   mem: mem, account: account, extra: try slurmOption.map(SlurmOptions.parseExtra))
        let plan = SweepPlan(folder: URL(fileURLWithPath: folder.path).standardizedFileURL, preset: base.name, seeds: seedList,
                             runs: runs, executable: currentExecutablePath())
        try plan.write(slurm: options)
        let script = plan.folder.appendingPathComponent(SweepPlan.scriptName)
        print("Planned \(runs.count) run(s) in \(plan.folder.path): \(SweepPlan.manifestName), \(script.path)")
        if submit {
            let id = try Slurm.submit(script, planFolder: plan.folder)
            try plan.recordJob(id)
            print("Submitted batch job \(id)")
        } else if !global.quiet {
            print("Run it with `sbatch \(script.path)`, or each index with `featurelens sweep run-one \(plan.folder.path) --index I`; then `featurelens sweep status \(plan.folder.path)` and `featurelens sweep collect \(plan.folder.path)`.")
        }
    }
}
