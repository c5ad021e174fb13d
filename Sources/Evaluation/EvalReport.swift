// EvalReport.swift: the HTML page of an evaluation: accuracy per method with intervals,
// per-dimension accuracy, position and length bias, cost, and accuracy by kind of pair.

import Foundation
import Formats
import Reports

/// Renders evaluation results.
public enum EvalReport {
    /// Writes the report for `result` to `path` (through a `.partial` file).
    public static func write(_ result: EvalResult, to path: String) throws {
        try AtomicFile.write(Data(html(result).html.utf8), to: path)
    }

    /// The page and the number of chart marks on it.
    public static func html(_ r: EvalResult) -> (html: String, marks: Int) {
        var marks = 0
        var sections: [(String, String)] = []
        func bar(_ label: String, _ a: Agreement) -> Bar {
            Bar(label: label, value: a.accuracy, low: a.interval?[0], high: a.interval?[1],
                note: a.accuracy.map { "\(HTML.percent($0)) of \(a.pairs)" } ?? "no pairs")
        }
        // Accuracy per method.
        let methodBars = r.methods.map { bar($0.method, $0.agreement) }
        marks += methodBars.filter { $0.value != nil }.count
        var accuracy = "<p class=\"muted\">Pairwise accuracy against the labels: the share of labelled pairs in which the method ranks the better answer higher (ties and missing verdicts count one half). Whiskers: 95% bootstrap interval over questions. Dashed line: chance.</p>"
        accuracy += Chart.bars(methodBars, reference: 0.5)
        accuracy += HTML.table(
            ["method", "accuracy", "95% interval", "pairs", "ties", "missing", "Kendall tau", "calls / pair", "tokens / pair"],
            r.methods.map { m in
                [HTML.escape(m.method), HTML.percent(m.agreement.accuracy),
                 m.agreement.interval.map { "\(HTML.percent($0[0]))–\(HTML.percent($0[1]))" } ?? "–",
                 "\(m.agreement.pairs)", "\(m.agreement.ties)", "\(m.agreement.missing)", HTML.number(m.kendallTau),
                 HTML.number(m.callsPerPair, 1), HTML.number(m.tokensPerPair, 0)]
            })
        sections.append(("Accuracy by method", accuracy))
        // Dimensions.
        if let lr = r.methods.first(where: { $0.method == EvalMethod.longreward.rawValue }), let dims = lr.dimensions {
            let order = ["helpfulness", "logic", "faithfulness", "completeness"]
            let dimBars = [bar("reward (mean)", lr.agreement)] + order.compactMap { d in dims[d].map { bar(d, $0) } }
            marks += dimBars.filter { $0.value != nil }.count
            sections.append((
                "LongReward: each dimension alone",
                "<p class=\"muted\">The same pairs ranked by one dimension at a time. A dimension near chance adds noise to the mean; one far above carries the signal.</p>"
                    + Chart.bars(dimBars, reference: 0.5)))
        }
        // Bias.
        var bias = "<p class=\"muted\">Accuracy on pairs whose better answer is the shorter one, and on pairs where it is the longer one (lengths in words). A judge that prefers length does well on the second and badly on the first.</p>"
        var biasBars: [Bar] = []
        for m in r.methods {
            biasBars.append(bar("\(m.method): better is shorter", m.shorterBetter))
            biasBars.append(bar("\(m.method): better is longer", m.longerBetter))
        }
        marks += biasBars.filter { $0.value != nil }.count
        bias += Chart.bars(biasBars, reference: 0.5)
        if let pw = r.methods.first(where: { $0.method == EvalMethod.pairwise.rawValue }) {
            let flip = Bar(label: "pairwise: position flips", value: pw.positionFlipRate, note: HTML.percent(pw.positionFlipRate))
            if flip.value != nil { marks += 1 }
            bias += "<p class=\"muted\">Position flips: pairs where the judge chose the same letter in both orders, so its verdict followed the position, not the answer.</p>"
                + Chart.bars([flip])
        }
        sections.append(("Length and position bias", bias))
        // By kind.
        let kinds = Set(r.methods.flatMap { $0.byKind.keys }).sorted()
        if !kinds.isEmpty {
            sections.append((
                "Accuracy by kind of pair",
                HTML.table(
                    ["better > worse"] + r.methods.map(\.method),
                    kinds.map { k in
                        [HTML.escape(k)] + r.methods.map { m in
                            m.byKind[k].map { "\(HTML.percent($0.accuracy)) (\($0.pairs))" } ?? "–"
                        }
                    })))
        }
        // Cost.
        sections.append((
            "Cost",
            HTML.table(
                ["method", "judge calls", "tokens", "calls / pair", "tokens / pair"],
                r.methods.map { m in
                    [HTML.escape(m.method), "\(m.calls)", "\(m.tokens)", HTML.number(m.callsPerPair, 1), HTML.number(m.tokensPerPair, 0)]
                })
                + "<p class=\"muted\">Calls count every attempt, cached ones at their first cost. This run: \(r.freshCalls) fresh calls, \(r.cacheHits) cache hits, \(HTML.number(r.seconds, 0)) s.</p>"))
        // Pairs.
        sections.append((
            "Pairs",
            HTML.table(
                ["item", "better", "worse", "words"] + r.methods.map(\.method),
                r.pairDetails.map { p in
                    [HTML.escape(p.item), "\(p.better) \(HTML.escape(p.betterKind ?? ""))", "\(p.worse) \(HTML.escape(p.worseKind ?? ""))",
                     "\(p.betterWords) / \(p.worseWords)"] + r.methods.map { m in
                        let credit = p.credit[m.method]
                        let cls = credit == 1 ? "good" : (credit == 0 ? "bad" : "muted")
                        var shown = HTML.number(credit, 1)
                        if m.method == "longreward", let s = p.longreward { shown += " (\(HTML.number(s[0] ?? nil)) vs \(HTML.number(s[1] ?? nil)))" }
                        if m.method == "pointwise", let s = p.pointwise { shown += " (\(HTML.number(s[0] ?? nil)) vs \(HTML.number(s[1] ?? nil)))" }
                        if m.method == "pairwise", let s = p.pairwise { shown += " (\(s[0] ?? "–"), \(s[1] ?? "–"))" }
                        return "<span class=\"\(cls)\">\(shown)</span>"
                    }
                }, numericFrom: 4)))
        let page = HTML.page(
            title: "Judge evaluation",
            subtitle: "\(r.items) questions, \(r.answers) answers, \(r.pairs) labelled pairs · judge \(r.judge) · verdicts \(r.verdictMode) · \(r.input)",
            sections: sections)
        return (page, marks)
    }
}
