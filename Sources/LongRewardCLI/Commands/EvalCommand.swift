// `longreward eval`: measure how well a judge and its settings rank answers against labels.

import ArgumentParser
import Benchmarking
import Evaluation
import Foundation
import Scoring

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a judge against labelled preferences: LongReward's pipeline, one rating call, pairwise comparison.",
        discussion: """
            Input lines: {"id", "document" (text or path) | "doc_id", "question", "answers": [...], \
            "preferences": [[better, worse], ...] and/or "human_scores": [...], "labels": [{"kind"}]}; \
            TRL-style {"prompt", "chosen", "rejected", "document"} lines are one pair each. \
            Reports per method: pairwise accuracy (ties count one half) with a 95% bootstrap interval, \
            Kendall's tau against human scores, judge calls and tokens per pair, the pairwise judge's \
            position flips, and accuracy on pairs whose better answer is the shorter or the longer one. \
            Every judge call is stored, so a rerun is free and an interrupted run resumes.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "Labelled items (JSONL).")
    var input: String

    @Option(name: .long, help: "Where to write the results (JSON).")
    var output: String

    @Option(name: .long, help: "Also write an HTML report here (one self-contained file).")
    var report: String?

    @Option(name: .long, help: "Methods, comma-separated: longreward, pointwise, pairwise.")
    var methods: String = "longreward,pointwise,pairwise"

    @Option(name: .long, help: "Document tokens shown to the pointwise and pairwise judges (whole document when it fits, else the passages most related to the question).")
    var contextTokens: Int = 2048

    @Option(name: .long, help: "Bootstrap resamples for the 95% intervals.")
    var bootstrap: Int = 1000

    @OptionGroup var scoring: ScoringOptions

    @Flag(name: .long, help: "Print the results as JSON instead of a table.")
    var json = false

    var parsedMethods: [EvalMethod]? {
        let names = methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = names.compactMap(EvalMethod.init(rawValue:))
        return parsed.count == names.count && !parsed.isEmpty && Set(parsed).count == parsed.count ? parsed : nil
    }

    func validate() throws {
        guard parsedMethods != nil else {
            throw ValidationError("--methods takes a comma-separated list of longreward, pointwise and pairwise, got '\(methods)'")
        }
        guard contextTokens >= 64 else { throw ValidationError("--context-tokens must be at least 64") }
        guard bootstrap >= 100 else { throw ValidationError("--bootstrap must be at least 100") }
    }

    func run() async throws {
        var options = EvalOptions(score: try scoring.jobOptions(store: storeOptions, input: input, output: output))
        options.methods = parsedMethods!
        options.reportPath = report
        options.contextTokens = contextTokens
        options.bootstrapSamples = bootstrap
        let bar = ProgressBar()
        let result = try await EvalJob.run(options) { p in
            bar.update(
                done: p.itemsDone, total: p.items, unit: "questions", calls: p.calls, caller: "judge", cacheHits: p.cacheHits,
                tokens: p.tokens, plannedCalls: p.plannedCalls)
        }
        Console.clearStatus()
        if json {
            print(try Console.json(result.methods))
            return
        }
        var table = TextTable(["method", "accuracy", "95% interval", "pairs", "ties", "tau", "calls/pair", "tokens/pair", "shorter better", "longer better", "flips"])
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        for m in result.methods {
            table.add([
                m.method, pct(m.agreement.accuracy), m.agreement.interval.map { "\(pct($0[0]))-\(pct($0[1]))" } ?? "-",
                "\(m.agreement.pairs)", "\(m.agreement.ties)", m.kendallTau.map { String(format: "%.2f", $0) } ?? "-",
                String(format: "%.1f", m.callsPerPair), String(format: "%.0f", m.tokensPerPair),
                "\(pct(m.shorterBetter.accuracy)) (\(m.shorterBetter.pairs))", "\(pct(m.longerBetter.accuracy)) (\(m.longerBetter.pairs))",
                m.positionFlipRate.map(pct) ?? "-",
            ])
        }
        print(table.render())
        if let dims = result.methods.first(where: { $0.method == "longreward" })?.dimensions {
            print("longreward by dimension: " + ["helpfulness", "logic", "faithfulness", "completeness"].map { "\($0) \(pct(dims[$0]?.accuracy))" }.joined(separator: ", "))
        }
        print("\(result.items) questions, \(result.pairs) pairs; \(result.freshCalls) fresh judge calls, \(result.cacheHits) cache hits, \(String(format: "%.1f", result.seconds)) s; results in \(output)\(report.map { ", report in \($0)" } ?? "")")
    }
}
