import Foundation

// The feature report: per label set, the probe accuracy at every audited step, its peak and
// final values and a verdict; and the `report.json` document types shared with training runs
// (schema in docs/REPORT_SCHEMA.md).

/// What happened to a labelled feature over training (see `VerdictThresholds` for the rules).
public enum FeatureVerdict: String, Codable, Sendable, CaseIterable {
    /// The embedding reads the label at the end.
    case learned
    /// The baseline (step 0) read the label, but training ended at chance level: training
    /// removed it (feature suppression, Xue et al. 2023 §4).
    case suppressed
    /// A within-group label (subclass within class) that was learned during training and ends
    /// near chance (class collapse, Xue et al. 2023 §3).
    case collapsed
    /// Peaked high after the baseline and ends at most `lostFraction` of the peak.
    case learnedThenLost = "learned then lost"
    /// Ends between chance and learned.
    case partial
    /// Never read above chance where no baseline read it either (for example a single
    /// audit with the label at chance). Not one of the four training verdicts: it keeps
    /// `suppressed` for the case where a baseline shows the label was there to lose.
    case notLearned = "not learned"
    /// No audit could measure the label: it is probed within groups and no group has two
    /// classes in both its train and test rows (`WithinGroups`), so every accuracy is NaN.
    case notMeasurable = "not measurable"
}

/// Thresholds on the retention r = (accuracy − chance)/(1 − chance) that decide a verdict.
///
/// With r₀ the baseline retention (the audit at step 0, when the timeline has at least two
/// audits), r_peak the largest retention after the baseline (over all audits when there is
/// no baseline), and r_final the last audit's retention, the first rule that holds wins:
/// 1. `collapsed`: the label is probed within groups, r_peak ≥ `learned` and r_final ≤ `chance`;
/// 2. `suppressed`: a baseline exists, r₀ ≥ `baselineRead` and r_final ≤ `chance`;
/// 3. `learned then lost`: r_peak ≥ `learned` and r_final ≤ `lostFraction` · r_peak;
/// 4. `learned then lost` by significance (needs a baseline and the standard errors of the
///    accuracies a₀, a_peak, a_final; any number of classes): training raised the accuracy,
///    a_peak − a₀ > `riseStandardErrors` · √(se₀² + se_peak²), then lowered it again,
///    a_peak − a_final > `fallStandardErrors` · √(se_peak² + se_final²), to at most where it
///    started, a_final ≤ a₀. The standard error of a difference treats the two accuracies as
///    independent, which overstates it (they are read on the same test points), so the test
///    is conservative. This is the rule that reads class collapse on real data, where the
///    fine label falls a few points, not to chance (SCIENCE.md §6);
///    When the label is probed within groups and the geometry of its groups collapsed too,
///    the within-group variance share of the group label (`CollapseGeometry.varianceShare`)
///    ending at most `collapsedShareFraction` of its step-0 value, the verdict is
///    `collapsed` instead (class collapse read from the probe and the geometry together);
/// 5. `learned`: r_final ≥ `learned`;
/// 6. `not learned`: r_final ≤ `chance`;
/// 7. `partial` otherwise.
/// Defaults for two balanced classes (chance 0.5): `learned` 0.8 ↔ accuracy 0.9, `chance`
/// 0.2 ↔ 0.6 (the ≤ 0.6 of SCIENCE.md §5's signatures), `baselineRead` 0.5 ↔ 0.75; rule 4:
/// a rise of more than 2 and a fall of more than 3 standard errors.
public struct VerdictThresholds: Codable, Sendable, Equatable {
    /// Retention at or above which a label counts as read ("learned").
    public var learned: Double
    /// Retention at or below which a label counts as at chance.
    public var chance: Double
    /// Baseline retention at or above which the untrained encoder already read the label.
    public var baselineRead: Double
    /// "Lost" means the final retention is at most this fraction of the peak.
    public var lostFraction: Double
    /// Rule 4: the rise from the baseline to the peak must exceed this many standard errors.
    public var riseStandardErrors: Double
    /// Rule 4: the fall from the peak to the end must exceed this many standard errors.
    public var fallStandardErrors: Double
    /// Rule 4 gives `collapsed` when the group label's within-group variance share ends at
    /// most this fraction of its step-0 value.
    public var collapsedShareFraction: Double

