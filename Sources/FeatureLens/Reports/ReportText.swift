import Foundation

/// Plain-text renderings of a run for the terminal: the feature table (label set × audited
/// step), the theory line and one verdict sentence per label set.
public enum ReportText {
    /// The table: one row per label set, one column per audited step, then the verdict; then
    /// the feature weights and the collapse geometry (`share L`: within-L variance share;
    /// `kNN L`: kNN purity of L within its group, with its chance level; `Fisher L`: the Fisher
    /// ratio of L within its group), when the audits recorded them.
    public static func table(_ run: RunReport) -> String {
        let steps = run.timeline.map { $0.step == 0 ? "0 (base)" : String($0.step) }
        let (shareLabels, withinLabels) = RunOutput.geometryLabels([run])
        let geometryRows = shareLabels.map { "share \($0)" } + withinLabels.map { "Fisher \($0)" }
        let labelWidth = max(10, ((run.labels + geometryRows).map { $0.count }.max() ?? 0) + 1)
        let col = max(6, (steps.map { $0.count }.max() ?? 0) + 1)
        func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
            s.count >= w ? s : (left ? s + String(repeating: " ", count: w - s.count) : String(repeating: " ", count: w - s.count) + s)
        }
        var out = pad("label set", labelWidth, left: true) + steps.map { pad($0, col) }.joined() + "  verdict\n"
        for l in run.labels {
            var line = pad(l, labelWidth, left: true)
            for e in run.timeline { line += pad(e.probes[l].map { String(format: "%.2f", $0) } ?? "—", col) }
            line += "  " + (run.verdicts[l]?.rawValue ?? "")
            out += line + "\n"
        }
        let wKeys = Array(Set(run.timeline.flatMap { ($0.featureWeights ?? [:]).keys })).sorted()
        if !wKeys.isEmpty {
            out += "feature weight ‖W e_f‖:\n"
            for k in wKeys {
                var line = pad(k, labelWidth, left: true)
                for e in run.timeline { line += pad(e.featureWeights?[k].map { String(format: "%.3f", $0) } ?? "—", col) }
                out += line + "\n"
            }
        }
        if !shareLabels.isEmpty || !withinLabels.isEmpty {
            out += "collapse geometry (test embeddings):\n"
            func row(_ name: String, _ value: (CollapseGeometry) -> Double?, digits: Int = 2, note: String = "") {
                var line = pad(name, labelWidth, left: true)
                for e in run.timeline { line += pad(e.geometry.flatMap(value).map { String(format: "%.\(digits)f", $0) } ?? "—", col) }
                out += line + note + "\n"
            }
            for l in shareLabels { row("share \(l)", { $0.varianceShare[l] }) }
            for l in withinLabels {
                let last = run.timeline.last?.geometry?.within?[l]
                let note = last.map { String(format: "  within %@, k %d, chance %.2f", $0.group, $0.k, $0.knnChance) } ?? ""
                row("kNN \(l)", { $0.within?[l]?.knnPurity }, note: note)
                row("Fisher \(l)", { $0.within?[l]?.fisherRatio }, digits: 3)
            }
        }
        return out
    }

    /// "theory: ‖W‖/‖W*‖ = 0.98, Gram distance 0.05, loss gap 0.05 %; W* probes: class 1.00, subclass 0.50".
    public static func theoryLine(_ run: RunReport) -> String? {
        guard let t = run.theory else { return nil }
        let probes = run.labels.compactMap { l in t.probes[l].map { "\(l) \(String(format: "%.2f", $0))" } }.joined(separator: ", ")
        return String(format: "theory (minimum-norm minimizer W*): ‖W‖/‖W*‖ = %.3f, Gram distance %.3f, loss gap %.2f %%; W* probes: ",
                      t.normRatio, t.gramDistance, 100 * t.lossGap) + probes
    }

    /// One sentence per label set explaining its verdict with the numbers behind it.
    public static func verdictSentences(_ run: RunReport) -> [String] {
        run.features.map { sentence($0) }
    }

    /// The sentence for one label set: its verdict and the numbers behind it, each accuracy
    /// with its standard error (± one SE, three decimals) when the audits carry them.
    public static func sentence(_ f: FeatureSummary) -> String {
        let name = f.within.map { "\(f.label) (within \($0))" } ?? f.label
        func acc(_ v: Double, _ se: Double?) -> String {
            if let se, se.isFinite { return String(format: "%.3f ± %.3f", v, se) }
            return String(format: "%.2f", v)
        }
        let base = f.baseline.map { "\(acc($0, f.baselineStandardError)) at step 0" } ?? "no baseline"
        let peak = "\(acc(f.peak, f.peakStandardError)) at step \(f.peakStep)"
        let fin = acc(f.final, f.finalStandardError)
        let chance = String(format: "%.2f", f.chance)
        // "rises from … (r SE), then ends at …, f standard errors below the peak and at or below
        // its step-0 value": the significant rise and fall behind both rule-4 verdicts.
        let riseAndFall: String? = f.change.flatMap { c in
            guard c.endsAtOrBelowBaseline else { return nil }
            return "rises from \(base) to \(peak) (\(String(format: "%.1f", c.rise)) SE), then ends at \(fin), "
                + "\(String(format: "%.1f", c.fall)) standard errors below the peak and at or below its step-0 value"
        }
        switch f.verdict {
        case .learned:
            return "\(name): learned — ends at \(fin) (chance \(chance); \(base))."
        case .suppressed:
            return "\(name): suppressed — readable before training (\(base)) but ends at \(fin), near chance \(chance)."
        case .collapsed:
            if let riseAndFall, let s0 = f.baselineGroupShare, let sf = f.finalGroupShare, let g = f.within {
                return "\(name): collapsed — \(riseAndFall), while the variance within the \(g) groups went from "
                    + "\(String(format: "%.2f", s0)) to \(String(format: "%.2f", sf)) of the total (chance \(chance))."
            }
            return "\(name): collapsed — learned during training (peak \(peak)) but ends at \(fin), near chance \(chance)."
        case .learnedThenLost:
            if let riseAndFall { return "\(name): learned then lost — \(riseAndFall) (chance \(chance))." }
            return "\(name): learned then lost — peak \(peak), ends at \(fin) (chance \(chance))."
        case .notLearned:
            return "\(name): not learned — ends at \(fin), near chance \(chance) (\(base))."
        case .partial:
            return "\(name): partial — ends at \(fin) (peak \(peak), chance \(chance), \(base))."
        case .notMeasurable:
            return "\(name): not measurable — no group has two classes in both its train and test rows, so no audit could probe it."
        }
    }
}
