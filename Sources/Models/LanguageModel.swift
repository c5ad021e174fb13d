// LanguageModel.swift: a decoder with its tokenizer and chat template: text in, text out.
// Generation (several sequences at once, streaming, stop tokens and strings) and
// log-probabilities of given continuations, the two things the judge, the sampler and the
// DPO trainer need.

import Formats
import Kernels
import Tokenizers

/// What to generate.
public struct GenerationParameters: Sendable, Equatable {
    /// Token limit per sequence.
    public var maxTokens: Int
    /// Token selection.
    public var sampling: SamplingParameters
    /// Generation stops (and the text is cut) where any of these strings appears.
    public var stopStrings: [String]
    /// Whether the text keeps the stop string that ended it (a verdict's closing `]]`).
    public var keepStopString: Bool
    /// Read a verdict's distribution at the end instead of sampling it (see ``DecodeScheduler``).
    public var probe: VerdictProbe?

    /// Creates generation parameters.
    public init(
        maxTokens: Int = 256, sampling: SamplingParameters = .greedy, stopStrings: [String] = [], keepStopString: Bool = false,
        probe: VerdictProbe? = nil
    ) {
        self.probe = probe
        self.keepStopString = keepStopString
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
    }
}

/// Why a sequence stopped.
public enum StopReason: String, Sendable, Codable {
    /// An end-of-turn or end-of-text token.
    case endOfTurn = "end_of_turn"
    /// A stop string appeared.
    case stopString = "stop_string"
    /// The token limit was reached.
    case maxTokens = "max_tokens"
    /// The context window is full.
    case contextFull = "context_full"
}

/// One generated sequence.
public struct Generation: Sendable {
    /// The generated text (stop string and end-of-turn token excluded).
    public var text: String
    /// Generated token ids (including a final end-of-turn token when there was one).
    public var tokens: [Int32]
    /// Prompt length in tokens.
    public var promptTokens: Int
    /// Why generation stopped.
    public var stopReason: StopReason
    /// With a ``VerdictProbe``: log-probability of each candidate verdict, in the probe's order
    /// (nil when there was no probe or no room left in the context).
    public var verdictLogProbabilities: [Double]?
    /// Whether the probe's forced prefix was appended (the analysis ended without the opener).
    public var forcedVerdict: Bool

    /// Creates a generation record.
    public init(
        text: String, tokens: [Int32], promptTokens: Int, stopReason: StopReason, verdictLogProbabilities: [Double]? = nil,
        forcedVerdict: Bool = false
    ) {
        self.text = text
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.stopReason = stopReason
        self.verdictLogProbabilities = verdictLogProbabilities
        self.forcedVerdict = forcedVerdict
    }
}

/// Per-token log-probabilities of a continuation.
public struct ContinuationLogProbabilities: Sendable, Codable {
    /// The prompt's token ids.
    public var promptTokens: [Int32]
    /// The continuation's token ids.
    public var continuationTokens: [Int32]
    /// `log p(token_i | prompt, tokens_<i)` per continuation token.
    public var tokenLogProbabilities: [Float]
    /// Their sum.
    public var sum: Double { tokenLogProbabilities.reduce(0) { $0 + Double($1) } }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case continuationTokens = "continuation_tokens"
        case tokenLogProbabilities = "token_logprobs"
    }
}

/// A Llama-family model with its tokenizer and chat template.
///
/// ```swift
/// let lm = try LanguageModel.load()                         // embedded SmolLM2
/// let prompt = lm.chatPrompt([.user("Rate this answer...")])
/// let out = lm.generate(prompt: prompt, parameters: .init(maxTokens: 64)) { print($0, terminator: "") }
/// ```
public final class LanguageModel: @unchecked Sendable {
    /// The decoder.
    public let model: LlamaModel
    /// Its tokenizer.
    public let tokenizer: BPETokenizer
    /// Its chat template (ChatML for SmolLM2), if the file has one.
    public let chatTemplate: ChatTemplate?
    /// Tokens that end a turn: end-of-text plus `<|im_end|>` / `<|eot_id|>` when present.
    public let endOfTurnTokens: Set<Int32>
    /// The model file.
    public let path: String