    enum CodingKeys: String, CodingKey {
        case learned, chance, baselineRead = "baseline_read", lostFraction = "lost_fraction"
        case riseStandardErrors = "rise_standard_errors", fallStandardErrors = "fall_standard_errors"
        case collapsedShareFraction = "collapsed_share_fraction"
    }

    /// Creates thresholds (defaults documented on the type).
    public init(learned: Double = 0.8, chance: Double = 0.2, baselineRead: Double = 0.5, lostFraction: Double = 0.5,
                riseStandardErrors: Double = 2, fallStandardErrors: Double = 3, collapsedShareFraction: Double = 0.5) {
        self.learned = learned
        self.chance = chance
        self.baselineRead = baselineRead
        self.lostFraction = lostFraction
        self.riseStandardErrors = riseStandardErrors
        self.fallStandardErrors = fallStandardErrors
        self.collapsedShareFraction = collapsedShareFraction
    }

    /// Decodes thresholds; reports written before rule 4 existed lack its two keys and get
    /// the defaults.
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = VerdictThresholds()
        learned = try c.decode(Double.self, forKey: .learned)
        chance = try c.decode(Double.self, forKey: .chance)
        baselineRead = try c.decode(Double.self, forKey: .baselineRead)
        lostFraction = try c.decode(Double.self, forKey: .lostFraction)
        riseStandardErrors = try c.decodeIfPresent(Double.self, forKey: .riseStandardErrors) ?? d.riseStandardErrors
        fallStandardErrors = try c.decodeIfPresent(Double.self, forKey: .fallStandardErrors) ?? d.fallStandardErrors
        collapsedShareFraction = try c.decodeIfPresent(Double.self, forKey: .collapsedShareFraction) ?? d.collapsedShareFraction
    }

    /// The verdict for a timeline of retentions (`steps` ascending, one retention per step).
    /// Audits whose retention is NaN (not measurable) are left out; when none is left the
    /// verdict is `notMeasurable`.
    /// - Parameters:
    ///   - accuracies, standardErrors: the accuracy and its standard error at every step (rule
    ///     4 of the type's list); without them, or with a NaN among the three it reads, rule 4
    ///     does not apply.
    ///   - groupShares: for a label probed within groups, the group label's within-group
    ///     variance share at every step (rule 4's `collapsed`); nil or NaN: not known.
    public func verdict(steps allSteps: [Int], retentions allRetentions: [Double], withinGroups: Bool,
                        accuracies allAccuracies: [Double]? = nil, standardErrors allErrors: [Double]? = nil,
                        groupShares: [Double]? = nil) -> FeatureVerdict {
        precondition(!allRetentions.isEmpty && allSteps.count == allRetentions.count, "one retention per step")
        let measured = allRetentions.indices.filter { !allRetentions[$0].isNaN }
        guard !measured.isEmpty else { return .notMeasurable }
        let steps = measured.map { allSteps[$0] }, retentions = measured.map { allRetentions[$0] }
        let hasBaseline = steps.count >= 2 && steps[0] == 0
        let after = hasBaseline ? Array(retentions.dropFirst()) : retentions
        let peak = after.max()!
        let final = retentions.last!
        if withinGroups && peak >= learned && final <= chance { return .collapsed }
        if hasBaseline && retentions[0] >= baselineRead && final <= chance { return .suppressed }
        if peak >= learned && final <= lostFraction * peak { return .learnedThenLost }
        if hasBaseline, let acc = allAccuracies, let se = allErrors, acc.count == allSteps.count, se.count == allSteps.count,
           let change = SignificantChange(accuracies: measured.map { acc[$0] }, standardErrors: measured.map { se[$0] }),
           change.rise > riseStandardErrors, change.fall > fallStandardErrors, change.endsAtOrBelowBaseline {
            if withinGroups, let shares = groupShares, shares.count == allSteps.count,
               let s0 = shares.first, let sf = shares.last, s0.isFinite, sf.isFinite, s0 > 0,
               sf <= collapsedShareFraction * s0 {
                return .collapsed
            }
            return .learnedThenLost
        }
        if final >= learned { return .learned }
        if final <= chance { return .notLearned }
        return .partial
    }
}

