// MetaJudgeJob.swift: `longreward meta-judge`: Meta-Rewarding's judge-preference pairs. Sample
// N judgments per answer, keep the answers whose judgment scores vary most, let the meta-judge
// compare every two judgments in both orders, correct for position bias, fit Elo scores and
// pair the best judgment with the worst.

import Foundation
import Judges
import Scoring
import Store
import Tokenizers

/// Settings of a meta-judge run.
public struct MetaJudgeOptions: Sendable {
    /// Store and judge.
    public var models: ModelOptions
    /// Output JSONL (DPO records whose completions are judgments).
    public var outputPath: String
    /// The rubric whose judgments are compared.
    public var rubricID = "helpfulness"
    /// Judgments sampled per answer, and their temperature.
    public var judgments = 4, temperature = 0.8
    /// Answers per question sent to the meta-judge (those whose judgment scores vary most).
    public var answersPerQuestion = 2
    /// Chosen judgments longer than this many characters are dropped (nil: no limit).
    public var maxJudgmentLength: Int? = nil
    /// Messages instead of strings.
    public var conversational = false
    /// Elo fit regulariser (keeps scores finite when a judgment never loses).
    public var ridge = 0.01

    /// Creates options.
    public init(models: ModelOptions, outputPath: String) {
        self.models = models
        self.outputPath = outputPath
    }
}

/// Metadata of a judgment pair.
public struct JudgmentPairMetadata: Encodable, Sendable {
    /// Item, answer and rubric judged.
    public var itemId: String, answerId: String, rubric: String
    /// Every judgment's rating (null: unparsed) and Elo score, by sample.
    public var ratings: [Double?], elo: [Double]
    /// Samples chosen and rejected.
    public var chosenSample: Int, rejectedSample: Int
    /// Position weights of the run.
    public var w1: Double, w2: Double
}

/// One judge-preference line.
public struct JudgmentPairRecord: Encodable, Sendable {
    /// TRL DPO columns: the judge's prompt, the better and the worse judgment.
    public var prompt: ExportText, chosen: ExportText, rejected: ExportText
    /// Ratings, Elo, weights.
    public var metadata: JudgmentPairMetadata
}

/// Totals of a meta-judge run.
public struct MetaJudgeSummary: Sendable {
    /// Questions and answers looked at, answers sent to the meta-judge, pairs written.
    public var questions: Int, answers: Int, metaJudged: Int, pairs: Int
    /// Answers skipped, by reason.
    public var skipped: [SkipReason: Int]
    /// Position weights estimated over the run.
    public var weights: PositionWeights
    /// Usage: judgment sampling and meta-judging apart.
    public var judgmentUsage: JudgeUsage, metaUsage: JudgeUsage
    /// Wall time.
    public var seconds: Double
}