    /// Assembles a language model from parts; the tokenizer must match the model's vocabulary.
    public init(model: LlamaModel, tokenizer: BPETokenizer, chatTemplate: ChatTemplate?, path: String) throws {
        guard tokenizer.vocabularySize == model.configuration.vocabularySize else {
            throw ModelError.tokenizerMismatch(file: path, reason: "tokenizer has \(tokenizer.vocabularySize) tokens, the model's embedding \(model.configuration.vocabularySize) rows")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.path = path
        var eot = Set<Int32>()
        if let e = tokenizer.eosID { eot.insert(e) }
        for piece in ["<|im_end|>", "<|eot_id|>", "<|endoftext|>"] {
            if let id = tokenizer.id(forPiece: piece), tokenizer.isControl(id) { eot.insert(id) }
        }
        endOfTurnTokens = eot
    }

    /// Loads a GGUF model: `path` if given, else the embedded SmolLM2 from `$LONGREWARD_HOME`.
    /// - Throws: ``ModelError`` (not found, unsupported architecture, tokenizer mismatch),
    ///   `FormatError`, `TokenizerError`.
    public static func load(path: String? = nil, threads: Int = 1) throws -> LanguageModel {
        let resolved = try ModelLocator.decoder(path)
        let gguf = try GGUFFile(path: resolved)
        let model = try LlamaModel.load(gguf: gguf, threads: threads)
        let tokenizer: BPETokenizer
        do { tokenizer = try BPETokenizer(gguf: gguf) } catch {
            throw ModelError.tokenizerMismatch(file: resolved, reason: "\(error)")
        }
        return try LanguageModel(model: model, tokenizer: tokenizer, chatTemplate: try ChatTemplate.fromGGUF(gguf), path: resolved)
    }

    /// Worker threads used by the decoder.
    public var threads: Int {
        get { model.threads }
        set { model.threads = newValue }
    }

    // MARK: - Prompts

    /// Renders messages with the chat template (plain concatenation of contents when there is none)
    /// and, with `addGenerationPrompt`, opens the assistant's turn.
    public func chatPrompt(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        guard let t = chatTemplate else { return messages.map(\.content).joined(separator: "\n") }
        return t.render(messages: messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Token ids of a prompt; special tokens such as `<|im_start|>` are parsed.
    public func encodePrompt(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, parseSpecial: true)
        if tokenizer.addBOS, let bos = tokenizer.bosID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    // MARK: - Generation

    /// Generates one continuation of `prompt` (a rendered prompt; special tokens parsed).
    /// - Parameter onText: called with each newly completed piece of text (streaming).
    public func generate(prompt: String, parameters: GenerationParameters, onText: ((String) -> Void)? = nil) -> Generation {
        generate(prompts: [encodePrompt(prompt)], parameters: [parameters], prefixes: nil) { _, text in onText?(text) }[0]
    }

    /// Generates continuations of several prompts at once: each is prefilled on its own, then all
    /// decode together (one batched matrix product per layer per step): a ``DecodeScheduler``
    /// with every sequence admitted at the start and whole prompts prefilled.
    /// - Parameters:
    ///   - prompts: token ids per sequence.
    ///   - parameters: one per sequence (sampling seeds usually differ).
    ///   - onText: called with `(sequence, new text)` as text completes.
    ///   - prefixes: optional per sequence: a cache already holding the first `count` tokens of
    ///     that prompt (a fixed rubric prefix); those positions are copied, not recomputed. The
    ///     caller guarantees the cached tokens equal `prompt[0..<count]` (see `PrefixCache`).
    public func generate(
        prompts: [[Int32]], parameters: [GenerationParameters], prefixes: [KVCache?]? = nil,
        onText: ((Int, String) -> Void)? = nil
    ) -> [Generation] {
        precondition(prompts.count == parameters.count, "generate: \(prompts.count) prompts, \(parameters.count) parameter sets")
        precondition(prefixes == nil || prefixes!.count == prompts.count, "generate: one prefix slot per prompt")
        let scheduler = DecodeScheduler(model: self, maxBatch: max(1, prompts.count), prefillBudget: Int.max)
        for (s, prompt) in prompts.enumerated() {
            scheduler.submit(id: s, prompt: prompt, parameters: parameters[s], prefix: prefixes?[s] ?? nil)
        }
        let results = scheduler.drain(onText: onText)
        return prompts.indices.map { results[$0]! }
    }

    /// Length of the longest suffix of `text` that is a proper prefix of `stop`.
    static func longestSuffixPrefix(_ text: String, _ stop: String) -> Int {
        let t = Array(text), s = Array(stop)
        var n = min(t.count, s.count - 1)
        while n > 0 {
            if Array(t.suffix(n)) == Array(s.prefix(n)) { return n }
            n -= 1
        }
        return 0
    }

    // MARK: - Log-probabilities

    /// Log-probabilities of `continuation` after `prompt`. The two are tokenised separately and
    /// the ids concatenated. With `chat`, the prompt becomes one user turn followed by the
    /// assistant header, and the continuation is the answer.
    public func logProbabilities(prompt: String, continuation: String, chat: Bool = false) -> ContinuationLogProbabilities {
        let promptText = chat ? chatPrompt([.user(prompt)]) : prompt
        let p = encodePrompt(promptText)
        let c = tokenizer.encode(continuation, parseSpecial: false)
        return ContinuationLogProbabilities(promptTokens: p, continuationTokens: c, tokenLogProbabilities: model.logProbabilities(prompt: p, continuation: c))
    }

    /// Log-probabilities of `continuation` after the already-rendered `prompt` under the
    /// extrapolated logits `(1 + lambda) h_self - lambda h_reference` (see
    /// `LlamaModel.extrapolatedLogProbabilities`). Tokenised with this model's tokenizer.
    public func extrapolatedLogProbabilities(
        prompt: String, continuation: String, reference: LanguageModel, lambda: Float
    ) -> ContinuationLogProbabilities {
        let p = encodePrompt(prompt)
        let c = tokenizer.encode(continuation, parseSpecial: false)
        return ContinuationLogProbabilities(
            promptTokens: p, continuationTokens: c,
            tokenLogProbabilities: model.extrapolatedLogProbabilities(prompt: p, continuation: c, reference: reference.model, lambda: lambda))
    }
}