/// The rise from the baseline to the peak and the fall from the peak to the end of a timeline
/// of accuracies, in standard errors of the difference (rule 4 of `VerdictThresholds`).
public struct SignificantChange: Sendable, Equatable {
    /// (a_peak − a₀) / √(se₀² + se_peak²).
    public var rise: Double
    /// (a_peak − a_final) / √(se_peak² + se_final²).
    public var fall: Double
    /// a_final ≤ a₀.
    public var endsAtOrBelowBaseline: Bool
    /// Index of the peak in the timeline (the earliest largest accuracy after the baseline).
    public var peakIndex: Int

    /// Reads a timeline whose first entry is the baseline (step 0); nil when it has fewer than
    /// two entries or a NaN or non-positive standard error at the baseline, peak or end.
    public init?(accuracies: [Double], standardErrors: [Double]) {
        guard accuracies.count >= 2, standardErrors.count == accuracies.count else { return nil }
        var p = 1
        for i in 1..<accuracies.count where accuracies[i] > accuracies[p] { p = i }
        let last = accuracies.count - 1
        self.init(baseline: (accuracies[0], standardErrors[0]), peak: (accuracies[p], standardErrors[p]),
                  final: (accuracies[last], standardErrors[last]), peakIndex: p)
    }

    /// The change from (accuracy, standard error) at the baseline, the peak and the end; nil
    /// when any of them is not finite or a difference has no positive standard error.
    public init?(baseline: (Double, Double), peak: (Double, Double), final: (Double, Double), peakIndex: Int) {
        let ((a0, s0), (ap, sp), (af, sf)) = (baseline, peak, final)
        guard [a0, ap, af, s0, sp, sf].allSatisfy({ $0.isFinite }) else { return nil }
        let dRise = (s0 * s0 + sp * sp).squareRoot(), dFall = (sp * sp + sf * sf).squareRoot()
        guard dRise > 0, dFall > 0 else { return nil }
        rise = (ap - a0) / dRise
        fall = (ap - af) / dFall
        endsAtOrBelowBaseline = af <= a0
        self.peakIndex = peakIndex
    }
}

