import Foundation

/// An audit of embeddings made elsewhere (for example saved by PyTorch with `np.save`):
/// one NPY file per checkpoint, a CSV label table, and either test files or a seeded split.
///
/// Protocol: with `testEmbeddings`, checkpoint i is fit on `embeddings[i]` and scored on
/// `testEmbeddings[i]` (labels from `labels` and `testLabels`). Without them, the rows are
/// split once by a permutation drawn from `SeededGenerator(seed: seed)`: the first
/// round(`split` · n) permuted rows train, the rest test, the same rows for every checkpoint.
/// Checkpoint i is reported at `steps[i]` (default i, so the first file is the step-0 baseline).
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

    /// Creates the request.
    public init(embeddings: [String], testEmbeddings: [String] = [], labels: String, testLabels: String? = nil,
                split: Double = 0.8, seed: UInt64 = 0, columns: [String] = [], steps: [Int] = [],
                audit: AuditConfiguration = .init(), probes: [ProbeKind] = []) {
        self.probes = probes
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
        case columns, steps, audit, probes
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
    /// - Parameter progress: called after each checkpoint with (index, count).
    /// - Throws: `NPYError`, `LabelTableError`, `AuditError`, `ProbeError` naming the file or
    ///   label at fault.
    public func run(progress: ((Int, Int) -> Void)? = nil) throws -> RunReport {
        try runAll(progress: progress)[0]
    }

    /// Like `run`, but one `RunReport` per probe of `probes` (in that order; `settings` holds
    /// `{"probe": name}` when there are several), sharing the file reading, the split and the
    /// representation metrics.
    /// - Throws: as `run`.
    public func runAll(progress: ((Int, Int) -> Void)? = nil) throws -> [RunReport] {
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
        var names = columns.isEmpty ? trainTable.columns : columns
        for label in audit.within.keys.sorted() where !names.contains(label) { names.append(label) }
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

        // The split (same rows for every checkpoint), after checking the first file's row count.
        let first = try Self.loadEmbeddings(embeddings[0])
        try trainTable.requireRowCount(first.shape[0], embeddingsFile: embeddings[0])
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
        let auditTrain: [LabelSet] = needed.map { name in
            if let trainIdx { return trainSets[name]!.gather(trainIdx) }
            return trainSets[name]!
        }
        let auditTest: [LabelSet] = needed.map { name in
            if let testIdx { return trainSets[name]!.gather(testIdx) }
            return testSets[name]!
        }

        let kinds = probes.isEmpty ? [audit.probe] : probes
        var timelines = Array(repeating: [TimelineEntry](), count: kinds.count)
        for (i, file) in embeddings.enumerated() {
            let x = i == 0 ? first : try Self.loadEmbeddings(file)
            try trainTable.requireRowCount(x.shape[0], embeddingsFile: file)
            var train = x, test: Tensor<Double>
            if let trainIdx, let testIdx {
                train = x.gatherRows(trainIdx); test = x.gatherRows(testIdx)
            } else {
                test = try Self.loadEmbeddings(testEmbeddings[i])
                try testTable!.requireRowCount(test.shape[0], embeddingsFile: testEmbeddings[i])
                guard test.shape[1] == x.shape[1] else {
                    throw AuditError.widthMismatch(trainFile: file, trainWidth: x.shape[1], testFile: testEmbeddings[i], testWidth: test.shape[1])
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
                var entry = try EmbeddingAuditor(configuration: config).audit(step: steps[i], train: train, trainLabels: auditTrain,
                                                                              test: test, testLabels: auditTest)
                if k == 0 { metrics = entry.metrics; geometry = entry.geometry } else { entry.metrics = metrics; entry.geometry = geometry }
                timelines[k].append(entry)
            }
            progress?(i + 1, embeddings.count)
        }
        // Group-only labels are not reported as rows of their own.
        let keep = Set(names)
        return try zip(kinds, timelines).map { kind, timeline in
            try RunReport(settings: kinds.count > 1 ? ["probe": .string(kind.rawValue)] : [:],
                          probe: kind, measure: audit.measure, labels: names, within: audit.within,
                          timeline: timeline.map { e in
                              var e = e
                              e.probes = e.probes.filter { keep.contains($0.key) }
                              e.chance = e.chance?.filter { keep.contains($0.key) }
                              e.retention = e.retention?.filter { keep.contains($0.key) }
                              return e
                          }, thresholds: audit.thresholds)
        }
    }

    /// Reads an `[n, p]` NPY matrix and checks it is finite.
    /// - Throws: `NPYError`, `AuditError.nonFinite`.
    static func loadEmbeddings(_ file: String) throws -> Tensor<Double> {
        let x = try NPY.readMatrix(URL(fileURLWithPath: file))
        guard x.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: file) }
        return x
    }
}
