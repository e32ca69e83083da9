import Foundation

/// The self-contained `report.html` of a run folder (inline SVG, no network, well-formed XHTML).
public enum ReportHTML {
    /// Renders the document with its charts.
    public static func render<C>(_ document: ReportDocument<C>, charts: [RenderedChart]) -> String {
        var page = HTMLPage(title: "FeatureLens — \(document.preset)")
        let p = document.provenance
        page.paragraph("\(p.tool) \(p.version)\(p.gitCommit.map { " (commit \($0.prefix(10)))" } ?? "") · seed \(p.seed.map(String.init) ?? "—") · \(p.threads) thread(s) · \(p.cpu) · \(p.date)", cssClass: "note")
        page.paragraph("Each probe is fit on training embeddings and scored on held-out test embeddings; step 0 is the untrained encoder (the baseline). Verdicts: learned, suppressed (readable at baseline, near chance at the end), collapsed (a within-group label learned during training and lost), learned then lost, not learned, partial. Thresholds and the schema: docs/REPORT_SCHEMA.md.", cssClass: "note")

        let preset = charts.filter { $0.run == nil }
        if document.runs.count > 1 {
            page.heading("Summary")
            let labels = RunOutput.orderedUnion(document.runs.map(\.labels))
            var rows: [[String]] = []
            var classes: [[String?]] = []
            for r in document.runs {
                var row = [ReportCharts.title(r)]
                var cls: [String?] = [nil]
                for l in labels {
                    row.append(r.final.probes[l].map { String(format: "%.2f", $0) } ?? "—")
                    cls.append(nil)
                    row.append(r.verdicts[l]?.rawValue ?? "—")
                    cls.append(r.verdicts[l].map(cssClass))
                }
                if let t = r.theory {
                    row.append(labels.compactMap { l in t.probes[l].map { "\(l) \(String(format: "%.2f", $0))" } }.joined(separator: ", "))
                } else { row.append("—") }
                cls.append(nil)
                rows.append(row); classes.append(cls)
            }
            page.table(header: ["run"] + labels.flatMap { ["\($0) (final)", "\($0) verdict"] } + ["W* probes"],
                       rows: rows, cellClasses: classes, caption: "Final probe accuracy and verdict per run")
            page.beginRow()
            for c in preset { page.figure(svg: c.svg, caption: c.caption) }
            page.endRow()
        }

        if let c = document.comparison, let first = document.runs.first {
            comparisonTables(c, probe: first.probe, measure: first.measure, page: &page)
        }
        if let advice = document.advice { adviceSection(advice, page: &page) }

        for (i, run) in document.runs.enumerated() {
            let title = ReportCharts.title(run)
            page.heading(document.runs.count > 1 ? "Run: \(title)" : "Run", level: 2, id: ReportCharts.slug(run, index: i))
            if let d = run.divergence { page.paragraph("Training diverged: \(d). The audits before it are shown.", cssClass: "collapsed") }
            if let s = run.interruptedAtStep {
                page.paragraph("Interrupted at step \(s): a partial report. The table and verdicts cover the audits up to that step; continue the run with --resume.", cssClass: "collapsed")
            }
            page.paragraph("Probe: \(run.probe.rawValue), \(run.measure.rawValue) accuracy; probes read the \(run.layer ?? "embedding") layer.", cssClass: "note")
            // Table: label × step.
            let header = ["label set"] + run.timeline.map { $0.step == 0 ? "step 0 (baseline)" : "step \($0.step)" } + ["verdict"]
            var rows: [[String]] = []
            var cls: [[String?]] = []
            for l in run.labels {
                rows.append([run.within[l].map { "\(l) (within \($0))" } ?? l]
                            + run.timeline.map { e in e.probes[l].map { String(format: "%.3f", $0) } ?? "—" }
                            + [run.verdicts[l]?.rawValue ?? "—"])
                cls.append([nil] + run.timeline.map { _ in nil } + [run.verdicts[l].map(cssClass)])
            }
            let wKeys = Array(Set(run.timeline.flatMap { ($0.featureWeights ?? [:]).keys })).sorted()
            for k in wKeys {
                rows.append(["‖W e_f‖ \(k)"] + run.timeline.map { e in e.featureWeights?[k].map { String(format: "%.3f", $0) } ?? "—" } + [""])
                cls.append([])
            }
            rows.append(["loss"] + run.timeline.map { e in e.loss.map { String(format: "%.5g", $0) } ?? "—" } + [""])
            cls.append([])
            let (shareLabels, withinLabels) = RunOutput.geometryLabels([run])
            func geometryRow(_ name: String, _ value: (CollapseGeometry) -> Double?) {
                rows.append([name] + run.timeline.map { e in e.geometry.flatMap(value).map { String(format: "%.3f", $0) } ?? "—" } + [""])
                cls.append([])
            }
            for l in shareLabels { geometryRow("within-\(l) variance share", { $0.varianceShare[l] }) }
            for l in withinLabels {
                let name = run.timeline.lazy.compactMap { $0.geometry?.within?[l] }.first.map { "\(l) within \($0.group)" } ?? l
                geometryRow("\(name): kNN purity", { $0.within?[l]?.knnPurity })
                geometryRow("\(name): kNN chance", { $0.within?[l]?.knnChance })
                geometryRow("\(name): Fisher ratio", { $0.within?[l]?.fisherRatio })
            }
            let geometryNote = shareLabels.isEmpty ? "" : ", then the collapse geometry of the test embeddings"
            page.table(header: header, rows: rows, cellClasses: cls, caption: "Probe accuracy by audited step" + geometryNote)
            if let last = run.timeline.last(where: { $0.subclassMerging != nil }) {
                for m in last.subclassMerging ?? [] { mergingTables(m, step: last.step, probe: run.probe, page: &page) }
            }
            if let t = ReportText.theoryLine(run) { page.paragraph(t) }
            for s in ReportText.verdictSentences(run) { page.paragraph(s) }
            if let m = run.final.metrics {
                page.table(header: ["RankMe", "effective rank", "uniformity", "collapse std", "alignment"],
                           rows: [[String(format: "%.3f", m.rankme), String(format: "%.3f", m.effectiveRank),
                                   String(format: "%.3f", m.uniformity), String(format: "%.4f", m.collapseStd),
                                   m.alignment.map { String(format: "%.3f", $0) } ?? "—"]],
                           caption: "Representation metrics of the final embeddings, on "
                               + (m.computedOn ?? .test).describe(n: m.n))
            }
            page.beginRow()
            for c in charts where c.run == i && !c.file.contains("-pca-") { page.figure(svg: c.svg, caption: c.caption) }
            page.endRow()
            let pcas = charts.filter { $0.run == i && $0.file.contains("-pca-") }
            if !pcas.isEmpty {
                page.heading("Test embeddings (2-D PCA)", level: 3)
                page.beginRow()
                for c in pcas { page.figure(svg: c.svg, caption: c.caption) }
                page.endRow()
            }
        }
        return page.render()
    }

