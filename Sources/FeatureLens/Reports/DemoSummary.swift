import Foundation

// The demo's headline: one line per claim of Xue et al. (ICML 2023) that the synthetic presets
// test, read from their report documents with the report's own verdicts and thresholds.
//
//     ReportDocument<SyntheticPreset> per preset ──► PaperClaim.checks (which settings, which
//     label, what verdict the claim predicts) ──► ClaimResult (reproduced / not reproduced /
//     not tested) ──► summary lines (terminal) and the index page (HTML)

/// A claim of Xue et al., "Which features are learnt by contrastive learning? On the role of
/// simplicity bias in class collapse and feature suppression" (ICML 2023), as one of the
/// built-in synthetic presets tests it (docs/SCIENCE.md §5).
public enum PaperClaim: String, CaseIterable, Sendable, Codable {
    /// Supervised CL (β = 1, no augmentation) learns a subclass early and loses it later.
    case classCollapse = "class collapse under SCL"
    /// Unsupervised CL with an embedding of p ≤ K dimensions suppresses the class.
    case suppressionEmbeddingSize = "feature suppression with a small embedding"
    /// Unsupervised CL whose augmentation keeps a nuisance block suppresses the class.
    case suppressionAugmentation = "feature suppression under imperfect augmentation"
    /// The joint loss β·SCL + (1 − β)·UCL, 0 < β < 1, avoids both.
    case jointLoss = "the joint loss avoids both"

    /// The preset whose report tests the claim.
    public var preset: String {
        switch self {
        case .classCollapse: return "class-collapse"
        case .suppressionEmbeddingSize: return "suppression-embedding-size"
        case .suppressionAugmentation: return "suppression-augmentation"
        case .jointLoss: return "joint-loss"
        }
    }

    /// What the paper says, in one sentence.
    public var statement: String {
        switch self {
        case .classCollapse:
            return "SCL learns the subclass early, then loses it (its probe ends at chance)"
        case .suppressionEmbeddingSize:
            return "with K easy features, UCL with p ≤ K dimensions suppresses the class; p > K keeps it"
        case .suppressionAugmentation:
            return "UCL suppresses the class when both views keep a high-dimensional nuisance; redrawing it per view keeps the class"
        case .jointLoss:
            return "P = β·P_SCL + (1 − β)·P_UCL with 0 < β < 1 keeps the subclass SCL (β = 1) collapses and the class UCL (β = 0) suppresses"
        }
    }
}

/// What a claim predicts for a label at the end of training, in the terms of the run's
/// `VerdictThresholds` (retention r = (accuracy − chance)/(1 − chance)).
public enum ClaimExpectation: String, Sendable, Codable {
    /// The verdict is `collapsed` (a within-group label learned during training, lost at the end).
    case collapsed
    /// The final retention is at most `thresholds.chance` (accuracy ≤ 0.6 for two balanced
    /// classes, the "≤ 0.6" of the signatures): the label ends at chance, whatever the path.
    case atChance = "at chance"
    /// The verdict is `learned` (final retention ≥ `thresholds.learned`, accuracy ≥ 0.9 for
    /// two balanced classes, and not lost).
    case learned

    /// Whether `feature` (of a run judged with `thresholds`) meets the expectation.
    public func holds(_ feature: FeatureSummary, thresholds: VerdictThresholds) -> Bool {
        switch self {
        case .collapsed: return feature.verdict == .collapsed
        case .atChance: return feature.finalRetention <= thresholds.chance
        case .learned: return feature.verdict == .learned
        }
    }
}

/// One run read for a check: its setting, the checked labels' summaries and theory.
public struct ClaimRun: Sendable, Equatable {
    /// The preset the run belongs to.
    public var preset: String
    /// The run's setting, e.g. `p=4` or `beta=0.25, data=cc` (`ReportCharts.title`).
    public var setting: String
    /// The summaries of the checked labels, in the check's label order.
    public var features: [FeatureSummary]
    /// Whether every checked label meets the expectation.
    public var holds: Bool
    /// How far every checked label is on the expected side: for `learned` the smallest final
    /// retention, for `atChance`/`collapsed` minus the largest. Larger is stronger support.
    public var strength: Double
    /// "gradient descent has not converged in …" when it has not (`ReportText.nonConvergenceNote`).
    public var nonConvergence: String?
}

/// A group of settings that a claim predicts the same outcome for, e.g. "p ≤ K: class at chance".
public struct ClaimCheck: Sendable, Equatable {
    /// Whether every run of the group must meet the expectation or at least one.
    public enum Quantifier: String, Sendable, Equatable { case every, some }
    /// The group in words, e.g. `p ≤ K = 4` or `data=cc, 0 < beta < 1`.
    public var scope: String
    /// The labels checked (every one must meet the expectation in a run).
    public var labels: [String]
    /// The predicted outcome.
    public var expectation: ClaimExpectation
    /// `every` or `some` run of the group.
    public var quantifier: Quantifier
    /// The group's runs in report order.
    public var runs: [ClaimRun]

