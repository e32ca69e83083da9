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
    /// when the audit did not record one), each feature weight, and the representation metrics.
    public static func metricsCSV<C>(_ document: ReportDocument<C>) -> String {
        let settingKeys = Array(Set(document.runs.flatMap { $0.settings.keys })).sorted()
        let labels = orderedUnion(document.runs.map(\.labels))
        let weights = Array(Set(document.runs.flatMap { $0.timeline.flatMap { ($0.featureWeights ?? [:]).keys } })).sorted()
        var header = settingKeys + ["step", "loss"] + labels.map { "probe_\($0)" } + labels.map { "se_\($0)" } + weights.map { "weight_\($0)" }
        header += ["rankme", "effective_rank", "uniformity", "collapse_std"]
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
                lines.append(row.map(csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func orderedUnion(_ lists: [[String]]) -> [String] {
        var out: [String] = []
        for l in lists { for x in l where !out.contains(x) { out.append(x) } }
        return out
    }
}

/// A number for CSV: shortest round-trip text (deterministic).
func csvNumber(_ x: Double) -> String {
    x.isFinite ? "\(x)" : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
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
        if document.runs.count > 1 { out += summaryCharts(document) }
        for (i, run) in document.runs.enumerated() {
            let slug = slug(run, index: i)
            let t = title(run)
            let testCount = testCounts.flatMap { i < $0.count ? $0[i] : nil }
            let steps = run.timeline.map { Double($0.step) }
            let positive = steps.allSatisfy { $0 >= 0 }
            let xScale: AxisScale = positive && (steps.max() ?? 0) > 50 ? .symlog : .linear
            // Probe accuracy curves with binomial standard errors.
            let series = run.labels.map { label -> ChartSeries in
                let y = run.timeline.map { $0.probes[label] ?? .nan }
                let err = testCount.map { n in y.map { a in a.isFinite ? (max(0, a * (1 - a)) / Double(max(1, n))).squareRoot() : 0 } }
                return ChartSeries(name: run.within[label].map { "\(label) (within \($0))" } ?? label, x: steps, y: y, error: err)
            }
            var probe = LineChart(title: "Probe accuracy — \(t)", xLabel: "training step (step 0 = untrained baseline)",
                                  yLabel: run.measure == .balanced ? "balanced accuracy" : "accuracy",
                                  series: series, xScale: xScale, yRange: 0...1.02)
            if let ch = run.final.chance?.values.first { probe.referenceLines = [(ch, "chance")] }
            probe.verticalMarkers = steps.first == 0 ? [(0, "baseline")] : []
            out.append(RenderedChart(run: i, file: "\(slug)-probes.svg",
                                     caption: "Probe accuracy per label set over training (\(t)); bands: ±1 binomial standard error\(testCount.map { " over \($0) test points" } ?? "").",
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
                for colour in ["class", "subclass", "coarse"] where pca.labels[colour] != nil {
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

    /// Final probe accuracy per label set against the varying setting (preset-wide).
    static func summaryCharts<C>(_ document: ReportDocument<C>) -> [RenderedChart] {
        let runs = document.runs
        let keys = Array(Set(runs.flatMap { $0.settings.keys })).sorted()
        let varying = keys.filter { k in Set(runs.map { $0.settings[k]?.description ?? "" }).count > 1 }
        let labels = RunOutput.orderedUnion(runs.map(\.labels))
        // One chart per value of the other varying keys, x = the first numeric varying key.
        guard let xKey = varying.first(where: { k in runs.allSatisfy { Double($0.settings[k]?.description ?? "") != nil } }) else {
            let x = runs.indices.map(Double.init)
            let series = labels.map { l in ChartSeries(name: l, x: x, y: runs.map { $0.final.probes[l] ?? .nan }) }
            let c = LineChart(title: "Final probe accuracy by run", xLabel: "run (see the table for its settings)",
                              yLabel: "balanced accuracy", series: series, yRange: 0...1.02)
            return [RenderedChart(run: nil, file: "summary.svg", caption: "Final probe accuracy of each run.", svg: c.svg())]
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
