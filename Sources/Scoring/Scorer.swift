// Scorer.swift: the four dimensions and the reward, orchestrated with caching and resume.

import Foundation
import Formats
import Judges
import Retrieval
import Store

/// What to do with an answer that makes no factual statement (nothing to check for faithfulness).
public enum NoStatementPolicy: String, Sendable, Codable, CaseIterable {
    /// Leave faithfulness out of the reward (the default): an evasive answer is judged by
    /// helpfulness, logic and completeness, which already punish it.
    case exclude
    /// Score faithfulness 10: nothing unsupported was said.
    case full
    /// Score faithfulness 0.
    case zero
}

/// What to do with an answer that holds text addressed to the judge (``InjectionScreen``:
/// verdict markup, rating lines, chat-template markers, statement tags, end-of-answer markers,
/// notes to the grader).
public enum InjectionPolicy: String, Sendable, Codable, CaseIterable {
    /// Reward 0 without asking the judge (the default): an answer that tries to set its own
    /// score must never gain by it, and a small judge's probabilities do move toward what such
    /// text asks for.
    case penalize
    /// Score it as usual and record the signals in the output (`injection`).
    case flag
    /// Score it as usual (the judged text is still neutralised).
    case ignore
}

/// Everything that changes scores; its hash keys stored rewards.
public struct ScoringConfiguration: Sendable, Codable, Equatable {
    /// Weights of helpfulness, logic, faithfulness, completeness (normalised over scored dimensions).
    public var weights: [Double]
    /// Evidence chunks per statement (LongReward: 5).
    public var topK: Int
    /// Faithfulness policy for answers without statements.
    public var noStatementPolicy: NoStatementPolicy
    /// Parse-retry schedule.
    public var retries: RetrySchedule
    /// How rating and support verdicts are read; nil is `parse` (and keeps the configuration
    /// hash of stores scored before verdict modes existed).
    public var verdictMode: VerdictMode?

    /// The verdict mode in effect.
    public var effectiveVerdictMode: VerdictMode { verdictMode ?? .parse }
    /// How support labels (faithfulness) are read when that differs from ``verdictMode``; nil is
    /// the same mode (and keeps the configuration hash of stores scored before it existed). For
    /// example `expected` support labels beside `direct` ratings (measured in the README).
    public var supportVerdictMode: VerdictMode?
    /// Per rubric id, the verdict modes that differ from ``effectiveVerdictMode`` (for
    /// ``JudgeRunner/init(judge:store:runID:schedule:concurrency:maxTokensCap:verdictMode:verdictModeOverrides:minimumVerdictMass:)``).
    public var verdictModeOverrides: [String: VerdictMode] {
        supportVerdictMode.map { ["support": $0] } ?? [:]
    }
    /// The verdict mode rubric `rubricID` is read with.
    public func effectiveVerdictMode(rubric rubricID: String) -> VerdictMode {
        verdictModeOverrides[rubricID] ?? effectiveVerdictMode
    }
    /// Answers addressed to the judge; nil (stores from before the screen) is `.ignore`.
    public var injectionPolicy: InjectionPolicy?
    /// The injection policy in effect.
    public var effectiveInjectionPolicy: InjectionPolicy { injectionPolicy ?? .ignore }

    /// Creates a configuration; the defaults are LongReward's.
    public init(
        weights: [Double] = [1, 1, 1, 1], topK: Int = 5, noStatementPolicy: NoStatementPolicy = .exclude,
        retries: RetrySchedule = RetrySchedule(), verdictMode: VerdictMode? = nil, supportVerdictMode: VerdictMode? = nil,
        injectionPolicy: InjectionPolicy = .penalize
    ) {
        self.verdictMode = verdictMode == .parse ? nil : verdictMode
        self.supportVerdictMode = supportVerdictMode == (verdictMode ?? .parse) ? nil : supportVerdictMode
        self.injectionPolicy = injectionPolicy
        self.weights = weights
        self.topK = topK
        self.noStatementPolicy = noStatementPolicy
        self.retries = retries
    }