/// One audit: the probe accuracies (and more) at one training step. JSON keys: `step`,
/// `loss`, `probes`, `chance`, `retention`, `standard_error`, `probe_c`, `feature_weights`,
/// `metrics`, `layer`, `pca`, `geometry`.
public struct TimelineEntry: Codable, Sendable, Equatable {
    /// Optimizer steps taken before this audit (0 = initialization, the baseline).
    public var step: Int
    /// Training loss at this step, when known.
    public var loss: Double?
    /// Probe accuracy per label set.
    public var probes: [String: Double]
    /// Chance level per label set (see `AccuracyMeasure`).
    public var chance: [String: Double]?
    /// Retention per label set.
    public var retention: [String: Double]?
    /// Standard error of the probe accuracy per label set (`ProbeScore.standardError`): NaN
    /// for a label that is not measurable (NaN accuracy); a label whose standard error is
    /// unknown (a score made from an accuracy alone) is left out, and the map is nil when no
    /// label has one.
    public var standardError: [String: Double]?
    /// The logistic probe's C per label set (`ProbeScore.c`: the chosen or fixed C; within
    /// groups the geometric mean over the groups); nil when the probe has no C.
    public var probeC: [String: Double]?
    /// ‖W e_f‖ per planted feature (synthetic data), keyed by label-set name.
    public var featureWeights: [String: Double]?
    /// Representation metrics of the scored embeddings.
    public var metrics: RepresentationMetrics?
    /// Which layer the probes read (`backbone` or `head`), when the encoder has both.
    public var layer: String?
    /// A 2-D PCA projection of (a subsample of) the scored test embeddings, for the
    /// report's scatter plots (the paper's picture of collapse).
    public var pca: PCAProjection?
    /// The collapse geometry of the scored test embeddings (within-group variance shares;
    /// Fisher ratio and kNN purity of each label set read within groups).
    public var geometry: CollapseGeometry?
    /// Which subclasses merged, per label read within groups (`SubclassMerging`), in label
    /// order; nil when not measured (an audit measures it at its last checkpoint).
    public var subclassMerging: [SubclassMerging]?

    enum CodingKeys: String, CodingKey {
        case step, loss, probes, chance, retention, featureWeights = "feature_weights", metrics, layer, pca
        case standardError = "standard_error", probeC = "probe_c"
        case geometry, subclassMerging = "subclass_merging"
    }

    /// Creates an entry.
    public init(step: Int, loss: Double? = nil, probes: [String: Double], chance: [String: Double]? = nil,
                retention: [String: Double]? = nil, standardError: [String: Double]? = nil,
                featureWeights: [String: Double]? = nil, metrics: RepresentationMetrics? = nil, layer: String? = nil) {
        self.step = step
        self.loss = loss
        self.probes = probes
        self.chance = chance
        self.retention = retention
        self.standardError = standardError
        self.featureWeights = featureWeights
        self.metrics = metrics
        self.layer = layer
    }

    /// Fills probes, chance, retention, standard error (where known, see `standardError`) and
    /// (when the probe has one) C from scores.
    public init(step: Int, loss: Double? = nil, scores: [String: ProbeScore],
                featureWeights: [String: Double]? = nil, metrics: RepresentationMetrics? = nil, layer: String? = nil) {
        self.init(step: step, loss: loss, probes: scores.mapValues(\.accuracy), chance: scores.mapValues(\.chance),
                  retention: scores.mapValues(\.retention), featureWeights: featureWeights, metrics: metrics, layer: layer)
        let se = scores.filter { !$0.value.standardError.isNaN || $0.value.accuracy.isNaN }.mapValues(\.standardError)
        standardError = se.isEmpty ? nil : se
        let c = scores.compactMapValues(\.c)
        probeC = c.isEmpty ? nil : c
    }
}

/// The per-label-set summary of a timeline. JSON keys in snake_case.
public struct FeatureSummary: Codable, Sendable, Equatable {
    /// Label-set name.
    public var label: String
    /// The grouping label set when probed within groups (e.g. `class` for `subclass`), else nil.
    public var within: String?
    /// Chance level at the final audit.
    public var chance: Double
    /// Accuracy at step 0 when the timeline has a baseline, else nil.
    public var baseline: Double?
    /// Largest accuracy after the baseline (over all audits when there is none).
    public var peak: Double
    /// The step of the peak (the earliest, if several).
    public var peakStep: Int
    /// Accuracy at the last audit.
    public var final: Double
    /// Retention at the last audit.
    public var finalRetention: Double
    /// The verdict.
    public var verdict: FeatureVerdict
    /// Accuracy at every audit, in timeline order.
    public var accuracies: [Double]
    /// Standard errors of `baseline`, `peak` and `final`, when the audits carry them.
    public var baselineStandardError: Double?, peakStandardError: Double?, finalStandardError: Double?
    /// For a label probed within groups, the group label's within-group variance share
    /// (`CollapseGeometry`) at the first and the last audit, when the audits carry it.
    public var baselineGroupShare: Double?, finalGroupShare: Double?

