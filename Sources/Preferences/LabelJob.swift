// LabelJob.swift: `longreward label`: SPA self-labels. Each pair of stored answers is labelled
// by the implicit reward beta * (log pi - log ref) of its two answers, low-confidence labels are
// flagged and given SPA's smoothing weights; no judge is called.

import Foundation
import Judges
import Models
import Scoring
import Store
import Tokenizers

/// Something that scores an answer's log-probability after a rendered prompt.
public protocol SequenceScorer: Sendable {
    /// Stable identity: log-probabilities are stored under it.
    var identity: String { get }
    /// The prompt text the model reads for `messages`, ready for the answer.
    func renderedPrompt(_ messages: [ChatMessage]) -> String
    /// Summed log-probability of `answer` after `prompt`, and its token count.
    func logProbability(prompt: String, answer: String) throws -> (logprob: Double, tokens: Int)
}

/// An in-process GGUF model as a sequence scorer; with a reference and lambda, it scores under
/// SPA's extrapolated logits `(1 + lambda) h_pi - lambda h_ref`.
public final class LocalSequenceScorer: SequenceScorer, @unchecked Sendable {
    /// The model.
    public let model: LanguageModel
    /// `local:<file>:<size>` (plus the extrapolation, when set).
    public let identity: String
    private let reference: LanguageModel?
    private let lambda: Float

    /// Wraps a loaded model; `extrapolatingFrom` turns on decoupled noise detection.
    public init(model: LanguageModel, extrapolatingFrom reference: LanguageModel? = nil, lambda: Double = 0) {
        self.model = model
        self.reference = reference
        self.lambda = Float(lambda)
        let size = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
        var id = "local:\((model.path as NSString).lastPathComponent):\(size)"
        if let reference { id += "|dnd lambda=\(lambda) ref=\((reference.path as NSString).lastPathComponent)" }
        identity = id
    }

    /// Loads a GGUF (nil: the embedded SmolLM2) with a clear error for a missing file.
    public static func load(path: String?, threads: Int) throws -> LanguageModel {
        if let path, !FileManager.default.fileExists(atPath: path) {
            throw PreferenceError.modelUnavailable(path: path, reason: "no such file")
        }
        return try LanguageModel.load(path: path, threads: threads)
    }

    public func renderedPrompt(_ messages: [ChatMessage]) -> String { model.chatPrompt(messages) }

    public func logProbability(prompt: String, answer: String) throws -> (logprob: Double, tokens: Int) {
        let result: ContinuationLogProbabilities
        if let reference {
            result = model.extrapolatedLogProbabilities(prompt: prompt, continuation: answer, reference: reference, lambda: lambda)
        } else {
            result = model.logProbabilities(prompt: prompt, continuation: answer)
        }
        return (result.sum, result.continuationTokens.count)
    }
}

/// Settings of a label run.
public struct LabelOptions: Sendable {
    /// Store (and the embedder, to rebuild prompts of answers given without one).
    public var models: ModelOptions
    /// Output JSONL (DPO records with SPA weights).
    public var outputPath: String
    /// Policy GGUF (nil: the embedded SmolLM2) and reference GGUF (nil: none; every pair is
    /// then skipped as "missing reference model").
    public var policyPath: String? = nil, referencePath: String? = nil
    /// Beta, low-confidence fraction, smoothing alpha, window.
    public var spa = SPAOptions()
    /// Decoupled noise detection: score the policy under extrapolated logits (nil: off).
    public var extrapolation: Double? = nil
    /// Messages instead of strings.
    public var conversational = false

    /// Creates options.
    public init(models: ModelOptions, outputPath: String) {
        self.models = models
        self.outputPath = outputPath
    }
}