    /// Throws on weights or k that cannot work.
    public func validate() throws {
        guard weights.count == 4, weights.allSatisfy({ $0 >= 0 && $0.isFinite }), weights.contains(where: { $0 > 0 }) else {
            throw ScoringError.invalidConfiguration("weights must be four non-negative numbers, not all zero (got \(weights))")
        }
        guard topK >= 1 else { throw ScoringError.invalidConfiguration("top-k must be at least 1") }
    }

    /// Weighted mean of the scored dimensions, nil when none was scored.
    public func reward(_ scores: [Dimension: Double]) -> Double? {
        var sum = 0.0, weight = 0.0
        for (i, d) in Dimension.allCases.enumerated() {
            guard let s = scores[d] else { continue }
            sum += weights[i] * s
            weight += weights[i]
        }
        return weight > 0 ? sum / weight : nil
    }
}

/// Progress of a run, for the progress bar.
public struct ScoringProgress: Sendable {
    /// Answers finished and in total.
    public var done: Int, total: Int
    /// Judge calls made and cache hits so far.
    public var calls: Int, cacheHits: Int
    /// Tokens so far.
    public var tokensIn: Int, tokensOut: Int
    /// Judge calls expected in all (an estimate until every answer's statements are known).
    public var plannedCalls: Int = 0
}

/// Scores answers: helpfulness, logic, faithfulness, completeness and the reward.
public final class Scorer: Sendable {
    /// Documents and evidence.
    public let index: DocumentIndex
    /// Cached judge calls.
    public let runner: JudgeRunner
    /// Settings.
    public let configuration: ScoringConfiguration
    /// Hash of judge, rubrics, embedder, chunking and settings: the key of stored rewards.
    public let configHash: String
    /// Expected judge calls, corrected as statements are extracted (see ``plannedCalls(document:answers:)``).
    public let plan = CallPlan()
    let rubrics: [String: Rubric]

    /// Creates a scorer; every required rubric must be in `library`.
    public init(index: DocumentIndex, runner: JudgeRunner, rubrics library: RubricLibrary, configuration: ScoringConfiguration) throws {
        try configuration.validate()
        var rubrics: [String: Rubric] = [:]
        for id in RubricLibrary.required { rubrics[id] = try library.rubric(id) }
        self.rubrics = rubrics
        self.index = index
        self.runner = runner
        self.configuration = configuration
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let settings = String(decoding: (try? encoder.encode(configuration)) ?? Data(), as: UTF8.self)
        configHash = String(SHA256.hex(
            ([runner.judge.identity, index.embedder.identity, "\(index.options.fineTokens)/\(index.options.coarseTokens)", settings]
                + RubricLibrary.required.map { "\($0):\(rubrics[$0]!.contentHash)" }).joined(separator: "|")).prefix(16))
    }

    // MARK: items

