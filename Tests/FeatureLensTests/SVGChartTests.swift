import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

@Suite("SVG charts")
struct SVGChartTests {
    func parse(_ s: String) throws -> XMLDocument { try XMLDocument(xmlString: s, options: []) }

    @Test func lineChartIsWellFormedAndLabelled() throws {
        var chart = LineChart(
            title: "Probe accuracy <subclass & class>", xLabel: "training step", yLabel: "balanced accuracy",
            series: [ChartSeries(name: "class", x: [0, 10, 100, 20000], y: [0.9, 1, 1, 1], error: [0.01, 0, 0, 0]),
                     ChartSeries(name: "subclass", x: [0, 10, 100, 20000], y: [0.95, 0.97, 1, 0.5], dashed: true)],
            xScale: .symlog, yRange: 0...1)
        chart.referenceLines = [(0.5, "chance")]
        let doc = try parse(chart.svg())
        let root = try #require(doc.rootElement())
        #expect(root.name == "svg")
        let texts = (try root.nodes(forXPath: "//*[local-name()='text']")).compactMap { $0.stringValue }
        #expect(texts.contains("training step"))
        #expect(texts.contains("balanced accuracy"))
        #expect(texts.contains("class") && texts.contains("subclass") && texts.contains("chance"))
        #expect(texts.contains("Probe accuracy <subclass & class>"))
        #expect(texts.contains("0") && texts.contains("10000"))  // symlog ticks include step 0
        let lines = try root.nodes(forXPath: "//*[local-name()='polyline']")
        #expect(lines.count == 2)
    }

    /// An axis of run indices has ticks at whole runs only (no "run 0.5").
    /// The dot chart of the encoder comparison: escaped names on the axis, one bar of ± 2 SE
    /// per finite value (with its two caps), the dashed reference line, colours as given, and a
    /// non-finite value left out.
    @Test func dotChartDrawsValuesBarsAndReference() throws {
        let chart = DotChart(title: "subclass <within> class", yLabel: "balanced accuracy", names: ["keep", "merge & co", "none"],
                             values: [0.9, 0.79, .nan], standardErrors: [0.011, 0.012, 0.01],
                             reference: (0.25, "chance"), colors: [nil, "#D55E00", nil])
        let svg = chart.svg()
        let root = try parse(svg).rootElement()!
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap { $0.stringValue }
        #expect(texts.contains("subclass <within> class") && texts.contains("merge & co") && texts.contains("chance"))
        #expect(texts.contains("bars: ± 2 SE"))
        #expect(try root.nodes(forXPath: "//*[local-name()='circle']").count == 2)
        // Two finite values × (bar + two caps), and the dashed reference.
        func count(_ s: String) -> Int { svg.components(separatedBy: s).count - 1 }
        #expect(count("stroke-dasharray=") == 1)
        #expect(count("stroke-width=\"2\"") == 6)
        #expect(svg.contains("fill=\"#D55E00\"") && svg.contains("fill=\"\(chartPalette[0])\""))
        let noErrors = DotChart(title: "t", yLabel: "y", names: ["a"], values: [0.5], standardErrors: [0]).svg()
        #expect(!noErrors.contains("bars:") && !noErrors.contains("stroke-width=\"2\""))
    }

    @Test func integerTicksForRunIndices() throws {
        var chart = LineChart(title: "t", xLabel: "run", yLabel: "y",
                              series: [ChartSeries(name: "a", x: [0, 1, 2, 3], y: [10, 20, 30, 40])])
        let fractional = (try parse(chart.svg()).rootElement()!.nodes(forXPath: "//*[local-name()='text']")).compactMap(\.stringValue)
        #expect(fractional.contains("0.5"), "without the option the nice ticks step by 0.5")
        chart.integerXTicks = true
        let texts = (try parse(chart.svg()).rootElement()!.nodes(forXPath: "//*[local-name()='text']")).compactMap(\.stringValue)
        #expect(!texts.contains("0.5") && !texts.contains("1.5") && !texts.contains("2.5"))
        #expect(texts.contains("1") && texts.contains("2") && texts.contains("3"))
    }

    /// Legend entries sit in up to three columns; long names (one per run of a sweep) get
    /// fewer columns, so no entry's text runs into the next one's.
    @Test func longLegendNamesDoNotOverlap() throws {
        func legendRows(_ names: [String]) throws -> [Double: [(x: Double, name: String)]] {
            let chart = LineChart(title: "t", xLabel: "x", yLabel: "y",
                                  series: names.map { ChartSeries(name: $0, x: [0, 1], y: [0, 1]) })
            let svg = chart.svg()
            _ = try parse(svg)  // well-formed
            // Legend entries: <text x="…" y="…">name</text>.
            let pattern = try NSRegularExpression(pattern: #"<text x="([0-9.]+)" y="([0-9.]+)">([^<]*)</text>"#)
            var rows: [Double: [(x: Double, name: String)]] = [:]
            for m in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
                let field = { (i: Int) in String(svg[Range(m.range(at: i), in: svg)!]) }
                guard names.contains(field(3)), let x = Double(field(1)), let y = Double(field(2)) else { continue }
                rows[y, default: []].append((x, field(3)))
            }
            return rows
        }
        let short = try legendRows(["class", "coarse", "bit0", "bit1"])
        #expect(short.count == 2 && short.values.map(\.count).max() == 3)
        let long = (0..<4).map { "augmentation=crop+flip+noise, layer=head, loss=joint, seed=\($0)" }
        let rows = try legendRows(long)
        #expect(rows.values.flatMap { $0 }.count == 4)
        for row in rows.values {
            let sorted = row.sorted { $0.x < $1.x }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                #expect(a.x + 6.5 * Double(a.name.count) <= b.x, "\(a.name) runs into \(b.name)")
            }
        }
    }

    @Test func scatterHandlesDegenerateData() throws {
        let s = ScatterChart(title: "PCA", xLabel: "PC1", yLabel: "PC2", x: [0, 0, 0], y: [1, 1, 1],
                             category: [0, 1, 1], categoryNames: ["a", "b"])
        let doc = try parse(s.svg())
        let circles = try doc.rootElement()!.nodes(forXPath: "//*[local-name()='circle']")
        #expect(circles.count == 3 + 2)
    }

    @Test func niceTicksCoverRange() {
        let t = niceTicks(lo: 0.43, hi: 1.02)
        #expect(t.first! >= 0.43 && t.last! <= 1.02 && t.count >= 3)
        #expect(formatNumber(0.5) == "0.5" && formatNumber(20000) == "20000" && formatNumber(1e-5).contains("e"))
    }
}

@Suite("HTML pages")
struct HTMLPageTests {
    @Test func pageIsWellFormedXHTML() throws {
        var page = HTMLPage(title: "Report & <friends>")
        page.heading("Probes")
        page.table(header: ["label", "final"], rows: [["class", "1.00"], ["sub<class>", "0.50"]],
                   cellClasses: [[nil, "learned"], [nil, "collapsed"]])
        page.figure(svg: LineChart(title: "t", xLabel: "x", yLabel: "y",
                                   series: [ChartSeries(name: "a", x: [0, 1], y: [0, 1])]).svg(),
                    caption: "a chart")
        page.paragraph("verdict: \"collapsed\"")
        let doc = try XMLDocument(xmlString: page.render(), options: [])
        let root = try #require(doc.rootElement())
        #expect(root.name == "html")
        let cells = try root.nodes(forXPath: "//*[local-name()='td']").compactMap { $0.stringValue }
        #expect(cells.contains("sub<class>"))
        #expect(try root.nodes(forXPath: "//*[local-name()='svg']").count == 1)
    }
}
