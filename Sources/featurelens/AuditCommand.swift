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
        std) use the test rows, or every row with --metrics-on all; the output says which.
        """, examples: [
            HelpExample("One checkpoint; probes fit on a seeded 80 % of the rows",
                        "featurelens audit --embeddings z.npy --labels labels.csv"),
            HelpExample("A timeline (step-0 baseline first), subclass probed within class",
                        "featurelens audit --embeddings z0.npy --embeddings z9.npy --steps 0,9000",
                        "--labels labels.csv --within subclass:class --out audit"),
            HelpExample("Separate test rows, two probes, metrics on every row",
                        "featurelens audit --embeddings train.npy --labels train.csv",
                        "--test-embeddings test.npy --test-labels test.csv",
                        "--probe logistic,knn --metrics-on all"),
        ]))

    // No default: a required option, shown as required in the usage line.
    @Option(name: .customLong("embeddings"), help: "NPY embeddings [n, p] (repeat: one file per checkpoint, in order).")
    var embeddings: [String]

    @Option(name: .customLong("test-embeddings"), help: "NPY test embeddings, one per --embeddings file.")
    var testEmbeddings: [String] = []

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

    @Option(help: "Comma-separated training step of each --embeddings file (default 0,1,2,...).")
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
        let request = ExternalAudit(
            embeddings: embeddings, testEmbeddings: testEmbeddings, labels: labels, testLabels: testLabels,
            split: split, seed: seed,
            columns: columns.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [],
            steps: stepList,
            audit: AuditConfiguration(probe: ProbeKind(rawValue: probeNames[0])!, measure: AccuracyMeasure(rawValue: accuracy)!,
                                      within: try ExternalAudit.parseWithin(within)),
            probes: probeNames.count > 1 ? probeNames.map { ProbeKind(rawValue: $0)! } : [],
            metricsOn: MetricsRows(rawValue: metricsOn)!, maxFitRows: maxFitRows, maxScoreRows: maxScoreRows)
        // Check the output folder before the work, so a bad folder fails fast.
        var outURL: URL?
        if let out {
            let url = URL(fileURLWithPath: out)
            try AtomicFile.prepareDirectory(url)
            outURL = url
        }
        // Conversions of the inputs (float16 or Fortran-order NPY, a pandas index column), once per file.
        let reports = try request.runAll(note: { message in
            if !global.quiet { writeError("note: \(message)\n") }
        })
        if json {
            if reports.count == 1 {
                print(try FeatureTable.jsonSummary(reports[0]))
            } else {
                // Several probes: {"ridge": {summary}, "centroid": {summary}}.
                var parts: [String] = []
                for r in reports {
                    let body = try FeatureTable.jsonSummary(r).split(separator: "\n").joined(separator: "\n  ")
                    parts.append("  \"\(r.probe.rawValue)\" : \(body)")
                }
                print("{\n" + parts.joined(separator: ",\n") + "\n}")
            }
        } else {
            print(reports.map(FeatureTable.render).joined(separator: "\n"), terminator: "")
        }
        if let outURL {
            let provenance = Provenance.current(seed: testEmbeddings.isEmpty ? seed : nil)
            let doc = ReportDocument(preset: "audit", config: request, runs: reports, provenance: provenance)
            // The same folder layout as training runs: config.json, report.json, metrics.csv,
            // report.html and charts/.
            try RunOutput.write(doc, configJSON: try prettyJSON(request), to: outURL, testCount: nil)
            if !json {
                print("wrote \(outURL.appendingPathComponent("report.json").path) and report.html")
            }
        }
    }
}
