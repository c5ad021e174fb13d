// `longreward score`: score answers on helpfulness, logic, faithfulness and completeness.

import ArgumentParser
import Benchmarking
import Foundation
import Judges
import Scoring

struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score answers to questions about long documents; write one JSON line per answer.",
        discussion: """
            Input lines: {"id", "document" (text or path) | "doc_id", "question", "answers": [...]}; \
            LongReward's names (context, query, answer, response, win_response, lose_response) work too. \
            Every judge call is stored: rerunning after an interruption continues without repeating \
            finished calls, and a rerun with the same settings answers from the store.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "Items to score (JSONL).")
    var input: String

    @Option(name: .long, help: "Where to write one JSON line per answer.")
    var output: String

    @OptionGroup var scoring: ScoringOptions

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        let options = try scoring.jobOptions(store: storeOptions, input: input, output: output)
        let bar = ProgressBar()
        let summary = try await ScoreJob.run(options) { bar.update($0) }
        Console.clearStatus()
        if json {
            print(try Console.json(SummaryJSON(summary)))
        } else {
            print(Self.table(summary))
        }
    }

    static func table(_ s: ScoreSummary) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "fail" }
        var table = TextTable(["item", "answer", "helpful", "logic", "faithful", "complete", "reward", "statements", "calls", "tokens", "seconds"])
        for r in s.records {
            let dims = ["helpfulness", "logic", "faithfulness", "completeness"].map { d -> String in
                let result = r.dimensions[d]
                if result?.status == .policy && result?.score == nil { return "n/a" }
                return f(result?.score)
            }
            table.add([r.itemId, "\(r.answerIndex)"] + dims + [
                f(r.reward), "\(r.statements.count)", "\(r.judge.calls)\(r.cached ? " (stored)" : "")",
                "\(r.judge.tokensIn + r.judge.tokensOut)", String(format: "%.1f", r.seconds),
            ])
        }
        let shared = Dictionary(grouping: s.records, by: \.itemId).values.map { $0[0].sharedJudge }
        let extractCalls = shared.reduce(0) { $0 + $1.calls }
        var lines = [table.render(), ""]
        lines.append(
            "\(s.records.count) answers in \(String(format: "%.1f", s.seconds)) s; judge calls \(s.calls) "
                + "(\(extractCalls) completeness extractions shared per question), cache hits \(s.cacheHits); "
                + "tokens in \(s.tokensIn) (\(s.cachedPromptTokens) from the prefix cache), out \(s.tokensOut)")
        let failed = s.records.filter { !$0.failedDimensions.isEmpty }
        if !failed.isEmpty {
            lines.append("\(failed.count) answers have failed dimensions (recorded with the judge's raw outputs in the output file)")
        }
        return lines.joined(separator: "\n")
    }
}

/// The summary as JSON.
struct SummaryJSON: Encodable {
    var answers: Int, calls: Int, cacheHits: Int, tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int
    var seconds: Double, runId: Int64, configHash: String
    var rewards: [String: Double?]

    init(_ s: ScoreSummary) {
        answers = s.records.count
        calls = s.calls
        cacheHits = s.cacheHits
        tokensIn = s.tokensIn
        tokensOut = s.tokensOut
        cachedPromptTokens = s.cachedPromptTokens
        seconds = s.seconds
        runId = s.runID
        configHash = s.configHash
        rewards = Dictionary(uniqueKeysWithValues: s.records.map { ($0.answerId, $0.reward) })
    }
}

/// A one-line progress bar with ETA on stderr, for every long command.
final class ProgressBar: @unchecked Sendable {
    private let started = Date()
    private let lock = NSLock()
    private let terminal = isatty(STDERR_FILENO) != 0
    private var last = (-1, -1)

    /// Score progress: the bar and ETA follow judge calls (done against the planned total),
    /// so the estimate appears after the first calls rather than the first finished answer.
    func update(_ p: ScoringProgress) {
        update(
            done: p.done, total: p.total, unit: "answers", calls: p.calls, caller: "judge", cacheHits: p.cacheHits,
            tokens: p.tokensIn + p.tokensOut, plannedCalls: p.plannedCalls)
    }

    /// Draws the line. With `plannedCalls`, the fraction done is calls (fresh and cached) over
    /// the planned calls; otherwise finished units over all units.
    func update(
        done: Int, total: Int, unit: String, calls: Int, caller: String, cacheHits: Int, tokens: Int, plannedCalls: Int? = nil
    ) {
        lock.withLock {
            let callsDone = calls + cacheHits
            // On a terminal the line redraws every second; in a log, only when something moved.
            if !terminal && last == (done, callsDone) { return }
            last = (done, callsDone)
            let elapsed = Date().timeIntervalSince(started)
            let fraction: Double
            let callText: String
            if let plannedCalls, plannedCalls > 0 {
                let planned = max(plannedCalls, callsDone)
                fraction = done >= total ? 1 : min(0.999, Double(callsDone) / Double(planned))
                callText = "\(callsDone)/~\(planned) \(caller) calls (\(cacheHits) cached)"
            } else {
                fraction = total > 0 ? Double(done) / Double(total) : 1
                callText = "\(calls) \(caller) calls, \(cacheHits) cached"
            }
            let width = 24
            let filled = Int(min(1, fraction) * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let eta = fraction > 0 && fraction < 1 ? Self.duration(elapsed / fraction * (1 - fraction)) : (fraction >= 1 ? "0 s" : "?")
            Console.status(
                "[\(bar)] \(done)/\(total) \(unit), \(callText), \(tokens) tokens, \(Self.duration(elapsed)) elapsed, ETA \(eta)")
        }
    }

    /// `42 s`, `3 min 05 s`, `1 h 02 min`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return String(format: "%d min %02d s", s / 60, s % 60) }
        return String(format: "%d h %02d min", s / 3600, (s % 3600) / 60)
    }
}