    /// Which subclasses merged (`SubclassMerging`): the pairs of every group, most merged
    /// first, then each group's recall and confusion.
    static func mergingTables(_ m: SubclassMerging, step: Int, probe: ProbeKind, page: inout HTMLPage) {
        page.heading("Which \(m.label) merged within \(m.group) (step \(step))", level: 3)
        let ranked = m.rankedPairs
        page.table(header: [m.group, "pair", "accuracy", "± SE", "merged"],
                   rows: ranked.map { g, p in [g, "\(p.a) ↔ \(p.b)", String(format: "%.3f", p.accuracy),
                                                String(format: "%.3f", p.standardError), p.merged ? "merged" : ""] },
                   cellClasses: ranked.map { _, p in [nil, nil, nil, nil, p.merged ? "collapsed" : "learned"] },
                   caption: "Two-subclass \(probe.rawValue) probe per pair: balanced accuracy on the test rows of the pair (chance 0.50), most merged first; merged = not two standard errors above chance")
        for g in m.groups {
            page.table(header: ["true \\ predicted"] + g.subclasses + ["recall", "± SE", "test rows"],
                       rows: g.subclasses.indices.map { i in
                           [g.subclasses[i]] + g.confusion[i].map(String.init)
                               + [String(format: "%.3f", g.recall[i]), String(format: "%.3f", g.recallStandardError[i]), String(g.testRows[i])]
                       },
                       caption: "Within \(g.name): confusion of the within-group probe among the \(m.label) values, test rows")
        }
    }

