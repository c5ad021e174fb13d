// Chunker.swift: token windows cut on sentence boundaries, keeping token and byte offsets.

import Formats

/// A span of a document: bytes `[byteStart, byteEnd)` of its UTF-8 text and the token range
/// `[tokenStart, tokenEnd)` those bytes cover under the chunking tokenizer.
public struct TextChunk: Sendable, Equatable {
    /// Position among the chunks of one level (0-based).
    public var ordinal: Int
    /// Token range.
    public var tokenStart: Int, tokenEnd: Int
    /// Byte range in the normalised text.
    public var byteStart: Int, byteEnd: Int
    /// The chunk's text: exactly the bytes of its range.
    public var text: String

    /// Number of tokens in the chunk.
    public var tokenCount: Int { tokenEnd - tokenStart }
}

/// Chunk sizes and the document size limit.
public struct ChunkingOptions: Sendable, Equatable, Codable {
    /// Target size of retrieval chunks, in tokens (LongReward: 128).
    public var fineTokens: Int
    /// Target size of completeness chunks, in tokens (LongReward: 4096).
    public var coarseTokens: Int
    /// Documents longer than this are refused with a clear error.
    public var maxDocumentTokens: Int

    /// Creates options; the defaults are LongReward's sizes and a 2M-token limit.
    public init(fineTokens: Int = 128, coarseTokens: Int = 4096, maxDocumentTokens: Int = 2_000_000) {
        self.fineTokens = fineTokens
        self.coarseTokens = coarseTokens
        self.maxDocumentTokens = maxDocumentTokens
    }

    /// Throws when the sizes cannot work together.
    public func validate() throws {
        guard fineTokens >= 8 else { throw RetrievalError.invalidChunking(reason: "fine chunks need at least 8 tokens, got \(fineTokens)") }
        guard coarseTokens >= fineTokens else {
            throw RetrievalError.invalidChunking(reason: "coarse chunks (\(coarseTokens)) must not be smaller than fine chunks (\(fineTokens))")
        }
        guard maxDocumentTokens >= 1 else { throw RetrievalError.invalidChunking(reason: "the document limit must be positive") }
    }
}

/// A document cut into sentence units, then packed into chunks of two sizes.
public struct ChunkedDocument: Sendable {
    /// Total tokens (the sum over sentence units).
    public var tokenCount: Int
    /// Retrieval chunks.
    public var fine: [TextChunk]
    /// Completeness chunks.
    public var coarse: [TextChunk]
}

/// Splits text into sentences and packs them greedily into windows of at most N tokens. A
/// sentence longer than a window is split between words, and a word longer than a window between
/// characters, so no chunk exceeds its size and words are never cut unless they must be.
public struct Chunker: Sendable {
    /// Counts the tokens of a piece of text (the judge's tokenizer, so coarse chunks fit its context).
    public let countTokens: @Sendable (Substring) -> Int

    /// Creates a chunker over a token counter.
    public init(countTokens: @escaping @Sendable (Substring) -> Int) {
        self.countTokens = countTokens
    }

    /// One sentence (or a piece of an over-long one): its byte range and token count.
    public struct Unit: Sendable, Equatable {
        /// Byte range in the text, without surrounding whitespace.
        public var byteStart: Int, byteEnd: Int
        /// Token count of the unit's text.
        public var tokens: Int
    }

    /// Chunks a normalised document at both levels.
    /// - Throws: `RetrievalError.documentTooLong` over `options.maxDocumentTokens`.
    public func chunk(_ text: String, source: String, options: ChunkingOptions) throws -> ChunkedDocument {
        try options.validate()
        let bytes = Array(text.utf8)
        // A cheap bound first, so a huge file fails before it is tokenised: BPE tokens average
        // well over one byte each, so bytes / 8 tokens is a safe lower estimate.
        if bytes.count / 8 > options.maxDocumentTokens {
            throw RetrievalError.documentTooLong(source: source, tokens: bytes.count / 8, limit: options.maxDocumentTokens)
        }
        let units = self.units(bytes, maxTokens: options.fineTokens)
        let total = units.reduce(0) { $0 + $1.tokens }
        if total > options.maxDocumentTokens {
            throw RetrievalError.documentTooLong(source: source, tokens: total, limit: options.maxDocumentTokens)
        }
        return ChunkedDocument(
            tokenCount: total,
            fine: pack(units, bytes: bytes, maxTokens: options.fineTokens),
            coarse: pack(units, bytes: bytes, maxTokens: options.coarseTokens))
    }