    enum CodingKeys: String, CodingKey {
        case label, within, chance, baseline, peak, peakStep = "peak_step", final
        case finalRetention = "final_retention", verdict, accuracies
        case baselineStandardError = "baseline_standard_error", peakStandardError = "peak_standard_error"
        case finalStandardError = "final_standard_error"
        case baselineGroupShare = "baseline_group_variance_share", finalGroupShare = "final_group_variance_share"
    }

    /// The rise to the peak and the fall from it, in standard errors of the differences
    /// (`SignificantChange`); nil without a baseline or standard errors.
    public var change: SignificantChange? {
        guard let b = baseline, let s0 = baselineStandardError, let sp = peakStandardError,
              let sf = finalStandardError else { return nil }
        return SignificantChange(baseline: (b, s0), peak: (peak, sp), final: (final, sf), peakIndex: 0)
    }
}

/// The verdicts of a timeline of audits, one `FeatureSummary` per label set.
public struct FeatureReport: Codable, Sendable, Equatable {
    /// Summaries in label order.
    public var features: [FeatureSummary]

    /// Verdicts by label set.
    public var verdicts: [String: FeatureVerdict] {
        Dictionary(uniqueKeysWithValues: features.map { ($0.label, $0.verdict) })
    }

    /// Summarizes `timeline` (ascending steps) for `labels`.
    /// - Parameters: `within`: label set → the label set it is probed within.
    ///   A label without a retention entry falls back to accuracy with chance 0.
    /// - Throws: `ProbeError.empty` for an empty timeline or a label missing from an entry.
    public init(timeline: [TimelineEntry], labels: [String], within: [String: String] = [:],
                thresholds: VerdictThresholds = .init()) throws {
        guard !timeline.isEmpty else { throw ProbeError.empty("no audits in the timeline") }
        let steps = timeline.map(\.step)
        let hasBaseline = steps.count >= 2 && steps[0] == 0
        var out: [FeatureSummary] = []
        for label in labels {
            var acc: [Double] = [], ret: [Double] = [], se: [Double] = [], shares: [Double] = []
            for e in timeline {
                shares.append(within[label].flatMap { e.geometry?.varianceShare[$0] } ?? .nan)
                guard let a = e.probes[label] else { throw ProbeError.empty("label set '\(label)' missing at step \(e.step)") }
                acc.append(a)
                se.append(e.standardError?[label] ?? .nan)
                if let r = e.retention?[label] { ret.append(r) }
                else { let ch = e.chance?[label] ?? 0; ret.append(ProbeScore(accuracy: a, chance: ch).retention) }
            }
            // The peak (the earliest largest accuracy after the baseline) skips audits that could
            // not measure the label (NaN); it is NaN, at the last step, only when none could.
            let firstAfter = hasBaseline ? 1 : 0
            var peakIndex: Int? = nil
            for i in firstAfter..<acc.count where !acc[i].isNaN {
                if peakIndex == nil || acc[i] > acc[peakIndex!] { peakIndex = i }
            }
            let peakAt = peakIndex ?? acc.count - 1
            func known(_ v: Double) -> Double? { v.isNaN ? nil : v }
            out.append(FeatureSummary(
                label: label, within: within[label], chance: timeline.last!.chance?[label] ?? 0,
                baseline: hasBaseline ? acc[0] : nil, peak: acc[peakAt], peakStep: steps[peakAt],
                final: acc.last!, finalRetention: ret.last!,
                verdict: thresholds.verdict(steps: steps, retentions: ret, withinGroups: within[label] != nil,
                                            accuracies: acc, standardErrors: se,
                                            groupShares: within[label] == nil ? nil : shares),
                accuracies: acc,
                baselineStandardError: hasBaseline ? known(se[0]) : nil, peakStandardError: known(se[peakAt]),
                finalStandardError: known(se.last!),
                baselineGroupShare: within[label] == nil ? nil : known(shares[0]),
                finalGroupShare: within[label] == nil ? nil : known(shares.last!)))
        }
        features = out
    }
}

