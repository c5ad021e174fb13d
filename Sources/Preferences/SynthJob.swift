// SynthJob.swift: `longreward synth`: the self-taught evaluator's synthetic judge data. For each
// question: a perturbed, related question; a good answer to the original (chosen) and one to the
// perturbed question (rejected, plausible but off the question); N pairwise judgments in each
// order; the correct ones kept, balanced between positions A and B, as judge-training examples.

import Foundation
import Judges
import Scoring
import Store
import Tokenizers

/// Settings of a synth run.
public struct SynthOptions: Sendable {
    /// Store, model (policy and judge are the same model here) and rubrics.
    public var models: ModelOptions
    /// Questions JSONL (the `score` input format).
    public var inputPath: String
    /// Output JSONL: prompt / completion (TRL SFTTrainer) judgments that pick the known winner.
    public var outputPath: String
    /// Pairwise judgments sampled per order (A/B), and their temperature. They double as the
    /// votes of the majority-vote judge.
    public var judgments = 4, temperature = 0.8
    /// Evidence passages shown to the pairwise judge.
    public var evidenceK = 5
    /// Messages instead of strings.
    public var conversational = false

    /// Creates options.
    public init(models: ModelOptions, inputPath: String, outputPath: String) {
        self.models = models
        self.inputPath = inputPath
        self.outputPath = outputPath
    }
}

/// Metadata of one synthetic judgment.
public struct SynthMetadata: Encodable, Sendable {
    /// Item, the original and the perturbed question.
    public var itemId: String, question: String, perturbedQuestion: String
    /// Where the better answer was shown, and the judgment's sample number.
    public var winnerPosition: String, sample: Int
}

/// One judge-training line.
public struct SynthRecord: Encodable, Sendable {
    /// The pairwise judge's prompt and a correct judgment.
    public var prompt: ExportText, completion: ExportText
    /// Provenance.
    public var metadata: SynthMetadata
}

/// Totals of a synth run.
public struct SynthSummary: Sendable {
    /// Questions, and synthetic pairs made.
    public var questions: Int, pairs: Int
    /// Questions skipped, by reason.
    public var skipped: [SkipReason: Int]
    /// Judgments: correct, wrong, unparsed; kept after balancing; dropped for balance.
    public var correct: Int, wrong: Int, unparsed: Int, kept: Int, droppedForBalance: Int
    /// Majority vote over each order's N judgments: orders decided correctly, wrongly, or tied.
    public var voteCorrect: Int, voteWrong: Int, voteUndecided: Int
    /// Usage: generation (perturbing and answering) and judging apart.
    public var generationUsage: JudgeUsage, judgeUsage: JudgeUsage
    /// Wall time.
    public var seconds: Double
}

