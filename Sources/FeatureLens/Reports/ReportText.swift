import Foundation

/// Plain-text renderings of a run for the terminal: the feature table (label set × audited
/// step), the theory line and one verdict sentence per label set.
public enum ReportText {
    /// The table: one row per label set, one column per audited step, then the verdict; then
    /// the feature weights and the collapse geometry (`share L`: within-L variance share;
    /// `kNN L`: kNN purity of L within its group, with its chance level; `Fisher L`: the Fisher
    /// ratio of L within its group), when the audits recorded them; then which subclasses
    /// merged (`SubclassMerging`) at the last audit that measured it.
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
        if let last = run.timeline.last(where: { $0.subclassMerging != nil }) {
            for m in last.subclassMerging ?? [] {
                out += m.textBlock(probe: run.probe.rawValue, step: last.step)
            }
        }
        return out
    }

    /// The theory line: how the trained W compares with the minimum-norm minimizer W*, in
    /// words first (`TheoryConvergence`), then the numbers and W*'s probes, e.g.
    /// "theory (minimum-norm minimizer W*): gradient descent has not converged to W* in 3000
    /// steps: ‖W‖/‖W*‖ = 0.093, loss 16.67 % above the minimum (Gram distance 1.000); W* probes:
    /// class 1.00, easy0 1.00". Nil when the run has no theory (image runs, online
    /// augmentation, an unfinished training).
    public static func theoryLine(_ run: RunReport) -> String? {
        guard let t = run.theory else { return nil }
        let probes = run.labels.compactMap { l in t.probes[l].map { "\(l) \(String(format: "%.2f", $0))" } }.joined(separator: ", ")
        let steps = run.timeline.last?.step ?? 0
        let numbers: String
        switch TheoryConvergence(t) {
        case .converged:
            numbers = String(format: "gradient descent ends at W*: ‖W‖/‖W*‖ = %.3f, Gram distance %.3f, loss gap %.2f %%",
                             t.normRatio, t.gramDistance, 100 * t.lossGap)
        case .sameLossElsewhere:
            numbers = String(format: "gradient descent reached W*'s loss but not W* itself: ‖W‖/‖W*‖ = %.3f, Gram distance %.3f, loss gap %.2f %%",
                             t.normRatio, t.gramDistance, 100 * t.lossGap)
        case .notConverged:
            numbers = String(format: "gradient descent has not converged to W* in %d steps: ‖W‖/‖W*‖ = %.3f, loss %.2f %% above the minimum (Gram distance %.3f)",
                             steps, t.normRatio, 100 * t.lossGap, t.gramDistance)
        }
        return "theory (minimum-norm minimizer W*): \(numbers); W* probes: \(probes)"
    }

    /// A short note for runs whose gradient descent has not converged to W*, e.g. "gradient
    /// descent has not converged in 3000 steps (‖W‖/‖W*‖ = 0.09, loss 16.7 % above the
    /// minimum)"; nil when it converged, reached W*'s loss elsewhere, or the run has no theory.
    public static func nonConvergenceNote(_ run: RunReport) -> String? {
        guard let t = run.theory, TheoryConvergence(t) == .notConverged else { return nil }
        return String(format: "gradient descent has not converged in %d steps (‖W‖/‖W*‖ = %.2f, loss %.1f %% above the minimum)",
                      run.timeline.last?.step ?? 0, t.normRatio, 100 * t.lossGap)
    }

    /// One sentence per label set explaining its verdict with the numbers behind it.
    public static func verdictSentences(_ run: RunReport) -> [String] {
        run.features.map { sentence($0, thresholds: run.thresholds) }
    }

    /// The sentence for one label set: its verdict and the numbers behind it, each accuracy
    /// with its standard error (± one SE, three decimals) when the audits carry them.
    /// A `partial` label whose probe rose and then fell significantly (rule 4's rise and fall,
    /// by `thresholds`) but ended above its step-0 value says so, with the numbers.
    public static func sentence(_ f: FeatureSummary, thresholds: VerdictThresholds = .init()) -> String {
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
            if let c = f.change, let b = f.baseline, let s0 = f.baselineStandardError, let sf = f.finalStandardError,
               c.rise > thresholds.riseStandardErrors, c.fall > thresholds.fallStandardErrors, !c.endsAtOrBelowBaseline {
                let above = (f.final - b) / (s0 * s0 + sf * sf).squareRoot()
                return "\(name): partial — rises from \(base) to \(peak) (\(String(format: "%.1f", c.rise)) SE), then falls "
                    + "\(String(format: "%.1f", c.fall)) standard errors to \(fin), still \(String(format: "%.1f", above)) SE above "
                    + "its step-0 value, so not lost (chance \(chance))."
            }
            return "\(name): partial — ends at \(fin) (peak \(peak), chance \(chance), \(base))."
        case .notMeasurable:
            return "\(name): not measurable — no group has two classes in both its train and test rows, so no audit could probe it."
        }
    }
}

/// Whether gradient descent has reached the minimum-norm minimizer W* of its run, read from
/// the theory comparison (`TheorySummary`; SCIENCE.md §4). The limits are those of the
/// class-collapse theory signature in SCIENCE.md §5: ‖W‖/‖W*‖ within 0.9–1.1, loss gap
/// (L(W) − L(W*))/|L(W*)| ≤ 0.01, Gram distance ≤ 0.15.
public enum TheoryConvergence: Equatable, Sendable {
    /// Norm ratio and loss gap within their limits and the Gram distance too: W ≈ W*.
    case converged
    /// Norm ratio and loss gap within their limits but the Gram distance above its limit: W
    /// has (nearly) the minimum loss in another configuration than W* (for example when
    /// several directions have almost the same eigenvalue and any of them is as good).
    case sameLossElsewhere
    /// Norm ratio outside 0.9–1.1 or loss gap above 0.01: gradient descent has not reached
    /// the minimum in the steps it ran (typically a direction with a tiny eigenvalue that it
    /// grows exponentially slowly from the small initialization).
    case notConverged

    /// ‖W‖/‖W*‖ range of `converged`.
    public static let normRatioRange = 0.9...1.1
    /// Largest loss gap of `converged` (a fraction: 0.01 = 1 %).
    public static let lossGapLimit = 0.01
    /// Largest Gram distance ‖WᵀW − W*ᵀW*‖_F/‖W*ᵀW*‖_F of `converged`.
    public static let gramDistanceLimit = 0.15

    /// Classifies a theory comparison (NaN values count as not converged).
    public init(_ t: TheorySummary) {
        guard Self.normRatioRange.contains(t.normRatio), t.lossGap <= Self.lossGapLimit else {
            self = .notConverged
            return
        }
        self = t.gramDistance <= Self.gramDistanceLimit ? .converged : .sameLossElsewhere
    }
}
