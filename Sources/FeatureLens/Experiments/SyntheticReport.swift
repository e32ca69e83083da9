import Foundation

extension PresetResult {
    /// The `report.json` document of a synthetic preset run (schema: docs/REPORT_SCHEMA.md):
    /// one `RunReport` per setting, with the timeline (probes, chance 0.5, retention, feature
    /// weights, metrics, PCA), the theory line and the verdicts.
    /// - Parameter preset: the preset as run (after `--set`/`--grid`), recorded as the config.
    /// - Throws: `ProbeError.empty` when a setting has no audits.
    public func reportDocument(preset: SyntheticPreset, thresholds: VerdictThresholds = .init()) throws -> ReportDocument<SyntheticPreset> {
        let runs = try settings.map { try $0.runReport(thresholds: thresholds) }
        return ReportDocument(preset: self.preset, config: preset, runs: runs,
                              provenance: Provenance.current(seed: preset.base.seed))
    }
}

extension SettingResult {
    /// Label sets in display order: class, subclass, easy0…, then any others.
    var orderedLabels: [String] {
        let names = Set(timeline.first?.probes.keys.map { $0 } ?? [])
        let front = ["class", "subclass"].filter { names.contains($0) }
        return front + names.subtracting(front).sorted { a, b in
            // easy2 < easy10: numeric suffix order
            let na = Int(a.drop { !$0.isNumber }) ?? 0, nb = Int(b.drop { !$0.isNumber }) ?? 0
            return a.filter { !$0.isNumber } == b.filter { !$0.isNumber } ? na < nb : a < b
        }
    }

    /// This setting as a `RunReport` (balanced accuracy of the ridge probe; chance 0.5 for
    /// every ±1 label; the subclass is probed within its class).
    public func runReport(thresholds: VerdictThresholds = .init()) throws -> RunReport {
        let labels = orderedLabels
        let within: [String: String] = labels.contains("subclass") ? ["subclass": "class"] : [:]
        let entries = timeline.map { r -> TimelineEntry in
            let chance = Dictionary(uniqueKeysWithValues: labels.map { ($0, 0.5) })
            var scores: [String: ProbeScore] = [:]
            for l in labels { scores[l] = ProbeScore(accuracy: r.probes[l] ?? .nan, chance: chance[l]!) }
            var e = TimelineEntry(step: r.step, loss: r.loss, scores: scores,
                                  featureWeights: r.featureWeights, metrics: r.metrics, layer: "embedding")
            e.pca = r.pca
            return e
        }
        var typed: [String: SettingValue] = [:]
        for (k, v) in values { typed[k] = SettingValue(parsing: v) }
        let th = theory.map { t in
            TheorySummary(normRatio: t.comparison.normRatio, gramDistance: t.comparison.gramDistance,
                          lossGap: t.comparison.lossGap, probes: t.minimumNorm.probes)
        }
        var run = try RunReport(settings: typed, probe: .ridge, measure: .balanced, labels: labels, within: within,
                                layer: "embedding", timeline: entries, theory: th, thresholds: thresholds)
        run.divergence = divergence?.message
        run.interruptedAtStep = stoppedAtStep
        return run
    }
}

extension SettingValue {
    /// Parses a setting string as Int, then Double, then Bool, else keeps the string.
    public init(parsing s: String) {
        if let i = Int(s) { self = .int(i) }
        else if let d = Double(s) { self = .double(d) }
        else if s == "true" || s == "false" { self = .bool(s == "true") }
        else { self = .string(s) }
    }
}
