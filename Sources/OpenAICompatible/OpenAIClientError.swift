// OpenAIClientError.swift: every way a call to an OpenAI-compatible server can fail.
//
// Each case carries the URL and enough of the server's answer to act on; `description` says what
// to try next. Whether a failure is worth retrying is decided in one place, `isRetryable`.

import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Errors thrown by ``OpenAIClient`` and ``OpenAIEndpoint``.
///
/// Retryable failures (429, 5xx, timeouts, connection failures, malformed 200 bodies) are retried
/// by the client's ``RetryPolicy``; once attempts run out they arrive wrapped in
/// ``retriesExhausted(attempts:last:)``. Use ``underlying`` to match the cause either way:
///
/// ```swift
/// do { _ = try await client.chat(messages: turns, temperature: 0, maxTokens: 64) }
/// catch let error as OpenAIClientError {
///     if case .httpStatus(401, _, _, _) = error.underlying { print("check the API key") }
///     print(error)  // a message that names the URL and what to do
/// }
/// ```
public enum OpenAIClientError: Error, CustomStringConvertible, Sendable {
    /// The server answered with a non-2xx status.
    /// - `status`: the HTTP status code; `url`: the request URL; `body`: the first
    ///   ``bodySnippetLimit`` characters of the body; `retryAfter`: the `Retry-After` header in
    ///   seconds, when present and numeric.
    case httpStatus(Int, url: URL, body: String, retryAfter: Double?)

    /// No response arrived within `seconds` (``OpenAIEndpoint/timeoutSeconds``).
    case timeout(url: URL, seconds: Double)

    /// The connection could not be opened or broke before a response arrived
    /// (refused, reset, DNS failure, TLS failure...). `reason` is the transport's message.
    case connectionFailed(url: URL, reason: String)

    /// The server answered 200 but the body is not the expected JSON.
    case malformedResponse(url: URL, reason: String, body: String)

    /// Every attempt failed with a retryable error; `last` is the final attempt's error.
    indirect case retriesExhausted(attempts: Int, last: OpenAIClientError)

    /// The endpoint configuration is unusable (bad base URL or timeout).
    case invalidEndpoint(String, reason: String)

    /// Characters of a response body kept in errors.
    public static let bodySnippetLimit = 500

    /// The error itself, or for ``retriesExhausted(attempts:last:)`` the last attempt's error.
    public var underlying: OpenAIClientError {
        if case .retriesExhausted(_, let last) = self { return last.underlying }
        return self
    }

    /// Whether another attempt could succeed: 429 and 5xx statuses, timeouts, connection failures
    /// and malformed bodies. Other 4xx statuses (400, 401, 404...) and configuration errors are
    /// final.
    public var isRetryable: Bool {
        switch self {
        case .httpStatus(let status, _, _, _):
            return status == 429 || (500...599).contains(status)
        case .timeout, .connectionFailed, .malformedResponse: return true
        case .retriesExhausted, .invalidEndpoint: return false
        }
    }

    /// A message naming the URL, the cause and what to try.
    public var description: String {
        switch self {
        case .httpStatus(let status, let url, let body, let retryAfter):
            let name = HTTPURLResponse.localizedString(forStatusCode: status)
            var text = "HTTP \(status) (\(name)) from \(url.absoluteString)"
            if let retryAfter { text += " (Retry-After: \(retryAfter) s)" }
            text += ": " + Self.advice(forStatus: status)
            if !body.isEmpty { text += " Response body: \(body)" }
            return text
        case .timeout(let url, let seconds):
            return "No response from \(url.absoluteString) within \(Self.format(seconds)) s: "
                + "the server may be overloaded or generating a long answer. Raise the timeout, "
                + "lower the number of requests in flight, or lower max tokens."
        case .connectionFailed(let url, let reason):
            return "Could not reach \(url.absoluteString) (\(reason)). Is the server running at "
                + "\(Self.origin(of: url))? Check the base URL, host and port."
        case .malformedResponse(let url, let reason, let body):
            return "Unexpected response from \(url.absoluteString): \(reason). Is this an "
                + "OpenAI-compatible endpoint (does it serve /v1/chat/completions and "
                + "/v1/embeddings)? Response body: \(body.isEmpty ? "(empty)" : body)"
        case .retriesExhausted(let attempts, let last):
            let plural = attempts == 1 ? "" : "s"
            return "Gave up after \(attempts) attempt\(plural). Last error: \(last)"
        case .invalidEndpoint(let raw, let reason):
            return "Invalid OpenAI-compatible endpoint '\(raw)': \(reason)."
        }
    }

    static func advice(forStatus status: Int) -> String {
        switch status {
        case 400, 422:
            return "the server rejected the request; check the model name, max tokens against its "
                + "context length, and the parameters it supports."
        case 401, 403:
            return "the API key was refused; set LONGREWARD_API_KEY (or OPENAI_API_KEY) to a "
                + "valid key."
        case 404:
            return "not found; check the base URL (it should serve /v1/chat/completions) and the "
                + "model name."
        case 413:
            return "the request is too large for the server; send shorter inputs or fewer at once."
        case 429: return "rate limited; lower the number of requests in flight or wait."
        case 500...599: return "the server failed; check its logs."
        default: return "unexpected status."
        }
    }

    /// `scheme://host[:port]` of `url`.
    static func origin(of url: URL) -> String {
        var text = "\(url.scheme ?? "http")://\(url.host ?? "?")"
        if let port = url.port { text += ":\(port)" }
        return text
    }

    /// At most ``bodySnippetLimit`` characters of `data` as text, with `secret` (the API key,
    /// which some servers echo in their error bodies) replaced by `[redacted]`: errors end up
    /// in the store, logs and terminals.
    static func snippet(_ data: Data, hiding secret: String? = nil) -> String {
        var text = String(decoding: data.prefix(bodySnippetLimit * 4), as: UTF8.self)
        if let secret, !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "[redacted]") }
        if text.count <= bodySnippetLimit && data.count <= bodySnippetLimit * 4 { return text }
        return String(text.prefix(bodySnippetLimit)) + "... (\(data.count) bytes)"
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.3g", seconds)
    }
}
