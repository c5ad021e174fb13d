// EvalJob.swift: the library function behind `longreward eval`: run each method with the same
// judge over labelled pairs, measure agreement with the labels, cost and biases.

import Foundation
import Formats
import Judges
import Reports
import Retrieval
import Scoring
import Store

/// Settings of an evaluation run.
public struct EvalOptions: Sendable {
    /// Store, embedder, judge, rubrics, scoring settings; `inputPath` is the labelled JSONL and
    /// `outputPath` the eval.json to write.
    public var score: ScoreJobOptions
    /// Where to write the HTML report (nil: none).
    public var reportPath: String? = nil
    /// Methods to run, in this order.
    public var methods: [EvalMethod] = EvalMethod.allCases
    /// Document tokens shown to the pointwise and pairwise judges: the whole document when it
    /// fits, else the passages most related to the question that fit.
    public var contextTokens = 2048
    /// Bootstrap resamples for the intervals.
    public var bootstrapSamples = 1000

    /// Creates options.
    public init(score: ScoreJobOptions) { self.score = score }
}

/// `longreward eval`.
public enum EvalJob {
    /// Runs the evaluation: checks the whole input (every error as `FILE:LINE`) before any judge
    /// call, then runs the methods item by item (concurrently within an item). Every call goes
    /// through the store's cache, so a rerun is free and an interrupted run resumes. Writes
    /// `outputPath` (and the report) through `.partial` files renamed at the end.
    public static func run(
        _ options: EvalOptions, judge: (any Judge)? = nil, index: DocumentIndex? = nil,
        onProgress: @escaping @Sendable (EvalProgress) -> Void = { _ in }
    ) async throws -> EvalResult {
        let started = Date()
        guard !options.methods.isEmpty else { throw EvaluationError.invalidOption("--methods names no method") }
        guard options.contextTokens >= 64 else { throw EvaluationError.invalidOption("--context-tokens must be at least 64") }
        let input = options.score.inputPath
        let items = try EvalInput.read(path: input)
        let index = try index ?? options.score.pipeline.open()
        for entry in items {
            if case .storedID(let id) = entry.item.document, try index.store.document(id: id) == nil {
                throw EvaluationError.badInput(
                    file: input, line: entry.item.line, reason: "document '\(id)' is not in the store; index it first or give \"document\"")
            }
        }
        let library = try RubricLibrary(folder: try RubricLibrary.locate(options.score.rubricsFolder))
        func rubric(_ id: String) throws -> Rubric {
            guard let r = library.rubrics[id] else { throw EvaluationError.missingRubric(id: id, folder: library.folder) }
            return r
        }
        for id in RubricLibrary.required { _ = try rubric(id) }
        let pointwise = options.methods.contains(.pointwise) ? try rubric("pointwise") : nil
        let pairwise = options.methods.contains(.pairwise) ? try rubric("pairwise") : nil
        let judge = try judge ?? ScoreJob.makeJudge(options.score)
        let configuration = options.score.configuration
        let mode = configuration.effectiveVerdictMode
        try ScoreJob.validateVerdicts(judge: judge, rubrics: library, configuration: configuration)
        let support = configuration.supportVerdictMode.map { " support-verdict=\($0.rawValue)" } ?? ""
        let config = "methods=\(options.methods.map(\.rawValue).joined(separator: ",")) context=\(options.contextTokens) verdict=\(mode.rawValue)\(support)"
        let runID = try index.store.beginRun(command: "eval \(input)", config: config)
        let runner = JudgeRunner(
            judge: judge, store: index.store, runID: runID, schedule: configuration.retries,
            concurrency: options.score.pipeline.concurrency, maxTokensCap: options.score.maxNewTokens, verdictMode: mode,
            verdictModeOverrides: configuration.verdictModeOverrides)
        let scorer = try Scorer(index: index, runner: runner, rubrics: library, configuration: configuration)

        var results: [ItemResult] = []
        let report: @Sendable (Int) -> Void = { done in
            let c = runner.counters.snapshot
            onProgress(EvalProgress(
                itemsDone: done, items: items.count, calls: c.calls, cacheHits: c.cacheHits, plannedCalls: scorer.plan.total,
                tokens: c.tokensIn + c.tokensOut))
        }
        let finished = Counter()
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                report(finished.value)
            }
        }
        defer { heartbeat.cancel() }
        do {
            // Documents and answers first, so the plan of calls is known before the first call.
            var prepared: [(item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord])] = []
            for entry in items { prepared.append(try await scorer.prepare(entry.item, inputFile: input)) }
            for (entry, p) in zip(items, prepared) {
                if options.methods.contains(.longreward) { scorer.plan.add(try scorer.plannedCalls(document: p.document, answers: p.answers)) }
                if pointwise != nil { scorer.plan.add(p.answers.count) }
                if pairwise != nil { scorer.plan.add(2 * entry.preferences.count) }
            }
            report(0)
            for (entry, p) in zip(items, prepared) {
                async let lr = options.methods.contains(.longreward)
                    ? Self.longreward(scorer: scorer, prepared: p) : nil
                async let pw = pointwise.map { r in
                    { try await Self.pointwise(rubric: r, runner: runner, index: index, prepared: p, budget: options.contextTokens) }
                }?()
                async let pr = pairwise.map { r in
                    {
                        try await Self.pairwise(
                            rubric: r, runner: runner, index: index, prepared: p, pairs: entry.preferences, budget: options.contextTokens)
                    }
                }?()
                let scored = try await lr
                if let scored {
                    try index.store.recordRunAnswers(runID, answerIDs: scored.records.map(\.answerId), configHash: scorer.configHash)
                }
                results.append(ItemResult(entry: entry, id: p.item.id, longreward: scored, pointwise: try await pw, pairwise: try await pr))
                finished.increment()
                report(finished.value)
            }
        } catch {
            let c = runner.counters.snapshot
            try? index.store.finishRun(runID, status: .failed, summary: "\(error) (after \(c.calls) judge calls)")
            throw error
        }
        let c = runner.counters.snapshot
        let result = EvalResult(
            input: input, judge: judge.identity,
            verdictMode: mode.rawValue + (configuration.supportVerdictMode.map { ", support \($0.rawValue)" } ?? ""), contextTokens: options.contextTokens, items: items.count,
            answers: items.reduce(0) { $0 + $1.item.answers.count }, pairs: items.reduce(0) { $0 + $1.preferences.count },
            methods: options.methods.map { summarise($0, results, samples: options.bootstrapSamples) },
            pairDetails: details(results), freshCalls: c.calls, cacheHits: c.cacheHits,
            seconds: Date().timeIntervalSince(started), runId: runID)
        do {
            try write(result, to: options.score.outputPath)
            if let path = options.reportPath { try EvalReport.write(result, to: path) }
        } catch {
            try? index.store.finishRun(runID, status: .failed, summary: "\(error)")
            throw error
        }
        try index.store.setRunStats(runID, stats: RunStats(
            answers: result.answers, calls: c.calls, cacheHits: c.cacheHits, tokensIn: c.tokensIn, tokensOut: c.tokensOut,
            cachedPromptTokens: c.cachedPromptTokens, seconds: result.seconds, configHash: scorer.configHash).json)
        try index.store.finishRun(runID, status: .finished, summary: "\(result.pairs) pairs, \(c.calls) judge calls, \(c.cacheHits) cache hits")
        return result
    }

    // MARK: methods

    /// Per-answer rewards and dimension scores, and what they cost.
    struct LongRewardScores: Sendable {
        var records: [AnswerScore]
        var cost: Cost
    }

    /// Per-answer ratings (pointwise) or per-pair verdicts (pairwise), and their cost.
    struct Ratings: Sendable {
        var ratings: [Double?]
        var cost: Cost
    }

    struct Verdicts: Sendable {
        /// For each pair: the letter chosen with the better answer as A, then as B.
        var choices: [(Choice?, Choice?)]
        var cost: Cost
    }

    /// Calls (attempts) and tokens; cached attempts count what they cost when first made.
    struct Cost: Sendable {
        var calls = 0, tokens = 0

        mutating func add(_ o: JudgeOutcome) {
            calls += o.attempts
            tokens += o.tokensIn + o.tokensOut
        }

        mutating func add(_ u: JudgeUsage) {
            calls += u.calls + u.cacheHits
            tokens += u.tokensIn + u.tokensOut
        }
    }

    struct ItemResult: Sendable {
        var entry: EvalItem
        var id: String
        var longreward: LongRewardScores?
        var pointwise: Ratings?
        var pairwise: Verdicts?
    }

    static func longreward(scorer: Scorer, prepared p: (item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord])) async throws
        -> LongRewardScores
    {
        let collected = Collected<AnswerScore>()
        try await scorer.score(item: p.item, document: p.document, answers: p.answers) { collected.append($0) }
        let records = collected.values.sorted { $0.answerIndex < $1.answerIndex }
        var cost = Cost()
        for r in records { cost.add(r.judge) }
        // The extractions are shared by the item's answers: count them once.
        if let shared = records.first?.sharedJudge { cost.add(shared) }
        return LongRewardScores(records: records, cost: cost)
    }

    static func pointwise(
        rubric: Rubric, runner: JudgeRunner, index: DocumentIndex,
        prepared p: (item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord]), budget: Int
    ) async throws -> Ratings {
        let context = try await index.context(
            document: p.document, question: p.item.question, budget: budget, note: rubric.formats["excerpt_note"]
        ) { try rubric.format("passage", ["position": $1, "text": $0.text]) }
        let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
            for (i, answer) in p.answers.enumerated() {
                group.addTask {
                    (i, try await runner.call(rubric, ["document": context.text, "question": p.item.question, "answer": answer.text]))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        var cost = Cost()
        var ratings: [Double?] = []
        for i in p.answers.indices {
            let o = outcomes[i]!
            cost.add(o)
            if case .rating(let v, _)? = o.verdict { ratings.append(v) } else { ratings.append(nil) }
        }
        return Ratings(ratings: ratings, cost: cost)
    }

    static func pairwise(
        rubric: Rubric, runner: JudgeRunner, index: DocumentIndex,
        prepared p: (item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord]), pairs: [EvalPair], budget: Int
    ) async throws -> Verdicts {
        let context = try await index.context(
            document: p.document, question: p.item.question, budget: budget, note: rubric.formats["excerpt_note"]
        ) { try rubric.format("passage_at", ["position": $1, "text": $0.text]) }
        let text = p.answers.map(\.text)
        let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
            for (k, pair) in pairs.enumerated() {
                for (order, (a, b)) in [(pair.better, pair.worse), (pair.worse, pair.better)].enumerated() {
                    group.addTask {
                        (2 * k + order, try await runner.call(rubric, [
                            "question": p.item.question, "evidence": context.text, "answer_a": text[a], "answer_b": text[b],
                        ]))
                    }
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        var cost = Cost()
        var choices: [(Choice?, Choice?)] = []
        for k in pairs.indices {
            let first = outcomes[2 * k]!, second = outcomes[2 * k + 1]!
            cost.add(first)
            cost.add(second)
            func choice(_ o: JudgeOutcome) -> Choice? { if case .choice(let c)? = o.verdict { c } else { nil } }
            choices.append((choice(first), choice(second)))
        }
        return Verdicts(choices: choices, cost: cost)
    }

    // MARK: figures

    /// Credit of a pairwise pair: each order gives 1 (prefers the better answer), 0 (the worse)
    /// or 0.5 (no verdict); the pair gets their mean, so orders that disagree make a tie.
    public static func pairwiseCredit(_ c: (Choice?, Choice?)) -> Double {
        let first: Double = c.0.map { $0 == .a ? 1 : 0 } ?? 0.5
        let second: Double = c.1.map { $0 == .b ? 1 : 0 } ?? 0.5
        return (first + second) / 2
    }

    /// One labelled pair as every method saw it.
    struct JudgedPair {
        var cluster: Int
        var item: ItemResult
        var pair: EvalPair
    }

    static func judgedPairs(_ results: [ItemResult]) -> [JudgedPair] {
        results.enumerated().flatMap { n, r in r.entry.preferences.map { JudgedPair(cluster: n, item: r, pair: $0) } }
    }

    static func agreement(_ credits: [(credit: Double, cluster: Int, missing: Bool)], samples: Int) -> Agreement {
        let values = credits.map(\.credit)
        let interval = EvalMetrics.bootstrapInterval(credits: values, clusters: credits.map(\.cluster), samples: samples)
        return Agreement(
            accuracy: EvalMetrics.accuracy(values), interval: interval.map { [$0.low, $0.high] }, pairs: credits.count,
            ties: credits.filter { $0.credit == 0.5 && !$0.missing }.count, missing: credits.filter(\.missing).count)
    }

    /// The figures of one method over every pair.
    static func summarise(_ method: EvalMethod, _ results: [ItemResult], samples: Int) -> MethodResult {
        let pairs = judgedPairs(results)
        // A signal: the score of each answer of an item (nil: missing).
        func scoreCredits(_ score: (ItemResult, Int) -> Double?) -> [(credit: Double, cluster: Int, missing: Bool)] {
            pairs.map { jp in
                let b = score(jp.item, jp.pair.better), w = score(jp.item, jp.pair.worse)
                return (EvalMetrics.credit(better: b, worse: w), jp.cluster, b == nil || w == nil)
            }
        }
        var credits: [(credit: Double, cluster: Int, missing: Bool)]
        var dimensions: [String: Agreement]? = nil
        var flipRate: Double? = nil
        var tauPairs: [(reference: Int, method: Int)] = []
        var cost = Cost()
        switch method {
        case .longreward:
            let reward: (ItemResult, Int) -> Double? = { $0.longreward?.records[$1].reward }
            credits = scoreCredits(reward)
            var perDimension: [String: Agreement] = [:]
            for d in Dimension.allCases {
                perDimension[d.rawValue] = agreement(scoreCredits { $0.longreward?.records[$1].scores[d.rawValue] }, samples: samples)
            }
            dimensions = perDimension
            tauPairs = withinItemSigns(results, reward)
            for r in results { if let c = r.longreward?.cost { cost.calls += c.calls; cost.tokens += c.tokens } }
        case .pointwise:
            let rating: (ItemResult, Int) -> Double? = { $0.pointwise?.ratings[$1] }
            credits = scoreCredits(rating)
            tauPairs = withinItemSigns(results, rating)
            for r in results { if let c = r.pointwise?.cost { cost.calls += c.calls; cost.tokens += c.tokens } }
        case .pairwise:
            credits = pairs.map { jp in
                let k = jp.item.entry.preferences.firstIndex(of: jp.pair)!
                let c = jp.item.pairwise?.choices[k] ?? (nil, nil)
                return (pairwiseCredit(c), jp.cluster, c.0 == nil && c.1 == nil)
            }
            let decided = pairs.compactMap { jp -> Bool? in
                let k = jp.item.entry.preferences.firstIndex(of: jp.pair)!
                guard let c = jp.item.pairwise?.choices[k], let first = c.0, let second = c.1 else { return nil }
                return first == second
            }
            flipRate = decided.isEmpty ? nil : Double(decided.filter { $0 }.count) / Double(decided.count)
            for (jp, c) in zip(pairs, credits) where jp.item.entry.humanScores != nil {
                tauPairs.append((1, c.credit > 0.5 ? 1 : (c.credit < 0.5 ? -1 : 0)))
            }
            for r in results { if let c = r.pairwise?.cost { cost.calls += c.calls; cost.tokens += c.tokens } }
        }
        let words = pairs.map { jp in
            (EvalMetrics.words(jp.item.entry.item.answers[jp.pair.better]), EvalMetrics.words(jp.item.entry.item.answers[jp.pair.worse]))
        }
        let shorter = zip(credits, words).filter { $1.0 < $1.1 }.map(\.0)
        let longer = zip(credits, words).filter { $1.0 > $1.1 }.map(\.0)
        var byKind: [String: [(credit: Double, cluster: Int, missing: Bool)]] = [:]
        for (jp, c) in zip(pairs, credits) {
            guard let b = jp.item.entry.kinds[jp.pair.better], let w = jp.item.entry.kinds[jp.pair.worse] else { continue }
            byKind["\(b)>\(w)", default: []].append(c)
        }
        let n = max(1, pairs.count)
        return MethodResult(
            method: method.rawValue, agreement: agreement(credits, samples: samples),
            kendallTau: EvalMetrics.kendallTauB(tauPairs), shorterBetter: agreement(shorter, samples: samples),
            longerBetter: agreement(longer, samples: samples), byKind: byKind.mapValues { agreement($0, samples: samples) },
            dimensions: dimensions, positionFlipRate: flipRate, calls: cost.calls, tokens: cost.tokens,
            callsPerPair: Double(cost.calls) / Double(n), tokensPerPair: Double(cost.tokens) / Double(n))
    }

    /// For items with human scores: the signs of (human, method) differences over every
    /// answer pair of the item whose method scores are both present.
    static func withinItemSigns(_ results: [ItemResult], _ score: (ItemResult, Int) -> Double?) -> [(reference: Int, method: Int)] {
        var out: [(reference: Int, method: Int)] = []
        for r in results {
            guard let human = r.entry.humanScores else { continue }
            for i in human.indices {
                for j in human.indices where j > i {
                    guard let si = score(r, i), let sj = score(r, j) else { continue }
                    out.append((EvalMetrics.sign(human[i], human[j]), EvalMetrics.sign(si, sj)))
                }
            }
        }
        return out
    }

    static func details(_ results: [ItemResult]) -> [PairDetail] {
        judgedPairs(results).map { jp in
            let e = jp.item.entry, b = jp.pair.better, w = jp.pair.worse
            var detail = PairDetail(
                item: jp.item.id, better: b, worse: w, betterKind: e.kinds[b], worseKind: e.kinds[w],
                betterWords: EvalMetrics.words(e.item.answers[b]), worseWords: EvalMetrics.words(e.item.answers[w]), credit: [:])
            if let lr = jp.item.longreward {
                detail.longreward = [lr.records[b].reward, lr.records[w].reward]
                detail.credit["longreward"] = EvalMetrics.credit(better: lr.records[b].reward, worse: lr.records[w].reward)
            }
            if let pw = jp.item.pointwise {
                detail.pointwise = [pw.ratings[b], pw.ratings[w]]
                detail.credit["pointwise"] = EvalMetrics.credit(better: pw.ratings[b], worse: pw.ratings[w])
            }
            if let pr = jp.item.pairwise {
                let c = pr.choices[e.preferences.firstIndex(of: jp.pair)!]
                detail.pairwise = [c.0?.rawValue, c.1?.rawValue]
                detail.credit["pairwise"] = pairwiseCredit(c)
            }
            return detail
        }
    }

    /// Writes eval.json through a `.partial` file.
    static func write(_ result: EvalResult, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(result), to: path)
    }
}

/// A thread-safe list, filled from concurrent tasks.
final class Collected<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [T] = []
    func append(_ value: T) { lock.withLock { stored.append(value) } }
    var values: [T] { lock.withLock { stored } }
}

/// A thread-safe count.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
