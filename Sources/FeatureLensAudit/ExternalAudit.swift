import Foundation

/// An audit of embeddings made elsewhere (for example saved by PyTorch with `np.save`):
/// one NPY file per checkpoint, a CSV label table, and either test files or a seeded split.
///
/// Protocol: with `testEmbeddings`, checkpoint i is fit on `embeddings[i]` and scored on
/// `testEmbeddings[i]` (labels from `labels` and `testLabels`). Without them, the rows are
/// split once by a permutation drawn from `SeededGenerator(seed: seed)`: the first
/// round(`split` · n) permuted rows train, the rest test, the same rows for every checkpoint.
/// Checkpoint i is reported at `steps[i]` (default i, so the first file is the step-0 baseline).
/// The representation metrics use the test rows, or with `metricsOn = .all` every row (the
/// whole matrix with a split; the train file followed by the test file with test files).
/// The last checkpoint also measures which subclasses merged (`SubclassMerging`) for every
/// label read within groups.
///
/// Size: the NPY files are memory-mapped (`NPYMatrixFile`) and only the rows used are
/// converted to Double. When the training side has more than `maxFitRows` rows, the probes are
/// fit on a seeded random subsample of that many (drawn once from `SeededGenerator(seed: seed ^
/// 0x5AB5)`, the same rows for every checkpoint); likewise the test side is scored on
/// `maxScoreRows` of its rows. The report's `rows` says how many were fitted and scored.
///
/// Several encoders side by side: with `encoders` (and `embeddings` empty), `compare` audits
/// each encoder's files by the protocol above — the same label table, so the same split and
/// the same test rows — and pairs their last checkpoints' predictions (`EncoderComparison`).
public struct ExternalAudit: Codable, Sendable, Equatable {
    /// Train (or whole, with `split`) embedding files `[n, p]`, one per checkpoint, in order.
    public var embeddings: [String]
    /// Test embedding files, one per checkpoint (empty: use `split`).
    public var testEmbeddings: [String]
    /// CSV label table for `embeddings` (header row; one row per embedding row).
    public var labels: String
    /// CSV label table for `testEmbeddings` (required with them).
    public var testLabels: String?
    /// Fraction of rows used for training when no test files are given.
    public var split: Double
    /// Seed of the split permutation.
    public var seed: UInt64
    /// Label columns to audit (empty: every column of the table, in header order). A label
    /// named in `audit.within` is always audited; its group column is read but only reported
    /// when it is audited itself.
    public var columns: [String]
    /// Training step of each checkpoint (empty: 0, 1, 2, …).
    public var steps: [Int]
    /// Probe, measure, groups and thresholds.
    public var audit: AuditConfiguration
    /// Several probes to run on the same data (empty: just `audit.probe`); see `runAll`.
    public var probes: [ProbeKind]
    /// The rows of the representation metrics (default: the test rows).
    public var metricsOn: MetricsRows
    /// At most this many training rows are fitted (a seeded subsample beyond it); 0: all.
    public var maxFitRows: Int
    /// At most this many test rows are scored (a seeded subsample beyond it); 0: all.
    public var maxScoreRows: Int

    /// Default cap on fitted rows: 50 000 (the probes' cost grows with it; the accuracy of a
    /// linear probe on a few hundred dimensions changes little beyond it).
    public static let defaultMaxFitRows = 50_000
    /// Default cap on scored rows: 50 000 (a balanced accuracy's standard error is then at
    /// most about 0.0022 per class-balanced 50 000 rows).
    public static let defaultMaxScoreRows = 50_000
    /// Named encoders compared side by side by `compare` (empty: one encoder, `embeddings`).
    /// The first is the reference of the differences.
    public var encoders: [EncoderEmbeddings]
    /// Label columns the user marks as nuisances (read by the advice, `AuditAdvice`): each is
    /// audited like any label; a nuisance read near perfectly while another label is lost is a
    /// shortcut (docs/ADVICE.md).
    public var nuisance: [String]

