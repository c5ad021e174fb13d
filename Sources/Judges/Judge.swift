// Judge.swift: the judge protocol that scoring calls through.

import Tokenizers

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

    /// Creates a request.
    public init(
        messages: [ChatMessage], fixedMessageCount: Int = 0, temperature: Double, topP: Double = 1, maxTokens: Int, seed: Int,
        stopAfter: [String] = []
    ) {
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

    /// Creates a reply.
    public init(text: String, tokensIn: Int, cachedTokens: Int = 0, tokensOut: Int, latency: Double) {
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
