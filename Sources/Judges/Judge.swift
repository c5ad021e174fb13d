// Judge.swift: the judge protocol that scoring calls through.

import Tokenizers

/// How a rating or label is read from the judge.
public enum VerdictMode: String, Sendable, Codable, CaseIterable {
    /// The judge writes its analysis and the verdict; the text is parsed (retried on failure).
    case parse
    /// The judge writes its analysis and the opener `[[`; the verdict is the
    /// probability-weighted mean over the allowed verdicts, read from the next-token
    /// probabilities (never a format failure).
    case expected
    /// No analysis: the prompt ends at the opener and the verdict is read at once (one prefill).
    case direct
}

/// What a judge needs to read a verdict from probabilities (``VerdictMode/expected`` or
/// ``VerdictMode/direct``): the rubric's allowed verdicts and how they are written.
public struct VerdictRequest: Sendable, Hashable {
    /// `expected` or `direct`.
    public var mode: VerdictMode
    /// The rubric, for error messages.
    public var rubricID: String
    /// Allowed verdicts as written between opener and closer (`0`...`10`; `Fully`, ...).
    public var labels: [String]
    /// `[[` and `]]`.
    public var opener: String, closer: String
    /// Text that forces the verdict when the analysis ended without the opener, and that starts
    /// the reply in direct mode; ends with `opener`.
    public var forcedPrefix: String

    /// Creates a verdict request.
    public init(mode: VerdictMode, rubricID: String, labels: [String], opener: String, closer: String, forcedPrefix: String) {
        self.mode = mode
        self.rubricID = rubricID
        self.labels = labels
        self.opener = opener
        self.closer = closer
        self.forcedPrefix = forcedPrefix
    }
}

/// Probabilities of a request's allowed verdicts, as the judge reported them.
public struct VerdictProbabilities: Sendable, Equatable, Codable {
    /// Probability of each label (request order), not renormalised.
    public var probabilities: [Double]
    /// Where they came from: `model` (in-process next-token log-probs) or `logprobs` (a server's
    /// `top_logprobs`).
    public var source: String
    /// Whether the opener had to be forced after the analysis.
    public var forced: Bool

    /// Creates a record.
    public init(probabilities: [Double], source: String, forced: Bool = false) {
        self.probabilities = probabilities
        self.source = source
        self.forced = forced
    }

    /// Total probability on allowed verdicts.
    public var mass: Double { probabilities.reduce(0, +) }
}

/// One completion request to a judge.
public struct JudgeRequest: Sendable {
    /// The conversation (system, examples, user).
    public var messages: [ChatMessage]
    /// How many leading messages are the same across calls (a reusable prefix).
    public var fixedMessageCount: Int
    /// Sampling temperature.
    public var temperature: Double
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP` (1: off).
    public var topP: Double
    /// Completion budget.
    public var maxTokens: Int
    /// Sampling seed (servers may ignore it).
    public var seed: Int
    /// Strings after which the verdict is complete: a local judge stops there and keeps the
    /// string in its output (HTTP judges ignore it; servers finish long outputs fast).
    public var stopAfter: [String]
    /// Read the verdict from probabilities instead of parsing it (nil: parse).
    public var verdict: VerdictRequest?

    /// Creates a request.
    public init(
        messages: [ChatMessage], fixedMessageCount: Int = 0, temperature: Double, topP: Double = 1, maxTokens: Int, seed: Int,
        stopAfter: [String] = [], verdict: VerdictRequest? = nil
    ) {
        self.verdict = verdict
        self.stopAfter = stopAfter
        self.topP = topP
        self.messages = messages
        self.fixedMessageCount = fixedMessageCount
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.seed = seed
    }
}

/// What a judge wrote, with its cost.
public struct JudgeReply: Sendable, Equatable {
    /// The completion text.
    public var text: String
    /// Prompt tokens, of which `cachedTokens` came from a prefix cache.
    public var tokensIn: Int, cachedTokens: Int
    /// Completion tokens.
    public var tokensOut: Int
    /// Wall time of the call in seconds.
    public var latency: Double
    /// With a ``VerdictRequest``: the allowed verdicts' probabilities (nil when the judge could
    /// not provide them, e.g. a server that returns no log-probs: the text is parsed instead).
    public var verdict: VerdictProbabilities?

    /// Creates a reply.
    public init(text: String, tokensIn: Int, cachedTokens: Int = 0, tokensOut: Int, latency: Double, verdict: VerdictProbabilities? = nil) {
        self.verdict = verdict
        self.text = text
        self.tokensIn = tokensIn
        self.cachedTokens = cachedTokens
        self.tokensOut = tokensOut
        self.latency = latency
    }
}

/// A judge model: the embedded SmolLM2 (`LocalJudge`) or an OpenAI-compatible server (`HTTPJudge`).
/// Calls may come concurrently; implementations batch or bound them.
public protocol Judge: Sendable {
    /// Stable identity recorded with every call (backend, model, weights hash or URL).
    var identity: String { get }
    /// Completes one request. Throws `JudgeError` when no answer can be had.
    func complete(_ request: JudgeRequest) async throws -> JudgeReply
    /// The exact text the model reads for `messages` (its chat template applied, ready for the
    /// assistant's turn), when the model runs in process; nil when a server applies the template.
    func renderedPrompt(_ messages: [ChatMessage]) -> String?
}

extension Judge {
    /// Servers apply their own template: unknown here.
    public func renderedPrompt(_ messages: [ChatMessage]) -> String? { nil }
}
