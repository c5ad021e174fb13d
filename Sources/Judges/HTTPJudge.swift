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
    /// With a verdict request, asks for `top_logprobs` (20) and reads the verdict's
    /// distribution where the verdict starts (``verdictProbabilities(_:prefix:verdict:)``); a
    /// server that returns none gets its text parsed. Direct mode sends the forced prefix as a
    /// final assistant message to continue (vLLM, llama.cpp server) and asks for a few tokens.
    public func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        var turns = request.messages.map { ChatTurn(role: $0.role, content: $0.content) }
        var maxTokens = request.maxTokens
        let direct = request.verdict?.mode == .direct
        if let v = request.verdict, direct {
            turns.append(.assistant(v.forcedPrefix))
            maxTokens = 8
        }
        do {
            let completion = try await client.chat(
                messages: turns, temperature: request.temperature, topP: request.topP < 1 ? request.topP : nil, maxTokens: maxTokens,
                seed: request.seed, topLogprobs: request.verdict == nil ? nil : 20, continueFinalMessage: direct)
            var verdict: VerdictProbabilities? = nil
            if let v = request.verdict, let tokens = completion.tokenLogProbabilities, !tokens.isEmpty {
                verdict = Self.verdictProbabilities(tokens, prefix: direct ? v.forcedPrefix : "", verdict: v)
            }
            return JudgeReply(
                text: (direct ? request.verdict!.forcedPrefix : "") + completion.text, tokensIn: completion.promptTokens ?? 0, cachedTokens: 0,
                tokensOut: completion.completionTokens ?? 0, latency: completion.latencySeconds, verdict: verdict)
        } catch let error as OpenAIClientError {
            throw JudgeError.unavailable(judge: identity, reason: error.description)
        }
    }

    /// The verdict's distribution from a server's per-token `top_logprobs`: at the first token
    /// after the last opener in `prefix + text` (`[[`), each label gets the probability of the
    /// alternative tokens that spell it (a token equal to the label, or the label's only
    /// possible start); when one label is the start of another (`1` / `10`) and the server
    /// wrote that token, the next position splits it between the closer and the longer label.
    /// Nil when the text has no opener followed by a token (then the text is parsed).
    public static func verdictProbabilities(_ tokens: [TokenLogProbability], prefix: String, verdict v: VerdictRequest) -> VerdictProbabilities? {
        // Find the position of the first token after the last opener.
        var text = prefix
        var position: Int? = prefix.hasSuffix(v.opener) ? 0 : nil
        for (i, t) in tokens.enumerated() {
            text += t.token
            if text.hasSuffix(v.opener) && i + 1 < tokens.count { position = i + 1 }
        }
        guard let at = position, at < tokens.count else { return nil }
        let clean: (String) -> String = { $0.trimmingCharacters(in: .whitespaces) }
        var p = [Double](repeating: 0, count: v.labels.count)
        var seen = Set<String>()
        for alt in tokens[at].topLogprobs where !seen.contains(clean(alt.token)) {
            let t = clean(alt.token)
            seen.insert(t)
            let prob = Foundation.exp(alt.logprob)
            if let exact = v.labels.firstIndex(of: t) {
                let longer = v.labels.indices.filter { v.labels[$0] != t && v.labels[$0].hasPrefix(t) }
                if !longer.isEmpty, clean(tokens[at].token) == t, at + 1 < tokens.count {
                    // Split by what follows: the closer ends the short label, the rest spells a longer one.
                    for next in tokens[at + 1].topLogprobs {
                        let q = Foundation.exp(next.logprob)
                        if v.closer.hasPrefix(clean(next.token)) || clean(next.token).hasPrefix(v.closer) { p[exact] += prob * q }
                        else if let l = longer.first(where: { v.labels[$0] == t + clean(next.token) }) { p[l] += prob * q }
                    }
                } else {
                    p[exact] += prob
                }
            } else {
                let starts = v.labels.indices.filter { !t.isEmpty && v.labels[$0].hasPrefix(t) }
                if starts.count == 1 { p[starts[0]] += prob }
            }
        }
        return VerdictProbabilities(probabilities: p, source: "logprobs")
    }
}