/// Metadata of one self-labelled pair.
public struct SelfLabelMetadata: Encodable, Sendable {
    /// Item and answers.
    public var itemId: String, chosenId: String, rejectedId: String
    /// Implicit rewards, P(chosen > rejected) and the margin.
    public var chosenReward: Double, rejectedReward: Double, probability: Double, margin: Double
    /// Beta and the extrapolation used.
    public var beta: Double, extrapolation: Double?
}

/// One self-labelled pair: TRL DPO columns plus the SPA loss's smoothing weights.
public struct SelfLabelRecord: Encodable, Sendable {
    /// TRL columns.
    public var prompt: ExportText, chosen: ExportText, rejected: ExportText
    /// False for the bottom fraction of margins.
    public var confident: Bool
    /// Weights of log sigmoid(beta z) and log sigmoid(-beta z) in the SPA loss.
    public var chosenWeight: Double, rejectedWeight: Double
    /// Ids and rewards.
    public var metadata: SelfLabelMetadata
}

/// Totals of a label run.
public struct LabelSummary: Sendable {
    /// Pairs labelled, and how many of them are low-confidence.
    public var pairs: Int, lowConfidence: Int
    /// Questions or pairs skipped, by reason.
    public var skipped: [SkipReason: Int]
    /// Log-probabilities computed fresh and read from the store.
    public var computed: Int, cached: Int
    /// Wall time.
    public var seconds: Double
}

