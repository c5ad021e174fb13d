// ChatCompletion.swift: the values the client returns, and the JSON shapes of the two routes.
//
// Wire types (`ChatRequestBody`, `ChatResponseBody`, ...) mirror the OpenAI API reference with
// snake_case CodingKeys and stay internal; callers see `ChatCompletion` and `EmbeddingsResponse`.

import Foundation

/// One message of a chat: `{"role": "system" | "user" | "assistant", "content": "..."}`.
public struct ChatTurn: Codable, Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    /// The message text.
    public var content: String

    /// Creates a message.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// A `system` message.
    public static func system(_ content: String) -> ChatTurn {
        ChatTurn(role: "system", content: content)
    }
    /// A `user` message.
    public static func user(_ content: String) -> ChatTurn {
        ChatTurn(role: "user", content: content)
    }
    /// An `assistant` message.
    public static func assistant(_ content: String) -> ChatTurn {
        ChatTurn(role: "assistant", content: content)
    }
}

/// The first choice of a `/v1/chat/completions` answer, with usage and call statistics.
public struct ChatCompletion: Sendable, Equatable {
    /// The generated text (`choices[0].message.content`).
    public var text: String
    /// `usage.prompt_tokens`, when the server reports it.
    public var promptTokens: Int?
    /// `usage.completion_tokens`, when the server reports it.
    public var completionTokens: Int?
    /// `choices[0].finish_reason` (`stop`, `length`...), when present.
    public var finishReason: String?
    /// The model that answered (the response's `model`, else the endpoint's).
    public var model: String
    /// HTTP requests sent for this call, retries included (1 when the first succeeded).
    public var httpAttempts: Int
    /// Seconds from the first attempt's start to the parsed answer, retries and backoff included
    /// (waiting for an in-flight slot before the first attempt is not included).
    public var latencySeconds: Double
    /// Per generated token, when asked for (`logprobs`) and returned: the token, its log-prob
    /// and the most likely alternatives (`top_logprobs`). Nil when the server sent none.
    public var tokenLogProbabilities: [TokenLogProbability]? = nil
}

/// One generated token's log-probability and its most likely alternatives
/// (`choices[0].logprobs.content[i]`).
public struct TokenLogProbability: Sendable, Equatable, Decodable {
    /// The token's text.
    public var token: String
    /// Its log-probability.
    public var logprob: Double
    /// The most likely tokens at this position (the chosen one among them when it was).
    public var topLogprobs: [Alternative]

    /// One alternative token.
    public struct Alternative: Sendable, Equatable, Decodable {
        /// Token text and log-probability.
        public var token: String, logprob: Double

        /// Creates an alternative.
        public init(token: String, logprob: Double) {
            self.token = token
            self.logprob = logprob
        }
    }

    /// Creates a record.
    public init(token: String, logprob: Double, topLogprobs: [Alternative]) {
        self.token = token
        self.logprob = logprob
        self.topLogprobs = topLogprobs
    }

    enum CodingKeys: String, CodingKey {
        case token, logprob
        case topLogprobs = "top_logprobs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        token = try c.decode(String.self, forKey: .token)
        logprob = try c.decode(Double.self, forKey: .logprob)
        topLogprobs = try c.decodeIfPresent([Alternative].self, forKey: .topLogprobs) ?? []
    }
}

/// The answer of `/v1/embeddings`: one vector per input, in input order.
public struct EmbeddingsResponse: Sendable, Equatable {
    /// `vectors[i]` embeds input `i` (ordered by the response's `index`, not its array order).
    public var vectors: [[Float]]
    /// `usage.prompt_tokens`, when the server reports it.
    public var promptTokens: Int?
    /// HTTP requests sent, retries included (0 for an empty input list).
    public var httpAttempts: Int
}

// MARK: - Wire format

struct ChatRequestBody: Encodable {
    var model: String
    var messages: [ChatTurn]
    var temperature: Double
    var topP: Double?
    var maxTokens: Int
    var seed: Int?
    var stop: [String]?
    var stream = false
    var logprobs: Bool?
    var topLogprobs: Int?
    /// vLLM's switches for continuing a final assistant message (a verdict prefix) instead of
    /// opening a new turn; llama.cpp's server continues a trailing assistant message on its own.
    var continueFinalMessage: Bool?
    var addGenerationPrompt: Bool?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, stream, logprobs
        case topP = "top_p"
        case maxTokens = "max_tokens"
        case topLogprobs = "top_logprobs"
        case continueFinalMessage = "continue_final_message"
        case addGenerationPrompt = "add_generation_prompt"
    }
}

struct Usage: Decodable {
    var promptTokens: Int?
    var completionTokens: Int?

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
    }
}

struct ChatResponseBody: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable { var content: String? }
        struct LogProbs: Decodable { var content: [TokenLogProbability]? }
        var message: Message?
        var finishReason: String?
        var logprobs: LogProbs?

        enum CodingKeys: String, CodingKey {
            case message, logprobs
            case finishReason = "finish_reason"
        }
    }
    var model: String?
    var choices: [Choice]?
    var usage: Usage?
}

struct EmbeddingsRequestBody: Encodable {
    var model: String
    var input: [String]
    var encodingFormat = "float"

    enum CodingKeys: String, CodingKey {
        case model, input
        case encodingFormat = "encoding_format"
    }
}

struct EmbeddingsResponseBody: Decodable {
    struct Item: Decodable {
        var index: Int?
        var embedding: [Float]?
    }
    var data: [Item]?
    var usage: Usage?
}
