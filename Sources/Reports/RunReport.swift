// RunReport.swift: `longreward report`: one scoring run as an HTML page: reward and dimension
// distributions, reward against answer length, failures and retries by rubric, usage, and every
// answer with its statements, support labels, evidence chunks and completeness extracts.

import Foundation
import Formats
import Scoring
import Store

/// What a run report showed, for the CLI's summary line.
public struct RunReportSummary: Sendable {
    /// The run, its answers, and the marks drawn (histogram bins, points, bars).
    public var runID: Int64, answers: Int, marks: Int
}

/// Renders scoring runs.
public enum RunReport {
    /// Writes the report of run `runID` (nil: the latest run that scored answers) of the store.
    public static func write(storePath: String, runID: Int64?, outputPath: String) throws -> RunReportSummary {
        guard FileManager.default.fileExists(atPath: storePath) else {
            throw ReportError.noSuchRun(store: storePath, reason: "no such store")
        }
        let store = try Store(path: storePath)
        let runs = try store.runs()
        let run: RunRecord
        if let runID {
            guard let found = runs.first(where: { $0.id == runID }) else {
                throw ReportError.noSuchRun(store: storePath, reason: "no run \(runID) (runs: \(runs.map { String($0.id) }.joined(separator: ", ")))")
            }
            run = found
        } else {
            guard let latest = try runs.first(where: { !(try store.runRewardRecords($0.id).isEmpty) }) else {
                throw ReportError.noSuchRun(store: storePath, reason: "no run has scored answers yet; run `longreward score` first")
            }
            run = latest
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let records = try store.runRewardRecords(run.id).compactMap { try? decoder.decode(AnswerScore.self, from: Data($0.utf8)) }
        guard !records.isEmpty else {
            throw ReportError.noSuchRun(store: storePath, reason: "run \(run.id) (\(run.command)) scored no answers")
        }
        let texts = Dictionary(uniqueKeysWithValues: try records.map { ($0.answerId, try store.answer(id: $0.answerId)?.text ?? "") })
        let page = html(run: run, records: records, texts: texts, calls: try store.judgeCallStats(runID: run.id))
        try AtomicFile.write(Data(page.html.utf8), to: outputPath)
        return RunReportSummary(runID: run.id, answers: records.count, marks: page.marks)
    }

    /// The page and the number of chart marks on it.
    public static func html(run: RunRecord, records: [AnswerScore], texts: [String: String], calls: [JudgeCallStats]) -> (html: String, marks: Int) {
        var marks = 0
        var sections: [(String, String)] = []
        let stats = RunStats(json: run.stats)
        let scored = records.filter { !$0.cached }.count
        // Summary.
        var summary: [[String]] = [
            ["Run", "\(run.id): \(HTML.escape(run.command)) (\(run.status.rawValue))"],
            ["Started / finished", "\(HTML.escape(run.startedAt)) / \(HTML.escape(run.finishedAt ?? "–"))"],
            ["Answers", "\(records.count) (\(scored) scored in this run, \(records.count - scored) from the store)"],
        ]
        if let stats {
            summary += [
                ["Judge calls", "\(stats.calls) fresh, \(stats.cacheHits) cache hits"],
                ["Tokens", "\(stats.tokensIn) in (\(stats.cachedPromptTokens) from the prefix cache), \(stats.tokensOut) out"],
                ["Wall time", "\(HTML.number(stats.seconds, 1)) s"],
                ["Configuration", HTML.escape(stats.configHash)],
            ]
        } else if let s = run.summary {
            summary.append(["Summary", HTML.escape(s)])
        }
        sections.append(("Run", HTML.table(["", ""], summary, numericFrom: 99)))
        // Distributions.
        let rewards = records.compactMap(\.reward)
        var figures = "<div class=\"figs\"><div class=\"fig\"><p>Reward (mean of the scored dimensions), \(rewards.count) answers</p>\(Chart.histogram(rewards))</div>"
        marks += 10
        for (n, d) in Scoring.Dimension.allCases.enumerated() {
            let values = records.compactMap { $0.scores[d.rawValue] }
            figures += "<div class=\"fig\"><p>\(d.rawValue.capitalized), \(values.count) scored</p>\(Chart.histogram(values, color: Chart.palette[(n + 1) % Chart.palette.count]))</div>"
            marks += 10
        }
        figures += "</div>"
        sections.append(("Rewards and dimensions", figures))
        // Reward against length.
        let points = records.compactMap { r -> (x: Double, y: Double, label: String)? in
            guard let reward = r.reward else { return nil }
            return (Double(words(texts[r.answerId] ?? "")), reward, "\(r.itemId) #\(r.answerIndex): \(HTML.number(reward)) ")
        }
        marks += points.count
        sections.append((
            "Reward against answer length",
            "<p class=\"muted\">One point per answer with a reward. A rising cloud means longer answers score higher.</p>"
                + Chart.scatter(points, xLabel: "answer length (words)", yLabel: "reward")))
        // Failures and retries.
        let failureBars = calls.map { c in
            Bar(label: c.rubricID, value: c.calls > 0 ? Double(c.unparseable + c.errors) / Double(c.calls) : 0,
                note: "\(c.unparseable + c.errors) of \(c.calls) attempts")
        }
        marks += failureBars.count
        var failures = calls.isEmpty
            ? "<p class=\"muted\">No judge call was made in this run (every answer came from the store).</p>"
            : "<p class=\"muted\">Share of attempts that gave no verdict (unparseable output or an error), by rubric.</p>" + Chart.bars(failureBars)
        failures += HTML.table(
            ["rubric", "attempts", "unparseable", "errors", "retries", "tokens in", "tokens out", "mean latency"],
            calls.map { c in
                [HTML.escape(c.rubricID), "\(c.calls)", "\(c.unparseable)", "\(c.errors)", "\(c.retries)", "\(c.tokensIn)", "\(c.tokensOut)",
                 c.meanLatencyMilliseconds.map { "\(HTML.number($0 / 1000, 2)) s" } ?? "–"]
            })
        var dimensionFailures: [[String]] = []
        for d in Scoring.Dimension.allCases {
            let failed = records.filter { $0.dimensions[d.rawValue]?.status == .failed }.count
            let policy = records.filter { $0.dimensions[d.rawValue]?.status == .policy }.count
            dimensionFailures.append([d.rawValue, "\(failed)", "\(policy)", HTML.percent(Double(failed) / Double(records.count))])
        }
        failures += "<p>Dimensions by outcome (failed: no verdict after every attempt; policy: scored by the no-statement policy):</p>"
            + HTML.table(["dimension", "failed", "policy", "failure rate"], dimensionFailures)
        sections.append(("Failures and retries", failures))
        // Answers.
        var rows: [[String]] = []
        for r in records {
            let text = texts[r.answerId] ?? ""
            var detail = "<details><summary>\(r.statements.count) statements, \(r.completenessExtracts.reduce(0) { $0 + $1.facts.count }) extracts</summary>"
            detail += "<p><b>Answer.</b> \(HTML.escape(text))</p><ul class=\"statements\">"
            for s in r.statements {
                let label = s.support ?? "no verdict"
                let cls = s.value == 1 ? "good" : (s.value == 0 || s.support == nil ? "bad" : "")
                detail += "<li><span class=\"\(cls)\">[\(HTML.escape(label))\(s.value.map { " \(HTML.number($0, 2))" } ?? "")]</span> \(HTML.escape(s.text)) <span class=\"muted\">evidence chunks \(s.evidenceChunks.map(String.init).joined(separator: ", "))</span></li>"
            }
            detail += "</ul><p><b>Completeness extracts</b> (shared by the question's answers):</p><ul class=\"statements\">"
            for e in r.completenessExtracts {
                let facts = e.status == .failed ? "<span class=\"bad\">extraction failed</span>"
                    : (e.facts.isEmpty ? "<span class=\"muted\">nothing relevant</span>" : e.facts.map(HTML.escape).joined(separator: "; "))
                detail += "<li>[\(HTML.escape(e.position))] \(facts)</li>"
            }
            detail += "</ul></details>"
            func dim(_ d: Scoring.Dimension) -> String {
                guard let result = r.dimensions[d.rawValue] else { return "–" }
                switch result.status {
                case .failed: return "<span class=\"bad\" title=\"\(HTML.escape(result.reason ?? ""))\">fail</span>"
                case .policy where result.score == nil: return "<span class=\"muted\">n/a</span>"
                default: return HTML.number(result.score)
                }
            }
            rows.append([HTML.escape(r.itemId), "\(r.answerIndex)", "\(words(text))"] + Scoring.Dimension.allCases.map(dim) + [
                "<b>\(HTML.number(r.reward))</b>", "\(r.judge.calls + r.judge.cacheHits)", detail,
            ])
        }
        sections.append((
            "Answers",
            HTML.table(["item", "answer", "words", "helpful", "logic", "faithful", "complete", "reward", "calls", "detail"], rows)))
        let page = HTML.page(
            title: "Scoring run \(run.id)", subtitle: "\(records.count) answers · \(run.command) · \(run.status.rawValue)", sections: sections)
        return (page, marks)
    }

    static func words(_ text: String) -> Int { text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count }
}
