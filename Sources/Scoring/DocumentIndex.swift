// DocumentIndex.swift: documents in the store, their fine chunks in a FAISS index beside it.
//
// The store is the source of truth: each document goes in with its chunks and embeddings in one
// transaction, and the FAISS file is derived from it. On open, an index file that is behind the
// store (a run killed between the commit and the file write) is caught up from the stored
// embeddings, and one that is ahead or unreadable is rebuilt, so no state is lost or half-written.

import Foundation
import Formats
import Retrieval
import Store

/// Ingests documents and retrieves evidence for statements.
public final class DocumentIndex: @unchecked Sendable {
    /// The store.
    public let store: Store
    /// The embedder (identity checked against the store).
    public let embedder: any Embedder
    /// The chunker (the judge's tokenizer).
    public let chunker: Chunker
    /// Chunk sizes (checked against the store).
    public let options: ChunkingOptions
    /// The FAISS index over every document's fine chunks (nil until the first document).
    public private(set) var index: VectorIndex?
    private let kind: IndexKind
    private let lock = NSLock()

    /// Opens the index for `store`, checking the embedder and chunking recorded there.
    /// - Throws: `ScoringError.storeMismatch` when the store was built with another embedder,
    ///   chunk sizes or index kind.
    public init(store: Store, embedder: any Embedder, chunker: Chunker, options: ChunkingOptions, kind: IndexKind? = nil) throws {
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.options = options
        try Self.check(store, "embedder", embedder.identity)
        try Self.check(store, "chunking", "\(options.fineTokens)/\(options.coarseTokens)")
        let storedKind = try store.setting("index_kind").flatMap { try? IndexKind(parsing: $0) }
        if let storedKind, let kind, storedKind != kind {
            throw ScoringError.storeMismatch(store: store.path, setting: "index kind", stored: storedKind.description, requested: kind.description)
        }
        self.kind = storedKind ?? kind ?? .flat
        if storedKind == nil { try store.setSetting("index_kind", self.kind.description) }
        try reconcile()
    }

    private static func check(_ store: Store, _ key: String, _ value: String) throws {
        if let stored = try store.setting(key) {
            guard stored == value else {
                throw ScoringError.storeMismatch(store: store.path, setting: key, stored: stored, requested: value)
            }
        } else {
            try store.setSetting(key, value)
        }
    }

    /// Brings the FAISS file in line with the store (see the file comment).
    private func reconcile() throws {
        let stored = try store.nextVectorID()
        var loaded: VectorIndex? = nil
        if FileManager.default.fileExists(atPath: store.indexPath) {
            loaded = try? VectorIndex.read(from: store.indexPath, kind: kind)
        }
        if let index = loaded, index.count == stored {
            self.index = index
            return
        }
        guard stored > 0 else {
            self.index = loaded
            return
        }
        var start = 0
        var index: VectorIndex
        if let existing = loaded, existing.count < stored {
            index = existing
            start = existing.count
        } else {
            // Ahead of the store, unreadable or absent: rebuild from the stored embeddings.
            let first = try store.embeddings(fromVectorID: 0)
            index = try VectorIndex(dimension: first.first?.vector.count ?? 1, kind: kind)
        }
        let rows = try store.embeddings(fromVectorID: start)
        try index.add(rows.flatMap(\.vector))
        try index.write(to: store.indexPath)
        self.index = index
    }

    /// Reads, normalises, chunks, embeds and stores a document unless it is already there.
    /// - Parameters:
    ///   - text: the raw text (normalised here).
    ///   - id: the document id; nil derives `sha256:<16 hex>` from the text.
    ///   - source: a path or `inline`, for records and messages.
    /// - Returns: the stored document and whether it was new.
    @discardableResult
    public func ingest(text: String, id: String?, source: String) async throws -> (document: DocumentRecord, added: Bool) {
        let normalised = try DocumentText.normalise(text: text, source: source)
        let hash = SHA256.hex(normalised)
        let documentID = id ?? "sha256:" + hash.prefix(16)
        if let existing = try store.document(id: documentID) {
            guard existing.sha256 == hash else {
                throw StoreError.conflict(
                    path: store.path,
                    message: "document id \(documentID) is already indexed with different text (from \(existing.source)); give \(source) another id")
            }
            return (existing, false)
        }
        let chunked = try chunker.chunk(normalised, source: source, options: options)
        let vectors = try await embedder.embed(chunked.fine.map(\.text))
        guard vectors.count == chunked.fine.count else {
            throw RetrievalError.embedding(embedder: embedder.identity, reason: "returned \(vectors.count) vectors for \(chunked.fine.count) chunks")
        }
        let document = DocumentRecord(id: documentID, source: source, sha256: hash, text: normalised, tokenCount: chunked.tokenCount)
        func records(_ chunks: [TextChunk], _ level: ChunkLevel) -> [ChunkRecord] {
            chunks.map {
                ChunkRecord(
                    documentID: documentID, level: level, ordinal: $0.ordinal, tokenStart: $0.tokenStart, tokenEnd: $0.tokenEnd,
                    byteStart: $0.byteStart, byteEnd: $0.byteEnd, text: $0.text)
            }
        }
        try lock.withLock {
            if let index, let width = vectors.first?.count, width != index.dimension {
                throw RetrievalError.dimensionMismatch(expected: index.dimension, got: width, context: "embedder \(embedder.identity)")
            }
            let first = try store.insertDocument(document, chunks: records(chunked.fine, .fine) + records(chunked.coarse, .coarse), fineEmbeddings: vectors)
            if index == nil, let width = vectors.first?.count { index = try VectorIndex(dimension: width, kind: kind) }
            if let index {
                precondition(index.count == first, "index out of step with the store")
                try index.add(vectors.flatMap { $0 })
                try index.write(to: store.indexPath)
            }
        }
        return (document, true)
    }

