import Foundation

/// Plain-text and compact-JSON renderings of a `RunReport` for the terminal.
public enum FeatureTable {
    /// The feature table: one row per label set with its chance level, the accuracy at every
    /// audited step (the first column is the step-0 baseline when present), the peak and its
    /// step, the final value and the verdict; then the last audit's representation metrics.
    public static func render(_ run: RunReport) -> String {
        let steps = run.timeline.map(\.step)
        var header = ["label", "within", "chance"] + steps.map { "step \($0)" } + ["peak (step)", "final", "verdict"]
        var rows: [[String]] = []
        for f in run.features {
            var r = [f.label, f.within ?? "", fmt(f.chance)]
            r += f.accuracies.map(fmt)
            r += ["\(fmt(f.peak)) (\(f.peakStep))", fmt(f.final), f.verdict.rawValue]
            rows.append(r)
        }
        if !run.features.contains(where: { $0.within != nil }) {
            header.remove(at: 1)
            rows = rows.map { var r = $0; r.remove(at: 1); return r }
        }
        let measure = run.measure == .balanced
            ? "balanced accuracy (chance = 1/#classes)" : "plain accuracy (chance = majority-class rate)"
        var out = "Feature audit: \(run.probe.rawValue) probe, \(measure)"
        if steps.count >= 2 && steps[0] == 0 { out += "; step 0 is the baseline" }
        out += "\n"
        for line in columns([header] + rows, ruleAfterHeader: true, leftAligned: { i, n in i == 0 || i == n - 1 }) {
            out += line + "\n"
        }
        if let m = run.final.metrics {
            out += "metrics on \((m.computedOn ?? .test).describe(n: m.n)), last audit: "
                + String(format: "rankme %.2f  effective_rank %.2f  uniformity %.3f  collapse_std %.4f\n",
                         m.rankme, m.effectiveRank, m.uniformity, m.collapseStd)
        }
        if let g = run.timeline.last?.geometry {
            out += geometryLine(g, labelOrder: run.labels)
        }
        for m in run.timeline.last?.subclassMerging ?? [] {
            out += m.textBlock(probe: run.probe.rawValue, step: nil)
        }
        return out
    }

    /// "geometry (test embeddings, last audit): variance share class 0.812, coarse 0.094;
    /// class within coarse: kNN purity 0.871 (chance 0.402, k 10), Fisher ratio 1.234".
    static func geometryLine(_ g: CollapseGeometry, labelOrder: [String]) -> String {
        func ordered(_ names: some Collection<String>) -> [String] {
            labelOrder.filter { names.contains($0) } + Set(names).subtracting(labelOrder).sorted()
        }
        var out = "geometry (test embeddings, last audit): variance share "
            + ordered(g.varianceShare.keys).map { "\($0) \(fmt(g.varianceShare[$0]!))" }.joined(separator: ", ")
        for l in ordered((g.within ?? [:]).keys) {
            let s = g.within![l]!
            out += "; \(l) within \(s.group): kNN purity \(fmt(s.knnPurity)) (chance \(fmt(s.knnChance)), k \(s.k)), Fisher ratio \(fmt(s.fisherRatio))"
        }
        return out + "\n"
    }

    static func fmt(_ x: Double) -> String { String(format: "%.3f", x) }

