// OpenAIClient.swift: chat completions and embeddings against an OpenAI-compatible server.
//
// One call = take an in-flight slot, then up to `retryPolicy.maxAttempts` HTTP attempts with
// backoff between them, then release the slot. The slot is held across retries and backoff, so
// a rate-limited server sees the client's concurrency fall instead of a queue of fresh calls.
// Transport is URLSession (FoundationNetworking on Linux, libcurl underneath); this file only
// moves bytes and decodes the two response shapes.

import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A client for `/v1/chat/completions` and `/v1/embeddings` with retries and a bound on requests
/// in flight. Share one client between tasks: every call goes through the same slots.
///
/// ```swift
/// let endpoint = try OpenAIEndpoint(baseURL: "http://127.0.0.1:8080", model: "judge",
///                                   apiKey: OpenAIEndpoint.apiKey())
/// let client = OpenAIClient(endpoint: endpoint, maxInFlight: 8)
/// let reply = try await client.chat(
///     messages: [.system("Grade the answer."), .user("...")], temperature: 0, maxTokens: 256)
/// print(reply.text, reply.completionTokens ?? 0)
/// let vectors = try await client.embeddings(["first text", "second text"]).vectors
/// ```
public final class OpenAIClient: Sendable {
    /// Where requests go.
    public let endpoint: OpenAIEndpoint
    /// Attempts and backoff.
    public let retryPolicy: RetryPolicy
    /// Most calls of this client that hold a connection at once.
    public let maxInFlight: Int

    private let session: URLSession
    private let slots: AsyncSemaphore
    private let encoder = JSONEncoder()

