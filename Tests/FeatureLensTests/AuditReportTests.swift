import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct AuditReportTests {
    let rules = VerdictThresholds()

    @Test func verdictRules() {
        let defaultSteps = [0, 10, 100, 1000]
        func v(_ r: [Double], within: Bool = false, steps: [Int]? = nil) -> FeatureVerdict {
            rules.verdict(steps: steps ?? defaultSteps, retentions: r, withinGroups: within)
        }
        // Class collapse: a subclass learned, then back at chance.
        #expect(v([0.9, 1.0, 1.0, -0.04], within: true) == .collapsed)
        // The same shape for an ordinary label is suppression when the baseline read it ...
        #expect(v([0.9, 1.0, 1.0, -0.04]) == .suppressed)
        // ... and learned then lost when the baseline did not.
        #expect(v([0.1, 1.0, 0.9, 0.1]) == .learnedThenLost)
        #expect(v([0.1, 1.0, 0.9, 0.45]) == .learnedThenLost)
        #expect(v([0.1, 1.0, 0.9, 0.55]) == .partial)
        // Feature suppression: baseline reads it, training removes it.
        #expect(v([0.8, 0.5, 0.1, 0.0]) == .suppressed)
        #expect(v([0.3, 0.95, 1.0, 1.0]) == .learned)
        #expect(v([0.9, 0.9, 0.85, 0.82]) == .learned)
        #expect(v([0.0, 0.1, 0.05, 0.1]) == .notLearned)
        #expect(v([0.0, 0.3, 0.4, 0.5]) == .partial)
        // A single audit has no baseline.
        #expect(v([0.9], steps: [0]) == .learned)
        #expect(v([0.1], steps: [0]) == .notLearned)
        // Thresholds are configurable.
        #expect(VerdictThresholds(learned: 0.95).verdict(steps: [0, 1], retentions: [0.3, 0.9], withinGroups: false) == .partial)
    }

    /// Rule 4: a fall of a few points, judged against its standard error (the fine label of
    /// SCIENCE.md §6: 0.825 → 0.856 → 0.801 within the coarse groups, chance 0.36).
    @Test func significantFallBelowTheBaselineIsLearnedThenLost() throws {
        let steps = [0, 39, 156, 624, 2496]
        let acc = [0.825, 0.842, 0.856, 0.83, 0.801]
        let chance = 0.36
        let ret = acc.map { ProbeScore(accuracy: $0, chance: chance).retention }
        func v(_ a: [Double], se: Double?) -> FeatureVerdict {
            rules.verdict(steps: steps, retentions: a.map { ProbeScore(accuracy: $0, chance: chance).retention },
                          withinGroups: true, accuracies: a, standardErrors: se.map { s in a.map { _ in s } })
        }
        // Without standard errors the retention rules see a partial read.
        #expect(rules.verdict(steps: steps, retentions: ret, withinGroups: true) == .partial)
        #expect(v(acc, se: nil) == .partial)
        // SE 0.005: rise 0.031 = 4.4 SE, fall 0.055 = 7.8 SE, end below 0.825.
        #expect(v(acc, se: 0.005) == .learnedThenLost)
        // SE 0.015: the fall is 2.6 SE, not significant.
        #expect(v(acc, se: 0.015) == .partial)
        // A significant fall that ends above the baseline is not lost.
        #expect(v([0.78, 0.842, 0.856, 0.83, 0.801], se: 0.005) == .partial)
        // No significant rise (the baseline already read it): not "learned then lost".
        #expect(v([0.852, 0.85, 0.856, 0.83, 0.801], se: 0.005) == .partial)
        // A NaN SE at the peak disables the rule.
        #expect(rules.verdict(steps: steps, retentions: ret, withinGroups: true, accuracies: acc,
                              standardErrors: [0.005, 0.005, .nan, 0.005, 0.005]) == .partial)
        // The thresholds are configurable.
        let strict = VerdictThresholds(fallStandardErrors: 10)
        #expect(strict.verdict(steps: steps, retentions: ret, withinGroups: true, accuracies: acc,
                               standardErrors: acc.map { _ in 0.005 }) == .partial)
        // Through a timeline: the summary carries the errors and the sentence quotes them.
        let timeline = zip(steps, acc).map { step, a in
            TimelineEntry(step: step, probes: ["class": a], chance: ["class": chance],
                          retention: ["class": ProbeScore(accuracy: a, chance: chance).retention],
                          standardError: ["class": 0.005])
        }
        let f = try FeatureReport(timeline: timeline, labels: ["class"], within: ["class": "coarse"]).features[0]
        #expect(f.verdict == .learnedThenLost && f.peakStep == 156)
        #expect(f.baselineStandardError == 0.005 && f.peakStandardError == 0.005 && f.finalStandardError == 0.005)
        #expect(abs(f.change!.fall - 0.055 / (2 * 0.005 * 0.005).squareRoot()) < 1e-9)
        let sentence = ReportText.sentence(f)
        #expect(sentence.contains("0.856 ± 0.005 at step 156") && sentence.contains("0.801 ± 0.005"))
        #expect(sentence.contains("7.8 standard errors below the peak"), "\(sentence)")
        // With the geometry: the coarse groups' within-group variance share falling from 0.76
        // to 0.08 (SupCon's head) makes the fall class collapse; staying at 0.68 (the joint
        // loss) leaves it "learned then lost".
        func withShares(_ first: Double, _ last: Double) throws -> FeatureSummary {
            let entries = timeline.enumerated().map { i, e -> TimelineEntry in
                var e = e
                let share = first + (last - first) * Double(i) / Double(timeline.count - 1)
                e.geometry = CollapseGeometry(varianceShare: ["coarse": share, "class": 0.5])
                return e
            }
            return try FeatureReport(timeline: entries, labels: ["class"], within: ["class": "coarse"]).features[0]
        }
        let collapsed = try withShares(0.76, 0.08)
        #expect(collapsed.verdict == .collapsed && collapsed.baselineGroupShare == 0.76)
        #expect(abs(collapsed.finalGroupShare! - 0.08) < 1e-12)
        #expect(ReportText.sentence(collapsed).contains("within the coarse groups went from 0.76 to 0.08"))
        #expect(try withShares(0.76, 0.68).verdict == .learnedThenLost)
        // A significant rise and fall that ends just above the baseline stays partial, and
        // its sentence says how far it fell and where it ended.
        let aboveTimeline = zip(steps, [0.821, 0.845, 0.855, 0.84, 0.823]).map { step, a in
            TimelineEntry(step: step, probes: ["class": a], chance: ["class": chance],
                          retention: ["class": ProbeScore(accuracy: a, chance: chance).retention],
                          standardError: ["class": 0.005])
        }
        let above = try FeatureReport(timeline: aboveTimeline, labels: ["class"], within: ["class": "coarse"]).features[0]
        #expect(above.verdict == .partial)
        let aboveSentence = ReportText.sentence(above)
        #expect(aboveSentence.contains("then falls 4.5 standard errors to 0.823 ± 0.005")
                && aboveSentence.contains("still 0.3 SE above its step-0 value"), "\(aboveSentence)")
        // Without a significant fall the plain partial sentence is kept.
        #expect(ReportText.sentence(above, thresholds: VerdictThresholds(fallStandardErrors: 10)).contains("partial — ends at"))
        #expect(try withShares(0.76, 0.39).verdict == .learnedThenLost)  // 0.39 > 0.5 · 0.76
        #expect(try withShares(0.76, 0.37).verdict == .collapsed)
        // A label probed globally never reads its group geometry.
        let global = try FeatureReport(timeline: timeline.map { e in
            var e = e; e.geometry = CollapseGeometry(varianceShare: ["coarse": 0.01]); return e
        }, labels: ["class"]).features[0]
        #expect(global.verdict == .learnedThenLost && global.finalGroupShare == nil)
        // Thresholds written before rule 4 existed still decode, with its defaults.
        let old = try JSONDecoder().decode(VerdictThresholds.self, from: Data(#"{"learned": 0.8, "chance": 0.2, "baseline_read": 0.5, "lost_fraction": 0.5}"#.utf8))
        #expect(old == VerdictThresholds())
    }

    func timeline() -> [TimelineEntry] {
        [(0, 0.95, 0.96), (100, 1.0, 1.0), (3000, 1.0, 0.98), (20000, 1.0, 0.49)].map { step, c, s in
            TimelineEntry(step: step, loss: step == 0 ? nil : -1.9,
                          scores: ["class": ProbeScore(accuracy: c, chance: 0.5), "subclass": ProbeScore(accuracy: s, chance: 0.5)],
                          featureWeights: ["subclass": 0.003 * Double(step + 1)])
        }
    }

    @Test func featureReportSummarizesPeakFinalAndBaseline() throws {
        let r = try FeatureReport(timeline: timeline(), labels: ["class", "subclass"], within: ["subclass": "class"])
        let sub = r.features[1]
        #expect(sub.baseline == 0.96 && sub.peak == 1.0 && sub.peakStep == 100 && sub.final == 0.49)
        #expect(sub.within == "class" && sub.verdict == .collapsed)
        #expect(abs(sub.finalRetention - -0.02) < 1e-12)
        #expect(r.verdicts == ["class": .learned, "subclass": .collapsed])
        #expect(throws: ProbeError.self) { try FeatureReport(timeline: [], labels: ["class"]) }
        #expect(throws: ProbeError.self) { try FeatureReport(timeline: timeline(), labels: ["nope"]) }
    }

    @Test func runReportJSONFollowsTheSchema() throws {
        let metrics = RepresentationMetrics(rankme: 3.5, effectiveRank: 3.4, uniformity: -2, collapseStd: 0.2)
        var tl = timeline()
        tl[3].metrics = metrics
        let run = try RunReport(settings: ["rho": .double(0.6), "augmentation": .string("perfect"), "p": .int(8)],
                                probe: .ridge, measure: .balanced, labels: ["class", "subclass"],
                                within: ["subclass": "class"], layer: "backbone", timeline: tl,
                                theory: TheorySummary(normRatio: 0.98, gramDistance: 0.06, lossGap: 0.001, probes: ["subclass": 0.5]))
        let doc = ReportDocument(preset: "class-collapse", config: ["seed": 0], runs: [run], provenance: .current(seed: 0))
        let data = try doc.jsonData()
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(obj["preset"] as? String == "class-collapse")
        let runs = obj["runs"] as! [[String: Any]]
        let first = runs[0]
        let entry = (first["timeline"] as! [[String: Any]])[0]
        #expect(Set(entry.keys).isSuperset(of: ["step", "probes", "feature_weights"]))
        let final = first["final"] as! [String: Any]
        let m = final["metrics"] as! [String: Any]
        #expect(Set(m.keys).isSuperset(of: ["rankme", "effective_rank", "uniformity", "collapse_std"]))
        #expect((first["verdicts"] as! [String: String])["subclass"] == "collapsed")
        #expect(Set((first["theory"] as! [String: Any]).keys) == ["norm_ratio", "gram_distance", "loss_gap", "probes"])
        #expect((first["settings"] as! [String: Any])["augmentation"] as? String == "perfect")
        #expect(((obj["provenance"] as! [String: Any])["version"] as? String) == FeatureLensInfo.version)
        // Round trip.
        let back = try JSONDecoder().decode(ReportDocument<[String: Int]>.self, from: data)
        #expect(back.runs == [run])
        // "learned then lost" is the JSON spelling.
        #expect(String(decoding: try JSONEncoder().encode(FeatureVerdict.learnedThenLost), as: UTF8.self) == "\"learned then lost\"")
    }

    /// A grid over `loss` (a setting named like the training-loss column) gets its own
    /// `setting_loss` column; every column name is unique.
    @Test func metricsCSVColumnsAreUniqueWhenASettingIsNamedLikeAColumn() throws {
        let runs = try ["supcon", "ntxent"].map { loss in
            try RunReport(settings: ["loss": .string(loss), "beta": .double(0.5)], probe: .ridge, measure: .balanced,
                          labels: ["class", "subclass"], within: ["subclass": "class"], timeline: timeline())
        }
        let doc = ReportDocument(preset: "grid", config: ["seed": 0], runs: runs, provenance: .current(seed: 0))
        let lines = RunOutput.metricsCSV(doc).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        #expect(Array(header.prefix(4)) == ["beta", "setting_loss", "step", "loss"], "\(header)")
        #expect(Set(header).count == header.count, "\(header)")
        #expect(lines[1][1] == "supcon" && lines.last![1] == "ntxent")
    }

    /// Runs that differ by a category (here the loss) get one dot chart per label set, one point per
    /// run, instead of a line drawn between unrelated runs; a numeric setting keeps its line chart.
    @Test func categoricalRunsGetDotChartsNumericOnesLines() throws {
        let categorical = try ["supcon", "joint"].map { loss in
            try RunReport(settings: ["loss": .string(loss)], probe: .ridge, measure: .balanced,
                          labels: ["class", "subclass"], within: ["subclass": "class"], timeline: timeline())
        }
        let dots = ReportCharts.summaryCharts(ReportDocument(preset: "grid", config: ["seed": 0], runs: categorical,
                                                          provenance: .current(seed: 0)))
        #expect(dots.map(\.file) == ["summary-0.svg", "summary-1.svg"])
        #expect(dots.allSatisfy { $0.svg.contains("<circle") && !$0.svg.contains("<polyline") })
        #expect(dots[0].svg.contains("loss=supcon") && dots[0].svg.contains("loss=joint"))
        let numeric = try [0.0, 0.5].map { beta in
            try RunReport(settings: ["beta": .double(beta)], probe: .ridge, measure: .balanced,
                          labels: ["class", "subclass"], within: ["subclass": "class"], timeline: timeline())
        }
        let lines = ReportCharts.summaryCharts(ReportDocument(preset: "grid", config: ["seed": 0], runs: numeric,
                                                           provenance: .current(seed: 0)))
        #expect(lines.count == 1 && lines[0].svg.contains("<polyline"))
    }

    @Test func auditHTMLIsWellFormedXHTML() throws {
        let run = try RunReport(probe: .knn, measure: .plain, labels: ["class", "subclass"], within: ["subclass": "class"],
                                timeline: timeline())
        let document = ReportDocument(preset: "a <b> & \"c\"", config: ["x": 1], runs: [run], provenance: .current())
        let html = ReportHTML.render(document, charts: ReportCharts.make(document, testCount: 1000))
        let doc = try XMLDocument(data: Data(html.utf8), options: [])
        #expect(doc.rootElement()?.name == "html")
        #expect(html.contains("a &lt;b&gt; &amp; &quot;c&quot;") || html.contains("a &lt;b&gt; &amp; \"c\""))
        #expect(html.contains("collapsed"))
        #expect(!html.contains("<script") && !html.contains("src="))
        let table = FeatureTable.render(run)
        #expect(table.contains("step 0") && table.contains("subclass") && table.contains("collapsed"))
    }
}

@Suite struct ProvenanceCommitTests {
    /// The commit comes from the checkout holding the source file, not from the current folder.
    @Test func commitIsReadFromTheSourceCheckout() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fl-prov-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let sha = String(repeating: "ab", count: 20)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".git/refs/heads"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Sources/X"), withIntermediateDirectories: true)
        try "ref: refs/heads/main\n".write(to: root.appendingPathComponent(".git/HEAD"), atomically: true, encoding: .utf8)
        try "\(sha)\n".write(to: root.appendingPathComponent(".git/refs/heads/main"), atomically: true, encoding: .utf8)
        let file = root.appendingPathComponent("Sources/X/File.swift").path
        #expect(Provenance.currentGitCommit(sourceFile: file) == sha)
        // A detached HEAD holds the sha itself; a folder outside any checkout gives nil.
        try "\(sha)\n".write(to: root.appendingPathComponent(".git/HEAD"), atomically: true, encoding: .utf8)
        #expect(Provenance.currentGitCommit(sourceFile: file) == sha)
        #expect(Provenance.currentGitCommit(sourceFile: "/proc/self/nonexistent.swift") == nil)
    }
}
