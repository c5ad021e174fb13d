// OpenAIEndpoint.swift: where an OpenAI-compatible server lives and how to talk to it.
//
// Base URLs are accepted with or without the `/v1` suffix (llama.cpp's server, vLLM, Ollama and
// api.openai.com all serve `/v1/...`), and are normalised so that `chatCompletionsURL` and
// `embeddingsURL` always end in `/v1/chat/completions` and `/v1/embeddings`.

import Foundation

/// An OpenAI-compatible server: base URL, model name, API key and request timeout.
///
/// ```swift
/// let endpoint = try OpenAIEndpoint(
///     baseURL: "http://127.0.0.1:8080", model: "qwen2.5-7b-instruct",
///     apiKey: OpenAIEndpoint.apiKey(), timeoutSeconds: 60)
/// endpoint.chatCompletionsURL  // http://127.0.0.1:8080/v1/chat/completions
/// ```
public struct OpenAIEndpoint: Sendable, Equatable {
    /// Normalised base URL ending in `/v1` (no trailing slash).
    public let baseURL: URL
    /// Model name sent in every request's `model` field.
    public var model: String
    /// Bearer token sent as `Authorization: Bearer <key>`; nil sends no such header.
    public var apiKey: String?
    /// Seconds to wait for a response before the attempt counts as timed out (default 120).
    public var timeoutSeconds: Double

    /// Environment variables consulted by ``apiKey(environmentVariables:environment:)``, in order.
    public static let defaultAPIKeyVariables = ["LONGREWARD_API_KEY", "OPENAI_API_KEY"]

    /// Creates an endpoint.
    ///
    /// - Parameters:
    ///   - baseURL: `http(s)://host[:port]`, optionally followed by a path prefix and/or `/v1`
    ///     (`http://localhost:8080`, `http://localhost:8080/v1/`, `https://host/openai/v1`).
    ///     A pasted full route (`.../v1/chat/completions` or `.../v1/embeddings`) is trimmed back
    ///     to `.../v1`.
    ///   - model: model name sent with each request.
    ///   - apiKey: bearer token, or nil for servers that need none.
    ///   - timeoutSeconds: per-attempt response timeout, greater than zero.
    /// - Throws: ``OpenAIClientError/invalidEndpoint(_:reason:)`` when the URL has no http(s)
    ///   scheme or no host, or the timeout is not positive.
    public init(
        baseURL: String, model: String, apiKey: String? = nil, timeoutSeconds: Double = 120
    ) throws {
        self.baseURL = try Self.normalise(baseURL)
        guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
            throw OpenAIClientError.invalidEndpoint(
                baseURL, reason: "timeoutSeconds must be a positive number, got \(timeoutSeconds)")
        }
        self.model = model
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.timeoutSeconds = timeoutSeconds
    }

    /// `<base>/v1/chat/completions`.
    public var chatCompletionsURL: URL { baseURL.appendingPathComponent("chat/completions") }

    /// `<base>/v1/embeddings`.
    public var embeddingsURL: URL { baseURL.appendingPathComponent("embeddings") }

    /// The first non-empty value among the named environment variables.
    ///
    /// - Parameters:
    ///   - environmentVariables: names to try in order; default `LONGREWARD_API_KEY`, then
    ///     `OPENAI_API_KEY`.
    ///   - environment: the environment to read (injectable for tests); default this process's.
    /// - Returns: the key, or nil when none of the variables is set to a non-empty value.
    public static func apiKey(
        environmentVariables: [String] = defaultAPIKeyVariables,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        for name in environmentVariables {
            if let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines),
                !value.isEmpty
            {
                return value
            }
        }
        return nil
    }

    /// Validates `raw` and returns it with exactly one trailing `/v1` and no trailing slash.
    static func normalise(_ raw: String) throws -> URL {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard var parts = URLComponents(string: trimmed),
            let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https"
        else {
            throw OpenAIClientError.invalidEndpoint(
                raw, reason: "expected an http:// or https:// URL such as http://127.0.0.1:8080/v1")
        }
        guard let host = parts.host, !host.isEmpty else {
            throw OpenAIClientError.invalidEndpoint(raw, reason: "the URL has no host")
        }
        var path = parts.path
        while path.hasSuffix("/") { path.removeLast() }
        for route in ["/chat/completions", "/embeddings", "/completions"]
        where path.hasSuffix("/v1" + route) {
            path.removeLast(route.count)
        }
        if !path.hasSuffix("/v1") { path += "/v1" }
        parts.path = path
        parts.query = nil
        parts.fragment = nil
        guard let url = parts.url else {
            throw OpenAIClientError.invalidEndpoint(raw, reason: "could not rebuild the URL")
        }
        return url
    }
}
