import Foundation

/// Writes a run folder: `config.json`, `report.json`, `metrics.csv`, `report.html` and the
/// charts as `charts/*.svg` (schema: docs/REPORT_SCHEMA.md). Every file is written atomically.
public enum RunOutput {
    /// Writes every output of `document` into `folder` (created if needed).
    /// - Parameters:
    ///   - configJSON: the bytes of `config.json` (a config that `featurelens run` accepts as is).
    ///   - testCount: number of test points behind each probe accuracy, for the binomial
    ///     standard error bands (nil: no bands).
    /// - Throws: `OutputError` naming the path that could not be written.
    public static func write<C>(_ document: ReportDocument<C>, configJSON: Data, to folder: URL,
                                testCount: Int?) throws {
        try write(document, configJSON: configJSON, to: folder,
                  testCounts: testCount.map { n in document.runs.map { _ in n } })
    }

    /// Writes every output of `document` into `folder` (created if needed), with the number of
    /// test points behind each run's probe accuracies (`testCounts[i]` for `runs[i]`; nil: no
    /// bands). Counts are real counts (a `test_limit` of 0 means every test image: pass that number).
    /// - Throws: `OutputError` naming the path that could not be written.
    public static func write<C>(_ document: ReportDocument<C>, configJSON: Data, to folder: URL,
                                testCounts: [Int]?) throws {
        try AtomicFile.prepareDirectory(folder)
        let charts = folder.appendingPathComponent("charts")
        try AtomicFile.prepareDirectory(charts)
        let rendered = ReportCharts.make(document, testCounts: testCounts)
        for c in rendered { try AtomicFile.write(c.svg, to: charts.appendingPathComponent(c.file)) }
        try AtomicFile.write(configJSON, to: folder.appendingPathComponent("config.json"))
        try AtomicFile.write(metricsCSV(document), to: folder.appendingPathComponent("metrics.csv"))
        try AtomicFile.write(ReportHTML.render(document, charts: rendered), to: folder.appendingPathComponent("report.html"))
        // report.json last: its presence marks a finished run (sweeps skip such folders).
        try AtomicFile.write(try document.jsonData(), to: folder.appendingPathComponent("report.json"))
    }