    /// Resolves an item's document (ingesting given text or files), stores the item and its answers.
    public func prepare(_ item: ScoreItem, inputFile: String) async throws -> (item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord]) {
        let document = try await index.resolve(item.document, line: item.line, inputFile: inputFile)
        let itemID = Self.itemID(given: item.id, documentID: document.id, question: item.question)
        let record = ItemRecord(id: itemID, documentID: document.id, question: item.question)
        try index.store.upsertItem(record)
        if item.answers.isEmpty {
            // A question without answers scores the ones stored for it (policy samples).
            let stored = try index.store.answers(itemID: itemID)
            guard !stored.isEmpty else {
                throw ScoringError.badInput(
                    file: inputFile, line: item.line,
                    reason: "no answers in the line and none stored for item '\(itemID)' (sample some with `longreward sample`)")
            }
            return (record, document, stored)
        }
        let answers = item.answers.enumerated().map { i, text in
            AnswerRecord(id: Self.answerID(itemID: itemID, text: text), itemID: itemID, ordinal: i, text: text)
        }
        for answer in answers { try index.store.upsertAnswer(answer) }
        return (record, document, answers)
    }

    /// The stable id of an item: the given one, or one derived from the document and question.
    public static func itemID(given: String?, documentID: String, question: String) -> String {
        given ?? "item:" + SHA256.hex(documentID + "\u{1F}" + question).prefix(12)
    }

    /// The content-addressed id of an answer: `<item id>/<first 12 hex digits of SHA-256(text)>`.
    public static func answerID(itemID: String, text: String) -> String {
        itemID + "/" + SHA256.hex(text).prefix(12)
    }

    /// Scores every answer of one prepared item. Answers already scored under this configuration
    /// come back from the store (`cached`); the others are scored concurrently.
    public func score(
        item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord],
        onAnswer: @escaping @Sendable (AnswerScore) throws -> Void
    ) async throws {
        var pending: [AnswerRecord] = []
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        for answer in answers {
            if let json = try index.store.rewardRecord(answerID: answer.id, configHash: configHash),
                var record = try? decoder.decode(AnswerScore.self, from: Data(json.utf8))
            {
                record.cached = true
                record.answerIndex = answer.ordinal
                try onAnswer(record)
            } else {
                pending.append(answer)
            }
        }
        guard !pending.isEmpty else { return }
        let (extracts, extractUsage, extractFailure) = try await completenessExtracts(question: item.question, document: document)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for answer in pending {
                group.addTask {
                    let record = try await self.scoreAnswer(
                        answer, item: item, document: document, extracts: extracts, extractUsage: extractUsage,
                        extractFailure: extractFailure)
                    try self.save(record, answerID: answer.id)
                    try onAnswer(record)
                }
            }
            try await group.waitForAll()
        }
    }

    private func save(_ record: AnswerScore, answerID: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(record), as: UTF8.self)
        try index.store.connection.transaction {
            for d in Dimension.allCases {
                let r = record.dimensions[d.rawValue]!
                let detail = String(decoding: try encoder.encode(r), as: UTF8.self)
                try index.store.saveScore(
                    answerID: answerID, configHash: configHash, dimension: d.rawValue, status: r.status.rawValue,
                    score: r.score, detail: detail, runID: runner.runID)
            }
            try index.store.saveReward(answerID: answerID, configHash: configHash, reward: record.reward, record: json, runID: runner.runID)
        }
    }

    // MARK: dimensions

    private func scoreAnswer(
        _ answer: AnswerRecord, item: ItemRecord, document: DocumentRecord, extracts: [ExtractResult],
        extractUsage: JudgeUsage, extractFailure: String?
    ) async throws -> AnswerScore {
        let started = Date()
        let signals = InjectionScreen.signals(in: answer.text)
        if !signals.isEmpty && configuration.effectiveInjectionPolicy == .penalize {
            return penalised(answer, item: item, document: document, extracts: extracts, signals: signals)
        }
        let values = ["question": item.question, "answer": answer.text]
        async let helpfulness = runner.call(rubrics["helpfulness"]!, values)
        async let logic = runner.call(rubrics["logic"]!, values)
        async let faithfulness = faithfulness(answer: answer, question: item.question, document: document)
        async let completeness = completeness(answer: answer, question: item.question, extracts: extracts, extractFailure: extractFailure)

        var usage = JudgeUsage()
        var dimensions: [String: DimensionResult] = [:]
        let (h, l) = try await (helpfulness, logic)
        for (d, outcome) in [(Dimension.helpfulness, h), (.logic, l)] {
            usage.add(outcome)
            dimensions[d.rawValue] = Self.ratingResult(outcome)
        }
        let f = try await faithfulness
        usage.merge(f.usage)
        dimensions[Dimension.faithfulness.rawValue] = f.result
        let (cResult, cUsage) = try await completeness
        if let cUsage { usage.add(cUsage) }
        dimensions[Dimension.completeness.rawValue] = cResult

        var scores: [Dimension: Double] = [:]
        for d in Dimension.allCases { if let s = dimensions[d.rawValue]?.score { scores[d] = s } }
        let failed = Dimension.allCases.filter { dimensions[$0.rawValue]?.status == .failed }.map(\.rawValue)
        return AnswerScore(
            itemId: item.id, answerId: answer.id, answerIndex: answer.ordinal, documentId: document.id, question: item.question,
            scores: Dictionary(uniqueKeysWithValues: scores.map { ($0.key.rawValue, $0.value) }),
            reward: configuration.reward(scores), failedDimensions: failed, dimensions: dimensions,
            statements: f.statements, completenessExtracts: extracts, judge: usage, sharedJudge: extractUsage,
            seconds: Date().timeIntervalSince(started), cached: false,
            injection: signals.isEmpty || configuration.effectiveInjectionPolicy == .ignore ? nil : signals)
    }

    /// The record of an answer penalised for text addressed to the judge: every dimension 0 by
    /// policy, reward 0, no judge call.
    private func penalised(
        _ answer: AnswerRecord, item: ItemRecord, document: DocumentRecord, extracts: [ExtractResult], signals: [InjectionSignal]
    ) -> AnswerScore {
        let reason = "penalised (policy: penalize): the answer holds text addressed to the judge (\(signals.map(\.rawValue).joined(separator: ", ")))"
        let result = DimensionResult(status: .policy, score: 0, reason: reason, outputs: nil)
        return AnswerScore(
            itemId: item.id, answerId: answer.id, answerIndex: answer.ordinal, documentId: document.id, question: item.question,
            scores: Dictionary(uniqueKeysWithValues: Dimension.allCases.map { ($0.rawValue, 0.0) }), reward: 0, failedDimensions: [],
            dimensions: Dictionary(uniqueKeysWithValues: Dimension.allCases.map { ($0.rawValue, result) }), statements: [],
            completenessExtracts: extracts, judge: JudgeUsage(), sharedJudge: JudgeUsage(), seconds: 0, cached: false,
            injection: signals)
    }

    static func ratingResult(_ outcome: JudgeOutcome) -> DimensionResult {
        if case .rating(let value, let raw)? = outcome.verdict {
            return DimensionResult(status: .ok, score: value, reason: raw == value ? nil : "judge wrote \(raw), clamped to 0-10", outputs: nil)
        }
        return DimensionResult(
            status: .failed, score: nil,
            reason: outcome.failure ?? "no [[rating]] in \(outcome.attempts) attempts", outputs: outcome.outputs)
    }

    /// Statements, evidence, support labels: `10 * mean(value)` over the statements the judge labelled.
    func faithfulness(answer: AnswerRecord, question: String, document: DocumentRecord) async throws
        -> (result: DimensionResult, statements: [StatementResult], usage: JudgeUsage)
    {
        let extraction = try await runner.call(rubrics["statements"]!, ["question": question, "answer": answer.text])
        var usage = JudgeUsage()
        usage.add(extraction)
        guard case .statements(let statements)? = extraction.verdict else {
            plan.add(-CallPlan.statementsEstimate)
            return (DimensionResult(
                status: .failed, score: nil, reason: extraction.failure ?? "no <statement> list in \(extraction.attempts) attempts",
                outputs: extraction.outputs), [], usage)
        }
        plan.add(statements.count - CallPlan.statementsEstimate)
        if statements.isEmpty {
            let reason = "the answer makes no factual statement (policy: \(configuration.noStatementPolicy.rawValue))"
            switch configuration.noStatementPolicy {
            case .exclude: return (DimensionResult(status: .policy, score: nil, reason: reason, outputs: nil), [], usage)
            case .full: return (DimensionResult(status: .policy, score: 10, reason: reason, outputs: nil), [], usage)
            case .zero: return (DimensionResult(status: .policy, score: 0, reason: reason, outputs: nil), [], usage)
            }
        }
        let evidence = try await index.evidence(for: statements, documentID: document.id, k: configuration.topK)
        let support = rubrics["support"]!
        let passageLists = try evidence.map { chunks in
            try chunks.enumerated().map { try support.format("passage", ["n": "\($0.offset + 1)", "text": $0.element.text]) }
                .joined(separator: "\n")
        }
        let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
            for (i, statement) in statements.enumerated() {
                let passages = passageLists[i]
                group.addTask { (i, try await self.runner.call(support, ["statement": statement, "passages": passages])) }
            }
            var out = [JudgeOutcome?](repeating: nil, count: statements.count)
            for try await (i, outcome) in group { out[i] = outcome }
            return out.map { $0! }
        }
        var results: [StatementResult] = []
        var values: [Double] = []
        for (i, outcome) in outcomes.enumerated() {
            usage.add(outcome)
            var label: SupportLabel? = nil
            var value: Double? = nil
            switch outcome.verdict {
            case .support(let l)?: (label, value) = (l, l.value)
            case .supportValue(let v, let l)?: (label, value) = (l, v)
            default: break
            }
            if let value { values.append(value) }
            results.append(StatementResult(
                text: statements[i], support: label?.rawValue, value: value, evidenceChunks: evidence[i].map(\.ordinal)))
        }
        guard !values.isEmpty else {
            return (DimensionResult(
                status: .failed, score: nil, reason: "no support verdict for any of \(statements.count) statements",
                outputs: outcomes.flatMap(\.outputs)), results, usage)
        }
        let unlabelled = statements.count - values.count
        let score = 10 * values.reduce(0, +) / Double(values.count)
        return (DimensionResult(
            status: .ok, score: score,
            reason: unlabelled > 0 ? "\(unlabelled) of \(statements.count) statements got no verdict and are left out" : nil,
            outputs: nil), results, usage)
    }

    /// Question-relevant facts from every coarse chunk, once per (question, document): the calls
    /// are identical for every answer, so the cache makes them free after the first.
    func completenessExtracts(question: String, document: DocumentRecord) async throws -> ([ExtractResult], JudgeUsage, String?) {
        let chunks = try index.store.chunks(documentID: document.id, level: .coarse)
        let extract = rubrics["extract"]!
        let positions = chunks.map { $0.positionLabel(documentTokens: document.tokenCount) }
        let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
            for (i, chunk) in chunks.enumerated() {
                let position = positions[i]
                group.addTask { (i, try await self.runner.call(extract, ["question": question, "position": position, "chunk": chunk.text])) }
            }
            var out = [JudgeOutcome?](repeating: nil, count: chunks.count)
            for try await (i, outcome) in group { out[i] = outcome }
            return out.map { $0! }
        }
        var usage = JudgeUsage()
        var results: [ExtractResult] = []
        var failures = 0
        for (position, outcome) in zip(positions, outcomes) {
            usage.add(outcome)
            if case .extract(let facts)? = outcome.verdict {
                results.append(ExtractResult(position: position, facts: facts, status: .ok))
            } else {
                failures += 1
                results.append(ExtractResult(position: position, facts: [], status: .failed))
            }
        }
        let failure = failures > 0 ? "\(failures) of \(chunks.count) chunk extractions failed" : nil
        return (results, usage, failure)
    }

    /// The extracts as the completeness rubric reads them (layout from its `formats`).
    public static func renderExtracts(_ extracts: [ExtractResult], rubric: Rubric) throws -> String {
        let blocks = try extracts.filter { !$0.facts.isEmpty }.map { e in
            let facts = try e.facts.map { try rubric.format("fact", ["fact": $0]) }.joined(separator: "\n")
            return try rubric.format("extract_block", ["position": e.position, "facts": facts])
        }
        return blocks.isEmpty ? try rubric.format("no_extracts", [:]) : blocks.joined(separator: "\n\n")
    }

    func completeness(answer: AnswerRecord, question: String, extracts: [ExtractResult], extractFailure: String?) async throws
        -> (DimensionResult, JudgeOutcome?)
    {
        if let extractFailure {
            plan.add(-1)
            return (DimensionResult(status: .failed, score: nil, reason: extractFailure, outputs: nil), nil)
        }
        let rubric = rubrics["completeness"]!
        let outcome = try await runner.call(
            rubric, ["question": question, "extracts": try Self.renderExtracts(extracts, rubric: rubric), "answer": answer.text])
        return (Self.ratingResult(outcome), outcome)
    }
}