    /// Whether the check has runs and they meet it (all of them, or one for `some`).
    public var holds: Bool {
        switch quantifier {
        case .every: return !runs.isEmpty && runs.allSatisfy(\.holds)
        case .some: return runs.contains(where: \.holds)
        }
    }

    /// The run the summary shows: for `every`, the first that fails, else the weakest; for
    /// `some`, the strongest that holds, else the strongest.
    public var shown: ClaimRun? {
        func strongest(_ rs: [ClaimRun]) -> ClaimRun? { rs.max { $0.strength < $1.strength } }
        switch quantifier {
        case .every: return runs.first { !$0.holds } ?? runs.min { $0.strength < $1.strength }
        case .some: return strongest(runs.filter(\.holds)) ?? strongest(runs)
        }
    }
}

/// A claim as one run of the demo tested it.
public struct ClaimResult: Sendable, Equatable {
    /// Whether the run reproduced the claim.
    public enum Outcome: String, Sendable, Equatable {
        /// Every check has runs and holds.
        case reproduced
        /// A check with runs does not hold.
        case notReproduced = "not reproduced"
        /// The preset's report is missing or a check has no run (a grid narrowed by `--set`,
        /// an interrupted demo).
        case notTested = "not tested"
    }
    /// The claim.
    public var claim: PaperClaim
    /// Its checks (empty when the preset's report is missing).
    public var checks: [ClaimCheck]

    /// The outcome (a failing check wins over a missing one).
    public var outcome: Outcome {
        if checks.contains(where: { !$0.runs.isEmpty && !$0.holds }) { return .notReproduced }
        if checks.isEmpty || checks.contains(where: { $0.runs.isEmpty }) { return .notTested }
        return .reproduced
    }
}

/// The demo's summary: which claims of the paper a set of synthetic report documents
/// reproduces, as short lines for the terminal and as the opening of the index page.
public enum DemoSummary {
    /// Tests every `PaperClaim` on the document of its preset (documents are matched by
    /// `preset` name; a claim whose preset is missing is `notTested`).
    public static func evaluate(_ documents: [ReportDocument<SyntheticPreset>]) -> [ClaimResult] {
        PaperClaim.allCases.map { claim in
            guard let doc = documents.first(where: { $0.preset == claim.preset }) else {
                return ClaimResult(claim: claim, checks: [])
            }
            return ClaimResult(claim: claim, checks: checks(claim, doc))
        }
    }

    /// The config a run was made with: its preset setting (matched by setting values) applied
    /// to the preset's base; nil when no setting matches.
    static func config(of run: RunReport, in preset: SyntheticPreset) -> SyntheticExperimentConfig? {
        guard let i = preset.settings.firstIndex(where: { $0.values.mapValues { SettingValue(parsing: $0) } == run.settings }) else {
            return nil
        }
        return try? preset.config(setting: i)
    }

    /// The checks of `claim` on `doc` (SCIENCE.md §5's signatures in verdict terms).
    static func checks(_ claim: PaperClaim, _ doc: ReportDocument<SyntheticPreset>) -> [ClaimCheck] {
        let runs: [(RunReport, SyntheticExperimentConfig)] = doc.runs.compactMap { r in config(of: r, in: doc.config).map { (r, $0) } }
        func check(_ scope: String, _ labels: [String], _ expectation: ClaimExpectation, _ quantifier: ClaimCheck.Quantifier,
                   where include: (SyntheticExperimentConfig) -> Bool) -> ClaimCheck {
            let selected = runs.filter { include($0.1) }.map { run, _ in claimRun(run, preset: doc.preset, labels: labels, expectation: expectation) }
            // A single run is named by its setting.
            let named = quantifier == .every && selected.count == 1 ? selected[0].setting : scope
            return ClaimCheck(scope: named, labels: labels, expectation: expectation, quantifier: quantifier, runs: selected)
        }
        func kText(_ selected: [SyntheticExperimentConfig]) -> String {
            let ks = Set(selected.map(\.k))
            return ks.count == 1 ? "K = \(ks.first!)" : "K"
        }
        switch claim {
        case .classCollapse:
            return [check("SCL, rho ≠ 0.5", ["subclass"], .collapsed, .every) { $0.beta == 1 && $0.rho != 0.5 }]
        case .suppressionEmbeddingSize:
            let k = kText(runs.map { $0.1 })
            return [check("p ≤ \(k)", ["class"], .atChance, .every) { $0.p <= $0.k },
                    check("p > \(k)", ["class"], .learned, .every) { $0.p > $0.k }]
        case .suppressionAugmentation:
            return [check("augmentation=imperfect", ["class"], .atChance, .every) { $0.augmentation == .imperfect },
                    check("augmentation=perfect", ["class"], .learned, .every) { $0.augmentation == .perfect }]
        case .jointLoss:
            return [check("data=cc, beta=1", ["subclass"], .collapsed, .every) { $0.data == .cc && $0.beta == 1 },
                    check("data=cc, 0 < beta < 1", ["class", "subclass"], .learned, .some) { $0.data == .cc && $0.beta > 0 && $0.beta < 1 },
                    check("data=fs-a, beta=0", ["class"], .atChance, .every) { $0.data == .fsA && $0.beta == 0 },
                    check("data=fs-a, 0 < beta < 1", ["class"], .learned, .some) { $0.data == .fsA && $0.beta > 0 && $0.beta < 1 }]
        }
    }