/// A setting value in `runs[].settings` (an Int, Double, Bool or String).
public enum SettingValue: Codable, Sendable, Equatable, CustomStringConvertible {
    /// An integer setting (e.g. `p`).
    case int(Int)
    /// A real setting (e.g. `beta`).
    case double(Double)
    /// A flag.
    case bool(Bool)
    /// A named choice (e.g. `augmentation`).
    case string(String)

    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        }
    }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let v): return v
        }
    }
}

/// The last audit's probes and metrics (`runs[].final`).
public struct FinalSummary: Codable, Sendable, Equatable {
    /// Accuracy per label set at the last audit.
    public var probes: [String: Double]
    /// Chance level per label set at the last audit.
    public var chance: [String: Double]?
    /// Representation metrics at the last audit.
    public var metrics: RepresentationMetrics?

    /// Creates the summary.
    public init(probes: [String: Double], chance: [String: Double]? = nil, metrics: RepresentationMetrics? = nil) {
        self.probes = probes
        self.chance = chance
        self.metrics = metrics
    }
}

/// How close a trained linear encoder is to the minimum-norm minimizer W* (`runs[].theory`;
/// SCIENCE.md §4). Filled by the trainer; absent for external embeddings.
public struct TheorySummary: Codable, Sendable, Equatable {
    /// ‖W‖_F / ‖W*‖_F.
    public var normRatio: Double
    /// ‖WᵀW − W*ᵀW*‖_F / ‖W*ᵀW*‖_F.
    public var gramDistance: Double
    /// (L(W) − L(W*)) / |L(W*)|.
    public var lossGap: Double
    /// Probe accuracy per label set read through W*.
    public var probes: [String: Double]

    enum CodingKeys: String, CodingKey {
        case normRatio = "norm_ratio", gramDistance = "gram_distance", lossGap = "loss_gap", probes
    }

    /// Creates the summary.
    public init(normRatio: Double, gramDistance: Double, lossGap: Double, probes: [String: Double]) {
        self.normRatio = normRatio
        self.gramDistance = gramDistance
        self.lossGap = lossGap
        self.probes = probes
    }
}

/// One run in `report.json` (`runs[]`): its settings, the audit timeline, the final values,
/// the theory line when it applies, and the verdicts.
public struct RunReport: Codable, Sendable, Equatable {
    /// The settings that distinguish this run inside its preset (e.g. `p`, `beta`).
    public var settings: [String: SettingValue]
    /// Which probe produced the accuracies.
    public var probe: ProbeKind
    /// Balanced or plain accuracy.
    public var measure: AccuracyMeasure
    /// Label sets in display order.
    public var labels: [String]
    /// Label set → the label set it was probed within.
    public var within: [String: String]
    /// Which layer the probes read (`backbone`, `head`), when it applies.
    public var layer: String?
    /// Every audit, ascending steps; step 0 is the baseline.
    public var timeline: [TimelineEntry]
    /// The last audit's probes and metrics.
    public var final: FinalSummary
    /// The minimum-norm comparison, when it applies.
    public var theory: TheorySummary?
    /// Verdict per label set.
    public var verdicts: [String: FeatureVerdict]
    /// The per-label summaries behind the verdicts.
    public var features: [FeatureSummary]
    /// The thresholds the verdicts used.
    public var thresholds: VerdictThresholds
    /// Set when training diverged: where and the likely cause (the timeline ends before it).
    public var divergence: String?
    /// Set when training was interrupted (SIGINT/SIGTERM): the last step reached, which is the
    /// last timeline entry.
    public var interruptedAtStep: Int?
    /// For an audit of saved embeddings: how many rows the probes were fit on and scored on,
    /// out of how many (nil for training runs, whose sizes are in their config).
    public var rows: AuditRows?

