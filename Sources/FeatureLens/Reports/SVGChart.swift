import Foundation

/// Escapes text for XML character data and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for ch in s.unicodeScalars {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            // Drop control characters that XML 1.0 forbids.
            if ch.value < 0x20 && ch != "\n" && ch != "\t" && ch != "\r" { continue }
            out.unicodeScalars.append(ch)
        }
    }
    return out
}

/// Formats a number compactly for axis ticks and tables (no trailing zeros, no "-0").
public func formatNumber(_ x: Double, significant: Int = 3) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "∞" : "−∞" }
    if x == 0 { return "0" }
    let a = abs(x)
    if a >= 1e5 || a < 1e-3 {
        return String(format: "%.\(max(0, significant - 1))e", x)
    }
    if a == a.rounded() && a < 1e5 { return String(Int(x)) }
    var s = String(format: "%.\(significant)g", x)
    if s.contains(".") && !s.contains("e") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

/// A qualitative palette (Okabe–Ito, colour-blind safe), cycled by series index.
public let chartPalette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#999999"]

/// One line in a `LineChart`: points (x, y), an optional ± error per point (drawn as a band),
/// a colour and a dash style.
public struct ChartSeries: Sendable {
    /// Legend text.
    public var name: String
    /// Horizontal coordinates (data units, e.g. training steps).
    public var x: [Double]
    /// Vertical coordinates, one per `x` (non-finite points are skipped).
    public var y: [Double]
    /// Optional symmetric error (e.g. a binomial standard error) per point.
    public var error: [Double]?
    /// CSS colour; nil picks from `chartPalette` by series index.
    public var color: String?
    /// Draw the line dashed.
    public var dashed: Bool
    public init(name: String, x: [Double], y: [Double], error: [Double]? = nil, color: String? = nil, dashed: Bool = false) {
        precondition(x.count == y.count, "series \(name): \(x.count) x values, \(y.count) y values")
        self.name = name; self.x = x; self.y = y; self.error = error; self.color = color; self.dashed = dashed
    }
}

/// Horizontal axis scale. `.symlog` maps x ↦ log10(1 + x), so training step 0 sits at the
/// left edge and 10 … 20 000 spread evenly.
public enum AxisScale: Sendable { case linear, symlog, log }

/// A line chart rendered as a standalone SVG document: labelled axes with ticks, a legend,
/// optional error bands, optional horizontal reference lines (e.g. chance level).
public struct LineChart: Sendable {
    /// Title above the plot.
    public var title: String
    /// Horizontal axis label.
    public var xLabel: String
    /// Vertical axis label.
    public var yLabel: String
    /// The lines, drawn in order (legend below the plot).
    public var series: [ChartSeries]
    /// Horizontal scale (`.symlog` for training steps starting at 0).
    public var xScale: AxisScale = .linear
    /// Vertical scale.
    public var yScale: AxisScale = .linear
    /// Fixed y range; nil picks one from the data.
    public var yRange: ClosedRange<Double>?
    /// Horizontal reference lines (value, label), drawn dotted.
    public var referenceLines: [(y: Double, label: String)] = []
    /// Vertical marker (x, label), e.g. the step-0 baseline.
    public var verticalMarkers: [(x: Double, label: String)] = []
    /// Horizontal ticks only at whole numbers (an axis of run indices or counts).
    public var integerXTicks = false

    public init(title: String, xLabel: String, yLabel: String, series: [ChartSeries],
                xScale: AxisScale = .linear, yScale: AxisScale = .linear, yRange: ClosedRange<Double>? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.xScale = xScale; self.yScale = yScale; self.yRange = yRange
    }

    private func tx(_ x: Double, _ scale: AxisScale) -> Double {
        switch scale {
        case .linear: return x
        case .symlog: return log10(1 + max(0, x))
        case .log: return log10(max(x, 1e-300))
        }
    }

