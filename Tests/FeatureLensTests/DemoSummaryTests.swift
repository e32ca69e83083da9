import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The demo's summary (one line per claim of the paper, from the reports' verdicts), the
/// theory line's words on convergence, and the index page.
@Suite struct DemoSummaryTests {
    /// A synthetic run report with the given probe accuracies at `steps` (chance 0.5, binomial
    /// standard errors on 2000 test points).
    static func run(_ values: [String: String], _ accuracies: [String: [Double]], steps: [Int],
                    theory: TheorySummary? = nil) throws -> RunReport {
        let labels = LinearEngine.orderedLabels(Set(accuracies.keys))
        let timeline = steps.indices.map { j in
            LinearEngine.entry(step: steps[j], loss: -1, probes: accuracies.mapValues { $0[j] },
                               standardErrors: accuracies.mapValues { a in max(1e-3, (a[j] * (1 - a[j]) / 2000).squareRoot()) },
                               featureWeights: [:], metrics: nil, pca: nil)
        }
        return try RunReport(settings: values.mapValues { SettingValue(parsing: $0) }, probe: .ridge, measure: .balanced,
                             labels: labels, within: labels.contains("subclass") ? ["subclass": "class"] : [:],
                             layer: "embedding", timeline: timeline, theory: theory)
    }

    static func document(_ preset: SyntheticPreset, _ runs: [RunReport]) -> ReportDocument<SyntheticPreset> {
        ReportDocument(preset: preset.name, config: preset, runs: runs, provenance: Provenance.current(seed: 0))
    }

    static let notConverged = TheorySummary(normRatio: 0.093, gramDistance: 1.0, lossGap: 0.1667, probes: ["class": 1])
    static let converged = TheorySummary(normRatio: 0.986, gramDistance: 0.047, lossGap: 0.0005, probes: ["class": 1])

    /// Documents of the four presets in which every claim holds; `pSmallClass` is the final class
    /// accuracy of the p = 3 run of suppression-embedding-size (≤ 0.6 keeps the claim).
    static func documents(pSmallClass: Double = 0.53) throws -> [ReportDocument<SyntheticPreset>] {
        let cc = document(.classCollapse, [
            try run(["rho": "0.6"], ["class": [0.98, 1, 1], "subclass": [0.95, 1.0, 0.57]], steps: [0, 300, 20000], theory: converged),
            try run(["rho": "0.5"], ["class": [0.98, 1, 1], "subclass": [0.96, 0.96, 0.82]], steps: [0, 300, 20000]),
        ])
        let fsA = document(.suppressionEmbeddingSize, try (1...7).map { p in
            let final = p == 3 ? pSmallClass : (p <= 4 ? 0.52 + 0.01 * Double(p) : 1.0)
            return try run(["p": "\(p)"], ["class": [p <= 4 ? 0.6 : 0.84, final], "easy0": [0.9, 1]], steps: [0, 3000],
                           theory: p >= 6 ? notConverged : converged)
        })
        let fsB = document(.suppressionAugmentation, [
            try run(["augmentation": "imperfect"], ["class": [0.65, 0.57]], steps: [0, 10000]),
            try run(["augmentation": "perfect"], ["class": [0.6, 1.0]], steps: [0, 10000]),
        ])
        var joint: [RunReport] = []
        for beta in ["0", "0.25", "0.5", "0.75", "1"] {
            let sub = beta == "1" ? [0.95, 0.95, 0.5] : [0.95, 1, 1]
            joint.append(try run(["data": "cc", "beta": beta], ["class": [0.98, 1, 1], "subclass": sub], steps: [0, 100, 20000]))
        }
        for beta in ["0", "0.25", "0.5", "0.75", "1"] {
            joint.append(try run(["data": "fs-a", "beta": beta], ["class": beta == "0" ? [0.64, 0.56] : [0.64, 1.0]], steps: [0, 30000]))
        }
        return [cc, fsA, fsB, document(.jointLoss, joint)]
    }

