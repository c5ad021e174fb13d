// OpenAIStub.swift: OpenAI-shaped answers for the loopback server.
//
// `/v1/chat/completions` answers a fixed reply with word-count usage; `/v1/embeddings` answers a
// deterministic vector per input (FNV-1a seeded, unit length), optionally listed in shuffled order
// with correct `index` fields, as real servers are allowed to do. Anything else is a 404.

import Foundation

/// Builders for OpenAI-compatible response bodies and a ready-made handler.
///
/// ```swift
/// let server = try LoopbackServer(handler: OpenAIStub.handler(reply: "Score: 4", delay: 0.05))
/// ```
public enum OpenAIStub {
    /// A handler answering chat completions and embeddings.
    /// - Parameters:
    ///   - reply: the assistant text of every chat completion.
    ///   - delay: seconds to wait before each answer.
    ///   - dimension: embedding size.
    ///   - shuffleEmbeddings: list embeddings in reverse input order (indices stay correct).
    /// - Returns: a handler for ``LoopbackServer/init(handler:)``.
    public static func handler(
        reply: String = "ok", delay: Double = 0, dimension: Int = 8, shuffleEmbeddings: Bool = false
    ) -> LoopbackServer.Handler {
        return { request in
            let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
            let model = json?["model"] as? String ?? "stub"
            switch request.path {
            case "/v1/chat/completions":
                let messages = json?["messages"] as? [[String: Any]] ?? []
                let promptWords = messages.reduce(0) {
                    $0 + wordCount($1["content"] as? String ?? "")
                }
                let body = chatCompletionBody(
                    text: reply, promptTokens: promptWords, completionTokens: wordCount(reply),
                    model: model)
                return .respond(status: 200, headers: [:], body: body, delay: delay)
            case "/v1/embeddings":
                let inputs = json?["input"] as? [String] ?? []
                let vectors = inputs.map { vector(for: $0, dimension: dimension) }
                let order =
                    shuffleEmbeddings ? Array(inputs.indices.reversed()) : Array(inputs.indices)
                let body = embeddingsBody(
                    vectors: vectors, order: order,
                    promptTokens: inputs.reduce(0) { $0 + wordCount($1) },
                    model: model)
                return .respond(status: 200, headers: [:], body: body, delay: delay)
            default:
                return .respond(
                    404, body: #"{"error":{"message":"no route \#(request.path)"}}"#, delay: delay)
            }
        }
    }

    /// A `chat.completion` object with one choice and a `usage` block.
    public static func chatCompletionBody(
        text: String, promptTokens: Int, completionTokens: Int, model: String = "stub",
        finishReason: String = "stop"
    ) -> Data {
        let object: [String: Any] = [
            "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": model,
            "choices": [
                [
                    "index": 0, "message": ["role": "assistant", "content": text],
                    "finish_reason": finishReason,
                ]
            ],
            "usage": [
                "prompt_tokens": promptTokens, "completion_tokens": completionTokens,
                "total_tokens": promptTokens + completionTokens,
            ],
        ]
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// A `list` of `embedding` objects; `order` gives the listing order of input indices
    /// (default: input order).
    public static func embeddingsBody(
        vectors: [[Float]], order: [Int]? = nil, promptTokens: Int = 0, model: String = "stub"
    ) -> Data {
        let listing = order ?? Array(vectors.indices)
        let data: [[String: Any]] = listing.map { i in
            ["object": "embedding", "index": i, "embedding": vectors[i].map { Double($0) }]
        }
        let object: [String: Any] = [
            "object": "list", "model": model, "data": data,
            "usage": ["prompt_tokens": promptTokens, "total_tokens": promptTokens],
        ]
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// A deterministic unit vector for `text` (the same text always gives the same vector).
    public static func vector(for text: String, dimension: Int) -> [Float] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a offset basis
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        var v = [Float](repeating: 0, count: dimension)
        for i in 0..<dimension {
            h = h &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407  // LCG step
            v[i] = Float(Int64(bitPattern: h >> 11) % 2001 - 1000) / 1000
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    static func wordCount(_ text: String) -> Int {
        text.split(whereSeparator: { $0.isWhitespace }).count
    }
}
