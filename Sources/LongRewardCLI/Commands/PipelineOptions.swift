// PipelineOptions.swift: options shared by `index` and `score`.

import ArgumentParser
import Kernels
import Models
import Retrieval
import Scoring

/// Store, embedder, chunking and index options.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite store file (created if absent; the FAISS index is written beside it as FILE.faiss).")
    var store: String

    @Option(name: .long, help: "Embedder: 'local' (all-MiniLM-L6-v2 in process), 'local:FOLDER', or an OpenAI-compatible base URL.")
    var embedder: String = "local"

    @Option(name: .long, help: "Model name sent to an HTTP embedder.")
    var embedderModel: String?

    @Option(name: .long, help: "Retrieval chunk size in tokens.")
    var fineTokens: Int = 128

    @Option(name: .long, help: "Completeness chunk size in tokens.")
    var coarseTokens: Int = 4096

    @Option(name: .long, help: "Refuse documents longer than this many tokens.")
    var maxDocumentTokens: Int = 2_000_000

    @Option(name: .long, help: "FAISS index kind for a new store: flat (exact), hnsw[M] or ivf[lists].")
    var indexKind: String?

    @Option(name: .long, help: "Worker threads for in-process models.")
    var threads: Int = 2

    @Option(name: .long, help: "HTTP request timeout in seconds.")
    var timeout: Double = 120

    @Option(name: .long, help: "Activations of the in-process judge's and policy's decode steps: float32 (exact, the default) or q8 (8 bits per 32-block as llama.cpp rounds them: integer kernels, about 2x faster decoding; generated text can change, and judge calls are cached apart).")
    var decodeActivations: ActivationPrecision = .float32

    @Option(name: .customLong("kv-cache"), help: "Key/value cache of the in-process judge and policy: f32 (exact, the default) or q8 (8-bit rows, one scale per position and head: a quarter of the memory, about 1.3x faster single-sequence and 1.5x faster 16-sequence decoding; verdicts and text can change slightly, and judge calls are cached apart).")
    var kvCache: KVCachePrecision = .float32

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let indexKind, (try? IndexKind(parsing: indexKind)) == nil {
            throw ValidationError("--index-kind '\(indexKind)' is not flat, hnsw[M] or ivf[lists]")
        }
        do { try ChunkingOptions(fineTokens: fineTokens, coarseTokens: coarseTokens, maxDocumentTokens: maxDocumentTokens).validate() }
        catch { throw ValidationError("\(error)") }
        do { _ = try Backend(parsing: embedder, model: embedderModel) } catch { throw ValidationError("--embedder: \(error)") }
    }

    /// The library's options.
    func pipeline(concurrency: Int) throws -> PipelineOptions {
        var p = PipelineOptions(storePath: store)
        p.embedder = try Backend(parsing: embedder, model: embedderModel)
        p.embedderModel = embedderModel
        p.chunking = ChunkingOptions(fineTokens: fineTokens, coarseTokens: coarseTokens, maxDocumentTokens: maxDocumentTokens)
        p.indexKind = try indexKind.map { try IndexKind(parsing: $0) }
        p.threads = threads
        p.requestTimeout = timeout
        p.concurrency = concurrency
        p.decodeActivations = decodeActivations
        p.kvCache = kvCache
        return p
    }
}

extension ActivationPrecision: ExpressibleByArgument {}