    /// Every claim holds: one line per claim, each naming its preset, its settings and
    /// accuracies with standard errors, in at most about 20 lines with the theory notes.
    @Test func summaryHasOneLinePerClaimWithNumbersAndSettings() throws {
        let results = DemoSummary.evaluate(try Self.documents())
        #expect(results.map(\.claim) == PaperClaim.allCases)
        #expect(results.allSatisfy { $0.outcome == .reproduced }, "\(results.map { DemoSummary.line($0) })")
        let lines = DemoSummary.lines(results, seed: 0)
        #expect(lines.count <= 20)
        #expect(lines[0].contains("4 of 4 claims reproduced"))
        for claim in PaperClaim.allCases {
            let matching = lines.filter { $0.hasPrefix("[reproduced] \(claim.rawValue) — paper: ") }
            #expect(matching.count == 1, "\(claim): \(lines)")
            #expect(matching.first?.contains(claim.preset + ": ") == true)
            #expect(matching.first?.contains(" ± ") == true)
        }
        let cc = lines[1]
        #expect(cc.contains("rho=0.6: subclass 0.950 ± 0.005 at step 0 → 1.000 ± 0.001 at step 300 → 0.570 ± 0.011 at the end, collapsed"), "\(cc)")
        #expect(!cc.contains("rho=0.5"), "the ρ = 0.5 control is not the claim's setting")
        let fsA = lines[2]
        #expect(fsA.contains("p ≤ K = 4: class at chance in 4 of 4 settings (highest p=4: class 0.560 ± 0.011)"), "\(fsA)")
        #expect(fsA.contains("p > K = 4: class learned in 3 of 3 settings"), "\(fsA)")
        #expect(lines[3].contains("augmentation=imperfect: class 0.570 ± 0.011 (not learned); augmentation=perfect: class 1.000 ± 0.001 (learned)"), "\(lines[3])")
        let joint = lines[4]
        #expect(joint.contains("beta=1, data=cc: subclass"), "\(joint)")
        #expect(joint.contains("data=cc, 0 < beta < 1: class and subclass learned in 3 of 3 settings"), "\(joint)")
        #expect(joint.contains("beta=0, data=fs-a: class 0.560 ± 0.011 (not learned)"), "\(joint)")
        // p = 6 and 7 have not converged to W*; their notes name the setting.
        #expect(lines.contains { $0.contains("suppression-embedding-size p=6: gradient descent has not converged in 3000 steps (‖W‖/‖W*‖ = 0.09, loss 16.7 % above the minimum)") })
        #expect(lines.contains { $0.contains("suppression-embedding-size p=7: gradient descent has not converged") })
        #expect(!lines.contains { $0.contains("suppression-embedding-size p=5:") })
    }