    /// Sentence units of the text, none longer than `maxTokens`.
    public func units(_ bytes: [UInt8], maxTokens: Int) -> [Unit] {
        var out: [Unit] = []
        for (start, end) in Sentences.ranges(bytes) {
            let tokens = count(bytes, start, end)
            if tokens <= maxTokens {
                out.append(Unit(byteStart: start, byteEnd: end, tokens: tokens))
            } else {
                out += split(bytes, start, end, maxTokens: maxTokens)
            }
        }
        return out
    }

    /// Packs units greedily into chunks of at most `maxTokens` tokens.
    public func pack(_ units: [Unit], bytes: [UInt8], maxTokens: Int) -> [TextChunk] {
        var chunks: [TextChunk] = []
        var first = 0, tokens = 0, tokenStart = 0
        func flush(upTo end: Int) {
            guard end > first else { return }
            let byteStart = units[first].byteStart, byteEnd = units[end - 1].byteEnd
            chunks.append(TextChunk(
                ordinal: chunks.count, tokenStart: tokenStart, tokenEnd: tokenStart + tokens,
                byteStart: byteStart, byteEnd: byteEnd, text: String(decoding: bytes[byteStart..<byteEnd], as: UTF8.self)))
            tokenStart += tokens
            tokens = 0
            first = end
        }
        for (i, unit) in units.enumerated() {
            if tokens > 0, tokens + unit.tokens > maxTokens { flush(upTo: i) }
            tokens += unit.tokens
        }
        flush(upTo: units.count)
        return chunks
    }

    private func count(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Int {
        countTokens(Substring(String(decoding: bytes[start..<end], as: UTF8.self)))
    }

    /// Splits an over-long sentence between words; a word longer than the window is split between
    /// characters in pieces of `maxTokens / 4` characters (a character is at most 4 byte tokens).
    private func split(_ bytes: [UInt8], _ start: Int, _ end: Int, maxTokens: Int) -> [Unit] {
        // Words with their leading whitespace, as byte ranges.
        var words: [(Int, Int)] = []
        var i = start
        while i < end {
            var j = i
            while j < end, Sentences.isSpace(bytes[j]) { j += 1 }
            while j < end, !Sentences.isSpace(bytes[j]) { j += 1 }
            words.append((i, j))
            i = j
        }
        var out: [Unit] = []
        var pieceStart = -1, pieceEnd = -1, pieceTokens = 0
        func flush() {
            if pieceStart >= 0 { out.append(Unit(byteStart: pieceStart, byteEnd: pieceEnd, tokens: pieceTokens)) }
            pieceStart = -1
            pieceTokens = 0
        }
        for (ws, we) in words {
            let tokens = count(bytes, ws, we)
            if tokens > maxTokens {
                flush()
                var s = ws
                while s < we, Sentences.isSpace(bytes[s]) { s += 1 }
                let step = max(1, maxTokens / 4)
                var characters = 0, pieceBegin = s, k = s
                while k <= we {
                    if k == we || (bytes[k] & 0xC0 != 0x80 && characters == step) {
                        out.append(Unit(byteStart: pieceBegin, byteEnd: k, tokens: count(bytes, pieceBegin, k)))
                        pieceBegin = k
                        characters = 0
                        if k == we { break }
                    }
                    if bytes[k] & 0xC0 != 0x80 { characters += 1 }
                    k += 1
                }
                continue
            }
            if pieceStart >= 0, pieceTokens + tokens > maxTokens { flush() }
            if pieceStart < 0 {
                var s = ws
                while s < we, Sentences.isSpace(bytes[s]) { s += 1 }
                pieceStart = s
            }
            pieceEnd = we
            pieceTokens += tokens
        }
        flush()
        return out.filter { $0.byteEnd > $0.byteStart }
    }
}
