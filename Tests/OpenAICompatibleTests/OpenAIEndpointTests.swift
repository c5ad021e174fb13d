// OpenAIEndpointTests.swift: base URL normalisation and API key lookup.

import OpenAICompatible
import Testing

@Suite struct OpenAIEndpointTests {
    @Test(arguments: [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("  https://api.example.com/v1  ", "https://api.example.com/v1"),
        ("https://host/openai", "https://host/openai/v1"),
        ("http://localhost:11434/v1/chat/completions", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1/embeddings", "http://localhost:11434/v1"),
    ])
    func baseURLIsNormalised(raw: String, expected: String) throws {
        let endpoint = try OpenAIEndpoint(baseURL: raw, model: "m")
        #expect(endpoint.baseURL.absoluteString == expected)
        #expect(endpoint.chatCompletionsURL.absoluteString == expected + "/chat/completions")
        #expect(endpoint.embeddingsURL.absoluteString == expected + "/embeddings")
        #expect(endpoint.timeoutSeconds == 120)
    }

    @Test(arguments: ["127.0.0.1:8080", "ftp://host/v1", "http://", "not a url", ""])
    func badBaseURLsAreRejected(raw: String) {
        #expect(throws: OpenAIClientError.self) { try OpenAIEndpoint(baseURL: raw, model: "m") }
    }

    @Test func nonPositiveTimeoutIsRejected() {
        #expect(throws: OpenAIClientError.self) {
            try OpenAIEndpoint(baseURL: "http://h:1", model: "m", timeoutSeconds: 0)
        }
    }

    @Test func apiKeyComesFromTheFirstSetVariable() {
        #expect(
            OpenAIEndpoint.apiKey(environment: ["OPENAI_API_KEY": "b", "LONGREWARD_API_KEY": "a"])
                == "a")
        #expect(
            OpenAIEndpoint.apiKey(environment: ["OPENAI_API_KEY": "b", "LONGREWARD_API_KEY": " "])
                == "b")
        #expect(OpenAIEndpoint.apiKey(environment: [:]) == nil)
        #expect(
            OpenAIEndpoint.apiKey(environmentVariables: ["MY_KEY"], environment: ["MY_KEY": "k"])
                == "k")
    }
}
