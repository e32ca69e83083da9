import Foundation

/// One named encoder of a side-by-side audit: its embedding files (one per checkpoint, in
/// training order) and, with test files, one test file per checkpoint.
/// JSON keys: `name`, `embeddings`, `test_embeddings`.
public struct EncoderEmbeddings: Codable, Sendable, Equatable {
    /// The encoder's name (e.g. `backbone`, `supcon`), unique within a comparison.
    public var name: String
    /// Embedding files `[n, p]`, one per checkpoint, in order.
    public var embeddings: [String]
    /// Test embedding files, one per checkpoint (empty: the seeded split).
    public var testEmbeddings: [String]

    enum CodingKeys: String, CodingKey {
        case name, embeddings, testEmbeddings = "test_embeddings"
    }

    /// Creates the record.
    public init(name: String, embeddings: [String], testEmbeddings: [String] = []) {
        self.name = name
        self.embeddings = embeddings
        self.testEmbeddings = testEmbeddings
    }

    /// Parses the values of a repeatable flag (`--embeddings`, `--test-embeddings`).
    ///
    /// Plain paths (no value holds `=`) return nil: one unnamed encoder, as before names
    /// existed. Otherwise every value must be `NAME=FILE` or, for a timeline of one encoder,
    /// `NAME=FILE1,FILE2,…` (checkpoints in training order); names keep the order of first
    /// appearance, and the first is the reference of the comparison.
    /// - Parameter flag: the flag's name, quoted in errors.
    /// - Returns: (name, files) per encoder, or nil for plain paths.
    /// - Throws: `AuditError.badEncoder` naming the flag and the value: a value without `=`
    ///   among named ones, an empty name or file, or a name given twice.
    public static func parse(_ values: [String], flag: String) throws -> [(name: String, files: [String])]? {
        guard values.contains(where: { $0.contains("=") }) else { return nil }
        var out: [(name: String, files: [String])] = []
        for v in values {
            guard let eq = v.firstIndex(of: "=") else {
                throw AuditError.badEncoder("\(flag) '\(v)': give every value as NAME=FILE once one is named")
            }
            let name = String(v[..<eq]).trimmingCharacters(in: .whitespaces)
            let files = v[v.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard !name.isEmpty else { throw AuditError.badEncoder("\(flag) '\(v)': the name before '=' is empty (NAME=FILE)") }
            guard !files.contains(where: \.isEmpty) else {
                throw AuditError.badEncoder("\(flag) '\(v)': a file after '\(name)=' is empty (NAME=FILE, or NAME=FILE1,FILE2 for checkpoints)")
            }
            guard !out.contains(where: { $0.name == name }) else {
                throw AuditError.badEncoder("\(flag): the name '\(name)' is given twice (one NAME=FILE per encoder; checkpoints of one encoder as NAME=FILE1,FILE2)")
            }
            out.append((name, files))
        }
        return out
    }

    /// The encoders of `--embeddings` values and the matching `--test-embeddings` values
    /// (`parse` of each): the same names in the same order, and one test file per checkpoint.
    /// - Returns: nil when the embedding values are plain paths.
    /// - Throws: `AuditError.badEncoder` naming the flag.
    public static func encoders(embeddings: [String], testEmbeddings: [String]) throws -> [EncoderEmbeddings]? {
        guard let named = try parse(embeddings, flag: "--embeddings") else {
            if testEmbeddings.contains(where: { $0.contains("=") }) {
                throw AuditError.badEncoder("--test-embeddings is named (NAME=FILE) but --embeddings is not")
            }
            return nil
        }
        let tests = try parse(testEmbeddings, flag: "--test-embeddings")
        if testEmbeddings.isEmpty { return named.map { EncoderEmbeddings(name: $0.name, embeddings: $0.files) } }
        guard let tests else { throw AuditError.badEncoder("--embeddings is named (NAME=FILE): give --test-embeddings as NAME=FILE too") }
        guard tests.map(\.name) == named.map(\.name) else {
            throw AuditError.badEncoder("--test-embeddings names \(tests.map(\.name)) differ from the --embeddings names \(named.map(\.name))")
        }
        return zip(named, tests).map { EncoderEmbeddings(name: $0.name, embeddings: $0.files, testEmbeddings: $1.files) }
    }
}

/// Several encoders audited on the same labels and the same test rows, side by side: per
/// label set, each encoder's accuracy (last checkpoint) with its standard error, and its
/// difference from the first encoder (the reference) with a **paired** standard error.
///
/// Paired standard error. Every encoder is scored on the same test rows, so the difference
/// is read row by row: x_i = 1[encoder correct on row i] − 1[reference correct on row i]
/// (each encoder's probe fit held fixed, as for `ProbeScore.standardError`). For balanced
/// accuracy over the K test classes c with n_c rows, the difference is
/// Δ = (1/K) Σ_c x̄_c (= the difference of the two balanced accuracies) and
/// SE(Δ) = √(Σ_c s_c² / n_c) / K, with s_c² = mean_c(x²) − x̄_c² the plug-in variance of x
/// over the rows of c; for plain accuracy Δ = x̄ and SE = √(s²/n) over all test rows. For a
/// label read within groups, Δ and SE are computed in each qualifying group (`WithinGroups`)
/// and combined by its rule 4 (`WithinGroups.weightedMean`). Rows both encoders get right
/// (or both wrong) contribute no variance, so the paired SE is below the independent-samples
/// √(SE_a² + SE_b²) whenever the two encoders' errors are positively correlated.
///
/// A difference is **significant** when |Δ| > 2 · SE(Δ) (about a two-sided 5 % test); a NaN
/// difference (a label not measurable) never is.
/// JSON keys: `reference`, `encoders`, `test_rows`, `standard_error_method`, `labels`.
public struct EncoderComparison: Codable, Sendable, Equatable {
    /// The reference encoder (the first named).
    public var reference: String
    /// Every encoder's name, reference first.
    public var encoders: [String]
    /// Test rows every encoder was scored on.
    public var testRows: Int
    /// How SE(Δ) was computed: `paired_per_class` (see the type).
    public var standardErrorMethod: String
    /// One entry per audited label set, in label order.
    public var labels: [LabelComparison]

