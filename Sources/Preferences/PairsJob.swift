// PairsJob.swift: `longreward pairs`: scored answers become DPO pairs, KTO examples or ranked
// lists, with every skipped question counted by reason.

import Foundation
import Judges
import Scoring
import Store
import Tokenizers

/// Export formats.
public enum PreferenceFormat: String, Sendable, CaseIterable {
    /// prompt / chosen / rejected (TRL DPOTrainer).
    case dpo
    /// prompt / completion / label (TRL KTOTrainer).
    case kto
    /// prompt / completions / rewards, best first.
    case ranked
}

/// Settings of a pairs run.
public struct PairsOptions: Sendable {
    /// Store (and, for answers given without a prompt, the embedder that rebuilds it).
    public var models: ModelOptions
    /// Output JSONL.
    public var outputPath: String
    /// Format.
    public var format: PreferenceFormat = .dpo
    /// Pair rule, minimum answers, margin, failed-dimension policy.
    public var pairOptions = PairOptions()
    /// KTO labels: reward >= threshold is desirable; nil labels by the pair rule.
    public var ktoThreshold: Double? = nil
    /// Messages instead of strings in prompt and answer columns.
    public var conversational = false
    /// The scoring configuration whose rewards to use (nil: the most recent).
    public var configHash: String? = nil

    /// Creates options.
    public init(models: ModelOptions, outputPath: String) {
        self.models = models
        self.outputPath = outputPath
    }
}

/// Totals of a pairs run.
public struct PairsSummary: Sendable {
    /// Questions looked at and records written.
    public var questions: Int, records: Int
    /// Questions skipped, by reason.
    public var skipped: [SkipReason: Int]
    /// Answers left out: unscored under the configuration, no reward, or a failed dimension.
    public var unscoredAnswers: Int, excludedAnswers: Int
    /// KTO label counts (desirable, undesirable).
    public var balance: LabelBalance?
    /// Records whose standard-format prompt is plain text because no chat template was known
    /// (answers given as input, or sampled from a server): `--conversational` avoids this.
    public var untemplatedPrompts: Int
    /// The configuration used.
    public var configHash: String
    /// Wall time.
    public var seconds: Double
}

