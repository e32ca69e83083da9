import Foundation

/// Errors of the audit (inputs that do not fit together). Messages name files and labels.
public enum AuditError: Error, CustomStringConvertible, Equatable {
    /// A label set named in `within` or requested by the caller does not exist.
    case unknownLabel(String, available: [String])
    /// A label set is probed within itself, or the `within` text is malformed.
    case badWithin(String)
    /// Embedding files and test files (or steps) do not pair up.
    case countMismatch(String)
    /// An embedding file holds NaN or infinity.
    case nonFinite(file: String)
    /// The train/test split fraction is outside (0, 1) or leaves a side empty.
    case badSplit(String)
    /// Embedding widths differ between the train and test files of one checkpoint.
    case widthMismatch(trainFile: String, trainWidth: Int, testFile: String, testWidth: Int)
    /// A named `--embeddings`/`--test-embeddings` value is malformed or a name repeats; the
    /// message names the flag and the value.
    case badEncoder(String)
    /// One encoder of a comparison failed; the message is the underlying error's, which names
    /// the file.
    case encoder(name: String, message: String)

    public var description: String {
        switch self {
        case .unknownLabel(let l, let a): return "unknown label set '\(l)' (available: \(a.joined(separator: ", ")))"
        case .badWithin(let m): return "bad --within: \(m)"
        case .countMismatch(let m): return m
        case .nonFinite(let f): return "\(f): embeddings contain NaN or infinity"
        case .badSplit(let m): return "bad --split: \(m)"
        case .widthMismatch(let a, let wa, let b, let wb):
            return "\(a) has embedding width \(wa) but \(b) has width \(wb)"
        case .badEncoder(let m): return m
        case .encoder(let name, let m): return "--embeddings \(name)=…: \(m)"
        }
    }
}

/// Settings of an audit (Codable: written into report.json's `config`).
public struct AuditConfiguration: Codable, Sendable, Equatable {
    /// The probe to use (default: the logistic probe, C chosen per fit on held-out rows).
    public var probe: ProbeKind
    /// Balanced (default) or plain accuracy.
    public var measure: AccuracyMeasure
    /// Label set → the label set whose groups it is probed within (e.g. `subclass` → `class`),
    /// by the rule of `WithinGroups`. Overrides the `within` of the audited `LabelSet`s.
    public var within: [String: String]
    /// How per-group scores are averaged.
    public var groupAveraging: GroupAveraging
    /// Compute representation metrics and the collapse geometry (`CollapseGeometry`, over
    /// every test label set and the `within` pairs) on the test embeddings at every audit.
    public var computeMetrics: Bool
    /// Record the normalized-covariance spectrum in the metrics.
    public var includeSpectrum: Bool
    /// Verdict thresholds.
    public var thresholds: VerdictThresholds

    enum CodingKeys: String, CodingKey {
        case probe, measure, within, groupAveraging = "group_averaging", computeMetrics = "compute_metrics"
        case includeSpectrum = "include_spectrum", thresholds
    }

    /// Creates a configuration (defaults: logistic, balanced, no groups, plain mean over groups,
    /// metrics with spectrum, default thresholds).
    public init(probe: ProbeKind = .logistic, measure: AccuracyMeasure = .balanced, within: [String: String] = [:],
                groupAveraging: GroupAveraging = .mean, computeMetrics: Bool = true, includeSpectrum: Bool = true,
                thresholds: VerdictThresholds = .init()) {
        self.probe = probe
        self.measure = measure
        self.within = within
        self.groupAveraging = groupAveraging
        self.computeMetrics = computeMetrics
        self.includeSpectrum = includeSpectrum
        self.thresholds = thresholds
    }
}

/// Audits frozen embeddings: every label set's probe score (within groups where configured),
/// and the representation metrics and collapse geometry of the test embeddings.
///
/// Protocol: probes are fit on the train embeddings and scored on the test embeddings;
/// metrics and geometry are computed on the test embeddings (the held-out, scored ones), or the
/// metrics on every row when the caller passes them (`audit(…, allRows:)`).
public struct EmbeddingAuditor: Sendable {
    /// The settings.
    public var configuration: AuditConfiguration
    /// The probe instance (defaults to `configuration.probe.makeProbe()`; replace it to change
    /// a probe's parameters, e.g. `LogisticProbe(c: 0.1)`).
    public var probe: any Probe

    /// Creates an auditor.
    public init(configuration: AuditConfiguration = .init(), probe: (any Probe)? = nil) {
        self.configuration = configuration
        self.probe = probe ?? configuration.probe.makeProbe()
    }

    /// Audits one checkpoint.
    /// - Parameters:
    ///   - train: train embeddings `[n_train, p]`; `trainLabels`: the label sets to audit, each
    ///     with `n_train` codes.
    ///   - test: test embeddings `[n_test, p]`; `testLabels`: a label set of the same name for
    ///     every train label set, each with `n_test` codes (same code for the same class).
    ///   - step, loss, featureWeights, layer: copied into the entry.
    ///   - measureMerging: also measure which subclasses merged (`SubclassMerging`) for every
    ///     label read within groups (more probe fits: one per pair of subclasses of a group).
    ///   - allRows: every embedding row `[n_all, p]` (train and test); when given, the
    ///     representation metrics are computed on it (`computed_on` = `all`) instead of the test
    ///     rows (`computed_on` = `test`). The geometry always uses the test rows (it needs
    ///     their labels).
    /// A label set is probed within groups when `configuration.within` names its group, else
    /// when its train `LabelSet.within` does; otherwise on all rows.
    /// - Throws: `AuditError.unknownLabel` for a test label set that is missing or a bad
    ///   `within`, `AuditError.badWithin`, `ProbeError` for shapes and counts,
    ///   `AuditError.nonFinite` for NaN/∞ embeddings.
    public func audit<T: TensorScalar>(step: Int, loss: Double? = nil, train: Tensor<T>, trainLabels: [LabelSet],
                                       test: Tensor<T>, testLabels: [LabelSet], featureWeights: [String: Double]? = nil,
                                       layer: String? = nil, allRows: Tensor<T>? = nil,
                                       measureMerging: Bool = false) throws -> TimelineEntry {
        try auditPredicting(step: step, loss: loss, train: train, trainLabels: trainLabels, test: test, testLabels: testLabels,
                            featureWeights: featureWeights, layer: layer, allRows: allRows, measureMerging: measureMerging).entry
    }