    /// The SVG document (`width` × `height` pixels).
    public func svg(width: Int = 640, height: Int = 400) -> String {
        let left = 64.0, right = 16.0, top = 34.0
        // Legend columns: three when the names fit (about 6.5 px a character), fewer for long
        // names (e.g. one line per run of a sweep), so entries never overlap.
        let longest = Double(series.map(\.name.count).max() ?? 0)
        let legendColumns = max(1, min(3, Int((Double(width) - left - right) / (38 + 6.5 * longest))))
        let legendRows = Double((series.count + legendColumns - 1) / legendColumns)
        let bottom = 52.0 + 18.0 * legendRows
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            for i in s.x.indices where s.y[i].isFinite && s.x[i].isFinite {
                xs.append(tx(s.x[i], xScale))
                let e = s.error?[i] ?? 0
                ys.append(s.y[i] - e); ys.append(s.y[i] + e)
            }
        }
        for r in referenceLines { ys.append(r.y) }
        var x0 = xs.min() ?? 0, x1 = xs.max() ?? 1
        if x1 <= x0 { x1 = x0 + 1 }
        var (y0, y1): (Double, Double)
        if let r = yRange { (y0, y1) = (r.lowerBound, r.upperBound) } else {
            let ty = ys.map { tx($0, yScale) }.filter { $0.isFinite }
            y0 = ty.min() ?? 0; y1 = ty.max() ?? 1
            if y1 <= y0 { y0 -= 0.5; y1 += 0.5 }
            let pad = 0.05 * (y1 - y0); y0 -= pad; y1 += pad
        }
        if yRange != nil && yScale != .linear { y0 = tx(y0, yScale); y1 = tx(y1, yScale) }
        let xpad = 0.02 * (x1 - x0); x0 -= xpad; x1 += xpad
        func px(_ x: Double) -> Double { left + (tx(x, xScale) - x0) / (x1 - x0) * w }
        func py(_ y: Double) -> Double { top + (1 - (tx(y, yScale) - y0) / (y1 - y0)) * h }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="#ffffff"/>
        <text x="\(f(Double(width) / 2))" y="20" text-anchor="middle" font-size="14" font-weight="bold">\(xmlEscape(title))</text>

