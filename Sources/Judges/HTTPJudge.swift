// HTTPJudge.swift: any OpenAI-compatible /v1/chat/completions server as the judge.

import Foundation
import OpenAICompatible

/// A judge behind an OpenAI-compatible server (vLLM, llama.cpp server, hosted APIs). Timeouts,
/// retries with backoff and jitter, and the bound on requests in flight live in `OpenAIClient`.
public final class HTTPJudge: Judge {
    /// The client.
    public let client: OpenAIClient
    /// `openai:<base URL>|<model>`.
    public let identity: String

    /// Connects to `baseURL` (with or without `/v1`); the API key comes from
    /// `$LONGREWARD_API_KEY` or `$OPENAI_API_KEY` when set.
    public init(baseURL: String, model: String, timeout: Double = 120, maxInFlight: Int = 8, retryPolicy: RetryPolicy = RetryPolicy()) throws {
        let endpoint = try OpenAIEndpoint(baseURL: baseURL, model: model, apiKey: OpenAIEndpoint.apiKey(), timeoutSeconds: timeout)
        client = OpenAIClient(endpoint: endpoint, retryPolicy: retryPolicy, maxInFlight: maxInFlight)
        identity = "openai:\(endpoint.baseURL.absoluteString)|\(model)"
    }

    /// Sends the conversation; server failures after the client's retries become `JudgeError.unavailable`.
    public func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        do {
            let completion = try await client.chat(
                messages: request.messages.map { ChatTurn(role: $0.role, content: $0.content) },
                temperature: request.temperature, topP: request.topP < 1 ? request.topP : nil, maxTokens: request.maxTokens,
                seed: request.seed)
            return JudgeReply(
                text: completion.text, tokensIn: completion.promptTokens ?? 0, cachedTokens: 0,
                tokensOut: completion.completionTokens ?? 0, latency: completion.latencySeconds)
        } catch let error as OpenAIClientError {
            throw JudgeError.unavailable(judge: identity, reason: error.description)
        }
    }
}