    /// Creates the request.
    public init(embeddings: [String], testEmbeddings: [String] = [], labels: String, testLabels: String? = nil,
                split: Double = 0.8, seed: UInt64 = 0, columns: [String] = [], steps: [Int] = [],
                audit: AuditConfiguration = .init(), probes: [ProbeKind] = [], metricsOn: MetricsRows = .test,
                maxFitRows: Int = ExternalAudit.defaultMaxFitRows, maxScoreRows: Int = ExternalAudit.defaultMaxScoreRows,
                encoders: [EncoderEmbeddings] = [], nuisance: [String] = []) {
        self.maxFitRows = maxFitRows
        self.maxScoreRows = maxScoreRows
        self.encoders = encoders
        self.nuisance = nuisance
        self.probes = probes
        self.metricsOn = metricsOn
        self.embeddings = embeddings
        self.testEmbeddings = testEmbeddings
        self.labels = labels
        self.testLabels = testLabels
        self.split = split
        self.seed = seed
        self.columns = columns
        self.steps = steps
        self.audit = audit
    }

    enum CodingKeys: String, CodingKey {
        case embeddings, testEmbeddings = "test_embeddings", labels, testLabels = "test_labels", split, seed
        case columns, steps, audit, probes, metricsOn = "metrics_on"
        case maxFitRows = "max_fit_rows", maxScoreRows = "max_score_rows", encoders, nuisance
    }