    /// The encoder comparison: one table per label set, a column per encoder (accuracy ± SE,
    /// Δ from the reference ± paired SE, significance, verdict, merged pairs).
    static func comparisonTables(_ c: EncoderComparison, probe: ProbeKind, measure: AccuracyMeasure, page: inout HTMLPage) {
        page.heading("Encoder comparison")
        page.paragraph("Every encoder is probed (\(probe.rawValue), \(measure.rawValue) accuracy) on the same \(c.testRows) test rows, at its last checkpoint. Δ = encoder − \(c.reference) (the reference), with the paired standard error over the same test rows (per class; docs/REPORT_SCHEMA.md, \"Encoder comparison\"); significant: |Δ| > 2 SE.", cssClass: "note")
        for l in c.labels {
            let table = l.tableRows(reference: c.reference)
            // Colour: a significant difference (lower: as a loss, higher: as learned) and the verdicts.
            let cls: [[String?]] = table.map { row in
                switch row.name {
                case "verdict": return [nil] + l.encoders.map { $0.verdict.map(cssClass) }
                case "accuracy", "merged pairs": return []
                default: return [nil] + l.encoders.map { $0.significant ? ($0.difference < 0 ? "suppressed" : "learned") : nil }
                }
            }
            page.table(header: [""] + l.encoders.map(\.name), rows: table.map { [$0.name] + $0.cells }, cellClasses: cls,
                       caption: "\(l.label)\(l.within.map { " (within \($0))" } ?? ""), chance \(String(format: "%.3f", l.chance)); * = significant (|Δ| > 2 SE)")
            // The same numbers as a chart: each encoder's accuracy ± 2 SE, chance dashed; a
            // significant difference from the reference is coloured as in the table.
            let colors: [String?] = l.encoders.enumerated().map { i, e in
                i == 0 || !e.significant ? chartPalette[0] : (e.difference < 0 ? chartPalette[1] : chartPalette[2])
            }
            let chart = DotChart(title: "\(l.label)\(l.within.map { " within \($0)" } ?? "")", yLabel: "\(measure.rawValue) accuracy",
                                 names: l.encoders.map(\.name), values: l.encoders.map(\.accuracy),
                                 standardErrors: l.encoders.map(\.standardError), errorMultiplier: 2,
                                 reference: (l.chance, "chance"), colors: colors)
            page.figure(svg: chart.svg(width: max(300, 120 * l.encoders.count + 80)),
                        caption: "\(l.label): \(measure.rawValue) accuracy per encoder, bars ± 2 SE; orange: significantly below \(c.reference), green: significantly above (paired SE, |Δ| > 2 SE)")
        }
    }

    /// "What to try next": each advice with its trigger, numbers and source, or a sentence
    /// saying that no rule fired.
    static func adviceSection(_ advice: [Advice], page: inout HTMLPage) {
        page.heading("What to try next")
        if advice.isEmpty {
            page.paragraph("No advice: no rule's trigger is significant (rules and sources: docs/ADVICE.md).", cssClass: "note")
            return
        }
        page.paragraph("Each item quotes the measurements that triggered it; rules and sources: docs/ADVICE.md.", cssClass: "note")
        for a in advice {
            page.paragraph(a.text)
            page.table(header: ["quantity", "value", "± SE"],
                       rows: a.numbers.map { [$0.quantity, String(format: "%.3f", $0.value), $0.standardError.map { String(format: "%.3f", $0) } ?? "—"] },
                       caption: "Trigger (\(a.rule)): \(a.trigger)")
            page.paragraph("Source: \(a.source)", cssClass: "note")
        }
    }

    static func cssClass(_ v: FeatureVerdict) -> String {
        switch v {
        case .learned: return "learned"
        case .suppressed, .notLearned: return "suppressed"
        case .collapsed: return "collapsed"
        case .learnedThenLost: return "lost"
        case .partial, .notMeasurable: return "partial"
        }
    }
}