        """
        // Grid and ticks.
        let xticks = ticks(lo: x0, hi: x1, scale: xScale).filter { !integerXTicks || $0.0 == $0.0.rounded() }
        let yticks = ticks(lo: y0, hi: y1, scale: yScale)
        for (t, label) in yticks {
            let y = py(t)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + w))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(xmlEscape(label))</text>\n"
        }
        for (t, label) in xticks {
            let x = px(t)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + h))\" stroke=\"#efefef\"/>\n"
            out += "<text x=\"\(f(x))\" y=\"\(f(top + h + 16))\" text-anchor=\"middle\">\(xmlEscape(label))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#333333\"/>\n"
        out += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + h + 34))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
        out += "<text transform=\"translate(16,\(f(top + h / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        for r in referenceLines where r.y.isFinite {
            let y = py(r.y)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + w))\" y2=\"\(f(y))\" stroke=\"#777777\" stroke-dasharray=\"2,3\"/>\n"
            out += "<text x=\"\(f(left + w - 4))\" y=\"\(f(y - 4))\" text-anchor=\"end\" fill=\"#555555\" font-size=\"10\">\(xmlEscape(r.label))</text>\n"
        }
        for m in verticalMarkers {
            let x = px(m.x)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + h))\" stroke=\"#999999\" stroke-dasharray=\"4,3\"/>\n"
            out += "<text x=\"\(f(x + 3))\" y=\"\(f(top + 12))\" fill=\"#555555\" font-size=\"10\">\(xmlEscape(m.label))</text>\n"
        }
        // Series: error band, line, markers.
        for (k, s) in series.enumerated() {
            let color = s.color ?? chartPalette[k % chartPalette.count]
            let idx = s.x.indices.filter { s.x[$0].isFinite && s.y[$0].isFinite }
            if let e = s.error, idx.count > 1 {
                var d = ""
                for (j, i) in idx.enumerated() { d += (j == 0 ? "M" : "L") + "\(f(px(s.x[i]))),\(f(py(min(y1Clamp(s.y[i] + e[i]), s.y[i] + e[i]))))" }
                for i in idx.reversed() { d += "L\(f(px(s.x[i]))),\(f(py(s.y[i] - e[i])))" }
                d += "Z"
                out += "<path d=\"\(d)\" fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
            }
            if !idx.isEmpty {
                let pts = idx.map { "\(f(px(s.x[$0]))),\(f(py(s.y[$0])))" }.joined(separator: " ")
                out += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6,4\"" : "")/>\n"
                for i in idx {
                    out += "<circle cx=\"\(f(px(s.x[i])))\" cy=\"\(f(py(s.y[i])))\" r=\"2.5\" fill=\"\(color)\"><title>\(xmlEscape(s.name)): x=\(formatNumber(s.x[i])), y=\(formatNumber(s.y[i], significant: 4))</title></circle>\n"
                }
            }
        }
        // Legend below the plot.
        let colW = w / Double(legendColumns)
        for (k, s) in series.enumerated() {
            let color = s.color ?? chartPalette[k % chartPalette.count]
            let lx = left + Double(k % legendColumns) * colW
            let ly = top + h + 48 + Double(k / legendColumns) * 18
            out += "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 20))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6,4\"" : "")/>\n"
            out += "<text x=\"\(f(lx + 26))\" y=\"\(f(ly))\">\(xmlEscape(s.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    private func y1Clamp(_ v: Double) -> Double { v }

    /// Tick positions (in data units before scaling) and labels.
    private func ticks(lo: Double, hi: Double, scale: AxisScale) -> [(Double, String)] {
        switch scale {
        case .linear:
            return niceTicks(lo: lo, hi: hi).map { ($0, formatNumber($0)) }
        case .symlog, .log:
            // lo/hi are already log10-transformed.
            var out: [(Double, String)] = []
            if scale == .symlog && lo <= 0 { out.append((0, "0")) }
            let e0 = Int(floor(lo)), e1 = Int(ceil(hi))
            for e in max(e0, scale == .symlog ? 1 : e0)...max(e1, e0) {
                let v = pow(10.0, Double(e))
                let t = scale == .symlog ? log10(1 + v) : Double(e)
                if t >= lo - 1e-9 && t <= hi + 1e-9 { out.append((v, e < -3 || e > 4 ? "1e\(e)" : formatNumber(v))) }
            }
            return out
        }
    }
}

/// "Nice" linear tick values covering [lo, hi] (about 5 ticks, steps of 1, 2 or 5 × 10^k).
public func niceTicks(lo: Double, hi: Double, count: Int = 5) -> [Double] {
    guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
    let raw = (hi - lo) / Double(count)
    let mag = pow(10, floor(log10(raw)))
    let norm = raw / mag
    let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag
    var t = ceil(lo / step) * step
    var out: [Double] = []
    while t <= hi + step * 1e-9 {
        out.append(abs(t) < step * 1e-9 ? 0 : t)
        t += step
    }
    return out
}

/// A 2-D scatter plot of categorized points (e.g. a PCA projection of test embeddings
/// coloured by class or subclass) as a standalone SVG document.
public struct ScatterChart: Sendable {
    /// Title above the plot.
    public var title: String
    /// Horizontal axis label.
    public var xLabel: String
    /// Vertical axis label.
    public var yLabel: String
    /// Horizontal coordinate of each point.
    public var x: [Double]
    /// Vertical coordinate of each point.
    public var y: [Double]
    /// Category index per point (into `categoryNames`).
    public var category: [Int]
    /// Legend name of each category (colour).
    public var categoryNames: [String]

    public init(title: String, xLabel: String, yLabel: String, x: [Double], y: [Double], category: [Int], categoryNames: [String]) {
        precondition(x.count == y.count && y.count == category.count, "scatter: coordinate counts differ")
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.x = x; self.y = y; self.category = category; self.categoryNames = categoryNames
    }

    /// The SVG document.
    public func svg(width: Int = 360, height: Int = 340) -> String {
        let left = 48.0, right = 10.0, top = 30.0
        let legendRows = Double((categoryNames.count + 1) / 2)
        let bottom = 40.0 + 16.0 * legendRows
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let fx = x.filter { $0.isFinite }, fy = y.filter { $0.isFinite }
        var x0 = fx.min() ?? -1, x1 = fx.max() ?? 1, y0 = fy.min() ?? -1, y1 = fy.max() ?? 1
        if x1 - x0 < 1e-12 { x0 -= 1; x1 += 1 }
        if y1 - y0 < 1e-12 { y0 -= 1; y1 += 1 }
        let padx = 0.05 * (x1 - x0), pady = 0.05 * (y1 - y0)
        x0 -= padx; x1 += padx; y0 -= pady; y1 += pady
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * w }
        func py(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * h }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = smallChartOpening(width: width, height: height, title: title, plot: (left, top, w, h))
        for t in niceTicks(lo: x0, hi: x1, count: 4) {
            out += "<text x=\"\(f(px(t)))\" y=\"\(f(top + h + 14))\" text-anchor=\"middle\">\(formatNumber(t, significant: 2))</text>\n"
        }
        for t in niceTicks(lo: y0, hi: y1, count: 4) {
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(formatNumber(t, significant: 2))</text>\n"
        }
        out += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + h + 28))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
        out += "<text transform=\"translate(12,\(f(top + h / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        for i in x.indices where x[i].isFinite && y[i].isFinite {
            let c = chartPalette[category[i] % chartPalette.count]
            out += "<circle cx=\"\(f(px(x[i])))\" cy=\"\(f(py(y[i])))\" r=\"2\" fill=\"\(c)\" fill-opacity=\"0.6\"/>\n"
        }
        for (k, name) in categoryNames.enumerated() {
            let lx = left + Double(k % 2) * (w / 2)
            let ly = top + h + 44 + Double(k / 2) * 16
            out += "<circle cx=\"\(f(lx + 5))\" cy=\"\(f(ly - 4))\" r=\"4\" fill=\"\(chartPalette[k % chartPalette.count])\"/>\n"
            out += "<text x=\"\(f(lx + 14))\" y=\"\(f(ly))\">\(xmlEscape(name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }
}

/// The opening of the small charts (`ScatterChart`, `DotChart`): the `<svg>` element (11 px
/// text), a white background, the title centred on top and the frame of the plot area
/// (`plot`: left, top, width, height in pixels). The caller appends the contents and `</svg>`.
private func smallChartOpening(width: Int, height: Int, title: String,
                               plot: (left: Double, top: Double, width: Double, height: Double)) -> String {
    func f(_ v: Double) -> String { String(format: "%.1f", v) }
    return """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="Helvetica, Arial, sans-serif" font-size="11">
    <rect x="0" y="0" width="\(width)" height="\(height)" fill="#ffffff"/>
    <text x="\(f(Double(width) / 2))" y="18" text-anchor="middle" font-size="13" font-weight="bold">\(xmlEscape(title))</text>
    <rect x="\(f(plot.left))" y="\(f(plot.top))" width="\(f(plot.width))" height="\(f(plot.height))" fill="none" stroke="#333333"/>