    enum CodingKeys: String, CodingKey {
        case settings, probe, measure, labels, within, layer, timeline, final, theory, verdicts, features, thresholds
        case divergence, interruptedAtStep = "interrupted_at_step", rows
    }

    /// Builds a run report from its timeline.
    /// - Throws: `ProbeError.empty` (see `FeatureReport.init`).
    public init(settings: [String: SettingValue] = [:], probe: ProbeKind, measure: AccuracyMeasure,
                labels: [String], within: [String: String] = [:], layer: String? = nil,
                timeline: [TimelineEntry], theory: TheorySummary? = nil,
                thresholds: VerdictThresholds = .init()) throws {
        let report = try FeatureReport(timeline: timeline, labels: labels, within: within, thresholds: thresholds)
        self.settings = settings
        self.probe = probe
        self.measure = measure
        self.labels = labels
        self.within = within
        self.layer = layer
        self.timeline = timeline
        self.final = FinalSummary(probes: timeline.last!.probes, chance: timeline.last!.chance, metrics: timeline.last!.metrics)
        self.theory = theory
        self.verdicts = report.verdicts
        self.features = report.features
        self.thresholds = thresholds
    }
}

/// The rows of an audit of saved embeddings (`rows` in report.json): the training and test
/// sides after the split or as given, and the seeded subsamples of them the probes were fit on
/// and scored on when a side has more rows than the audit's caps (`max_fit_rows`,
/// `max_score_rows`). The representation metrics use the scored rows (or, with `metrics_on`
/// `all`, the fitted and scored rows).
public struct AuditRows: Codable, Sendable, Equatable {
    /// Rows on the training side.
    public var trainRows: Int
    /// Rows the probes were fit on (all of the training side, or a seeded subsample).
    public var fitted: Int
    /// Rows on the test side.
    public var testRows: Int
    /// Rows the probes were scored on (all of the test side, or a seeded subsample).
    public var scored: Int

    enum CodingKeys: String, CodingKey {
        case trainRows = "train_rows", fitted, testRows = "test_rows", scored
    }

    /// Creates the record.
    public init(trainRows: Int, fitted: Int, testRows: Int, scored: Int) {
        self.trainRows = trainRows
        self.fitted = fitted
        self.testRows = testRows
        self.scored = scored
    }

    /// Whether either side was subsampled.
    public var subsampled: Bool { fitted < trainRows || scored < testRows }

    /// One sentence for the terminal and the HTML report, e.g. "probes fit on 50 000 of
    /// 800 000 training rows and scored on 50 000 of 200 000 test rows (seeded subsamples)".
    public var sentence: String {
        func count(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, ch) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(" ") }; out.append(ch) }
            return String(out.reversed())
        }
        return "probes fit on \(count(fitted)) of \(count(trainRows)) training rows and scored on \(count(scored)) of \(count(testRows)) test rows"
            + (subsampled ? " (seeded subsamples)" : "")
    }
}

/// Where and how a report was made (`provenance` in report.json and config.json).
public struct Provenance: Codable, Sendable, Equatable {
    /// Tool name (`featurelens`).
    public var tool: String
    /// Tool version (`FeatureLensInfo.version`).
    public var version: String
    /// `git rev-parse HEAD` of the working folder, when available.
    public var gitCommit: String?
    /// The seed of the run, when it has one.
    public var seed: UInt64?
    /// Threads used by parallel kernels.
    public var threads: Int
    /// CPU description (from /proc/cpuinfo on Linux) and logical core count.
    public var cpu: String
    /// ISO 8601 date and time of the report.
    public var date: String

    enum CodingKeys: String, CodingKey {
        case tool, version, gitCommit = "git_commit", seed, threads, cpu, date
    }