    /// Like `audit`, with each audited label set's predicted label of every test row
    /// (`[n_test]`; for a label read within groups, rows outside the qualifying groups hold
    /// `ProbeEvaluation.notPredicted`). `EncoderComparison` pairs these predictions across
    /// encoders scored on the same test rows.
    /// - Throws: as `audit`.
    public func auditPredicting<T: TensorScalar>(step: Int, loss: Double? = nil, train: Tensor<T>, trainLabels: [LabelSet],
                                                 test: Tensor<T>, testLabels: [LabelSet], featureWeights: [String: Double]? = nil,
                                                 layer: String? = nil, allRows: Tensor<T>? = nil,
                                                 measureMerging: Bool = false) throws -> (entry: TimelineEntry, predictions: [String: [Int]]) {
        let tr = asDouble(train), te = asDouble(test)
        guard tr.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: "train embeddings") }
        guard te.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: "test embeddings") }
        let names = trainLabels.map(\.name)
        let trainByName = Dictionary(trainLabels.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let testByName = Dictionary(testLabels.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in names where testByName[name] == nil {
            throw AuditError.unknownLabel(name, available: testLabels.map(\.name))
        }
        let within = Self.effectiveWithin(configuration.within, labels: trainLabels)
        try Self.validateWithin(within, names: names)
        var scores: [String: ProbeScore] = [:]
        var predictions: [String: [Int]] = [:]
        let global = names.filter { within[$0] == nil }
        let globalScores = try ProbeEvaluation.predictAndScoreMany(probe: probe, train: tr, trainLabels: global.map { trainByName[$0]!.codes },
                                                                   test: te, testLabels: global.map { testByName[$0]!.codes },
                                                                   measure: configuration.measure)
        for (l, s) in zip(global, globalScores) { scores[l] = s.score; predictions[l] = s.predicted }
        for name in names {
            guard let g = within[name] else { continue }
            let r = try ProbeEvaluation.predictAndScoreWithinGroups(
                probe: probe, train: tr, trainLabels: trainByName[name]!.codes, trainGroups: trainByName[g]!.codes,
                test: te, testLabels: testByName[name]!.codes, testGroups: testByName[g]!.codes,
                measure: configuration.measure, averaging: configuration.groupAveraging)
            scores[name] = r.score; predictions[name] = r.predicted
        }
        var metrics: RepresentationMetrics? = nil
        if configuration.computeMetrics {
            if let allRows {
                let all = asDouble(allRows)
                guard all.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: "embeddings (all rows)") }
                metrics = try RepresentationMetrics(embeddings: all, includeSpectrum: configuration.includeSpectrum, computedOn: .all)
            } else {
                metrics = try RepresentationMetrics(embeddings: te, includeSpectrum: configuration.includeSpectrum, computedOn: .test)
            }
        }
        var entry = TimelineEntry(step: step, loss: loss, scores: scores, featureWeights: featureWeights,
                                  metrics: metrics, layer: layer)
        if measureMerging {
            let merging = try names.compactMap { name -> SubclassMerging? in
                guard let g = within[name] else { return nil }
                return try SubclassMerging.measure(probe: probe, train: tr, trainLabels: trainByName[name]!, trainGroups: trainByName[g]!,
                                                   test: te, testLabels: testByName[name]!, testGroups: testByName[g]!)
            }
            entry.subclassMerging = merging.isEmpty ? nil : merging
        }
        if configuration.computeMetrics {
            let codes = Dictionary(names.map { ($0, testByName[$0]!.codes) }, uniquingKeysWith: { a, _ in a })
            entry.geometry = try CollapseGeometry(embeddings: te, labels: codes, within: within)
        }
        return (entry, predictions)
    }

    /// The `within` map an audit uses: each label set's own `within`, overridden by `configured`.
    public static func effectiveWithin(_ configured: [String: String], labels: [LabelSet]) -> [String: String] {
        var out: [String: String] = [:]
        for l in labels { if let w = l.within { out[l.name] = w } }
        return out.merging(configured) { _, c in c }
    }

    /// Checks that every `within` pair names known label sets and no label is probed within itself.
    /// - Throws: `AuditError.unknownLabel` or `.badWithin`.
    public static func validateWithin(_ within: [String: String], names: [String]) throws {
        for (label, group) in within.sorted(by: { $0.key < $1.key }) {
            guard names.contains(label) else { throw AuditError.unknownLabel(label, available: names) }
            guard names.contains(group) else { throw AuditError.unknownLabel(group, available: names) }
            guard label != group else { throw AuditError.badWithin("'\(label)' cannot be probed within itself") }
        }
    }
}