/// `longreward pairs`.
public enum PairsJob {
    /// Builds the export from the store. No model is called; answers given as input (no stored
    /// prompt) get the policy prompt rebuilt from the `answer` rubric.
    public static func run(_ options: PairsOptions, index: DocumentIndex? = nil) async throws -> PairsSummary {
        let started = Date()
        if case .lengthControl(let rho) = options.pairOptions.rule, !(0...1).contains(rho) {
            throw PreferenceError.invalidOption("--rho must be within 0...1 (got \(rho))")
        }
        guard options.pairOptions.minAnswers >= 2 else { throw PreferenceError.invalidOption("--min-answers must be at least 2") }
        let store = try index?.store ?? Store(path: options.models.pipeline.storePath)
        let configurations = try store.rewardConfigurations()
        guard !configurations.isEmpty else {
            throw PreferenceError.nothingToDo("\(store.path): no scored answers; run `longreward score` first")
        }
        let configHash = options.configHash ?? configurations[0].configHash
        guard configurations.contains(where: { $0.configHash == configHash }) else {
            throw PreferenceError.invalidOption(
                "no rewards under configuration \(configHash); stored: \(configurations.map(\.configHash).joined(separator: ", "))")
        }
        let rubrics = try RubricLibrary(folder: try RubricLibrary.locate(options.models.rubricsFolder))
        guard let answerRubric = rubrics.rubrics["answer"] else {
            throw PreferenceError.missingRubric(id: "answer", folder: rubrics.folder)
        }
        var openedIndex = index
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let writer = try JSONLinesWriter(path: options.outputPath)
        var summary = PairsSummary(
            questions: 0, records: 0, skipped: [:], unscoredAnswers: 0, excludedAnswers: 0, balance: nil, untemplatedPrompts: 0,
            configHash: configHash, seconds: 0)
        var desirable = 0, undesirable = 0
        let ruleName: String = {
            switch options.pairOptions.rule {
            case .bestWorst: return "best-worst"
            case .lengthControl(let rho): return "length-control rho=\(rho)"
            }
        }()
        do {
            for item in try store.items() {
                let answers = try store.answers(itemID: item.id)
                var scored: [(answer: AnswerRecord, score: AnswerScore)] = []
                for answer in answers {
                    guard let json = try store.rewardRecord(answerID: answer.id, configHash: configHash),
                        let score = try? decoder.decode(AnswerScore.self, from: Data(json.utf8))
                    else {
                        summary.unscoredAnswers += 1
                        continue
                    }
                    scored.append((answer, score))
                }
                guard !scored.isEmpty else { continue }
                summary.questions += 1
                let byID = Dictionary(scored.map { ($0.answer.id, $0) }, uniquingKeysWith: { a, _ in a })
                let candidates = scored.map {
                    ScoredCandidate(
                        answerID: $0.answer.id, reward: $0.score.reward, length: $0.answer.text.count,
                        hasFailedDimension: !$0.score.failedDimensions.isEmpty)
                }
                // The prompt: stored with sampled answers; rebuilt for given ones.
                func prompt(for answer: AnswerRecord) async throws -> ExportText {
                    var messages = PolicyPrompt.decode(answer.promptMessages)
                    if messages == nil {
                        if openedIndex == nil { openedIndex = try options.models.pipeline.open() }
                        let index = openedIndex!
                        guard let document = try store.document(id: item.documentID) else {
                            throw PreferenceError.nothingToDo("item \(item.id): document \(item.documentID) is not in the store")
                        }
                        let context = try await PolicyPrompt.context(
                            document: document, question: item.question, index: index, budget: options.models.contextTokens,
                            rubric: answerRubric)
                        messages = try PolicyPrompt.messages(rubric: answerRubric, context: context, question: item.question)
                    }
                    if options.conversational { return .messages(messages!) }
                    if let rendered = answer.prompt { return .text(rendered) }
                    summary.untemplatedPrompts += 1
                    return .text(PolicyPrompt.plainText(messages!))
                }
                switch options.format {
                case .dpo:
                    let (result, excluded) = PairSelector.select(candidates, options: options.pairOptions)
                    summary.excludedAnswers += excluded
                    switch result {
                    case .failure(let reason): summary.skipped[reason, default: 0] += 1
                    case .success(let pair):
                        let chosen = byID[pair.chosen.answerID]!, rejected = byID[pair.rejected.answerID]!
                        try writer.write(DPORecord(
                            prompt: try await prompt(for: chosen.answer),
                            chosen: .completion(chosen.answer.text, conversational: options.conversational),
                            rejected: .completion(rejected.answer.text, conversational: options.conversational),
                            metadata: PairMetadata(
                                itemId: item.id, documentId: item.documentID, question: item.question, chosenId: chosen.answer.id,
                                rejectedId: rejected.answer.id, chosenReward: pair.chosen.reward ?? 0,
                                rejectedReward: pair.rejected.reward ?? 0, margin: pair.margin,
                                chosenScores: DimensionScores(chosen.score.scores), rejectedScores: DimensionScores(rejected.score.scores),
                                rule: ruleName, configHash: configHash)))
                    }
                case .kto:
                    let rule: KTOLabelRule = options.ktoThreshold.map { .threshold($0) } ?? .pairRule
                    let (labels, skip, excluded) = KTOLabeler.label(candidates, rule: rule, pairOptions: options.pairOptions)
                    summary.excludedAnswers += excluded
                    if let skip { summary.skipped[skip, default: 0] += 1 }
                    for label in labels {
                        let entry = byID[label.answerID]!
                        if label.label { desirable += 1 } else { undesirable += 1 }
                        try writer.write(KTORecord(
                            prompt: try await prompt(for: entry.answer),
                            completion: .completion(entry.answer.text, conversational: options.conversational), label: label.label,
                            metadata: KTOMetadata(
                                itemId: item.id, documentId: item.documentID, question: item.question, answerId: entry.answer.id,
                                reward: label.reward, scores: DimensionScores(entry.score.scores),
                                rule: options.ktoThreshold.map { "threshold=\($0)" } ?? ruleName, configHash: configHash)))
                    }
                case .ranked:
                    let ranked = Ranking.ranked(candidates)
                    summary.excludedAnswers += candidates.count - ranked.count
                    guard ranked.count >= options.pairOptions.minAnswers else {
                        summary.skipped[.tooFewAnswers, default: 0] += 1
                        continue
                    }
                    let entries = ranked.map { byID[$0.answerID]! }
                    try writer.write(RankedRecord(
                        prompt: try await prompt(for: entries[0].answer),
                        completions: entries.map { .completion($0.answer.text, conversational: options.conversational) },
                        rewards: ranked.map { $0.reward ?? 0 },
                        metadata: RankedMetadata(
                            itemId: item.id, documentId: item.documentID, question: item.question, answerIds: entries.map(\.answer.id),
                            scores: entries.map { DimensionScores($0.score.scores) }, configHash: configHash)))
                }
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        summary.records = writer.count
        if options.format == .kto { summary.balance = LabelBalance(desirable: desirable, undesirable: undesirable) }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}
