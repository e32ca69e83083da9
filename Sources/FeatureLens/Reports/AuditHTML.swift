import Foundation

/// A simple, self-contained `report.html` for `featurelens audit`: well-formed XHTML, inline
/// CSS, no scripts and no network. (The full training report with charts is written
/// elsewhere; this page only shows the feature table, the verdicts and the metrics.)
public enum AuditHTML {
    /// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// The page for one run report (`title` goes into `<title>` and `<h1>`).
    public static func render(_ run: RunReport, title: String = "FeatureLens audit", provenance: Provenance? = nil) -> String {
        render([run], title: title, provenance: provenance)
    }

    /// The page for several runs (one section each, e.g. one per probe).
    public static func render(_ runs: [RunReport], title: String = "FeatureLens audit", provenance: Provenance? = nil) -> String {
        var h = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head>
        <meta charset="UTF-8"/>
        <title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; }
        th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        .learned { background: #d8f0d8; } .suppressed, .collapsed { background: #f6d5d5; }
        .learned-then-lost { background: #f8e6c8; } .partial, .not-learned { background: #eee; }
        </style>
        </head>
        <body>
        <h1>\(escape(title))</h1>

        """
        for run in runs { h += section(run) }
        if let p = provenance {
            h += "<p>\(escape(p.tool)) \(escape(p.version))\(p.gitCommit.map { " (" + escape($0) + ")" } ?? ""), \(escape(p.date)), \(p.threads) threads, \(escape(p.cpu)).</p>\n"
        }
        h += "</body>\n</html>\n"
        return h
    }

    /// One run's feature table, metrics and thresholds as an XHTML fragment.
    static func section(_ run: RunReport) -> String {
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        let steps = run.timeline.map(\.step)
        var h = ""
        let measure = run.measure == .balanced ? "balanced accuracy (chance = 1/#classes)" : "plain accuracy (chance = majority-class rate)"
        h += "<h2>\(escape(run.probe.rawValue)) probe</h2>\n"
        h += "<p>Probe: <b>\(escape(run.probe.rawValue))</b>, \(escape(measure)).\(steps.first == 0 && steps.count > 1 ? " Step 0 is the baseline." : "")</p>\n"
        h += "<table>\n<thead><tr><th>label</th><th>within</th><th>chance</th>"
        for s in steps { h += "<th>step \(s)</th>" }
        h += "<th>peak (step)</th><th>final</th><th>verdict</th></tr></thead>\n<tbody>\n"
        for feat in run.features {
            let cls = feat.verdict.rawValue.replacingOccurrences(of: " ", with: "-")
            h += "<tr class=\"\(escape(cls))\"><td>\(escape(feat.label))</td><td>\(escape(feat.within ?? ""))</td><td>\(f(feat.chance))</td>"
            for a in feat.accuracies { h += "<td>\(f(a))</td>" }
            h += "<td>\(f(feat.peak)) (\(feat.peakStep))</td><td>\(f(feat.final))</td><td>\(escape(feat.verdict.rawValue))</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if let m = run.final.metrics {
            h += "<h3>Representation metrics (test embeddings, last audit)</h3>\n<table>\n<tbody>\n"
            h += "<tr><td>RankMe (ε = 1e-7)</td><td>\(f(m.rankme))</td></tr>\n"
            h += "<tr><td>effective rank</td><td>\(f(m.effectiveRank))</td></tr>\n"
            h += "<tr><td>uniformity (t = 2)</td><td>\(f(m.uniformity))</td></tr>\n"
            h += "<tr><td>collapse std</td><td>\(String(format: "%.4f", m.collapseStd))</td></tr>\n"
            if let a = m.alignment { h += "<tr><td>alignment (α = 2)</td><td>\(f(a))</td></tr>\n" }
            h += "</tbody>\n</table>\n"
        }
        let t = run.thresholds
        h += "<p>Verdict thresholds on retention (accuracy − chance)/(1 − chance): learned ≥ \(t.learned), chance ≤ \(t.chance), baseline read ≥ \(t.baselineRead), lost ≤ \(t.lostFraction) × peak.</p>\n"
        return h
    }
}