    enum CodingKeys: String, CodingKey {
        case reference, encoders, testRows = "test_rows", standardErrorMethod = "standard_error_method", labels
    }

    /// One label set across the encoders. JSON keys: `label`, `within`, `chance`, `encoders`.
    public struct LabelComparison: Codable, Sendable, Equatable {
        /// The label set.
        public var label: String
        /// The label set it is read within, if any.
        public var within: String?
        /// Chance level (the same test rows for every encoder).
        public var chance: Double
        /// One entry per encoder, reference first.
        public var encoders: [EncoderScore]

        /// The rows of the side-by-side table (terminal and report.html), one cell per
        /// encoder: "accuracy" (accuracy ± SE), "Δ vs REFERENCE" (Δ ± paired SE, `*` when
        /// significant; "—" for the reference), "verdict" and, for a label read within groups,
        /// "merged pairs" ("none" when none).
        public func tableRows(reference: String) -> [(name: String, cells: [String])] {
            func f(_ x: Double) -> String { String(format: "%.3f", x) }
            var rows: [(name: String, cells: [String])] = [
                ("accuracy", encoders.map { "\(f($0.accuracy)) ± \(f($0.standardError))" }),
                ("Δ vs \(reference)", encoders.enumerated().map { i, e in
                    i == 0 ? "—" : String(format: "%+.3f ± %.3f", e.difference, e.differenceStandardError) + (e.significant ? " *" : "  ")
                }),
                ("verdict", encoders.map { $0.verdict?.rawValue ?? "—" }),
            ]
            if within != nil {
                rows.append(("merged pairs", encoders.map { e in
                    e.mergedPairs.map { $0.isEmpty ? "none" : $0.joined(separator: "; ") } ?? "—"
                }))
            }
            return rows
        }
    }

    /// One encoder's reading of one label set. JSON keys: `name`, `accuracy`,
    /// `standard_error`, `difference`, `difference_standard_error`, `significant`, `verdict`,
    /// `merged_pairs`.
    public struct EncoderScore: Codable, Sendable, Equatable {
        /// The encoder.
        public var name: String
        /// Accuracy at its last checkpoint.
        public var accuracy: Double
        /// Its standard error (`ProbeScore.standardError`).
        public var standardError: Double
        /// Δ = accuracy − the reference's accuracy, from the paired rows (0 for the reference).
        public var difference: Double
        /// The paired SE(Δ) (0 for the reference).
        public var differenceStandardError: Double
        /// |Δ| > 2 · SE(Δ) (false for the reference).
        public var significant: Bool
        /// The encoder's verdict for the label (`RunReport.verdicts`).
        public var verdict: FeatureVerdict?
        /// For a label read within groups: the merged pairs of its last checkpoint
        /// (`SubclassMerging`), as "group: a ↔ b"; nil for other labels.
        public var mergedPairs: [String]?