    /// Encodes the request; `encoders` and `nuisance` are omitted when empty (so a
    /// one-encoder audit's config.json is as before they existed).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(embeddings, forKey: .embeddings)
        try c.encode(testEmbeddings, forKey: .testEmbeddings)
        try c.encode(labels, forKey: .labels)
        try c.encodeIfPresent(testLabels, forKey: .testLabels)
        try c.encode(split, forKey: .split)
        try c.encode(seed, forKey: .seed)
        try c.encode(columns, forKey: .columns)
        try c.encode(steps, forKey: .steps)
        try c.encode(audit, forKey: .audit)
        try c.encode(probes, forKey: .probes)
        try c.encode(metricsOn, forKey: .metricsOn)
        try c.encode(maxFitRows, forKey: .maxFitRows)
        try c.encode(maxScoreRows, forKey: .maxScoreRows)
        if !encoders.isEmpty { try c.encode(encoders, forKey: .encoders) }
        if !nuisance.isEmpty { try c.encode(nuisance, forKey: .nuisance) }
    }

    /// Decodes a request; a missing `metrics_on` (configs written before it existed) is `test`.
    /// - Throws: `DecodingError` naming the field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embeddings = try c.decode([String].self, forKey: .embeddings)
        testEmbeddings = try c.decode([String].self, forKey: .testEmbeddings)
        labels = try c.decode(String.self, forKey: .labels)
        testLabels = try c.decodeIfPresent(String.self, forKey: .testLabels)
        split = try c.decode(Double.self, forKey: .split)
        seed = try c.decode(UInt64.self, forKey: .seed)
        columns = try c.decode([String].self, forKey: .columns)
        steps = try c.decode([Int].self, forKey: .steps)
        audit = try c.decode(AuditConfiguration.self, forKey: .audit)
        probes = try c.decode([ProbeKind].self, forKey: .probes)
        metricsOn = try c.decodeIfPresent(MetricsRows.self, forKey: .metricsOn) ?? .test
        maxFitRows = try c.decodeIfPresent(Int.self, forKey: .maxFitRows) ?? Self.defaultMaxFitRows
        maxScoreRows = try c.decodeIfPresent(Int.self, forKey: .maxScoreRows) ?? Self.defaultMaxScoreRows
        encoders = try c.decodeIfPresent([EncoderEmbeddings].self, forKey: .encoders) ?? []
        nuisance = try c.decodeIfPresent([String].self, forKey: .nuisance) ?? []
    }

    /// Parses `--within` values of the form `subclass:class`.
    /// - Throws: `AuditError.badWithin` for anything else.
    public static func parseWithin(_ specs: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for s in specs {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw AuditError.badWithin("'\(s)' is not LABEL:GROUP (for example subclass:class)")
            }
            guard out[parts[0]] == nil else { throw AuditError.badWithin("'\(parts[0])' is given twice") }
            out[parts[0]] = parts[1]
        }
        return out
    }

    /// Reads the files, audits every checkpoint and builds the run report.
    /// - Parameters:
    ///   - progress: called after each checkpoint with (index, count).
    ///   - note: called once per input file that was converted while reading (a float16 or
    ///     Fortran-order NPY file, a label CSV whose unnamed first column was ignored), with a
    ///     sentence naming the file.
    /// - Throws: `NPYError`, `LabelTableError`, `AuditError`, `ProbeError` naming the file or
    ///   label at fault.
    public func run(progress: ((Int, Int) -> Void)? = nil, note: ((String) -> Void)? = nil) throws -> RunReport {
        try runAll(progress: progress, note: note)[0]
    }

    /// Like `run`, but one `RunReport` per probe of `probes` (in that order; `settings` holds
    /// `{"probe": name}` when there are several), sharing the file reading, the split and the
    /// representation metrics.
    /// - Throws: as `run`.
    public func runAll(progress: ((Int, Int) -> Void)? = nil, note report: ((String) -> Void)? = nil) throws -> [RunReport] {
        guard encoders.isEmpty else {
            throw AuditError.countMismatch("named encoders are audited side by side by compare(), not runAll()")
        }
        // Each note once, even when a file is named twice (e.g. as train and test file).
        var noted = Set<String>()
        return try runDetailed(progress: progress, note: { if noted.insert($0).inserted { report?($0) } }).reports
    }

    /// What one encoder's audit leaves for a comparison: the reports (one per probe kind), the
    /// predicted labels of the last checkpoint's test rows per probe kind and label set, and
    /// the label sets of the train and test rows by name.
    struct Detailed {
        var reports: [RunReport]
        var lastPredictions: [[String: [Int]]]
        var trainLabels: [String: LabelSet]
        var testLabels: [String: LabelSet]
    }

    /// `runAll` with the last checkpoint's predictions (`note` is called for every note).
    func runDetailed(progress: ((Int, Int) -> Void)?, note: (String) -> Void) throws -> Detailed {
        guard !embeddings.isEmpty else { throw AuditError.countMismatch("no --embeddings given") }
        if !testEmbeddings.isEmpty && testEmbeddings.count != embeddings.count {
            throw AuditError.countMismatch("\(embeddings.count) --embeddings but \(testEmbeddings.count) --test-embeddings (give one test file per checkpoint)")
        }
        if !testEmbeddings.isEmpty && testLabels == nil {
            throw AuditError.countMismatch("--test-embeddings needs --test-labels (the CSV labels of the test rows)")
        }
        if testEmbeddings.isEmpty && testLabels != nil {
            throw AuditError.countMismatch("--test-labels given without --test-embeddings")
        }
        if !steps.isEmpty && steps.count != embeddings.count {
            throw AuditError.countMismatch("\(steps.count) steps for \(embeddings.count) --embeddings files")
        }
        let steps = self.steps.isEmpty ? Array(0..<embeddings.count) : self.steps
        guard zip(steps, steps.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw AuditError.countMismatch("steps must increase, got \(steps)")
        }

        let trainTable = try LabelTable(contentsOf: URL(fileURLWithPath: labels))
        let testTable = try testLabels.map { try LabelTable(contentsOf: URL(fileURLWithPath: $0)) }
        for n in trainTable.notes + (testTable?.notes ?? []) { note(n) }
        var names = columns.isEmpty ? trainTable.columns : columns
        for label in audit.within.keys.sorted() where !names.contains(label) { names.append(label) }
        for label in nuisance where !names.contains(label) {
            guard trainTable.columns.contains(label) else {
                throw AuditError.unknownLabel(label, available: trainTable.columns)
            }
            names.append(label)
        }
        var needed = names
        for group in audit.within.values.sorted() where !needed.contains(group) { needed.append(group) }
        try EmbeddingAuditor.validateWithin(audit.within, names: needed)
        var trainSets: [String: LabelSet] = [:], testSets: [String: LabelSet] = [:]
        for name in needed {
            let tr = try trainTable.labels(name)
            if let testTable {
                let (a, b) = LabelSet.unified(tr, try testTable.labels(name))
                trainSets[name] = a; testSets[name] = b
            } else {
                trainSets[name] = tr
            }
        }

        guard maxFitRows >= 0, maxScoreRows >= 0 else {
            throw AuditError.badSplit("max_fit_rows and max_score_rows must be ≥ 0 (0: all rows), got \(maxFitRows) and \(maxScoreRows)")
        }
        // The split (same rows for every checkpoint), after checking the first file's row count.
        let first = try Self.openEmbeddings(embeddings[0], note: note)
        try trainTable.requireRowCount(first.rows, embeddingsFile: embeddings[0])
        var trainIdx: [Int]? = nil, testIdx: [Int]? = nil
        if testEmbeddings.isEmpty {
            guard split > 0, split < 1 else { throw AuditError.badSplit("fraction must be in (0, 1), got \(split)") }
            let n = trainTable.rowCount
            let nTrain = Int((split * Double(n)).rounded())
            guard nTrain >= 1, nTrain < n else {
                throw AuditError.badSplit("\(split) of \(n) rows leaves an empty train or test side")
            }
            var rng = SeededGenerator(seed: seed)
            let perm = rng.permutation(n)
            trainIdx = Array(perm[0..<nTrain]); testIdx = Array(perm[nTrain...])
        }
        // Caps: seeded subsamples of each side, the same rows for every checkpoint.
        var sub = SeededGenerator(seed: seed ^ 0x5AB5)
        let trainRows = trainIdx?.count ?? first.rows
        let firstTest = testEmbeddings.isEmpty ? nil : try Self.openEmbeddings(testEmbeddings[0], note: note)
        let testRows = testIdx?.count ?? firstTest!.rows
        let fitPick = Self.subsample(trainRows, cap: maxFitRows, using: &sub)
        let scorePick = Self.subsample(testRows, cap: maxScoreRows, using: &sub)
        if let fitPick { trainIdx = fitPick.map { trainIdx?[$0] ?? $0 } }
        if let scorePick { testIdx = scorePick.map { testIdx?[$0] ?? $0 } }
        let rows = AuditRows(trainRows: trainRows, fitted: fitPick?.count ?? trainRows,
                             testRows: testRows, scored: scorePick?.count ?? testRows)
        if rows.subsampled { note(rows.sentence + " (--max-fit-rows \(maxFitRows), --max-score-rows \(maxScoreRows))") }
        // From here, trainIdx and testIdx index the training file and the test file (nil: every
        // row, in order).
        let splitting = testEmbeddings.isEmpty
        let auditTrain: [LabelSet] = needed.map { name in
            if let trainIdx { return trainSets[name]!.gather(trainIdx) }
            return trainSets[name]!
        }
        let auditTest: [LabelSet] = needed.map { name in
            let source = splitting ? trainSets[name]! : testSets[name]!
            if let testIdx { return source.gather(testIdx) }
            return source
        }

        let kinds = probes.isEmpty ? [audit.probe] : probes
        var timelines = Array(repeating: [TimelineEntry](), count: kinds.count)
        var lastPredictions = Array(repeating: [String: [Int]](), count: kinds.count)
        for (i, file) in embeddings.enumerated() {
            let x = i == 0 ? first : try Self.openEmbeddings(file, note: note)
            try trainTable.requireRowCount(x.rows, embeddingsFile: file)
            let train: Tensor<Double>, test: Tensor<Double>
            var allRows: Tensor<Double>? = nil
            if splitting {
                train = try Self.rows(x, trainIdx!)
                test = try Self.rows(x, testIdx!)
                // Every row as stored, or the rows read when a side was subsampled.
                if metricsOn == .all {
                    allRows = rows.subsampled ? Tensor(shape: [train.shape[0] + test.shape[0], x.columns], scalars: train.scalars + test.scalars)
                                              : try Self.rows(x, nil)
                }
            } else {
                let t = i == 0 ? firstTest! : try Self.openEmbeddings(testEmbeddings[i], note: note)
                try testTable!.requireRowCount(t.rows, embeddingsFile: testEmbeddings[i])
                guard t.columns == x.columns else {
                    throw AuditError.widthMismatch(trainFile: file, trainWidth: x.columns, testFile: testEmbeddings[i], testWidth: t.columns)
                }
                train = try Self.rows(x, trainIdx)
                test = try Self.rows(t, testIdx)
                if metricsOn == .all {
                    allRows = Tensor(shape: [train.shape[0] + test.shape[0], x.columns], scalars: train.scalars + test.scalars)
                }
            }
            // Metrics and geometry do not depend on the probe: computed with the first probe,
            // copied to the rest.
            var metrics: RepresentationMetrics? = nil
            var geometry: CollapseGeometry? = nil
            for (k, kind) in kinds.enumerated() {
                var config = audit
                config.probe = kind
                config.computeMetrics = audit.computeMetrics && k == 0
                var (entry, predicted) = try EmbeddingAuditor(configuration: config).auditPredicting(
                    step: steps[i], train: train, trainLabels: auditTrain, test: test, testLabels: auditTest,
                    allRows: k == 0 ? allRows : nil, measureMerging: i == embeddings.count - 1)
                if i == embeddings.count - 1 { lastPredictions[k] = predicted }
                if k == 0 { metrics = entry.metrics; geometry = entry.geometry } else { entry.metrics = metrics; entry.geometry = geometry }
                timelines[k].append(entry)
            }
            progress?(i + 1, embeddings.count)
        }
        // Group-only labels are not reported as rows of their own.
        let keep = Set(names)
        let reports = try zip(kinds, timelines).map { kind, timeline in
            var report = try RunReport(settings: kinds.count > 1 ? ["probe": .string(kind.rawValue)] : [:],
                          probe: kind, measure: audit.measure, labels: names, within: audit.within,
                          timeline: timeline.map { e in
                              var e = e
                              e.probes = e.probes.filter { keep.contains($0.key) }
                              e.chance = e.chance?.filter { keep.contains($0.key) }
                              e.retention = e.retention?.filter { keep.contains($0.key) }
                              return e
                          }, thresholds: audit.thresholds)
            report.rows = rows
            return report
        }
        return Detailed(reports: reports, lastPredictions: lastPredictions,
                        trainLabels: Dictionary(uniqueKeysWithValues: zip(needed, auditTrain)),
                        testLabels: Dictionary(uniqueKeysWithValues: zip(needed, auditTest)))
    }

    /// `cap` indices drawn without replacement from 0..<`count` (ascending), or nil when the
    /// side has at most `cap` rows or `cap` is 0 (all rows).
    static func subsample(_ count: Int, cap: Int, using g: inout SeededGenerator) -> [Int]? {
        guard cap > 0, count > cap else { return nil }
        return Array(g.permutation(count)[0..<cap]).sorted()
    }

    /// Opens an `[n, p]` NPY matrix by memory mapping (reporting a float16 or Fortran-order
    /// conversion with `note`).
    /// - Throws: `NPYError`.
    static func openEmbeddings(_ file: String, note: (String) -> Void) throws -> NPYMatrixFile {
        let m = try NPYMatrixFile(URL(fileURLWithPath: file))
        if let n = m.conversionNote { note(n) }
        return m
    }

    /// Rows `indices` of `file` (nil: every row), checked finite.
    /// - Throws: `AuditError.nonFinite`.
    static func rows(_ file: NPYMatrixFile, _ indices: [Int]?) throws -> Tensor<Double> {
        let x = indices.map { file.gatherRows($0) } ?? file.allRows()
        guard x.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: file.file) }
        return x
    }
}