/// `longreward meta-judge`.
public enum MetaJudgeJob {
    /// Runs the Meta-Rewarding loop over every stored answer. All model calls are cached.
    public static func run(
        _ options: MetaJudgeOptions, judge: (any Judge)? = nil, index: DocumentIndex? = nil,
        onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }
    ) async throws -> MetaJudgeSummary {
        let started = Date()
        guard options.judgments >= 2 else { throw PreferenceError.invalidOption("--judgments must be at least 2") }
        guard options.answersPerQuestion >= 1 else { throw PreferenceError.invalidOption("--answers must be at least 1") }
        let session = try PreferenceSession.open(
            options.models, command: "meta-judge", config: "rubric=\(options.rubricID) n=\(options.judgments) t=\(options.temperature)",
            model: judge, index: index)
        let rubric = try session.rubric(options.rubricID)
        let meta = try session.rubric("meta-judge")
        let items = try session.store.items().map { ($0, try session.store.answers(itemID: $0.id)) }.filter { !$0.1.isEmpty }
        guard !items.isEmpty else {
            session.finish(.failed, "no answers")
            throw PreferenceError.nothingToDo("\(session.store.path): no answers; score or sample some first")
        }
        var summary = MetaJudgeSummary(
            questions: items.count, answers: 0, metaJudged: 0, pairs: 0, skipped: [:], weights: PositionWeights.estimate([]),
            judgmentUsage: JudgeUsage(), metaUsage: JudgeUsage(), seconds: 0)
        let totalAnswers = items.reduce(0) { $0 + $1.1.count }
        // N judgments per answer, then every ordered pair of judgments for the answers kept
        // (at most `answersPerQuestion` per question; corrected once they are chosen).
        let planned = totalAnswers * options.judgments
            + items.reduce(0) { $0 + min($1.1.count, options.answersPerQuestion) } * options.judgments * (options.judgments - 1)
        // 1. N judgments per answer, sampled at temperature.
        struct Judged { let item: ItemRecord; let answer: AnswerRecord; let texts: [String?]; let ratings: [Double?] }
        var judged: [[Judged]] = []
        var done = 0
        do {
            for (item, answers) in items {
                var perItem: [Judged] = []
                for answer in answers {
                    let values = ["question": item.question, "answer": answer.text]
                    let outcomes = try await withThrowingTaskGroup(of: (Int, JudgeOutcome).self) { group in
                        for n in 0..<options.judgments {
                            group.addTask {
                                (n, try await session.runner.call(rubric, values, sample: n + 1, temperature: options.temperature))
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
                    }
                    let ratings: [Double?] = outcomes.map { if case .rating(let v, _)? = $0.verdict { v } else { nil } }
                    let texts: [String?] = outcomes.map { $0.verdict == nil ? nil : $0.outputs.last }
                    perItem.append(Judged(item: item, answer: answer, texts: texts, ratings: ratings))
                    done += 1
                    onProgress(JobProgress(done: done, total: totalAnswers, unit: "answers judged", usage: session.usage, plannedCalls: planned))
                }
                judged.append(perItem)
            }
            summary.answers = done
            summary.judgmentUsage = session.usage
            // 2. The answers whose judgments disagree most, per question.
            var selected: [Judged] = []
            for perItem in judged {
                let variances = perItem.map { ScoreSpread.variance($0.ratings) }
                let picked = ScoreSpread.mostVaried(variances, count: options.answersPerQuestion)
                summary.skipped[.noScoreSpread, default: 0] += variances.filter { !($0 > 0) }.count
                selected += picked.map { perItem[$0] }
            }
            // 3. Every two parsed judgments, in both orders.
            var comparisons: [[JudgmentComparison]] = []
            for (n, entry) in selected.enumerated() {
                let usable = entry.texts.indices.filter { entry.texts[$0] != nil }
                var pairs: [(Int, Int)] = []
                for m in usable { for k in usable where k != m { pairs.append((m, k)) } }
                let results = try await withThrowingTaskGroup(of: JudgmentComparison.self) { group in
                    for (m, k) in pairs {
                        group.addTask {
                            let outcome = try await session.runner.call(meta, [
                                "rubric": rubric.system, "question": entry.item.question, "answer": entry.answer.text,
                                "judgment_a": entry.texts[m]!, "judgment_b": entry.texts[k]!,
                            ])
                            let result: Int = switch outcome.verdict {
                            case .choice(.a)?: 1
                            case .choice(.b)?: -1
                            default: 0
                            }
                            return JudgmentComparison(first: m, second: k, result: result)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                        .sorted { ($0.first, $0.second) < ($1.first, $1.second) }
                }
                comparisons.append(results)
                onProgress(JobProgress(
                    done: n + 1, total: selected.count, unit: "answers meta-judged", usage: session.usage,
                    plannedCalls: totalAnswers * options.judgments + selected.count * options.judgments * (options.judgments - 1)))
            }
            summary.metaJudged = selected.count
            // 4. Position weights over the whole run, then a battle matrix and Elo per answer.
            let weights = PositionWeights.estimate(comparisons.flatMap { $0 })
            summary.weights = weights
            let writer = try JSONLinesWriter(path: options.outputPath)
            do {
                for (entry, answerComparisons) in zip(selected, comparisons) {
                    let battles = BattleMatrix.build(count: options.judgments, comparisons: answerComparisons, weights: weights)
                    let elo = EloFit.fit(battles, ridge: options.ridge)
                    // Unparsed judgments never fought: only parsed ones can be picked.
                    let usable = entry.texts.indices.filter { entry.texts[$0] != nil }
                    let picked = JudgmentPairing.pick(
                        scores: usable.map { elo[$0] }, lengths: usable.map { entry.texts[$0]!.count },
                        maxLength: options.maxJudgmentLength)
                    switch picked {
                    case .failure(let reason): summary.skipped[reason, default: 0] += 1
                    case .success(let local):
                        let pick = (chosen: usable[local.chosen], rejected: usable[local.rejected])
                        let messages = try rubric.messages(["question": entry.item.question, "answer": entry.answer.text])
                        let prompt: ExportText = options.conversational
                            ? .messages(messages) : .text(session.model.renderedPrompt(messages) ?? PolicyPrompt.plainText(messages))
                        try writer.write(JudgmentPairRecord(
                            prompt: prompt,
                            chosen: .completion(entry.texts[pick.chosen]!, conversational: options.conversational),
                            rejected: .completion(entry.texts[pick.rejected]!, conversational: options.conversational),
                            metadata: JudgmentPairMetadata(
                                itemId: entry.item.id, answerId: entry.answer.id, rubric: rubric.id, ratings: entry.ratings,
                                elo: elo, chosenSample: pick.chosen, rejectedSample: pick.rejected, w1: weights.w1, w2: weights.w2)))
                    }
                }
                try writer.finish()
                summary.pairs = writer.count
            } catch {
                writer.abandon()
                throw error
            }
        } catch {
            session.finish(.failed, "\(error)")
            throw error
        }
        summary.metaUsage = session.usage - summary.judgmentUsage
        summary.seconds = Date().timeIntervalSince(started)
        session.finish(.finished, "\(summary.pairs) judgment pairs from \(summary.metaJudged) answers")
        return summary
    }
}