    /// `metrics.csv`: one row per run and audited step: the run's settings, step, loss, each
    /// label set's probe accuracy (`probe_<label>`) and its standard error (`se_<label>`, empty
    /// when the audit did not record one), each feature weight, the representation metrics, and the
    /// collapse geometry (`variance_share_<label>` per label set, then `fisher_ratio_<label>`,
    /// `knn_purity_<label>` and `knn_chance_<label>` per label set read within groups). A
    /// setting whose key is also the name of one of these columns (a grid over `loss`) is
    /// written as `setting_<key>`, so every column name is unique.
    public static func metricsCSV<C>(_ document: ReportDocument<C>) -> String {
        let settingKeys = Array(Set(document.runs.flatMap { $0.settings.keys })).sorted()
        let labels = orderedUnion(document.runs.map(\.labels))
        let weights = Array(Set(document.runs.flatMap { $0.timeline.flatMap { ($0.featureWeights ?? [:]).keys } })).sorted()
        let (shareLabels, withinLabels) = geometryLabels(document.runs)
        var header = ["step", "loss"] + labels.map { "probe_\($0)" } + labels.map { "se_\($0)" } + weights.map { "weight_\($0)" }
        header += ["rankme", "effective_rank", "uniformity", "collapse_std"]
        header += shareLabels.map { "variance_share_\($0)" }
        header += withinLabels.flatMap { ["fisher_ratio_\($0)", "knn_purity_\($0)", "knn_chance_\($0)"] }
        let taken = Set(header)
        header = settingKeys.map { taken.contains($0) ? "setting_\($0)" : $0 } + header
        var lines = [header.map(csvField).joined(separator: ",")]
        for run in document.runs {
            for e in run.timeline {
                var row = settingKeys.map { run.settings[$0]?.description ?? "" }
                row.append(String(e.step))
                row.append(e.loss.map { csvNumber($0) } ?? "")
                row += labels.map { e.probes[$0].map { csvNumber($0) } ?? "" }
                row += labels.map { e.standardError?[$0].map { csvNumber($0) } ?? "" }
                row += weights.map { e.featureWeights?[$0].map { csvNumber($0) } ?? "" }
                if let m = e.metrics {
                    row += [m.rankme, m.effectiveRank, m.uniformity, m.collapseStd].map { csvNumber($0) }
                } else {
                    row += ["", "", "", ""]
                }
                row += shareLabels.map { e.geometry?.varianceShare[$0].map { csvNumber($0) } ?? "" }
                for l in withinLabels {
                    let g = e.geometry?.within?[l]
                    row += [g?.fisherRatio, g?.knnPurity, g?.knnChance].map { $0.map { csvNumber($0) } ?? "" }
                }
                lines.append(row.map(csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The label sets of the runs' collapse geometry: those with a variance share and those
    /// read within groups, each in the runs' label order, then the rest alphabetically (a group
    /// label such as `coarse` may have a variance share without being a probed label).
    static func geometryLabels(_ runs: [RunReport]) -> (share: [String], within: [String]) {
        let order = orderedUnion(runs.map(\.labels))
        func ordered(_ names: Set<String>) -> [String] {
            order.filter { names.contains($0) } + names.subtracting(order).sorted()
        }
        let geometries = runs.flatMap { $0.timeline.compactMap(\.geometry) }
        return (ordered(Set(geometries.flatMap { $0.varianceShare.keys })),
                ordered(Set(geometries.flatMap { ($0.within ?? [:]).keys })))
    }

    static func orderedUnion(_ lists: [[String]]) -> [String] {
        var out: [String] = []
        for l in lists { for x in l where !out.contains(x) { out.append(x) } }
        return out
    }
}

/// A number for CSV: shortest round-trip text (deterministic).
func csvNumber(_ x: Double) -> String {
    FeatureLensJSON.nonFiniteText(x) ?? "\(x)"
}

/// Quotes a CSV field when needed (RFC 4180).
func csvField(_ s: String) -> String {
    if s.contains(",") || s.contains("\"") || s.contains("\n") {
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
    return s
}

/// A rendered chart: its file name under `charts/`, a caption and the SVG text.
public struct RenderedChart: Sendable {
    /// Index of the run it belongs to (nil: preset-wide).
    public var run: Int?
    /// File name under `charts/` (e.g. `p-3-probes.svg`).
    public var file: String
    /// One-sentence caption shown under the figure.
    public var caption: String
    /// The standalone SVG document.
    public var svg: String
}

/// The charts of a report.
public enum ReportCharts {
    /// A file-name-safe slug of a run's settings (e.g. `p-3_beta-0.25`), or `run-<i>`.
    public static func slug(_ run: RunReport, index: Int) -> String {
        let s = run.settings.keys.sorted().map { "\($0)-\(run.settings[$0]!.description)" }.joined(separator: "_")
        let cleaned = String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
        return cleaned.isEmpty ? "run-\(index)" : cleaned
    }

    /// Human-readable name of a run's settings (e.g. `p=3, beta=0.25`), or the preset name.
    public static func title(_ run: RunReport) -> String {
        run.settings.isEmpty ? "default" : run.settings.keys.sorted().map { "\($0)=\(run.settings[$0]!.description)" }.joined(separator: ", ")
    }

    /// Makes every chart of the document.
    public static func make<C>(_ document: ReportDocument<C>, testCount: Int?) -> [RenderedChart] {
        make(document, testCounts: testCount.map { n in document.runs.map { _ in n } })
    }

    /// Makes every chart of the document; `testCounts[i]` is the number of test points behind
    /// run i's accuracies (nil: no error bands).
    public static func make<C>(_ document: ReportDocument<C>, testCounts: [Int]?) -> [RenderedChart] {
        var out: [RenderedChart] = []
        if document.runs.count > 1 { out += summaryCharts(document) + geometrySummaryCharts(document) }
        for (i, run) in document.runs.enumerated() {
            let slug = slug(run, index: i)
            let t = title(run)
            let testCount = testCounts.flatMap { i < $0.count ? $0[i] : nil }
            let steps = run.timeline.map { Double($0.step) }
            let positive = steps.allSatisfy { $0 >= 0 }
            let xScale: AxisScale = positive && (steps.max() ?? 0) > 50 ? .symlog : .linear
            // Probe accuracy curves with their standard errors: the audit's own (`standard_error`,
            // right for balanced accuracy and within groups) when every audit has one, else the
            // plain binomial √(a(1−a)/n) over the test points.
            let ownErrors = run.timeline.allSatisfy { e in run.labels.allSatisfy { e.standardError?[$0] != nil } }
            let series = run.labels.map { label -> ChartSeries in
                let y = run.timeline.map { $0.probes[label] ?? .nan }
                let err: [Double]?
                if ownErrors {
                    err = run.timeline.map { e in e.standardError?[label].flatMap { $0.isFinite ? $0 : nil } ?? 0 }
                } else {
                    err = testCount.map { n in y.map { a in a.isFinite ? (max(0, a * (1 - a)) / Double(max(1, n))).squareRoot() : 0 } }
                }
                return ChartSeries(name: run.within[label].map { "\(label) (within \($0))" } ?? label, x: steps, y: y, error: err)
            }
            let bandNote = ownErrors
                ? "bands: ±1 standard error of each accuracy\(testCount.map { " over \($0) test points" } ?? "") (report.json `standard_error`)"
                : "bands: ±1 binomial standard error\(testCount.map { " over \($0) test points" } ?? "")"
            var probe = LineChart(title: "Probe accuracy — \(t)", xLabel: "training step (step 0 = untrained baseline)",
                                  yLabel: run.measure == .balanced ? "balanced accuracy" : "accuracy",
                                  series: series, xScale: xScale, yRange: 0...1.02)
            if let ch = run.final.chance?.values.first { probe.referenceLines = [(ch, "chance")] }
            probe.verticalMarkers = steps.first == 0 ? [(0, "baseline")] : []
            out.append(RenderedChart(run: i, file: "\(slug)-probes.svg",
                                     caption: "Probe accuracy per label set over training (\(t)); \(bandNote).",
                                     svg: probe.svg()))
            // Feature weights.
            let wKeys = Array(Set(run.timeline.flatMap { ($0.featureWeights ?? [:]).keys })).sorted()
            if !wKeys.isEmpty {
                let ws = wKeys.map { k in ChartSeries(name: k, x: steps, y: run.timeline.map { $0.featureWeights?[k] ?? .nan }) }
                let c = LineChart(title: "Feature weights ‖W e_f‖ — \(t)", xLabel: "training step",
                                  yLabel: "weight on the planted direction", series: ws, xScale: xScale)
                out.append(RenderedChart(run: i, file: "\(slug)-weights.svg",
                                         caption: "Weight the encoder puts on each planted feature direction (\(t)).", svg: c.svg()))
            }
            // Loss.
            let losses = run.timeline.map { $0.loss ?? .nan }
            if losses.contains(where: { $0.isFinite }) {
                let c = LineChart(title: "Training loss — \(t)", xLabel: "training step", yLabel: "loss",
                                  series: [ChartSeries(name: "loss", x: steps, y: losses)], xScale: xScale)
                out.append(RenderedChart(run: i, file: "\(slug)-loss.svg", caption: "Training loss at the audited steps (\(t)).", svg: c.svg()))
            }
            // Collapse geometry over training.
            if let c = geometryChart(run, steps: steps, xScale: xScale, title: t) {
                out.append(RenderedChart(run: i, file: "\(slug)-geometry.svg",
                                         caption: "Collapse geometry of the test embeddings (\(t)): within-group variance share per label set (1 = the label's classes share one mean, 0 = each class is one point), and the kNN purity of each label read within groups\(geometryGroups(run)) with its chance level (dashed).",
                                         svg: c.svg()))
            }
            // Spectrum of the final embeddings.
            if let spec = run.final.metrics?.spectrum, !spec.isEmpty {
                let floor = max(1e-12, (spec.max() ?? 1) * 1e-10)
                let c = LineChart(title: "Embedding spectrum (final) — \(t)", xLabel: "component index",
                                  yLabel: "eigenvalue (log scale)",
                                  series: [ChartSeries(name: "eigenvalue", x: spec.indices.map { Double($0 + 1) }, y: spec.map { max($0, floor) })],
                                  yScale: .log)
                out.append(RenderedChart(run: i, file: "\(slug)-spectrum.svg",
                                         caption: "Singular-value spectrum of the L2-normalized test embeddings' covariance at the end (\(t)).", svg: c.svg()))
            }
            // PCA scatters at (up to) three audits: baseline, middle, final.
            let withPCA = run.timeline.indices.filter { run.timeline[$0].pca != nil }
            var picks: [Int] = []
            if let f = withPCA.first { picks.append(f) }
            if withPCA.count > 2 { picks.append(withPCA[withPCA.count / 2]) }
            if let l = withPCA.last, !picks.contains(l) { picks.append(l) }
            for idx in picks {
                let e = run.timeline[idx]
                guard let pca = e.pca else { continue }
                // The usual label sets first, then (e.g. a labels file's columns) the others by name; at most 3.
                let usual = ["class", "subclass", "coarse"].filter { pca.labels[$0] != nil }
                let colours = (usual + pca.labels.keys.filter { !usual.contains($0) }.sorted()).prefix(3)
                for colour in colours {
                    let cats = pca.labels[colour]!
                    let names = (0...(cats.max() ?? 0)).map { "\(colour) \($0)" }
                    let c = ScatterChart(title: "Step \(e.step): test embeddings by \(colour)",
                                         xLabel: String(format: "PC1 (%.0f%% of variance)", 100 * pca.explained[0]),
                                         yLabel: String(format: "PC2 (%.0f%%)", 100 * (pca.explained.count > 1 ? pca.explained[1] : 0)),
                                         x: pca.x, y: pca.y, category: cats, categoryNames: names)
                    out.append(RenderedChart(run: i, file: "\(slug)-pca-step\(e.step)-\(colour).svg",
                                             caption: "2-D PCA of test embeddings at step \(e.step), coloured by \(colour) (\(t)).", svg: c.svg()))
                }
            }
        }
        return out
    }

    /// The per-run geometry chart: `variance_share` of every label set and, per label set read
    /// within groups, `knn_purity` with `knn_chance` dashed; nil when no audit has a geometry.
    static func geometryChart(_ run: RunReport, steps: [Double], xScale: AxisScale, title t: String) -> LineChart? {
        guard run.timeline.contains(where: { $0.geometry != nil }) else { return nil }
        let (shareLabels, withinLabels) = RunOutput.geometryLabels([run])
        var series = shareLabels.map { l in
            ChartSeries(name: "share \(l)", x: steps, y: run.timeline.map { $0.geometry?.varianceShare[l] ?? .nan })
        }
        for l in withinLabels {
            series.append(ChartSeries(name: "kNN purity \(l)", x: steps,
                                      y: run.timeline.map { $0.geometry?.within?[l]?.knnPurity ?? .nan }))
            series.append(ChartSeries(name: "kNN chance \(l)", x: steps,
                                      y: run.timeline.map { $0.geometry?.within?[l]?.knnChance ?? .nan }, dashed: true))
        }
        var c = LineChart(title: "Collapse geometry — \(t)", xLabel: "training step (step 0 = untrained baseline)",
                          yLabel: "share / purity", series: series, xScale: xScale, yRange: 0...1.02)
        c.verticalMarkers = steps.first == 0 ? [(0, "baseline")] : []
        return c
    }

    /// " (subclass within class)" for the labels a run's geometry reads within groups, or "".
    static func geometryGroups(_ run: RunReport) -> String {
        let pairs = RunOutput.geometryLabels([run]).within.compactMap { l in
            run.timeline.lazy.compactMap { $0.geometry?.within?[l]?.group }.first.map { "\(l) within \($0)" }
        }
        return pairs.isEmpty ? "" : " (\(pairs.joined(separator: ", ")))"
    }

    /// Preset-wide: for each label set that is the group of a label read within groups (the
    /// coarse label of class collapse), its within-group variance share over training, one
    /// line per run (and layer).
    static func geometrySummaryCharts<C>(_ document: ReportDocument<C>) -> [RenderedChart] {
        let runs = document.runs
        let groups = Set(runs.flatMap { r in r.timeline.flatMap { ($0.geometry?.within ?? [:]).values.map(\.group) } })
        let ordered = RunOutput.geometryLabels(runs).share.filter { groups.contains($0) }
        let allSteps = runs.flatMap { $0.timeline.map { Double($0.step) } }
        let xScale: AxisScale = allSteps.allSatisfy({ $0 >= 0 }) && (allSteps.max() ?? 0) > 50 ? .symlog : .linear
        // Runs of one audit each (e.g. encoders compared at their last checkpoint): one point per
        // run, not lines over training.
        if runs.allSatisfy({ $0.timeline.count <= 1 }) {
            return ordered.enumerated().map { gi, g in
                let c = DotChart(title: "Within-\(g) variance share by run", yLabel: "within-\(g) variance share",
                                 names: runs.map { ReportCharts.title($0) },
                                 values: runs.map { $0.timeline.last?.geometry?.varianceShare[g] ?? .nan },
                                 standardErrors: runs.map { _ in 0 })
                return RenderedChart(run: nil, file: "summary-geometry-\(gi).svg",
                                     caption: "Share of the test embeddings' variance left within each \(g) group, one point per run (0 = each \(g) collapsed to a point).",
                                     svg: c.svg(width: ReportCharts.dotChartWidth(runs), height: 300))
            }
        }
        return ordered.enumerated().map { gi, g in
            let series = runs.map { r in
                ChartSeries(name: ReportCharts.title(r), x: r.timeline.map { Double($0.step) },
                            y: r.timeline.map { $0.geometry?.varianceShare[g] ?? .nan })
            }
            let c = LineChart(title: "Within-\(g) variance share by run", xLabel: "training step",
                              yLabel: "within-\(g) variance share", series: series, xScale: xScale, yRange: 0...1.02)
            return RenderedChart(run: nil, file: "summary-geometry-\(gi).svg",
                                 caption: "Share of the test embeddings' variance left within each \(g) group over training, one line per run (0 = each \(g) collapsed to a point).",
                                 svg: c.svg())
        }
    }

    /// Width of a dot chart with one point per run, each labelled with its settings one per line:
    /// about 6.5 px per character of the longest setting, at least 120 px per run.
    static func dotChartWidth(_ runs: [RunReport]) -> Int {
        let longest = runs.flatMap { title($0).components(separatedBy: ", ") }.map(\.count).max() ?? 10
        return max(300, max(120, Int(6.5 * Double(longest)) + 16) * runs.count + 60)
    }

    /// Final probe accuracy per label set against the varying setting (preset-wide).
    static func summaryCharts<C>(_ document: ReportDocument<C>) -> [RenderedChart] {
        let runs = document.runs
        let keys = Array(Set(runs.flatMap { $0.settings.keys })).sorted()
        let varying = keys.filter { k in Set(runs.map { $0.settings[k]?.description ?? "" }).count > 1 }
        let labels = RunOutput.orderedUnion(runs.map(\.labels))
        // One chart per value of the other varying keys, x = the first numeric varying key.
        guard let xKey = varying.first(where: { k in runs.allSatisfy { Double($0.settings[k]?.description ?? "") != nil } }) else {
            // Runs that differ by category (a loss, a layer, an encoder): one point per run with
            // ±2 SE bars for each label set, no lines between unrelated runs.
            return labels.enumerated().compactMap { li, l in
                guard runs.contains(where: { $0.final.probes[l] != nil }) else { return nil }
                let chance = runs.lazy.compactMap { $0.final.chance?[l] }.first
                let c = DotChart(title: "Final \(l) probe by run", yLabel: "balanced accuracy",
                                 names: runs.map { ReportCharts.title($0) },
                                 values: runs.map { $0.final.probes[l] ?? .nan },
                                 standardErrors: runs.map { $0.timeline.last?.standardError?[l] ?? .nan },
                                 reference: chance.map { ($0, "chance") })
                return RenderedChart(run: nil, file: "summary-\(li).svg",
                                     caption: "Final \(l) probe accuracy of each run (bars: ±2 standard errors).",
                                     svg: c.svg(width: ReportCharts.dotChartWidth(runs), height: 300))
            }
        }
        let others = varying.filter { $0 != xKey }
        var groups: [String: [RunReport]] = [:]
        var order: [String] = []
        for r in runs {
            let g = others.map { "\($0)=\(r.settings[$0]?.description ?? "")" }.joined(separator: ", ")
            if groups[g] == nil { order.append(g) }
            groups[g, default: []].append(r)
        }
        return order.enumerated().map { gi, g in
            let rs = groups[g]!.sorted { Double($0.settings[xKey]!.description)! < Double($1.settings[xKey]!.description)! }
            let x = rs.map { Double($0.settings[xKey]!.description)! }
            let series = labels.filter { l in rs.contains { $0.final.probes[l] != nil } }.map { l in
                ChartSeries(name: l, x: x, y: rs.map { $0.final.probes[l] ?? .nan })
            }
            var c = LineChart(title: "Final probe accuracy vs \(xKey)\(g.isEmpty ? "" : " (\(g))")", xLabel: xKey,
                              yLabel: "balanced accuracy", series: series, yRange: 0...1.02)
            c.referenceLines = [(0.5, "chance")]
            return RenderedChart(run: nil, file: "summary-\(gi).svg",
                                 caption: "Final probe accuracy against \(xKey)\(g.isEmpty ? "" : " for \(g)").", svg: c.svg())
        }
    }
}
