import Foundation

/// Builds a self-contained, well-formed XHTML page (inline CSS and SVG, no network access),
/// so that reports open in any browser and parse as XML in tests.
public struct HTMLPage {
    /// Page title (`<title>` and `<h1>`).
    public var title: String
    private var body: [String] = []

    public init(title: String) { self.title = title }

    /// Appends a heading (level 1–4).
    public mutating func heading(_ text: String, level: Int = 2, id: String? = nil) {
        let l = min(max(level, 1), 4)
        let idAttr = id.map { " id=\"\(xmlEscape($0))\"" } ?? ""
        body.append("<h\(l)\(idAttr)>\(xmlEscape(text))</h\(l)>")
    }

    /// Appends a paragraph of plain text.
    public mutating func paragraph(_ text: String, cssClass: String? = nil) {
        let c = cssClass.map { " class=\"\(xmlEscape($0))\"" } ?? ""
        body.append("<p\(c)>\(xmlEscape(text))</p>")
    }

    /// Appends a link.
    public mutating func link(_ text: String, href: String) {
        body.append("<p><a href=\"\(xmlEscape(href))\">\(xmlEscape(text))</a></p>")
    }

    /// Appends a bulleted list of links (text, href).
    public mutating func linkList(_ items: [(text: String, href: String, note: String)]) {
        var s = "<ul>"
        for it in items {
            s += "<li><a href=\"\(xmlEscape(it.href))\">\(xmlEscape(it.text))</a>"
            if !it.note.isEmpty { s += " — \(xmlEscape(it.note))" }
            s += "</li>"
        }
        body.append(s + "</ul>")
    }

    /// Appends a table. `cellClasses`, when given, sets a CSS class per cell (e.g. verdict colours).
    public mutating func table(header: [String], rows: [[String]], cellClasses: [[String?]]? = nil, caption: String? = nil) {
        var s = "<table>"
        if let c = caption { s += "<caption>\(xmlEscape(c))</caption>" }
        s += "<thead><tr>" + header.map { "<th>\(xmlEscape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for (i, r) in rows.enumerated() {
            s += "<tr>"
            for (j, cell) in r.enumerated() {
                if let cls = cellClasses?[safe: i]?[safe: j] ?? nil {
                    s += "<td class=\"\(xmlEscape(cls))\">\(xmlEscape(cell))</td>"
                } else {
                    s += "<td>\(xmlEscape(cell))</td>"
                }
            }
            s += "</tr>"
        }
        body.append(s + "</tbody></table>")
    }

    /// Appends an inline SVG document (as produced by `LineChart.svg()`), inside a figure.
    public mutating func figure(svg: String, caption: String? = nil) {
        var s = "<figure>" + svg
        if let c = caption { s += "<figcaption>\(xmlEscape(c))</figcaption>" }
        body.append(s + "</figure>")
    }

    /// Opens/closes a flex row of figures.
    public mutating func beginRow() { body.append("<div class=\"row\">") }
    public mutating func endRow() { body.append("</div>") }

    /// Appends a preformatted block.
    public mutating func preformatted(_ text: String) {
        body.append("<pre>\(xmlEscape(text))</pre>")
    }

    /// The complete XHTML document.
    public func render() -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>\(xmlEscape(title))</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1320px; color: #222; line-height: 1.4; padding: 0 16px; }
        h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; } h3 { font-size: 16px; }
        table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
        caption { text-align: left; font-weight: bold; padding: 4px 0; }
        figure { display: inline-block; margin: 6px; vertical-align: top; }
        figcaption { font-size: 12px; color: #555; max-width: 640px; }
        .row { display: flex; flex-wrap: wrap; gap: 4px; }
        .learned { background: #d9f2e3; } .suppressed { background: #fbd9d3; } .collapsed { background: #fbd9d3; }
        .lost { background: #fde8c8; } .partial { background: #fff6cc; }
        .note { color: #555; font-size: 13px; } td.text { text-align: left; }
        pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
        </style>
        </head>
        <body>
        <h1>\(xmlEscape(title))</h1>
        \(body.joined(separator: "\n"))
        </body>
        </html>

        """
    }
}

extension Array {
    /// The element at `i`, or nil when out of range.
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