    /// The top-`k` fine chunks of one document for each query text, in document order (or, with
    /// `inDocumentOrder: false`, best match first).
    public func evidence(for queries: [String], documentID: String, k: Int, inDocumentOrder: Bool = true) async throws -> [[ChunkRecord]] {
        guard !queries.isEmpty else { return [] }
        guard let range = try store.vectorRange(documentID: documentID), let index else {
            return queries.map { _ in [] }
        }
        let vectors = try await embedder.embed(queries)
        let hits = try index.search(vectors.flatMap { $0 }, k: min(k, range.count), idRange: range)
        return try hits.map { row in
            let chunks = try store.chunks(vectorIDs: row.map(\.id))
            if inDocumentOrder { return chunks.sorted { $0.ordinal < $1.ordinal } }
            let rank = Dictionary(uniqueKeysWithValues: row.enumerated().map { ($0.element.id, $0.offset) })
            return chunks.sorted { (rank[$0.vectorID ?? -1] ?? .max) < (rank[$1.vectorID ?? -1] ?? .max) }
        }
    }

    /// The document as a judge or policy sees it within `budget` tokens: the whole text when it
    /// fits, otherwise the best-matching fine chunks for `question` that fit, put back in document
    /// order, each written by `passage` (chunk, its position label) and headed by `note`.
    public func context(
        document: DocumentRecord, question: String, budget: Int, note: String?,
        passage: (ChunkRecord, String) throws -> String
    ) async throws -> DocumentContext {
        if document.tokenCount <= budget { return DocumentContext(text: document.text, whole: true, passages: 0, tokens: document.tokenCount) }
        let fine = try store.chunks(documentID: document.id, level: .fine)
        guard !fine.isEmpty else { return DocumentContext(text: document.text, whole: true, passages: 0, tokens: document.tokenCount) }
        let ranked = try await evidence(for: [question], documentID: document.id, k: fine.count, inDocumentOrder: false)[0]
        var used = 0
        var picked: [ChunkRecord] = []
        for chunk in ranked {
            let cost = chunk.tokenEnd - chunk.tokenStart
            if used + cost > budget { continue }
            used += cost
            picked.append(chunk)
        }
        let passages = try picked.sorted { $0.ordinal < $1.ordinal }.map {
            try passage($0, $0.positionLabel(documentTokens: document.tokenCount))
        }
        let text = ((note.map { [$0] } ?? []) + passages).joined(separator: "\n\n")
        return DocumentContext(text: text, whole: false, passages: picked.count, tokens: used)
    }

    /// The document an input line refers to: a stored one by id, or text or a file, ingested
    /// (chunked, embedded, indexed) on first sight.
    public func resolve(_ source: DocumentSource, line: Int, inputFile: String) async throws -> DocumentRecord {
        switch source {
        case .storedID(let id):
            guard let stored = try store.document(id: id) else {
                throw ScoringError.unknownDocument(file: inputFile, line: line, id: id)
            }
            return stored
        case .text(let text):
            return try await ingest(text: text, id: nil, source: "\(inputFile):\(line)").document
        case .path(let path):
            let docs = try DocumentText.read(path: path)
            guard docs.count == 1 else {
                throw ScoringError.badInput(
                    file: inputFile, line: line,
                    reason: "\(path) holds \(docs.count) documents; index it with `longreward index` and refer to one by \"doc_id\"")
            }
            return try await ingest(text: docs[0].text, id: docs[0].id, source: path).document
        }
    }
}

/// What ``DocumentIndex/context(document:question:budget:note:passage:)`` shows of a document.
public struct DocumentContext: Sendable, Equatable {
    /// The text for the prompt.
    public var text: String
    /// True when the whole document fitted.
    public var whole: Bool
    /// Passages shown when it did not (0 when whole).
    public var passages: Int
    /// Document tokens shown.
    public var tokens: Int
}

extension ChunkRecord {
    /// The chunk's place in a document of `documentTokens` tokens, as rubrics show it: `35%-44%`
    /// (start rounded down, end rounded up).
    public func positionLabel(documentTokens: Int) -> String {
        let total = max(1, documentTokens)
        return "\(tokenStart * 100 / total)%-\((tokenEnd * 100 + total - 1) / total)%"
    }
}
