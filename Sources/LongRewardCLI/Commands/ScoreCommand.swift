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

    @Option(name: .long, help: "Judge: 'local' (SmolLM2 in process), 'local:MODEL.gguf', or an OpenAI-compatible base URL.")
    var judge: String = "local"

    @Option(name: .long, help: "Model name sent to an HTTP judge.")
    var judgeModel: String?

    @Option(name: .long, help: "Judge calls in flight (HTTP) or decoded together (local).")
    var concurrency: Int = 8

    @Option(name: .long, help: "Rubrics folder (default: found beside the binary or in ./Rubrics).")
    var rubrics: String?

    @Option(name: .long, help: "Weights of helpfulness,logic,faithfulness,completeness.")
    var weights: String = "1,1,1,1"

    @Option(name: .long, help: "Evidence chunks per statement.")
    var topK: Int = 5

    @Option(name: .long, help: "Faithfulness of an answer with no factual statement: exclude (from the reward), full (10) or zero.")
    var noStatements: String = "exclude"

    @Option(name: .long, help: "Judge attempts per call when the output cannot be parsed (first at 0.01, then 0.95).")
    var attempts: Int = 5

    @Option(name: .long, help: "Cap every rubric's completion budget (tokens); small local judges ramble.")
    var maxNewTokens: Int?

    @Option(name: .long, help: "How ratings and support labels are read: parse (the judge writes [[n]]), expected (analysis, then the probability-weighted verdict after '[['), direct (no analysis: one prefill). Default: direct for the embedded judge (measured: see README), parse for a server.")
    var verdict: VerdictMode?

    /// The verdict mode in effect: the embedded judge reads verdicts directly by default (as
    /// accurate as parsing on the labelled answers, about ten times cheaper, never a format
    /// failure); servers parse unless told otherwise.
    var verdictMode: VerdictMode {
        if let verdict { return verdict }
        if case .http? = try? Backend(parsing: judge, model: judgeModel) { return .parse }
        return .direct
    }

    @Flag(name: .long, help: "Do not reuse rubric prefixes in the local judge's KV cache (for measurement).")
    var noPrefixCache = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        if let maxNewTokens, maxNewTokens < 8 { throw ValidationError("--max-new-tokens must be at least 8") }
        guard parsedWeights != nil else { throw ValidationError("--weights takes four comma-separated numbers, got '\(weights)'") }
        guard NoStatementPolicy(rawValue: noStatements) != nil else {
            throw ValidationError("--no-statements must be exclude, full or zero")
        }
        do { _ = try Backend(parsing: judge, model: judgeModel) } catch { throw ValidationError("--judge: \(error)") }
    }

    var parsedWeights: [Double]? {
        let w = weights.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return w.count == 4 && w.allSatisfy { $0 != nil } ? w.map { $0! } : nil
    }

    func run() async throws {
        var options = ScoreJobOptions(pipeline: try storeOptions.pipeline(concurrency: concurrency), inputPath: input, outputPath: output)
        options.judge = try Backend(parsing: judge, model: judgeModel)
        options.judgeModel = judgeModel
        options.rubricsFolder = rubrics
        options.prefixCaching = !noPrefixCache
        options.maxNewTokens = maxNewTokens
        options.configuration = ScoringConfiguration(
            weights: parsedWeights!, topK: topK, noStatementPolicy: NoStatementPolicy(rawValue: noStatements)!,
            retries: RetrySchedule(attempts: attempts), verdictMode: verdictMode)
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

    func update(_ p: ScoringProgress) {
        update(
            done: p.done, total: p.total, unit: "answers", calls: p.calls, caller: "judge", cacheHits: p.cacheHits,
            tokens: p.tokensIn + p.tokensOut)
    }

    func update(done: Int, total: Int, unit: String, calls: Int, caller: String, cacheHits: Int, tokens: Int) {
        lock.withLock {
            // On a terminal the line redraws every second; in a log, only when something finished.
            if !terminal && last == (done, calls) { return }
            last = (done, calls)
            let elapsed = Date().timeIntervalSince(started)
            let fraction = total > 0 ? Double(done) / Double(total) : 1
            let width = 24
            let filled = Int(min(1, fraction) * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let eta = done > 0 ? "\(Int(elapsed / Double(done) * Double(max(0, total - done)))) s" : "?"
            Console.status(
                "[\(bar)] \(done)/\(total) \(unit), \(calls) \(caller) calls, \(cacheHits) cached, "
                    + "\(tokens) tokens, \(Int(elapsed)) s elapsed, ETA \(eta)")
        }
    }
}