/// `longreward label`.
public enum LabelJob {
    /// Labels consecutive pairs of each item's stored answers (ordinal order: sample 0 with 1,
    /// 2 with 3, ...). Log-probabilities are stored per (answer, model) and reused.
    public static func run(
        _ options: LabelOptions, policy: (any SequenceScorer)? = nil, reference: (any SequenceScorer)? = nil,
        onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }
    ) async throws -> LabelSummary {
        let started = Date()
        guard options.spa.beta > 0 else { throw PreferenceError.invalidOption("--beta must be positive") }
        guard (0..<1).contains(options.spa.lowConfidenceFraction), (0...1).contains(options.spa.alpha) else {
            throw PreferenceError.invalidOption("--low-confidence must be in [0, 1) and --alpha in [0, 1]")
        }
        let store = try Store(path: options.models.pipeline.storePath)
        var summary = LabelSummary(pairs: 0, lowConfidence: 0, skipped: [:], computed: 0, cached: 0, seconds: 0)
        // Pairs first: the skips are known before any model loads.
        var pairs: [(item: ItemRecord, first: AnswerRecord, second: AnswerRecord)] = []
        for item in try store.items() {
            let answers = try store.answers(itemID: item.id)
            guard answers.count >= 2 else {
                summary.skipped[.tooFewAnswers, default: 0] += 1
                continue
            }
            for i in stride(from: 0, to: answers.count - 1, by: 2) { pairs.append((item, answers[i], answers[i + 1])) }
        }
        let writer = try JSONLinesWriter(path: options.outputPath)
        do {
            let referenceScorer: (any SequenceScorer)?
            if let reference { referenceScorer = reference } else if let path = options.referencePath {
                referenceScorer = LocalSequenceScorer(model: try LocalSequenceScorer.load(path: path, threads: options.models.pipeline.threads))
            } else { referenceScorer = nil }
            guard let referenceScorer, !pairs.isEmpty else {
                if !pairs.isEmpty { summary.skipped[.missingReference, default: 0] += pairs.count }
                try writer.finish()
                summary.seconds = Date().timeIntervalSince(started)
                return summary
            }
            let policyScorer: any SequenceScorer
            if let policy { policyScorer = policy } else {
                let model = try LocalSequenceScorer.load(path: options.policyPath, threads: options.models.pipeline.threads)
                if let lambda = options.extrapolation, let ref = referenceScorer as? LocalSequenceScorer {
                    policyScorer = LocalSequenceScorer(model: model, extrapolatingFrom: ref.model, lambda: lambda)
                } else {
                    policyScorer = LocalSequenceScorer(model: model)
                }
            }
            let rubrics = try RubricLibrary(folder: try RubricLibrary.locate(options.models.rubricsFolder))
            guard let answerRubric = rubrics.rubrics["answer"] else { throw PreferenceError.missingRubric(id: "answer", folder: rubrics.folder) }
            var index: DocumentIndex? = nil
            var messagesByItem: [String: [ChatMessage]] = [:]
            func messages(_ item: ItemRecord, _ answer: AnswerRecord) async throws -> [ChatMessage] {
                if let stored = PolicyPrompt.decode(answer.promptMessages) { return stored }
                if let built = messagesByItem[item.id] { return built }
                if index == nil { index = try options.models.pipeline.open() }
                guard let document = try store.document(id: item.documentID) else {
                    throw PreferenceError.nothingToDo("item \(item.id): document \(item.documentID) is not in the store")
                }
                let context = try await PolicyPrompt.context(
                    document: document, question: item.question, index: index!, budget: options.models.contextTokens, rubric: answerRubric)
                let built = try PolicyPrompt.messages(rubric: answerRubric, context: context, question: item.question)
                messagesByItem[item.id] = built
                return built
            }
            func logProbability(_ scorer: any SequenceScorer, _ answer: AnswerRecord, prompt: String) throws -> Double {
                if let stored = try store.logProbability(answerID: answer.id, modelID: scorer.identity) {
                    summary.cached += 1
                    return stored.logprob
                }
                let (value, tokens) = try scorer.logProbability(prompt: prompt, answer: answer.text)
                try store.saveLogProbability(answerID: answer.id, modelID: scorer.identity, logprob: value, tokens: tokens)
                summary.computed += 1
                return value
            }
            var inputs: [ImplicitRewardInput] = []
            var prompts: [[ChatMessage]] = []
            for (n, pair) in pairs.enumerated() {
                let conversation = try await messages(pair.item, pair.first)
                prompts.append(conversation)
                var values: [Double] = []
                for answer in [pair.first, pair.second] {
                    // The policy's own rendering; each model reads the prompt in its own template.
                    let answerMessages = try await messages(pair.item, answer)
                    values.append(try logProbability(policyScorer, answer, prompt: policyScorer.renderedPrompt(answerMessages)))
                    values.append(try logProbability(referenceScorer, answer, prompt: referenceScorer.renderedPrompt(answerMessages)))
                }
                inputs.append(ImplicitRewardInput(
                    id: "\(pair.first.id)|\(pair.second.id)", policyLogProb1: values[0], referenceLogProb1: values[1],
                    policyLogProb2: values[2], referenceLogProb2: values[3]))
                onProgress(JobProgress(done: n + 1, total: pairs.count, unit: "pairs", usage: JudgeUsage()))
            }
            let labels = SPALabeler.label(inputs, options: options.spa)
            for ((pair, conversation), label) in zip(zip(pairs, prompts), labels) {
                let (chosen, rejected) = label.prefersFirst ? (pair.first, pair.second) : (pair.second, pair.first)
                let prompt: ExportText = options.conversational
                    ? .messages(conversation) : .text(chosen.prompt ?? policyScorer.renderedPrompt(conversation))
                try writer.write(SelfLabelRecord(
                    prompt: prompt, chosen: .completion(chosen.text, conversational: options.conversational),
                    rejected: .completion(rejected.text, conversational: options.conversational), confident: label.confident,
                    chosenWeight: label.chosenWeight, rejectedWeight: label.rejectedWeight,
                    metadata: SelfLabelMetadata(
                        itemId: pair.item.id, chosenId: chosen.id, rejectedId: rejected.id,
                        chosenReward: label.prefersFirst ? label.reward1 : label.reward2,
                        rejectedReward: label.prefersFirst ? label.reward2 : label.reward1, probability: label.probability,
                        margin: label.margin, beta: options.spa.beta, extrapolation: options.extrapolation)))
                summary.pairs += 1
                if !label.confident { summary.lowConfidence += 1 }
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}
