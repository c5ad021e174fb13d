// ResponseParsing.swift: 200 bodies of the two routes -> values, as pure functions.
//
// Anything a well-behaved server would not send (not JSON, no choices, null content, embedding
// indices that are not a permutation of 0..<count) is a `ParseFailure`, which the client turns
// into `OpenAIClientError.malformedResponse` and retries.

import Foundation

/// Why a 200 body could not be used; becomes
/// ``OpenAIClientError/malformedResponse(url:reason:body:)``.
struct ParseFailure: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

enum ResponseParsing {
    /// The parts of a chat completion the client reports.
    struct Chat: Sendable {
        var text: String
        var finishReason: String?
        var model: String?
        var usage: Usage?
        var logprobs: [TokenLogProbability]?
    }

    /// Vectors in input order and the prompt token count.
    struct Embeddings: Sendable {
        var vectors: [[Float]]
        var promptTokens: Int?
    }

    /// `choices[0].message.content`, `finish_reason`, `model` and `usage` of a chat completion.
    static func chat(_ data: Data) throws(ParseFailure) -> Chat {
        let body = try decode(ChatResponseBody.self, from: data)
        guard let choice = body.choices?.first else { throw ParseFailure("no choices[0]") }
        guard let text = choice.message?.content else {
            throw ParseFailure("choices[0].message.content is missing or null")
        }
        return Chat(
            text: text, finishReason: choice.finishReason, model: body.model, usage: body.usage,
            logprobs: choice.logprobs?.content)
    }

    /// One vector per input, placed by each item's `index` (array position when absent).
    static func embeddings(_ data: Data, count: Int) throws(ParseFailure) -> Embeddings {
        let body = try decode(EmbeddingsResponseBody.self, from: data)
        guard let items = body.data else { throw ParseFailure("no data array") }
        guard items.count == count else {
            throw ParseFailure("\(items.count) embeddings for \(count) inputs")
        }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in items.enumerated() {
            guard let vector = item.embedding else {
                throw ParseFailure("data[\(position)].embedding is missing or not a float array")
            }
            let index = item.index ?? position
            guard (0..<count).contains(index), vectors[index] == nil else {
                throw ParseFailure("data[\(position)].index \(index) is out of range or repeated")
            }
            vectors[index] = vector
        }
        return Embeddings(vectors: vectors.map { $0! }, promptTokens: body.usage?.promptTokens)
    }

    /// Decodes `data`, describing a failure by where in the JSON it happened.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ParseFailure) -> T {
        guard !data.isEmpty else { throw ParseFailure("empty body") }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw ParseFailure("body is not JSON")
        } catch DecodingError.typeMismatch(_, let context) {
            throw ParseFailure("unexpected JSON at \(path(context.codingPath))")
        } catch DecodingError.valueNotFound(_, let context) {
            throw ParseFailure("unexpected null at \(path(context.codingPath))")
        } catch {
            throw ParseFailure("unexpected JSON: \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        if keys.isEmpty { return "the top level" }
        return keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}
