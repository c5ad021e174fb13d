// HTML.swift: self-contained HTML pages with inline SVG charts: no scripts, no network, one file.
// Every plotted datum is an SVG element with class "mark", so tests can count them.

import Foundation
import Formats

/// Errors raised while building or writing a report.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// The run asked for does not exist, or has nothing to show.
    case noSuchRun(store: String, reason: String)
    /// The report file cannot be written.
    case unwritableOutput(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSuchRun(let store, let reason): "\(store): \(reason)"
        case .unwritableOutput(let path, let reason): "\(path): cannot write the report: \(reason)"
        }
    }
}

/// HTML text helpers.
public enum HTML {
    /// Escapes text for element content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A number with `digits` decimals, or an en dash for nil.
    public static func number(_ value: Double?, _ digits: Int = 2) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    /// A percentage with one decimal, or an en dash for nil.
    public static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.1f%%", value * 100)
    }

    /// A table: header cells and rows of cell HTML (already escaped).
    public static func table(_ header: [String], _ rows: [[String]], numericFrom: Int = 1) -> String {
        var out = "<table><thead><tr>"
        for (i, h) in header.enumerated() { out += "<th\(i >= numericFrom ? " class=\"n\"" : "")>\(escape(h))</th>" }
        out += "</tr></thead><tbody>"
        for row in rows {
            out += "<tr>"
            for (i, cell) in row.enumerated() { out += "<td\(i >= numericFrom ? " class=\"n\"" : "")>\(cell)</td>" }
            out += "</tr>"
        }
        return out + "</tbody></table>"
    }

    /// A whole page: title, a short line under it, and sections (heading, HTML body).
    public static func page(title: String, subtitle: String, sections: [(String, String)]) -> String {
        var body = "<h1>\(escape(title))</h1><p class=\"sub\">\(escape(subtitle))</p>"
        for (heading, html) in sections { body += "<section><h2>\(escape(heading))</h2>\(html)</section>" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>\(style)</style></head>
            <body>\(body)<footer>Written by longreward. One self-contained file: no scripts, no network.</footer></body></html>
            """
    }

    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#fff;margin:24px auto;max-width:1000px;padding:0 16px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
        .sub{color:#5b6474;margin:0 0 12px}footer{color:#8a93a3;font-size:12px;margin:32px 0 8px}
        table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #eceff4;text-align:left;vertical-align:top}
        th{background:#f5f7fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
        details{margin:0}summary{cursor:pointer}.muted{color:#7a8394}.bad{color:#b42318}.good{color:#067647}
        .figs{display:flex;flex-wrap:wrap;gap:16px}.fig{flex:1 1 440px}.fig p{margin:2px 0 6px;color:#5b6474;font-size:12px}
        svg text{font:11px system-ui,sans-serif;fill:#3b4352}ul.statements{margin:4px 0 8px;padding-left:18px}
        """
}

/// One bar of a horizontal bar chart.
public struct Bar: Sendable {
    /// Row label.
    public var label: String
    /// Bar length (nil: drawn as "n/a").
    public var value: Double?
    /// Interval whiskers.
    public var low: Double?, high: Double?
    /// Text after the bar (defaults to the value).
    public var note: String?

    /// Creates a bar.
    public init(label: String, value: Double?, low: Double? = nil, high: Double? = nil, note: String? = nil) {
        (self.label, self.value, self.low, self.high, self.note) = (label, value, low, high, note)
    }
}

/// Inline SVG charts.
public enum Chart {
    static let palette = ["#3866d6", "#e0752d", "#2f9e6b", "#a347c4", "#c9a227", "#d14a61"]

    /// Horizontal bars over `domain` with optional interval whiskers and a reference line
    /// (e.g. chance at 0.5). One `rect.mark` per bar with a value.
    public static func bars(_ bars: [Bar], domain: ClosedRange<Double> = 0...1, reference: Double? = nil, percent: Bool = true) -> String {
        let labelWidth = 190.0, plotWidth = 360.0, noteWidth = 150.0, row = 26.0, top = 8.0, axis = 22.0
        let width = labelWidth + plotWidth + noteWidth
        let height = top + row * Double(bars.count) + axis
        func x(_ v: Double) -> Double {
            labelWidth + plotWidth * (min(max(v, domain.lowerBound), domain.upperBound) - domain.lowerBound) / (domain.upperBound - domain.lowerBound)
        }
        func fmt(_ v: Double) -> String { percent ? HTML.percent(v) : HTML.number(v, 2) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        for t in 0...4 {
            let v = domain.lowerBound + (domain.upperBound - domain.lowerBound) * Double(t) / 4
            let px = x(v)
            svg += "<line x1=\"\(px)\" y1=\"\(top)\" x2=\"\(px)\" y2=\"\(height - axis)\" stroke=\"#eceff4\"/>"
            svg += "<text x=\"\(px)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(fmt(v))</text>"
        }
        for (i, bar) in bars.enumerated() {
            let y = top + row * Double(i)
            svg += "<text x=\"\(labelWidth - 8)\" y=\"\(y + row / 2 + 4)\" text-anchor=\"end\">\(HTML.escape(bar.label))</text>"
            guard let value = bar.value, value.isFinite else {
                svg += "<text x=\"\(labelWidth + 4)\" y=\"\(y + row / 2 + 4)\" class=\"muted\">n/a</text>"
                continue
            }
            let color = palette[i % palette.count]
            svg += "<rect class=\"mark\" x=\"\(labelWidth)\" y=\"\(y + 5)\" width=\"\(max(1, x(value) - labelWidth))\" height=\"\(row - 10)\" fill=\"\(color)\" fill-opacity=\"0.85\"><title>\(HTML.escape(bar.label)): \(fmt(value))</title></rect>"
            if let low = bar.low, let high = bar.high {
                let cy = y + row / 2
                svg += "<line x1=\"\(x(low))\" y1=\"\(cy)\" x2=\"\(x(high))\" y2=\"\(cy)\" stroke=\"#1d2330\" stroke-width=\"1.5\"/>"
                svg += "<line x1=\"\(x(low))\" y1=\"\(cy - 5)\" x2=\"\(x(low))\" y2=\"\(cy + 5)\" stroke=\"#1d2330\" stroke-width=\"1.5\"/>"
                svg += "<line x1=\"\(x(high))\" y1=\"\(cy - 5)\" x2=\"\(x(high))\" y2=\"\(cy + 5)\" stroke=\"#1d2330\" stroke-width=\"1.5\"/>"
            }
            let note = bar.note ?? fmt(value)
            svg += "<text x=\"\(labelWidth + plotWidth + 8)\" y=\"\(y + row / 2 + 4)\">\(HTML.escape(note))</text>"
        }
        if let reference {
            let px = x(reference)
            svg += "<line x1=\"\(px)\" y1=\"\(top - 4)\" x2=\"\(px)\" y2=\"\(height - axis)\" stroke=\"#b42318\" stroke-dasharray=\"4 3\"/>"
        }
        return svg + "</svg>"
    }

    /// A histogram of `values` over `domain` in `bins` equal bins: one `rect.mark` per bin
    /// (empty bins too, drawn with no height), with counts above the bars.
    public static func histogram(_ values: [Double], domain: ClosedRange<Double> = 0...10, bins: Int = 10, color: String = "#3866d6") -> String {
        let width = 440.0, height = 180.0, left = 30.0, bottom = 22.0, top = 14.0
        var counts = [Int](repeating: 0, count: bins)
        for v in values where v.isFinite {
            let t = (v - domain.lowerBound) / (domain.upperBound - domain.lowerBound)
            counts[min(bins - 1, max(0, Int(t * Double(bins))))] += 1
        }
        let peak = Double(max(1, counts.max() ?? 1))
        let binWidth = (width - left - 8) / Double(bins)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - 8)\" y2=\"\(height - bottom)\" stroke=\"#9aa3b2\"/>"
        for (i, count) in counts.enumerated() {
            let h = (height - bottom - top) * Double(count) / peak
            let x = left + binWidth * Double(i)
            let lo = domain.lowerBound + (domain.upperBound - domain.lowerBound) * Double(i) / Double(bins)
            let hi = domain.lowerBound + (domain.upperBound - domain.lowerBound) * Double(i + 1) / Double(bins)
            svg += "<rect class=\"mark\" x=\"\(x + 1)\" y=\"\(height - bottom - h)\" width=\"\(binWidth - 2)\" height=\"\(h)\" fill=\"\(color)\" fill-opacity=\"0.85\"><title>\(HTML.number(lo, 1))-\(HTML.number(hi, 1)): \(count)</title></rect>"
            if count > 0 { svg += "<text x=\"\(x + binWidth / 2)\" y=\"\(height - bottom - h - 3)\" text-anchor=\"middle\">\(count)</text>" }
            svg += "<text x=\"\(x)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(HTML.number(lo, lo == lo.rounded() ? 0 : 1))</text>"
        }
        svg += "<text x=\"\(width - 8)\" y=\"\(height - 6)\" text-anchor=\"end\">\(HTML.number(domain.upperBound, 0))</text>"
        return svg + "</svg>"
    }

    /// A scatter plot: one `circle.mark` per point, axes from the data (x) and `yDomain`.
    public static func scatter(_ points: [(x: Double, y: Double, label: String)], xLabel: String, yLabel: String, yDomain: ClosedRange<Double> = 0...10) -> String {
        let width = 440.0, height = 220.0, left = 40.0, bottom = 34.0, top = 10.0, right = 12.0
        let xs = points.map(\.x)
        let xMax = max(1, (xs.max() ?? 1) * 1.05)
        func px(_ v: Double) -> Double { left + (width - left - right) * v / xMax }
        func py(_ v: Double) -> Double {
            height - bottom - (height - bottom - top) * (min(max(v, yDomain.lowerBound), yDomain.upperBound) - yDomain.lowerBound) / (yDomain.upperBound - yDomain.lowerBound)
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        for t in 0...4 {
            let v = yDomain.lowerBound + (yDomain.upperBound - yDomain.lowerBound) * Double(t) / 4
            svg += "<line x1=\"\(left)\" y1=\"\(py(v))\" x2=\"\(width - right)\" y2=\"\(py(v))\" stroke=\"#eceff4\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(HTML.number(v, 1))</text>"
            let xv = xMax * Double(t) / 4
            svg += "<text x=\"\(px(xv))\" y=\"\(height - bottom + 14)\" text-anchor=\"middle\">\(Int(xv))</text>"
        }
        svg += "<text x=\"\((left + width) / 2)\" y=\"\(height - 4)\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
        svg += "<text x=\"10\" y=\"\(top + 2)\" transform=\"rotate(90 10 \(top + 2))\">\(HTML.escape(yLabel))</text>"
        for p in points where p.x.isFinite && p.y.isFinite {
            svg += "<circle class=\"mark\" cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"4\" fill=\"#3866d6\" fill-opacity=\"0.7\"><title>\(HTML.escape(p.label))</title></circle>"
        }
        return svg + "</svg>"
    }
}