    static func claimRun(_ run: RunReport, preset: String, labels: [String], expectation: ClaimExpectation) -> ClaimRun {
        let features = labels.compactMap { l in run.features.first { $0.label == l } }
        let complete = features.count == labels.count
        let holds = complete && features.allSatisfy { expectation.holds($0, thresholds: run.thresholds) }
        let retentions = features.map(\.finalRetention)
        let strength: Double
        switch expectation {
        case .learned: strength = retentions.min() ?? -.infinity
        case .atChance, .collapsed: strength = -(retentions.max() ?? .infinity)
        }
        return ClaimRun(preset: preset, setting: ReportCharts.title(run), features: features, holds: holds,
                        strength: complete ? strength : -.infinity, nonConvergence: ReportText.nonConvergenceNote(run))
    }

    // MARK: Text

    /// An accuracy with its standard error ("0.570 ± 0.011"; two decimals without one).
    static func accuracy(_ v: Double, _ se: Double?) -> String {
        if let se, se.isFinite { return String(format: "%.3f ± %.3f", v, se) }
        return String(format: "%.2f", v)
    }

    /// What a run shows for one label: its final accuracy (for a collapse, the path from the
    /// baseline through the peak) and, when `verdict`, its verdict.
    static func evidence(_ f: FeatureSummary, path: Bool, verdict: Bool) -> String {
        let fin = accuracy(f.final, f.finalStandardError)
        if path, let b = f.baseline {
            return "\(f.label) \(accuracy(b, f.baselineStandardError)) at step 0 → \(accuracy(f.peak, f.peakStandardError)) at step \(f.peakStep) → \(fin) at the end"
                + (verdict ? ", \(f.verdict.rawValue)" : "")
        }
        return "\(f.label) \(fin)" + (verdict ? " (\(f.verdict.rawValue))" : "")
    }

    /// One check in words: the group, how many of its runs meet it, and the run shown with its numbers.
    public static func describe(_ check: ClaimCheck) -> String {
        guard let shown = check.shown else { return "\(check.scope): no run in this report" }
        let labels = check.labels.joined(separator: " and ")
        // A group's line already names the expected verdict; a run shown alone, or against
        // the claim, names its own.
        let verdicts = check.runs.count == 1 || !shown.holds
        let numbers = shown.features.map { evidence($0, path: check.expectation == .collapsed, verdict: verdicts) }.joined(separator: ", ")
        let met = check.runs.filter(\.holds).count
        if check.runs.count == 1 {
            return "\(check.scope): \(numbers)"
        }
        let which: String
        switch (check.quantifier, check.expectation) {
        case (.some, _): which = shown.holds ? "e.g." : "best"
        case (.every, .learned): which = shown.holds ? "lowest" : "fails at"
        case (.every, _): which = shown.holds ? "highest" : "fails at"
        }
        return "\(check.scope): \(labels) \(check.expectation.rawValue) in \(met) of \(check.runs.count) settings (\(which) \(shown.setting): \(numbers))"
    }

    /// One line per claim: outcome, claim, what the paper says and what this run shows, e.g.
    /// "[reproduced] class collapse under SCL — paper: SCL learns … — class-collapse: rho=0.6:
    /// subclass 0.950 ± 0.005 at step 0 → 1.000 ± 0.000 at step 300 → 0.570 ± 0.011 at the end, collapsed".
    public static func line(_ result: ClaimResult) -> String {
        let shows = result.checks.isEmpty
            ? "no \(result.claim.preset) report"
            : "\(result.claim.preset): " + result.checks.map(describe).joined(separator: "; ")
        return "[\(result.outcome.rawValue)] \(result.claim.rawValue) — paper: \(result.claim.statement) — \(shows)"
    }