    /// Provenance of the current process.
    public static func current(seed: UInt64? = nil) -> Provenance {
        var cpu = "unknown CPU"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        cpu += " (\(ProcessInfo.processInfo.activeProcessorCount) logical cores)"
        return Provenance(tool: "featurelens", version: FeatureLensInfo.version, gitCommit: currentGitCommit(),
                          seed: seed, threads: Parallel.threadCount, cpu: cpu,
                          date: ISO8601DateFormatter().string(from: Date()))
    }

    /// Reads, without running git, the HEAD commit of the git checkout this binary was built
    /// from (the folder that held this source file at compile time), or nil when that checkout
    /// is gone. It is read at run time, so a checkout moved to another commit after the build
    /// reports the new one. (The folder the tool is run from does not matter.)
    static func currentGitCommit(sourceFile: String = #filePath) -> String? {
        var dir = URL(fileURLWithPath: sourceFile).deletingLastPathComponent()
        for _ in 0..<20 {
            let git = dir.appendingPathComponent(".git")
            var gitDir = git
            if let text = try? String(contentsOf: git, encoding: .utf8), text.hasPrefix("gitdir:") {
                gitDir = URL(fileURLWithPath: text.dropFirst(7).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if let head = try? String(contentsOf: gitDir.appendingPathComponent("HEAD"), encoding: .utf8) {
                let h = head.trimmingCharacters(in: .whitespacesAndNewlines)
                if h.hasPrefix("ref: ") {
                    let ref = String(h.dropFirst(5))
                    // Worktrees keep refs in the common dir.
                    var common = gitDir
                    if let c = try? String(contentsOf: gitDir.appendingPathComponent("commondir"), encoding: .utf8) {
                        common = URL(fileURLWithPath: c.trimmingCharacters(in: .whitespacesAndNewlines), relativeTo: gitDir).standardizedFileURL
                    }
                    for base in [gitDir, common] {
                        if let sha = try? String(contentsOf: base.appendingPathComponent(ref), encoding: .utf8) {
                            return sha.trimmingCharacters(in: .whitespacesAndNewlines)
                        }
                    }
                    if let packed = try? String(contentsOf: common.appendingPathComponent("packed-refs"), encoding: .utf8),
                       let line = packed.split(separator: "\n").first(where: { $0.hasSuffix(" " + ref) }) {
                        return String(line.prefix(40))
                    }
                    return nil
                }
                return h.count == 40 ? h : nil
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        return nil
    }

    /// Creates a provenance record.
    public init(tool: String, version: String, gitCommit: String?, seed: UInt64?, threads: Int, cpu: String, date: String) {
        self.tool = tool
        self.version = version
        self.gitCommit = gitCommit
        self.seed = seed
        self.threads = threads
        self.cpu = cpu
        self.date = date
    }
}

/// The `report.json` document: `{"preset", "config", "runs": [...], "provenance"}`.
public struct ReportDocument<Config: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// Preset name (`audit` for external embeddings).
    public var preset: String
    /// The configuration that produced the runs.
    public var config: Config
    /// One entry per compared setting.
    public var runs: [RunReport]
    /// Where and how the report was made.
    public var provenance: Provenance
    /// Several encoders audited side by side (`featurelens audit` with named
    /// `--embeddings`): their differences; nil otherwise (omitted).
    public var comparison: EncoderComparison?
    /// What to try next (`AuditAdvice`; `featurelens audit` only, `[]` when no rule fired);
    /// nil for training runs (omitted).
    public var advice: [Advice]?

    /// Creates the document.
    public init(preset: String, config: Config, runs: [RunReport], provenance: Provenance,
                comparison: EncoderComparison? = nil, advice: [Advice]? = nil) {
        self.preset = preset
        self.config = config
        self.runs = runs
        self.provenance = provenance
        self.comparison = comparison
        self.advice = advice
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        try FeatureLensJSON.encode(self)
    }
}