    """
}

/// Values of a few named categories (e.g. one probe accuracy per encoder) as points with
/// ± `errorMultiplier`·SE bars on a shared vertical axis, and an optional dashed reference line
/// (e.g. chance).
public struct DotChart: Sendable {
    /// Title above the plot.
    public var title: String
    /// Vertical axis label.
    public var yLabel: String
    /// Category names, left to right.
    public var names: [String]
    /// One value per category (non-finite values are skipped).
    public var values: [Double]
    /// One standard error per category.
    public var standardErrors: [Double]
    /// Bars span value ± `errorMultiplier`·SE.
    public var errorMultiplier: Double
    /// Dashed horizontal line and its label.
    public var reference: (value: Double, label: String)?
    /// Fill colour per category (nil: the first palette colour).
    public var colors: [String?]

    public init(title: String, yLabel: String, names: [String], values: [Double], standardErrors: [Double],
                errorMultiplier: Double = 2, reference: (value: Double, label: String)? = nil, colors: [String?]? = nil) {
        precondition(names.count == values.count && values.count == standardErrors.count, "dot chart: counts differ")
        self.title = title; self.yLabel = yLabel; self.names = names; self.values = values
        self.standardErrors = standardErrors; self.errorMultiplier = errorMultiplier; self.reference = reference
        self.colors = colors ?? Array(repeating: nil, count: names.count)
    }

    /// The SVG document.
    public func svg(width: Int = 360, height: Int = 260) -> String {
        // A name "a=1, b=2" (a run's settings) is written one setting per line under its point.
        let nameLines = names.map { $0.components(separatedBy: ", ") }
        let lineCount = Double(nameLines.map(\.count).max() ?? 1)
        let left = 48.0, right = 10.0, top = 30.0, bottom = 31.0 + 13.0 * lineCount
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        var lows: [Double] = [], highs: [Double] = []
        for i in values.indices where values[i].isFinite {
            let e = standardErrors[i].isFinite ? errorMultiplier * standardErrors[i] : 0
            lows.append(values[i] - e); highs.append(values[i] + e)
        }
        if let r = reference, r.value.isFinite { lows.append(r.value); highs.append(r.value) }
        var y0 = lows.min() ?? 0, y1 = highs.max() ?? 1
        if y1 - y0 < 1e-3 { y0 -= 0.05; y1 += 0.05 }
        let pad = 0.08 * (y1 - y0)
        y0 -= pad; y1 += pad
        func py(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * h }
        func px(_ i: Int) -> Double { left + (Double(i) + 0.5) * w / Double(max(1, names.count)) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = smallChartOpening(width: width, height: height, title: title, plot: (left, top, w, h))
        for t in niceTicks(lo: y0, hi: y1, count: 4) {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(left + w))\" y2=\"\(f(py(t)))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(formatNumber(t, significant: 3))</text>\n"
        }
        out += "<text transform=\"translate(12,\(f(top + h / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        if let r = reference, r.value.isFinite {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(r.value)))\" x2=\"\(f(left + w))\" y2=\"\(f(py(r.value)))\" stroke=\"#777777\" stroke-dasharray=\"4,3\"/>\n"
            out += "<text x=\"\(f(left + w - 4))\" y=\"\(f(py(r.value) - 4))\" text-anchor=\"end\" fill=\"#555555\">\(xmlEscape(r.label))</text>\n"
        }
        for i in names.indices {
            for (k, line) in nameLines[i].enumerated() {
                out += "<text x=\"\(f(px(i)))\" y=\"\(f(top + h + 16 + 13 * Double(k)))\" text-anchor=\"middle\">\(xmlEscape(line))</text>\n"
            }
            guard values[i].isFinite else { continue }
            let c = colors[i] ?? chartPalette[0]
            if standardErrors[i].isFinite && standardErrors[i] > 0 {
                let e = errorMultiplier * standardErrors[i]
                out += "<line x1=\"\(f(px(i)))\" y1=\"\(f(py(values[i] - e)))\" x2=\"\(f(px(i)))\" y2=\"\(f(py(values[i] + e)))\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
                for v in [values[i] - e, values[i] + e] {
                    out += "<line x1=\"\(f(px(i) - 6))\" y1=\"\(f(py(v)))\" x2=\"\(f(px(i) + 6))\" y2=\"\(f(py(v)))\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
                }
            }
            out += "<circle cx=\"\(f(px(i)))\" cy=\"\(f(py(values[i])))\" r=\"4.5\" fill=\"\(c)\"/>\n"
            out += "<text x=\"\(f(px(i) + 9))\" y=\"\(f(py(values[i]) + 4))\">\(formatNumber(values[i], significant: 3))</text>\n"
        }
        if standardErrors.contains(where: { $0.isFinite && $0 > 0 }) {
            let note = String(format: "bars: ± %g SE", errorMultiplier)
            out += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + h + 21 + 13 * lineCount))\" text-anchor=\"middle\" fill=\"#555555\">\(xmlEscape(note))</text>\n"
        }
        out += "</svg>\n"
        return out
    }
}
