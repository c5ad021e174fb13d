// SampleJob.swift: `longreward sample`: K answers per question from the policy, stored with the
// prompt they answer so that `score` and the exports pick them up.

import Foundation
import Judges
import Scoring
import Store
import Tokenizers

/// Settings of a sample run.
public struct SampleOptions: Sendable {
    /// Store and policy (`models.model` is the policy).
    public var models: ModelOptions
    /// Questions JSONL (the `score` input format; answers, if any, are ignored).
    public var inputPath: String
    /// Answers per question.
    public var k = 10
    /// Sampling temperature and nucleus.
    public var temperature = 0.8, topP = 0.95
    /// Seed: sample `k` of seed `s` is model call `1000 s + k` (each attempt its own seed), so
    /// reruns reproduce and extend the same samples.
    public var seed = 0

    /// Creates options.
    public init(models: ModelOptions, inputPath: String) {
        self.models = models
        self.inputPath = inputPath
    }
}

/// Totals of a sample run.
public struct SampleSummary: Sendable {
    /// Questions sampled.
    public var questions: Int
    /// Answers stored new, answers already in the store (a rerun), samples whose text repeated
    /// an earlier one (kept once), samples that never gave text.
    public var stored: Int, alreadyStored: Int, duplicates: Int, failed: Int
    /// Model usage.
    public var usage: JudgeUsage
    /// Wall time.
    public var seconds: Double
}

/// `longreward sample`.
public enum SampleJob {
    /// Samples `k` answers for every question of the input. Each sample is a cached model call,
    /// so an interrupted run resumes where it stopped.
    public static func run(
        _ options: SampleOptions, policy: (any Judge)? = nil, index: DocumentIndex? = nil,
        onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }
    ) async throws -> SampleSummary {
        guard options.k >= 1 else { throw PreferenceError.invalidOption("--k must be at least 1") }
        guard options.temperature >= 0, options.topP > 0, options.topP <= 1 else {
            throw PreferenceError.invalidOption("--temperature must be >= 0 and --top-p in (0, 1]")
        }
        let started = Date()
        let items = try ScoreInput.read(path: options.inputPath, answersRequired: false)
        let config = "k=\(options.k) temperature=\(options.temperature) top_p=\(options.topP) seed=\(options.seed)"
        let session = try PreferenceSession.open(options.models, command: "sample \(options.inputPath)", config: config, model: policy, index: index)
        let rubric = try session.rubric("answer")
        var summary = SampleSummary(questions: 0, stored: 0, alreadyStored: 0, duplicates: 0, failed: 0, usage: JudgeUsage(), seconds: 0)
        let total = items.count * options.k
        let finished = ProgressCounter()
        do {
            for item in items {
                let document = try await session.index.resolve(item.document, line: item.line, inputFile: options.inputPath)
                let itemID = Scorer.itemID(given: item.id, documentID: document.id, question: item.question)
                try session.store.upsertItem(ItemRecord(id: itemID, documentID: document.id, question: item.question))
                let context = try await PolicyPrompt.context(
                    document: document, question: item.question, index: session.index, budget: options.models.contextTokens,
                    rubric: rubric)
                let values = ["document": context, "question": item.question]
                let messages = try rubric.messages(values)
                let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
                    for k in 0..<options.k {
                        group.addTask {
                            let outcome = try await session.runner.call(
                                rubric, values, sample: options.seed * 1000 + k, temperature: options.temperature, topP: options.topP)
                            onProgress(JobProgress(done: finished.next(), total: total, unit: "answers", usage: session.usage, plannedCalls: total))
                            return (k, outcome)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }
                }
                var seen = Set(try session.store.answers(itemID: itemID).map(\.id))
                var fresh = Set<String>()
                for (k, outcome) in outcomes {
                    guard case .text(let text)? = outcome.verdict else {
                        summary.failed += 1
                        continue
                    }
                    let id = Scorer.answerID(itemID: itemID, text: text)
                    if fresh.contains(id) {
                        summary.duplicates += 1
                        continue
                    }
                    fresh.insert(id)
                    if seen.contains(id) {
                        summary.alreadyStored += 1
                        continue
                    }
                    seen.insert(id)
                    let generation: [String: String] = [
                        "policy": session.model.identity, "temperature": "\(options.temperature)", "top_p": "\(options.topP)",
                        "seed": "\(options.seed)", "sample": "\(k)",
                    ]
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = .sortedKeys
                    try session.store.upsertAnswer(AnswerRecord(
                        id: id, itemID: itemID, ordinal: k, text: text, origin: "sampled",
                        prompt: session.model.renderedPrompt(messages), promptMessages: PolicyPrompt.encode(messages),
                        generation: String(decoding: try encoder.encode(generation), as: UTF8.self)))
                    summary.stored += 1
                }
                summary.questions += 1
            }
        } catch {
            session.finish(.failed, "\(error)")
            throw error
        }
        summary.usage = session.usage
        summary.seconds = Date().timeIntervalSince(started)
        session.finish(.finished, "\(summary.stored) answers stored for \(summary.questions) questions")
        return summary
    }
}