        enum CodingKeys: String, CodingKey {
            case name, accuracy, standardError = "standard_error", difference
            case differenceStandardError = "difference_standard_error", significant, verdict
            case mergedPairs = "merged_pairs"
        }
    }

    /// The comparison row of `label`, if audited.
    public func label(_ name: String) -> LabelComparison? { labels.first { $0.label == name } }

    /// The paired difference of two encoders' predictions on the same rows (see the type).
    /// - Parameters:
    ///   - predicted, reference: predicted labels of the encoder and of the reference, `[n]`.
    ///   - truth: true labels `[n]` (n ≥ 1).
    ///   - measure: balanced or plain accuracy.
    /// - Returns: Δ and SE(Δ).
    public static func pairedDifference(predicted: [Int], reference: [Int], truth: [Int],
                                        measure: AccuracyMeasure) -> (difference: Double, standardError: Double) {
        precondition(predicted.count == truth.count && reference.count == truth.count && !truth.isEmpty,
                     "one prediction per row")
        // Per class: count, Σx, Σx² (x ∈ {−1, 0, 1}); classes in ascending order for a fixed summation order.
        var sums: [Int: (n: Double, s: Double, s2: Double)] = [:]
        for i in truth.indices {
            let x = Double((predicted[i] == truth[i] ? 1 : 0) - (reference[i] == truth[i] ? 1 : 0))
            let key = measure == .balanced ? truth[i] : 0
            let t = sums[key] ?? (0, 0, 0)
            sums[key] = (t.n + 1, t.s + x, t.s2 + x * x)
        }
        var mean = 0.0, variance = 0.0
        for key in sums.keys.sorted() {
            let t = sums[key]!
            let m = t.s / t.n
            mean += m
            variance += max(0, t.s2 / t.n - m * m) / t.n
        }
        let k = Double(sums.count)
        return (mean / k, variance.squareRoot() / k)
    }

    /// Builds the comparison from each encoder's audit.
    /// - Parameters:
    ///   - runs: (name, report, predicted test labels per label set at its last checkpoint),
    ///     reference first; every report lists the same labels and was scored on the same
    ///     test rows.
    ///   - trainLabels, testLabels: the label sets of the train and test rows by name (the
    ///     groups of a within-group label qualify by both, `WithinGroups`).
    ///   - averaging: how group scores were averaged (`AuditConfiguration.groupAveraging`).
    /// - Throws: `AuditError.countMismatch` when fewer than two encoders are given or a
    ///   prediction is missing.
    public static func make(runs: [(name: String, report: RunReport, predictions: [String: [Int]])],
                            trainLabels: [String: LabelSet], testLabels: [String: LabelSet],
                            averaging: GroupAveraging) throws -> EncoderComparison {
        guard runs.count >= 2 else { throw AuditError.countMismatch("a comparison needs at least two encoders, got \(runs.count)") }
        let ref = runs[0]
        let measure = ref.report.measure
        var labels: [LabelComparison] = []
        for label in ref.report.labels {
            guard let truth = testLabels[label]?.codes, let refPredicted = ref.predictions[label] else {
                throw AuditError.countMismatch("no predictions of '\(label)' for encoder '\(ref.name)'")
            }
            let group = ref.report.within[label]
            // The row sets the difference is read on: all test rows, or each qualifying group's.
            var parts: [[Int]] = [Array(truth.indices)]
            var weights: [Double] = [1]
            if let group, let g = testLabels[group], let trainG = trainLabels[group], let trainL = trainLabels[label] {
                let q = try WithinGroups.qualifyingGroups(trainLabels: trainL.codes, trainGroups: trainG.codes,
                                                          testLabels: truth, testGroups: g.codes)
                parts = q.map(\.test)
                weights = q.map { WithinGroups.weight(averaging, testRows: $0.test.count) }
            }
            var scores: [EncoderScore] = []
            for run in runs {
                guard let predicted = run.predictions[label] else {
                    throw AuditError.countMismatch("no predictions of '\(label)' for encoder '\(run.name)'")
                }
                let final = run.report.timeline.last!
                var d = (difference: 0.0, standardError: 0.0)
                if run.name != ref.name {
                    if parts.isEmpty {
                        d = (.nan, .nan)
                    } else {
                        let each = parts.map { rows in
                            pairedDifference(predicted: rows.map { predicted[$0] }, reference: rows.map { refPredicted[$0] },
                                             truth: rows.map { truth[$0] }, measure: measure)
                        }
                        let m = WithinGroups.weightedMean(each.map(\.difference), standardErrors: each.map(\.standardError), weights: weights)
                        d = (m.mean, m.standardError)
                    }
                }
                let merged = group == nil ? nil : (final.subclassMerging ?? []).filter { $0.label == label }
                    .flatMap { $0.rankedPairs.filter(\.pair.merged).map { "\($0.group): \($0.pair.a) ↔ \($0.pair.b)" } }
                scores.append(EncoderScore(name: run.name, accuracy: final.probes[label] ?? .nan,
                                           standardError: final.standardError?[label] ?? .nan,
                                           difference: d.difference, differenceStandardError: d.standardError,
                                           significant: isSignificant(d.difference, standardError: d.standardError),
                                           verdict: run.report.verdicts[label], mergedPairs: merged))
            }
            labels.append(LabelComparison(label: label, within: group, chance: ref.report.final.chance?[label] ?? .nan,
                                          encoders: scores))
        }
        return EncoderComparison(reference: ref.name, encoders: runs.map(\.name), testRows: testLabels.values.first?.codes.count ?? 0,
                                 standardErrorMethod: "paired_per_class", labels: labels)
    }