    /// The runs of `results` whose gradient descent has not converged to W*, one note per
    /// preset naming each setting, e.g. "suppression-embedding-size p=6: gradient descent has
    /// not converged in 3000 steps (‖W‖/‖W*‖ = 0.09, loss 16.7 % above the minimum)".
    public static func theoryNotes(_ results: [ClaimResult]) -> [String] {
        var seen = Set<String>()
        var notes: [String] = []
        for r in results {
            for c in r.checks {
                for run in c.runs {
                    guard let note = run.nonConvergence, seen.insert(run.preset + "|" + run.setting).inserted else { continue }
                    notes.append("\(run.preset) \(run.setting): \(note)")
                }
            }
        }
        return notes
    }

    /// The headline: how many claims were reproduced.
    public static func headline(_ results: [ClaimResult], seed: UInt64?) -> String {
        let reproduced = results.filter { $0.outcome == .reproduced }.count
        let seedText = seed.map { ", seed \($0)" } ?? ""
        return "Xue et al. (ICML 2023) on synthetic data\(seedText): \(reproduced) of \(results.count) claims reproduced "
            + "(test accuracy ± 1 standard error; verdict rules: docs/REPORT_SCHEMA.md)"
    }

    /// The terminal summary: the headline, one line per claim, then the theory notes (at most
    /// three, the rest counted) for runs whose gradient descent has not reached W*.
    public static func lines(_ results: [ClaimResult], seed: UInt64?) -> [String] {
        var out = [headline(results, seed: seed)] + results.map(line)
        let notes = theoryNotes(results)
        if !notes.isEmpty {
            out.append("Theory (the probes above are those of the trained W; W* is the minimum-norm minimizer):")
            out += notes.prefix(3).map { "  " + $0 }
            if notes.count > 3 { out.append("  and \(notes.count - 3) more settings (see the details)") }
        }
        return out
    }

    // MARK: HTML

    /// The index page of a demo: the summary (a table of claims: the paper, this run, the
    /// outcome), the theory notes, then per preset a link to its report and the verdicts of
    /// every setting, each named.
    /// - Parameters:
    ///   - documents: the presets' documents, in display order.
    ///   - links: per document, the href of its report (e.g. `class-collapse/report.html`).
    public static func indexPage(_ documents: [ReportDocument<SyntheticPreset>], links: [String], seed: UInt64?) -> String {
        let results = evaluate(documents)
        var page = HTMLPage(title: "FeatureLens demo" + (seed.map { " (seed \($0))" } ?? ""))
        page.heading("Summary")
        page.paragraph(headline(results, seed: seed))
        var rows: [[String]] = []
        var classes: [[String?]] = []
        for r in results {
            let shows = r.checks.isEmpty ? "no \(r.claim.preset) report" : r.checks.map(describe).joined(separator: "; ")
            rows.append([r.claim.rawValue, r.claim.statement, "\(r.claim.preset): \(shows)", r.outcome.rawValue])
            let cls: String
            switch r.outcome { case .reproduced: cls = "learned"; case .notReproduced: cls = "collapsed"; case .notTested: cls = "partial" }
            classes.append(["text", "text", "text", cls])
        }
        page.table(header: ["claim", "the paper", "this run", "outcome"], rows: rows, cellClasses: classes,
                   caption: "One line per claim of the paper")
        let notes = theoryNotes(results)
        if !notes.isEmpty {
            page.paragraph("Theory: the probes are those of the trained W; W* is the minimum-norm minimizer. " + notes.joined(separator: "; ") + ".",
                           cssClass: "note")
        }
        page.heading("Verdicts per setting")
        for (i, doc) in documents.enumerated() {
            page.link("\(doc.preset): \(doc.config.summary)", href: links[i])
            // One row per setting, one column per label set: every verdict sits in its setting's row.
            let labels = RunOutput.orderedUnion(doc.runs.map(\.labels))
            var vrows: [[String]] = []
            var vcls: [[String?]] = []
            for run in doc.runs {
                let features = labels.map { l in run.features.first { $0.label == l } }
                vrows.append([ReportCharts.title(run)] + features.map { f in
                    f.map { "\($0.verdict.rawValue) (\(accuracy($0.final, $0.finalStandardError)))" } ?? "—"
                })
                vcls.append(["text"] + features.map { $0.map { ReportHTML.cssClass($0.verdict) } })
            }
            let within = Dictionary(doc.runs.flatMap { $0.within.map { ($0.key, $0.value) } }, uniquingKeysWith: { a, _ in a })
            page.table(header: ["setting"] + labels.map { l in within[l].map { "\(l) (within \($0))" } ?? l },
                       rows: vrows, cellClasses: vcls,
                       caption: "\(doc.preset): verdict (final test accuracy) of every label set in every setting")
        }
        return page.render()
    }
}