    /// A setting against the claim makes it "not reproduced" and the line names that setting;
    /// a missing preset makes its claim "not tested".
    @Test func failingAndMissingClaims() throws {
        var docs = try Self.documents(pSmallClass: 0.95)
        var results = DemoSummary.evaluate(docs)
        #expect(results[1].outcome == .notReproduced)
        #expect(DemoSummary.line(results[1]).hasPrefix("[not reproduced] feature suppression with a small embedding"))
        #expect(DemoSummary.line(results[1]).contains("class at chance in 3 of 4 settings (fails at p=3: class 0.950 ± 0.005 (learned))"),
                "\(DemoSummary.line(results[1]))")
        #expect(results.filter { $0.outcome == .reproduced }.count == 3)
        #expect(DemoSummary.lines(results, seed: 1)[0].contains("seed 1: 3 of 4 claims reproduced"))
        docs.removeLast()
        results = DemoSummary.evaluate(docs)
        #expect(results[3].outcome == .notTested && DemoSummary.line(results[3]).contains("no joint-loss report"))
        // A joint-loss report without β = 1 on CC data cannot test that part.
        var joint = try Self.documents()[3]
        joint.runs.removeAll { $0.settings == ["data": .string("cc"), "beta": .int(1)] }
        #expect(DemoSummary.evaluate([joint])[3].outcome == .notTested)
    }

    /// The theory line says in words when gradient descent has not reached W* (‖W‖/‖W*‖ far
    /// from 1 or the loss above the minimum), and not otherwise.
    @Test func theoryLineExplainsNonConvergence() throws {
        let far = try Self.run(["p": "6"], ["class": [0.85, 1]], steps: [0, 3000], theory: Self.notConverged)
        let line = try #require(ReportText.theoryLine(far))
        #expect(line.contains("gradient descent has not converged to W* in 3000 steps: ‖W‖/‖W*‖ = 0.093, loss 16.67 % above the minimum (Gram distance 1.000)"), "\(line)")
        #expect(ReportText.nonConvergenceNote(far) == "gradient descent has not converged in 3000 steps (‖W‖/‖W*‖ = 0.09, loss 16.7 % above the minimum)")
        let slow = try Self.run(["rho": "0.5"], ["class": [0.98, 1]], steps: [0, 20000],
                                theory: TheorySummary(normRatio: 0.776, gramDistance: 0.495, lossGap: 0.0713, probes: [:]))
        #expect(ReportText.theoryLine(slow)!.contains("has not converged to W* in 20000 steps"))
        let near = try Self.run(["rho": "0.6"], ["class": [0.98, 1]], steps: [0, 20000], theory: Self.converged)
        let nearLine = try #require(ReportText.theoryLine(near))
        #expect(nearLine.contains("gradient descent ends at W*: ‖W‖/‖W*‖ = 0.986, Gram distance 0.047, loss gap 0.05 %; W* probes: class 1.00"), "\(nearLine)")
        #expect(!nearLine.contains("not converged") && ReportText.nonConvergenceNote(near) == nil)
        let elsewhere = try Self.run(["p": "1"], ["class": [0.56, 0.52]], steps: [0, 3000],
                                     theory: TheorySummary(normRatio: 1.005, gramDistance: 0.661, lossGap: 0, probes: [:]))
        #expect(ReportText.theoryLine(elsewhere)!.contains("reached W*'s loss but not W* itself"))
        #expect(ReportText.nonConvergenceNote(elsewhere) == nil)
        #expect(TheoryConvergence(TheorySummary(normRatio: .nan, gramDistance: 0, lossGap: 0, probes: [:])) == .notConverged)
    }

    /// The index page parses as XML, opens with the summary (the same claim lines' contents)
    /// and then lists every setting's verdicts, each row naming its setting.
    @Test func indexPageHasTheSummaryAndPerSettingVerdicts() throws {
        let docs = try Self.documents()
        let html = DemoSummary.indexPage(docs, links: docs.map { "\($0.preset)/report.html" }, seed: 0)
        _ = try XMLDocument(xmlString: html, options: [])
        let summaryAt = try #require(html.range(of: "<h2>Summary</h2>")).lowerBound
        let verdictsAt = try #require(html.range(of: "<h2>Verdicts per setting</h2>")).lowerBound
        #expect(summaryAt < verdictsAt)
        let summary = String(html[summaryAt..<verdictsAt])
        for r in DemoSummary.evaluate(docs) {
            #expect(summary.contains(xmlEscape(r.claim.rawValue)) && summary.contains(xmlEscape(r.claim.statement)))
            for c in r.checks { #expect(summary.contains(xmlEscape(DemoSummary.describe(c))), "\(c.scope)") }
        }
        #expect(summary.contains("4 of 4 claims reproduced") && summary.contains("p=6: gradient descent has not converged"))
        let details = String(html[verdictsAt...])
        // One row per setting; every verdict in its setting's row, under its label set.
        #expect(details.contains("<th>setting</th><th>class</th><th>subclass (within class)</th>"))
        #expect(details.contains("<tr><td class=\"text\">rho=0.5</td><td class=\"learned\">learned (1.000 ± 0.001)</td>"
                                 + "<td class=\"partial\">partial (0.820 ± 0.009)</td></tr>"), "\(details.prefix(900))")
        #expect(details.contains("<tr><td class=\"text\">rho=0.6</td><td class=\"learned\">learned (1.000 ± 0.001)</td>"
                                 + "<td class=\"collapsed\">collapsed (0.570 ± 0.011)</td></tr>"))
        #expect(details.contains("<tr><td class=\"text\">beta=0, data=fs-a</td><td class=\"suppressed\">not learned (0.560 ± 0.011)</td><td>—</td></tr>"))
        #expect(details.contains("href=\"joint-loss/report.html\""))
        let rows = details.components(separatedBy: "<tr>").count - 1
        #expect(rows == docs.reduce(0) { $0 + $1.runs.count } + docs.count)  // one row per setting + one header per table
    }

    /// From a real (tiny) run of class-collapse: runs are matched to the preset's settings and
    /// the line names the setting with its numbers.
    @Test func summaryOfATinyClassCollapseRun() throws {
        let tiny = try SyntheticPreset.classCollapse.applying(
            set: [("d", "150"), ("n", "30"), ("n_test", "60"), ("steps", "200"), ("audit_steps", "0,100,200")], grid: [])
        let doc = try ExperimentRunner(concurrency: 2).run(tiny)
        let results = DemoSummary.evaluate([doc])
        let cc = results[0]
        #expect(cc.checks.count == 1 && cc.checks[0].runs.map(\.setting) == ["rho=0.6"])
        #expect(cc.outcome != .notTested)
        let expected: ClaimResult.Outcome = doc.runs[0].verdicts["subclass"] == .collapsed ? .reproduced : .notReproduced
        #expect(cc.outcome == expected)
        let line = DemoSummary.line(cc)
        #expect(line.contains("class-collapse: rho=0.6: subclass ") && line.contains(" ± ") && line.contains("at step 0 → "), "\(line)")
        #expect(results.dropFirst().allSatisfy { $0.outcome == .notTested })
    }
}