    /// |Δ| > 2 · SE(Δ), both finite (an exactly determined difference with SE 0 counts when Δ ≠ 0).
    public static func isSignificant(_ difference: Double, standardError: Double) -> Bool {
        difference.isFinite && standardError.isFinite && abs(difference) > 2 * standardError
    }
}

extension ExternalAudit {
    /// Audits every encoder of `encoders` by the type's protocol on the same labels and test
    /// rows, and compares them (`EncoderComparison`, the first encoder the reference). Each
    /// encoder's report has the setting `{"encoder": name}`; with several checkpoints per
    /// encoder, the comparison reads each encoder's last checkpoint.
    /// - Parameters:
    ///   - progress: called after each encoder with (index, count).
    ///   - note: called once per converted input (see `run`).
    /// - Throws: `AuditError.countMismatch` for fewer than two encoders or several probes,
    ///   `AuditError.encoder` naming the encoder and the file at fault (wrapping what `run`
    ///   throws).
    public func compare(progress: ((Int, Int) -> Void)? = nil,
                        note report: ((String) -> Void)? = nil) throws -> (runs: [RunReport], comparison: EncoderComparison) {
        guard encoders.count >= 2 else {
            throw AuditError.countMismatch("comparing encoders needs at least two NAME=FILE --embeddings, got \(encoders.count)")
        }
        guard embeddings.isEmpty, testEmbeddings.isEmpty else {
            throw AuditError.countMismatch("give either named encoders or plain --embeddings files, not both")
        }
        guard probes.count <= 1 else {
            throw AuditError.countMismatch("comparing encoders takes one --probe, got \(probes.map(\.rawValue).joined(separator: ","))")
        }
        var noted = Set<String>()
        var runs: [(name: String, report: RunReport, predictions: [String: [Int]])] = []
        var labelSets: (train: [String: LabelSet], test: [String: LabelSet]) = ([:], [:])
        for (i, encoder) in encoders.enumerated() {
            var single = self
            single.encoders = []
            single.embeddings = encoder.embeddings
            single.testEmbeddings = encoder.testEmbeddings
            single.probes = []
            let detailed: Detailed
            do {
                detailed = try single.runDetailed(progress: nil, note: { if noted.insert($0).inserted { report?($0) } })
            } catch {
                throw AuditError.encoder(name: encoder.name, message: "\(error)")
            }
            var run = detailed.reports[0]
            run.settings = ["encoder": .string(encoder.name)]
            runs.append((encoder.name, run, detailed.lastPredictions[0]))
            if i == 0 { labelSets = (detailed.trainLabels, detailed.testLabels) }
            progress?(i + 1, encoders.count)
        }
        let comparison = try EncoderComparison.make(runs: runs, trainLabels: labelSets.train, testLabels: labelSets.test,
                                                    averaging: audit.groupAveraging)
        return (runs.map(\.report), comparison)
    }
}