    /// Creates a client with its own ephemeral URLSession.
    /// - Parameters:
    ///   - endpoint: server, model, key and timeout.
    ///   - retryPolicy: attempts and backoff (default: 5 attempts, 0.5 s base, 30 s cap).
    ///   - maxInFlight: most concurrent calls (at least 1; default 8). Further calls wait in FIFO
    ///     order for a slot.
    public init(
        endpoint: OpenAIEndpoint, retryPolicy: RetryPolicy = RetryPolicy(), maxInFlight: Int = 8
    ) {
        self.endpoint = endpoint
        self.retryPolicy = retryPolicy
        self.maxInFlight = max(1, maxInFlight)
        self.slots = AsyncSemaphore(permits: self.maxInFlight)

        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = self.maxInFlight
        // Backstops only: each attempt's deadline is enforced by `dataOutcome(for:deadline:)`.
        configuration.timeoutIntervalForRequest = endpoint.timeoutSeconds.rounded(.up) + 1
        configuration.timeoutIntervalForResource = endpoint.timeoutSeconds.rounded(.up) + 1
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration)
    }

    deinit { session.invalidateAndCancel() }

    // MARK: - Routes

    /// Asks `/v1/chat/completions` for one completion of `messages`.
    ///
    /// - Parameters:
    ///   - messages: the conversation, oldest first.
    ///   - temperature: sampling temperature (0 for greedy).
    ///   - topP: nucleus sampling mass; nil leaves the server's default.
    ///   - maxTokens: most tokens to generate.
    ///   - seed: sampling seed for servers that support one; nil sends none.
    ///   - stop: stop sequences; empty sends none.
    ///   - topLogprobs: ask for each token's log-prob and this many alternatives (`logprobs`,
    ///     `top_logprobs`); nil asks for none.
    ///   - continueFinalMessage: the last message is an assistant prefix to continue (vLLM's
    ///     `continue_final_message`; llama.cpp's server does it on its own).
    /// - Returns: the first choice's text, token usage and call statistics.
    /// - Throws: ``OpenAIClientError`` (a final error such as HTTP 400/401/404 at once, retryable
    ///   ones wrapped in ``OpenAIClientError/retriesExhausted(attempts:last:)``), or
    ///   `CancellationError` when the task is cancelled.
    public func chat(
        messages: [ChatTurn], temperature: Double, topP: Double? = nil, maxTokens: Int,
        seed: Int? = nil, stop: [String] = [], topLogprobs: Int? = nil, continueFinalMessage: Bool = false
    ) async throws -> ChatCompletion {
        var request = ChatRequestBody(
            model: endpoint.model, messages: messages, temperature: temperature, topP: topP,
            maxTokens: maxTokens, seed: seed, stop: stop.isEmpty ? nil : stop)
        if let topLogprobs {
            request.logprobs = true
            request.topLogprobs = topLogprobs
        }
        if continueFinalMessage {
            request.continueFinalMessage = true
            request.addGenerationPrompt = false
        }
        let (parsed, attempts, latency) = try await send(
            url: endpoint.chatCompletionsURL, body: try encoder.encode(request),
            parse: ResponseParsing.chat)
        return ChatCompletion(
            text: parsed.text, promptTokens: parsed.usage?.promptTokens,
            completionTokens: parsed.usage?.completionTokens, finishReason: parsed.finishReason,
            model: parsed.model ?? endpoint.model, httpAttempts: attempts, latencySeconds: latency,
            tokenLogProbabilities: parsed.logprobs)
    }

    /// Embeds `inputs` with `/v1/embeddings` in one request.
    ///
    /// - Parameter inputs: texts to embed; an empty list returns at once without a request.
    /// - Returns: one vector per input, in input order (sorted by the response's `index`).
    /// - Throws: ``OpenAIClientError`` (a response whose indices are not exactly `0..<count` is
    ///   malformed), or `CancellationError`.
    public func embeddings(_ inputs: [String]) async throws -> EmbeddingsResponse {
        guard !inputs.isEmpty else {
            return EmbeddingsResponse(vectors: [], promptTokens: nil, httpAttempts: 0)
        }
        let request = EmbeddingsRequestBody(model: endpoint.model, input: inputs)
        let count = inputs.count
        let (parsed, attempts, _) = try await send(
            url: endpoint.embeddingsURL, body: try encoder.encode(request),
            parse: { (data) throws(ParseFailure) in
                try ResponseParsing.embeddings(data, count: count)
            })
        return EmbeddingsResponse(
            vectors: parsed.vectors, promptTokens: parsed.promptTokens, httpAttempts: attempts)
    }

    // MARK: - Attempts

    /// Holds a slot while POSTing `body` to `url` until `parse` accepts a 200 body, a final error
    /// occurs, or attempts run out.
    private func send<T: Sendable>(
        url: URL, body: Data, parse: (Data) throws(ParseFailure) -> T
    ) async throws -> (value: T, attempts: Int, latency: Double) {
        try await slots.wait()
        do {
            let result = try await sendHoldingSlot(url: url, body: body, parse: parse)
            await slots.signal()
            return result
        } catch {
            await slots.signal()
            throw error
        }
    }

    private func sendHoldingSlot<T: Sendable>(
        url: URL, body: Data, parse: (Data) throws(ParseFailure) -> T
    ) async throws -> (value: T, attempts: Int, latency: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 0
        while true {
            attempt += 1
            let failure: OpenAIClientError
            switch try await post(url: url, body: body) {
            case .success(let data):
                do {
                    let value = try parse(data)
                    return (value, attempt, Self.seconds(start.duration(to: clock.now)))
                } catch {
                    failure = .malformedResponse(
                        url: url, reason: error.reason, body: OpenAIClientError.snippet(data, hiding: endpoint.apiKey))
                }
            case .failure(let error):
                failure = error
            }
            guard failure.isRetryable else { throw failure }
            guard attempt < retryPolicy.maxAttempts else {
                throw OpenAIClientError.retriesExhausted(attempts: attempt, last: failure)
            }
            var retryAfter: Double? = nil
            if case .httpStatus(_, _, _, let seconds) = failure { retryAfter = seconds }
            try await retryPolicy.sleep(
                retryPolicy.delay(afterAttempt: attempt, retryAfter: retryAfter))
        }
    }

    /// One HTTP attempt: a 2xx body, or the failure classified. Throws only `CancellationError`.
    private func post(url: URL, body: Data) async throws -> Result<Data, OpenAIClientError> {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let key = endpoint.apiKey {
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        switch await session.dataOutcome(for: request, deadline: endpoint.timeoutSeconds) {
        case .response(let data, let response):
            guard let http = response as? HTTPURLResponse else {
                return .failure(
                    .malformedResponse(url: url, reason: "not an HTTP response", body: ""))
            }
            guard (200..<300).contains(http.statusCode) else {
                let retryAfter = RetryPolicy.parseRetryAfter(
                    http.value(forHTTPHeaderField: "Retry-After"))
                return .failure(
                    .httpStatus(
                        http.statusCode, url: url, body: OpenAIClientError.snippet(data, hiding: endpoint.apiKey),
                        retryAfter: retryAfter))
            }
            return .success(data)
        case .timedOut:
            return .failure(.timeout(url: url, seconds: endpoint.timeoutSeconds))
        case .cancelled:
            throw CancellationError()
        case .failure(let error):
            if error.code == .cancelled { throw CancellationError() }
            return .failure(.connectionFailed(url: url, reason: Self.describe(error)))
        }
    }

    // MARK: - Helpers

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// A short reason for a transport error; libcurl's messages on Linux are generic otherwise.
    static func describe(_ error: URLError) -> String {
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .networkConnectionLost:
            return "the connection was closed before a complete response arrived"
        case .cannotFindHost, .dnsLookupFailed: return "host name not found"
        case .notConnectedToInternet: return "no network"
        case .badServerResponse: return "the server sent an invalid HTTP response"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            return "TLS handshake failed"
        default: return "URLError \(error.code.rawValue): \(error.localizedDescription)"
        }
    }
}
