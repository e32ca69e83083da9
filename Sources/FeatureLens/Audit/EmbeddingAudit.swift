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

    public var description: String {
        switch self {
        case .unknownLabel(let l, let a): return "unknown label set '\(l)' (available: \(a.joined(separator: ", ")))"
        case .badWithin(let m): return "bad --within: \(m)"
        case .countMismatch(let m): return m
        case .nonFinite(let f): return "\(f): embeddings contain NaN or infinity"
        case .badSplit(let m): return "bad --split: \(m)"
        case .widthMismatch(let a, let wa, let b, let wb):
            return "\(a) has embedding width \(wa) but \(b) has width \(wb)"
        }
    }
}

/// One label set's train and test labels (integer class codes).
public struct AuditLabels: Sendable, Equatable {
    /// Label-set name (e.g. `class`, `subclass`).
    public var name: String
    /// Labels of the train rows: `[n_train]`.
    public var train: [Int]
    /// Labels of the test rows: `[n_test]`.
    public var test: [Int]

    /// Creates the pair.
    public init(name: String, train: [Int], test: [Int]) {
        self.name = name
        self.train = train
        self.test = test
    }
}

/// Settings of an audit (Codable: written into report.json's `config`).
public struct AuditConfiguration: Codable, Sendable, Equatable {
    /// The probe to use (default: the ridge signature probe).
    public var probe: ProbeKind
    /// Balanced (default) or plain accuracy.
    public var measure: AccuracyMeasure
    /// Label set → the label set whose groups it is probed within (e.g. `subclass` → `class`).
    public var within: [String: String]
    /// How per-group scores are averaged.
    public var groupAveraging: GroupAveraging
    /// Compute representation metrics on the test embeddings at every audit.
    public var computeMetrics: Bool
    /// Record the normalized-covariance spectrum in the metrics.
    public var includeSpectrum: Bool
    /// Verdict thresholds.
    public var thresholds: VerdictThresholds

    enum CodingKeys: String, CodingKey {
        case probe, measure, within, groupAveraging = "group_averaging", computeMetrics = "compute_metrics"
        case includeSpectrum = "include_spectrum", thresholds
    }

    /// Creates a configuration (defaults: ridge, balanced, no groups, plain mean over groups,
    /// metrics with spectrum, default thresholds).
    public init(probe: ProbeKind = .ridge, measure: AccuracyMeasure = .balanced, within: [String: String] = [:],
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

/// Audits frozen embeddings: every label set's probe score (within groups where configured)
/// and the representation metrics of the test embeddings.
///
/// Protocol: probes are fit on the train embeddings and scored on the test embeddings;
/// metrics are computed on the test embeddings (the held-out, scored ones).
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
    /// - Parameters: `train` `[n_train, p]`, `test` `[n_test, p]`, `labels` with matching
    ///   lengths; `step`, `loss`, `featureWeights`, `layer` are copied into the entry.
    /// - Throws: `AuditError.unknownLabel`/`.badWithin` for a bad `within`, `ProbeError` for
    ///   shapes and counts, `AuditError.nonFinite` for NaN/∞ embeddings.
    public func audit<T: TensorScalar>(step: Int, loss: Double? = nil, train: Tensor<T>, test: Tensor<T>,
                                       labels: [AuditLabels], featureWeights: [String: Double]? = nil,
                                       layer: String? = nil) throws -> TimelineEntry {
        let tr = asDouble(train), te = asDouble(test)
        guard tr.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: "train embeddings") }
        guard te.scalars.allSatisfy({ $0.isFinite }) else { throw AuditError.nonFinite(file: "test embeddings") }
        let byName = Dictionary(labels.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        try Self.validateWithin(configuration.within, names: labels.map(\.name))
        var scores: [String: ProbeScore] = [:]
        let global = labels.filter { configuration.within[$0.name] == nil }
        let globalScores = try ProbeEvaluation.scoreMany(probe: probe, train: tr, trainLabels: global.map(\.train),
                                                         test: te, testLabels: global.map(\.test),
                                                         measure: configuration.measure)
        for (l, s) in zip(global, globalScores) { scores[l.name] = s }
        for l in labels {
            guard let g = configuration.within[l.name], let group = byName[g] else { continue }
            scores[l.name] = try ProbeEvaluation.scoreWithinGroups(
                probe: probe, train: tr, trainLabels: l.train, trainGroups: group.train,
                test: te, testLabels: l.test, testGroups: group.test,
                measure: configuration.measure, averaging: configuration.groupAveraging).score
        }
        let metrics = configuration.computeMetrics
            ? try RepresentationMetrics(embeddings: te, includeSpectrum: configuration.includeSpectrum) : nil
        return TimelineEntry(step: step, loss: loss, scores: scores, featureWeights: featureWeights,
                             metrics: metrics, layer: layer)
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
