import ArgumentParser
import FeatureLens
import Foundation

/// `featurelens audit`: probes, metrics and verdicts for embeddings saved elsewhere (NPY).
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit embeddings saved elsewhere: which labelled features can a probe read?",
        discussion: helpDiscussion("""
        Each --embeddings file is an [n, p] NPY array (np.save; float32 or float64, also float16 \
        and Fortran order, converted with a note), one per checkpoint in training order; the \
        first is the step-0 baseline when several are given. --labels is a CSV with a header \
        row, one column per label set, one row per embedding row (an unnamed first column, the \
        index pandas writes, is ignored with a note). Probes fit on the train rows and are \
        scored on the test rows (--test-embeddings with --test-labels, or a seeded --split of \
        the rows). The representation metrics (RankMe, effective rank, uniformity, collapse \
        std) use the test rows, or every row with --metrics-on all; the output says which. \
        Named --embeddings NAME=FILE (NAME=FILE1,FILE2 for checkpoints) audit several encoders \
        on the same labels and test rows side by side; the first NAME is the reference of the \
        differences, each with a paired standard error. The output ends with what to try next \
        when a rule of docs/ADVICE.md fires on significant evidence (--nuisance marks label \
        columns that should not be read).
        """, examples: [
            HelpExample("One checkpoint; probes fit on a seeded 80 % of the rows",
                        "featurelens audit --embeddings z.npy --labels labels.csv"),
            HelpExample("A timeline (step-0 baseline first), subclass probed within class",
                        "featurelens audit --embeddings z0.npy --embeddings z9.npy --steps 0,9000",
                        "--labels labels.csv --within subclass:class --out audit"),
            HelpExample("Backbone against head on the same split, with a nuisance column",
                        "featurelens audit --embeddings backbone=h.npy --embeddings head=z.npy",
                        "--labels labels.csv --within subclass:class --nuisance color --out compare"),
        ]))

    // No default: a required option, shown as required in the usage line.
    @Option(name: .customLong("embeddings"), help: ArgumentHelp(
        "NPY embeddings [n, p] (repeat: one file per checkpoint, in order), or NAME=FILE (repeat: one encoder each, the first the reference; NAME=FILE1,FILE2 for its checkpoints) to compare encoders side by side.",
        valueName: "FILE|NAME=FILE"))
    var embeddings: [String]

    @Option(name: .customLong("test-embeddings"), help: ArgumentHelp(
        "NPY test embeddings, one per --embeddings file (NAME=FILE with named encoders).", valueName: "FILE|NAME=FILE"))
    var testEmbeddings: [String] = []

    @Option(help: "A label column that should not be read (e.g. a background colour); the advice flags it as a shortcut when it is read near perfectly while another label is lost. Repeatable.")
    var nuisance: [String] = []

    @Option(help: "Fraction of rows used to fit the probes when no test files are given.")
    var split: Double = 0.8

    @Option(help: "Seed of the train/test split.")
    var seed: UInt64 = 0

    @Option(help: "CSV label table of the --embeddings rows (header row).")
    var labels: String

    @Option(name: .customLong("test-labels"), help: "CSV label table of the --test-embeddings rows.")
    var testLabels: String?

    @Option(help: "Probe a label within the groups of another, LABEL:GROUP (e.g. subclass:class); repeatable.")
    var within: [String] = []

    @Option(help: "Probe: logistic (default: multinomial logistic regression, C chosen on held-out training rows), ridge (the signature probe of the synthetic experiments), knn or centroid; a comma-separated list runs several on the same data.")
    var probe: String = "logistic"

    @Option(help: "Accuracy: balanced (default) or plain.")
    var accuracy: String = "balanced"

    @Option(help: "Comma-separated label columns to audit (default: all).")
    var columns: String?

    @Option(help: "Comma-separated training step of each --embeddings file (default 0,1,2,...); with named encoders, of each encoder's checkpoints.")
    var steps: String?

    @Option(name: .customLong("metrics-on"), help: ArgumentHelp(
        "Rows of the representation metrics (RankMe, effective rank, uniformity, collapse std): test (default: the scored rows) or all (every row of --embeddings and --test-embeddings).",
        valueName: "test|all"))
    var metricsOn: String = MetricsRows.test.rawValue

    @Option(name: .customLong("max-fit-rows"), help: "Fit the probes on at most this many training rows (a seeded subsample beyond it; 0: all).")
    var maxFitRows: Int = ExternalAudit.defaultMaxFitRows

    @Option(name: .customLong("max-score-rows"), help: "Score the probes on at most this many test rows (a seeded subsample beyond it; 0: all).")
    var maxScoreRows: Int = ExternalAudit.defaultMaxScoreRows

    @Flag(help: "Print the JSON summary instead of the table.")
    var json = false

    @Option(help: "Folder for config.json, report.json, metrics.csv, report.html and charts/ (created if missing).")
    var out: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if embeddings.isEmpty { throw ValidationError("give at least one --embeddings FILE.npy") }
        for name in probeNames where ProbeKind(rawValue: name) == nil {
            throw ValidationError("unknown --probe '\(name)' (expected ridge, logistic, knn or centroid)")
        }
        if AccuracyMeasure(rawValue: accuracy) == nil {
            throw ValidationError("unknown --accuracy '\(accuracy)' (expected balanced or plain)")
        }
        if MetricsRows(rawValue: metricsOn) == nil {
            throw ValidationError("unknown --metrics-on '\(metricsOn)' (expected test or all)")
        }
        if maxFitRows < 0 { throw ValidationError("--max-fit-rows must be ≥ 0 (0: all rows), got \(maxFitRows)") }
        if maxScoreRows < 0 { throw ValidationError("--max-score-rows must be ≥ 0 (0: all rows), got \(maxScoreRows)") }
    }

    var probeNames: [String] { probe.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() throws {
        _ = global.apply()
        let stepList: [Int] = try steps.map { text in
            try text.split(separator: ",").map { s in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--steps: '\(s)' is not an integer")
                }
                return v
            }
        } ?? []
        let encoders = try EncoderEmbeddings.encoders(embeddings: embeddings, testEmbeddings: testEmbeddings)
        let request = ExternalAudit(
            embeddings: encoders == nil ? embeddings : [], testEmbeddings: encoders == nil ? testEmbeddings : [],
            labels: labels, testLabels: testLabels,
            split: split, seed: seed,
            columns: columns.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [],
            steps: stepList,
            audit: AuditConfiguration(probe: ProbeKind(rawValue: probeNames[0])!, measure: AccuracyMeasure(rawValue: accuracy)!,
                                      within: try ExternalAudit.parseWithin(within)),
            probes: probeNames.count > 1 ? probeNames.map { ProbeKind(rawValue: $0)! } : [],
            metricsOn: MetricsRows(rawValue: metricsOn)!, maxFitRows: maxFitRows, maxScoreRows: maxScoreRows,
            encoders: encoders ?? [], nuisance: nuisance)
        // Check the output folder before the work, so a bad folder fails fast.
        var outURL: URL?, created: URL?
        if let out {
            let url = URL(fileURLWithPath: out)
            created = AtomicFile.outermostMissingFolder(of: url)
            try AtomicFile.prepareDirectory(url)
            outURL = url
        }
        do {
            try audit(request, encoders: encoders, outURL: outURL)
        } catch {
            // A failed audit leaves no empty folder behind (a folder that holds files stays).
            if let created { AtomicFile.removeIfHoldsNoFiles(created) }
            throw error
        }
    }

    /// The audit (or the comparison of `encoders`) of `request`: printed, and written to `outURL`.
    func audit(_ request: ExternalAudit, encoders: [EncoderEmbeddings]?, outURL: URL?) throws {
        // Conversions of the inputs (float16 or Fortran-order NPY, a pandas index column), once per file.
        let note: (String) -> Void = { message in
            if !global.quiet { writeError("note: \(message)\n") }
        }
        if encoders != nil {
            try compare(request, note: note, outURL: outURL)
            return
        }
        let reports = try request.runAll(note: note)
        // The advice reads the first probe's report (the audit's probe).
        let advice = AuditAdvice.advise(runs: [(nil, reports[0])], comparison: nil, nuisance: nuisance)
        if json {
            if reports.count == 1 {
                print(try FeatureTable.jsonSummary(reports[0], advice: advice))
            } else {
                // Several probes: {"ridge": {summary}, "centroid": {summary}}.
                var parts: [String] = []
                for r in reports {
                    let body = try FeatureTable.jsonSummary(r).split(separator: "\n").joined(separator: "\n  ")
                    parts.append("  \"\(r.probe.rawValue)\" : \(body)")
                }
                let adviceJSON = try FeatureLensJSON.string(advice).split(separator: "\n").joined(separator: "\n  ")
                parts.insert("  \"advice\" : \(adviceJSON)", at: 0)
                print("{\n" + parts.joined(separator: ",\n") + "\n}")
            }
        } else {
            print(reports.map(FeatureTable.render).joined(separator: "\n"), terminator: "")
            print(FeatureTable.renderAdvice(advice), terminator: "")
        }
        if let outURL {
            let provenance = Provenance.current(seed: testEmbeddings.isEmpty ? seed : nil)
            let doc = ReportDocument(preset: "audit", config: request, runs: reports, provenance: provenance, advice: advice)
            // The same folder layout as training runs: config.json, report.json, metrics.csv,
            // report.html and charts/.
            try RunOutput.write(doc, configJSON: try prettyJSON(request), to: outURL, testCount: nil)
            if !json {
                print("wrote \(outURL.appendingPathComponent("report.json").path) and report.html")
            }
        }
    }

    /// Several named encoders side by side: each encoder's feature table, the comparison, the
    /// advice; `--json` prints `ComparisonSummary`; `--out` writes one run per encoder with the
    /// comparison and the advice in report.json and report.html.
    func compare(_ request: ExternalAudit, note: @escaping (String) -> Void, outURL: URL?) throws {
        let (runs, comparison) = try request.compare(note: note)
        let named = zip(request.encoders, runs).map { (name: $0.name, report: $1) }
        let advice = AuditAdvice.advise(runs: named.map { ($0.name, $0.report) }, comparison: comparison, nuisance: nuisance)
        if json {
            print(try FeatureTable.jsonSummary(runs: named, comparison: comparison, advice: advice))
        } else {
            print(named.map { "Encoder \($0.name):\n" + FeatureTable.render($0.report) }.joined(separator: "\n"))
            print(FeatureTable.renderComparison(comparison, probe: runs[0].probe, measure: runs[0].measure))
            print(FeatureTable.renderAdvice(advice), terminator: "")
        }
        if let outURL {
            let doc = ReportDocument(preset: "audit", config: request, runs: runs,
                                     provenance: Provenance.current(seed: request.encoders[0].testEmbeddings.isEmpty ? seed : nil),
                                     comparison: comparison, advice: advice)
            try RunOutput.write(doc, configJSON: try prettyJSON(request), to: outURL, testCount: nil)
            if !json { print("wrote \(outURL.appendingPathComponent("report.json").path) and report.html") }
        }
    }
}