/// `longreward synth`.
public enum SynthJob {
    /// Builds synthetic judge data for every question of the input; all model calls are cached.
    public static func run(
        _ options: SynthOptions, model: (any Judge)? = nil, index: DocumentIndex? = nil,
        onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }
    ) async throws -> SynthSummary {
        let started = Date()
        guard options.judgments >= 1 else { throw PreferenceError.invalidOption("--judgments must be at least 1") }
        let items = try ScoreInput.read(path: options.inputPath, answersRequired: false)
        let session = try PreferenceSession.open(
            options.models, command: "synth \(options.inputPath)", config: "n=\(options.judgments) t=\(options.temperature)", model: model, index: index)
        let perturb = try session.rubric("perturb"), answerRubric = try session.rubric("answer")
        let pairwise = try session.rubric("pairwise")
        var summary = SynthSummary(
            questions: items.count, pairs: 0, skipped: [:], correct: 0, wrong: 0, unparsed: 0, kept: 0, droppedForBalance: 0,
            voteCorrect: 0, voteWrong: 0, voteUndecided: 0, generationUsage: JudgeUsage(), judgeUsage: JudgeUsage(), seconds: 0)
        var generation = JudgeUsage()
        let writer = try JSONLinesWriter(path: options.outputPath)
        do {
            for (n, item) in items.enumerated() {
                // Per question: the perturbed question, two answers, the judgments in both orders.
                defer {
                    onProgress(JobProgress(
                        done: n + 1, total: items.count, unit: "questions", usage: session.usage,
                        plannedCalls: items.count * (3 + 2 * options.judgments)))
                }
                let before = session.usage
                let document = try await session.index.resolve(item.document, line: item.line, inputFile: options.inputPath)
                let itemID = Scorer.itemID(given: item.id, documentID: document.id, question: item.question)
                // 1. A related question that asks for something else.
                guard case .text(let perturbed)? = try await session.runner.call(perturb, ["question": item.question]).verdict,
                    perturbed.lowercased() != item.question.lowercased()
                else {
                    summary.skipped[.noPerturbedQuestion, default: 0] += 1
                    continue
                }
                // 2. A good answer to each (first attempt near-greedy, as the scorer's calls).
                func answer(_ question: String) async throws -> String? {
                    let context = try await PolicyPrompt.context(
                        document: document, question: question, index: session.index, budget: options.models.contextTokens,
                        rubric: answerRubric)
                    let outcome = try await session.runner.call(answerRubric, ["document": context, "question": question])
                    if case .text(let text)? = outcome.verdict { return text }
                    return nil
                }
                let good = try await answer(item.question), bad = try await answer(perturbed)
                generation += session.usage - before
                guard let good, let bad, good != bad else {
                    summary.skipped[.noSyntheticAnswers, default: 0] += 1
                    continue
                }
                summary.pairs += 1
                // 3. N judgments in each order.
                let evidenceChunks = try await session.index.evidence(for: [item.question], documentID: document.id, k: options.evidenceK)[0]
                let evidence = try evidenceChunks.enumerated().map {
                    try pairwise.format("passage", ["n": "\($0.offset + 1)", "text": $0.element.text])
                }.joined(separator: "\n\n")
                var requests: [(position: PairPosition, sample: Int, values: [String: String])] = []
                for s in 0..<options.judgments {
                    requests.append((.a, s + 1, ["question": item.question, "evidence": evidence, "answer_a": good, "answer_b": bad]))
                    requests.append((.b, s + 1, ["question": item.question, "evidence": evidence, "answer_a": bad, "answer_b": good]))
                }
                let judged = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
                    for (i, request) in requests.enumerated() {
                        group.addTask {
                            (i, try await session.runner.call(pairwise, request.values, sample: request.sample, temperature: options.temperature))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
                }
                let judgments: [PairwiseJudgment] = zip(requests, judged).map { request, outcome in
                    let verdict: PairPosition? = if case .choice(let c)? = outcome.verdict { c } else { nil }
                    return PairwiseJudgment(text: outcome.outputs.last ?? "", winnerPosition: request.position, verdict: verdict)
                }
                // 4. Majority vote per order.
                for position in [PairPosition.a, .b] {
                    let vote = MajorityVote.decide(judgments.filter { $0.winnerPosition == position }.map(\.verdict))
                    if vote.choice == nil { summary.voteUndecided += 1 } else if vote.choice == position { summary.voteCorrect += 1 } else {
                        summary.voteWrong += 1
                    }
                }
                // 5. Correct judgments, balanced between A and B.
                let selection = EvaluatorSelection.select(judgments)
                summary.correct += selection.correct
                summary.wrong += selection.wrong
                summary.unparsed += selection.unparsed
                summary.droppedForBalance += selection.droppedForBalance
                for kept in selection.kept {
                    let index = judgments.firstIndex(of: kept)!
                    let messages = try pairwise.messages(requests[index].values)
                    let prompt: ExportText = options.conversational
                        ? .messages(messages) : .text(session.model.renderedPrompt(messages) ?? PolicyPrompt.plainText(messages))
                    try writer.write(SynthRecord(
                        prompt: prompt, completion: .completion(kept.text, conversational: options.conversational),
                        metadata: SynthMetadata(
                            itemId: itemID, question: item.question, perturbedQuestion: perturbed,
                            winnerPosition: kept.winnerPosition.rawValue, sample: requests[index].sample)))
                    summary.kept += 1
                }
            }
            try writer.finish()
        } catch {
            writer.abandon()
            session.finish(.failed, "\(error)")
            throw error
        }
        let total = session.usage
        summary.generationUsage = generation
        summary.judgeUsage = total - generation
        summary.seconds = Date().timeIntervalSince(started)
        session.finish(.finished, "\(summary.kept) judgments kept from \(summary.pairs) synthetic pairs")
        return summary
    }
}