    /// Pads `rows` (header first, every row as long as the header) into aligned columns two
    /// spaces apart, without trailing blanks: column i of n is left-aligned when
    /// `leftAligned(i, n)`, else right-aligned; with `ruleAfterHeader`, a row of dashes as wide
    /// as each column follows the header.
    static func columns(_ rows: [[String]], ruleAfterHeader: Bool = false,
                        leftAligned: (Int, Int) -> Bool = { i, _ in i == 0 }) -> [String] {
        var widths = rows[0].map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var all = rows
        if ruleAfterHeader { all.insert(widths.map { String(repeating: "-", count: $0) }, at: 1) }
        return all.map { r in
            var line = r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return leftAligned(i, r.count) ? c + pad : pad + c
            }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    /// The side-by-side table of a comparison (`EncoderComparison`): per label set, a column
    /// per encoder with its accuracy ± SE, its difference from the reference ± the paired SE
    /// (`*`: significant, |Δ| > 2 SE), its verdict and, for labels read within groups, its
    /// merged pairs.
    public static func renderComparison(_ c: EncoderComparison, probe: ProbeKind, measure: AccuracyMeasure) -> String {
        let what = measure == .balanced ? "balanced accuracy" : "plain accuracy"
        var out = "Encoder comparison: \(probe.rawValue) probe, \(what) on the same \(c.testRows) test rows, last checkpoint of each encoder; "
            + "Δ = encoder − \(c.reference) ± paired SE (per class, same test rows); * = significant (|Δ| > 2 SE)\n"
        for l in c.labels {
            out += "\n\(l.label)\(l.within.map { " (within \($0))" } ?? ""), chance \(fmt(l.chance))\n"
            for line in columns([[""] + l.encoders.map(\.name)] + l.tableRows(reference: c.reference).map { [$0.name] + $0.cells }) {
                out += "  " + line + "\n"
            }
        }
        return out
    }

    /// The advice section for the terminal ("What to try next", one numbered item per advice
    /// with its trigger and source); empty when there is no advice.
    public static func renderAdvice(_ advice: [Advice]) -> String {
        guard !advice.isEmpty else { return "" }
        var out = "What to try next (rules and sources: docs/ADVICE.md):\n"
        for (i, a) in advice.enumerated() {
            out += "  \(i + 1). \(a.text)\n"
            out += "     because \(a.trigger) [\(a.rule)]\n"
            out += "     source: \(a.source)\n"
        }
        return out
    }

    /// The `--json` summary: `{"probes": {label: accuracy}, "standard_error": {label: SE},
    /// "chance": {label: rate}, "metrics": {"rankme", "effective_rank", "uniformity",
    /// "collapse_std", "computed_on", "n"}, "verdicts": {label: verdict}}` for the last audit, pretty-printed with sorted keys by
    /// `FeatureLensJSON`. Non-finite numbers (a NaN uniformity, a not-measurable within-group
    /// accuracy) are written as the strings `"nan"`, `"inf"` and `"-inf"`, as in report.json,
    /// so the output is always valid JSON.
    /// - Throws: `EncodingError` (not for non-finite numbers).
    public static func jsonSummary(_ run: RunReport) throws -> String {
        try FeatureLensJSON.string(AuditSummary(run))
    }

    /// The `--json` summary of an audit with its advice (`advice`: `[]` when no rule fired).
    /// - Throws: `EncodingError`.
    public static func jsonSummary(_ run: RunReport, advice: [Advice]) throws -> String {
        var s = AuditSummary(run)
        s.advice = advice
        return try FeatureLensJSON.string(s)
    }

    /// The `--json` summary of a comparison: `{"reference", "encoders": {name: summary of its
    /// last audit, as for one encoder}, "comparison", "advice"}`.
    /// - Throws: `EncodingError`.
    public static func jsonSummary(runs: [(name: String, report: RunReport)], comparison: EncoderComparison,
                                   advice: [Advice]) throws -> String {
        try FeatureLensJSON.string(ComparisonSummary(
            reference: comparison.reference,
            encoders: Dictionary(uniqueKeysWithValues: runs.map { ($0.name, AuditSummary($0.report)) }),
            comparison: comparison, advice: advice))
    }
}

/// The exact shape printed by `featurelens audit --json` with named encoders.
public struct ComparisonSummary: Codable, Sendable, Equatable {
    /// The reference encoder.
    public var reference: String
    /// Each encoder's last-audit summary (without `advice`).
    public var encoders: [String: AuditSummary]
    /// The differences (`EncoderComparison`).
    public var comparison: EncoderComparison
    /// What to try next (`[]` when no rule fired).
    public var advice: [Advice]
}

/// The exact shape printed by `featurelens audit --json`.
public struct AuditSummary: Codable, Sendable, Equatable {
    /// The four headline metrics.
    public struct Metrics: Codable, Sendable, Equatable {
        /// RankMe (ε = 1e-7).
        public var rankme: Double
        /// Effective rank (no ε).
        public var effectiveRank: Double
        /// Uniformity, t = 2.
        public var uniformity: Double
        /// Mean per-dimension std of the L2-normalized embeddings.
        public var collapseStd: Double
        /// The rows the metrics were computed on (`test` or `all`; nil when not recorded).
        public var computedOn: MetricsRows?
        /// Number of those rows (nil when not recorded).
        public var n: Int?
        enum CodingKeys: String, CodingKey {
            case rankme, effectiveRank = "effective_rank", uniformity, collapseStd = "collapse_std"
            case computedOn = "computed_on", n
        }
    }
    /// Final accuracy per label set.
    public var probes: [String: Double]
    /// Chance level per label set.
    public var chance: [String: Double]
    /// Metrics of the last audit's embeddings (test rows, or all rows; nil when metrics were not computed).
    public var metrics: Metrics?
    /// Verdict per label set (raw values, e.g. "learned then lost").
    public var verdicts: [String: FeatureVerdict]
    /// Standard error of each final accuracy (`TimelineEntry.standardError` of the last
    /// audit); nil when the audit recorded none.
    public var standardError: [String: Double]?
    /// Collapse geometry of the last audit's test embeddings (`TimelineEntry.geometry`: the
    /// within-group variance share per label set and, per `within` pair, the subclass
    /// separation and kNN purity); nil when it was not computed.
    public var geometry: CollapseGeometry?
    /// Which subclasses merged at the last audit (`TimelineEntry.subclassMerging`); nil when
    /// not measured.
    public var subclassMerging: [SubclassMerging]?
    /// What to try next (`AuditAdvice`; `[]` when no rule fired); nil (omitted) in the
    /// per-encoder summaries of a comparison, whose advice is at the top level.
    public var advice: [Advice]?

    enum CodingKeys: String, CodingKey {
        case probes, chance, metrics, verdicts, standardError = "standard_error", geometry
        case subclassMerging = "subclass_merging", advice
    }

    /// The summary of a run's last audit.
    public init(_ run: RunReport) {
        probes = run.final.probes
        standardError = run.timeline.last?.standardError
        chance = run.final.chance ?? [:]
        metrics = run.final.metrics.map {
            Metrics(rankme: $0.rankme, effectiveRank: $0.effectiveRank, uniformity: $0.uniformity, collapseStd: $0.collapseStd,
                    computedOn: $0.computedOn, n: $0.n)
        }
        verdicts = run.verdicts
        geometry = run.timeline.last?.geometry
        subclassMerging = run.timeline.last?.subclassMerging
    }
}
