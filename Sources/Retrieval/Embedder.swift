// Embedder.swift: the embedding backends behind one protocol.

import Models

/// Turns texts into L2-normalised vectors. Implementations: `MiniLMEmbedder` (in process) and
/// `HTTPEmbedder` (any OpenAI-compatible `/v1/embeddings` server).
public protocol Embedder: Sendable {
    /// A stable identity recorded with the index (model and weights, or URL and model name);
    /// a store indexed with one embedder refuses another.
    var identity: String { get }
    /// Embeds texts in order; every vector has unit L2 norm.
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// The in-process BERT encoder (all-MiniLM-L6-v2 by default), mean-pooled and normalised.
public final class MiniLMEmbedder: Embedder {
    /// The encoder.
    public let encoder: BERTEncoder
    /// Texts per forward pass.
    public let batchSize: Int

    /// Loads the encoder folder (nil: the embedded default in $LONGREWARD_HOME).
    public init(folder: String? = nil, threads: Int = 1, batchSize: Int = 32) throws {
        encoder = try BERTEncoder(folder: try ModelLocator.encoder(folder), threads: threads)
        self.batchSize = batchSize
    }

    /// `local:<encoder identity>`.
    public var identity: String { "local:" + encoder.identity }

    /// Embeds on the calling thread (the encoder parallelises internally).
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        encoder.embed(texts: texts, batchSize: batchSize)
    }
}

/// Scales a vector to unit L2 norm (zero vectors stay zero).
public func normalised(_ v: [Float]) -> [Float] {
    var sum: Float = 0
    for x in v { sum += x * x }
    guard sum > 0 else { return v }
    let inv = 1 / sum.squareRoot()
    return v.map { $0 * inv }
}
