// HTTPEmbedder.swift: any OpenAI-compatible /v1/embeddings server as the embedder.

import Foundation
import OpenAICompatible

/// An embedder behind an OpenAI-compatible server. Vectors are L2-normalised here, since not
/// every server normalises.
public final class HTTPEmbedder: Embedder {
    /// The client.
    public let client: OpenAIClient
    /// Texts per request.
    public let batchSize: Int
    /// `openai:<base URL>|<model>`.
    public let identity: String

    /// Connects to `baseURL`; the API key comes from `$LONGREWARD_API_KEY` or `$OPENAI_API_KEY`.
    public init(baseURL: String, model: String, timeout: Double = 120, maxInFlight: Int = 8, batchSize: Int = 64) throws {
        let endpoint = try OpenAIEndpoint(baseURL: baseURL, model: model, apiKey: OpenAIEndpoint.apiKey(), timeoutSeconds: timeout)
        client = OpenAIClient(endpoint: endpoint, maxInFlight: maxInFlight)
        self.batchSize = max(1, batchSize)
        identity = "openai:\(endpoint.baseURL.absoluteString)|\(model)"
    }

    /// Embeds in batches sent concurrently (bounded by the client), in input order.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let batches = stride(from: 0, to: texts.count, by: batchSize).map { Array(texts[$0..<min($0 + batchSize, texts.count)]) }
        do {
            return try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
                for (i, batch) in batches.enumerated() {
                    group.addTask { (i, try await self.client.embeddings(batch).vectors) }
                }
                var out = [[[Float]]](repeating: [], count: batches.count)
                for try await (i, vectors) in group {
                    guard vectors.count == batches[i].count else {
                        throw RetrievalError.embedding(embedder: identity, reason: "\(vectors.count) vectors for \(batches[i].count) texts")
                    }
                    out[i] = vectors.map(normalised)
                }
                let all = out.flatMap { $0 }
                if let width = all.first?.count, all.contains(where: { $0.count != width }) {
                    throw RetrievalError.embedding(embedder: identity, reason: "vectors of different widths")
                }
                return all
            }
        } catch let error as OpenAIClientError {
            throw RetrievalError.embedding(embedder: identity, reason: error.description)
        }
    }
}
