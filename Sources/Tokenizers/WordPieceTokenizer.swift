// WordPieceTokenizer.swift: BERT WordPiece (all-MiniLM-L6-v2) from a vocab.txt, matching the ids
// sentence-transformers feeds the model.

import Foundation

/// A BERT WordPiece tokenizer (uncased by default), as used by all-MiniLM-L6-v2.
///
/// Text goes through BERT's basic tokenizer (cleaning, CJK spacing, accent stripping,
/// lower-casing, white-space and punctuation splitting), then each word is split greedily into
/// the longest vocabulary pieces, continuation pieces carrying a `##` prefix. A word longer than
/// ``maxInputCharactersPerWord`` code points, or one that cannot be split, becomes `[UNK]`.
public final class WordPieceTokenizer: Sendable {
    /// Vocabulary entries; the index is the token id.
    public let vocabulary: [String]
    /// Maximum sequence length, `[CLS]` and `[SEP]` included; longer inputs are truncated.
    public let maxLength: Int
    /// Whether the text is lower-cased and accent-stripped (true for uncased models).
    public let lowercase: Bool
    /// Words with more code points than this become a single `[UNK]`.
    public let maxInputCharactersPerWord: Int
    /// Id of `[CLS]`, which starts every sequence.
    public let classifierID: Int32
    /// Id of `[SEP]`, which ends every sequence.
    public let separatorID: Int32
    /// Id of `[PAD]`, used to pad batches.
    public let paddingID: Int32
    /// Id of `[UNK]`.
    public let unknownID: Int32

    private let idForToken: [String: Int32]
    private let normalizer: BERTNormalizer

    /// Builds a tokenizer from vocabulary entries (id = position).
    /// - Parameters:
    ///   - vocabulary: one entry per id; must contain `[CLS]`, `[SEP]`, `[PAD]` and `[UNK]`.
    ///   - maxLength: maximum sequence length including `[CLS]` and `[SEP]` (at least 2).
    ///   - lowercase: lower-case and strip accents (uncased models).
    ///   - maxInputCharactersPerWord: longer words become `[UNK]`.
    /// - Throws: ``TokenizerError/missingToken(_:)`` when a special token is absent, or
    ///   ``TokenizerError/inconsistentVocabulary(reason:)`` for an unusable configuration.
    public init(
        vocabulary: [String], maxLength: Int = 256, lowercase: Bool = true,
        maxInputCharactersPerWord: Int = 100
    ) throws {
        guard maxLength >= 2 else {
            throw TokenizerError.inconsistentVocabulary(reason: "maxLength \(maxLength) leaves no room for [CLS]/[SEP]")
        }
        var idForToken = [String: Int32](minimumCapacity: vocabulary.count)
        for (index, token) in vocabulary.enumerated() where idForToken[token] == nil {
            idForToken[token] = Int32(index)
        }
        func require(_ token: String) throws -> Int32 {
            guard let id = idForToken[token] else { throw TokenizerError.missingToken(token) }
            return id
        }
        self.vocabulary = vocabulary
        self.maxLength = maxLength
        self.lowercase = lowercase
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
        self.classifierID = try require("[CLS]")
        self.separatorID = try require("[SEP]")
        self.paddingID = try require("[PAD]")
        self.unknownID = try require("[UNK]")
        self.idForToken = idForToken
        self.normalizer = BERTNormalizer(lowercase: lowercase, stripAccents: lowercase)
    }

    /// Builds a tokenizer from the contents of a `vocab.txt` (one token per line, trailing white
    /// space trimmed, id = line number).
    /// - Throws: as ``init(vocabulary:maxLength:lowercase:maxInputCharactersPerWord:)``.
    public convenience init(vocabularyText: String, maxLength: Int = 256, lowercase: Bool = true) throws {
        var lines = vocabularyText.split(separator: "\n", omittingEmptySubsequences: false).map {
            line -> String in
            var end = line.endIndex
            while end > line.startIndex, line[line.index(before: end)].isWhitespace {
                end = line.index(before: end)
            }
            return String(line[..<end])
        }
        if lines.last == "" { lines.removeLast() }  // the final newline does not start a token
        try self.init(vocabulary: lines, maxLength: maxLength, lowercase: lowercase)
    }

    /// Loads a `vocab.txt` file.
    /// - Throws: ``TokenizerError/vocabularyFile(path:reason:)`` when the file cannot be read or
    ///   is not UTF-8, and the errors of ``init(vocabulary:maxLength:lowercase:maxInputCharactersPerWord:)``.
    public convenience init(contentsOfFile path: String, maxLength: Int = 256, lowercase: Bool = true) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError.vocabularyFile(path: path, reason: error.localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.vocabularyFile(path: path, reason: "not valid UTF-8")
        }
        guard !text.isEmpty else { throw TokenizerError.vocabularyFile(path: path, reason: "empty file") }
        try self.init(vocabularyText: text, maxLength: maxLength, lowercase: lowercase)
    }

    /// The id of a vocabulary entry, or `nil`.
    public func id(for token: String) -> Int32? { idForToken[token] }

    /// Word-piece ids of `text` without `[CLS]`/`[SEP]` and without truncation.
    public func wordPieceIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for word in normalizer.words(text) { appendPieces(of: word, to: &ids) }
        return ids
    }

    /// Word-piece strings of `text` (for inspection), without `[CLS]`/`[SEP]` or truncation.
    public func tokenize(_ text: String) -> [String] {
        wordPieceIDs(text).map { vocabulary[Int($0)] }
    }

    /// Encodes one text as `[CLS] pieces... [SEP]`, truncating the pieces so that the result
    /// has at most ``maxLength`` ids.
    public func encode(_ text: String) -> [Int32] {
        let pieces = wordPieceIDs(text)
        var ids: [Int32] = [classifierID]
        ids.append(contentsOf: pieces.prefix(maxLength - 2))
        ids.append(separatorID)
        return ids
    }

    /// Encodes several texts and pads them with ``paddingID`` to the longest one.
    public func encodeBatch(_ texts: [String]) -> WordPieceBatch {
        let encoded = texts.map(encode)
        let width = encoded.map(\.count).max() ?? 0
        let padded = encoded.map { $0 + [Int32](repeating: paddingID, count: width - $0.count) }
        return WordPieceBatch(tokenIDs: padded, lengths: encoded.map(\.count))
    }

    /// Greedy longest-match-first split of one normalized word.
    private func appendPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= maxInputCharactersPerWord else {
            ids.append(unknownID)
            return
        }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var match: Int32?
            while start < end {
                var view = String.UnicodeScalarView()
                if start > 0 { view.append(contentsOf: "##".unicodeScalars) }
                view.append(contentsOf: word[start..<end])
                if let id = idForToken[String(view)] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.append(unknownID)
                return
            }
            pieces.append(match)
            start = end
        }
        ids.append(contentsOf: pieces)
    }
}

/// A padded batch produced by ``WordPieceTokenizer/encodeBatch(_:)``.
public struct WordPieceBatch: Sendable, Equatable {
    /// One row per text, each padded with `[PAD]` to the longest row.
    public let tokenIDs: [[Int32]]
    /// The unpadded length of every row (the attention-mask length).
    public let lengths: [Int]

    /// The padded row length (0 for an empty batch).
    public var paddedLength: Int { tokenIDs.first?.count ?? 0 }

    /// All rows concatenated, row-major (`count * paddedLength` ids).
    public var flattened: [Int32] { tokenIDs.flatMap { $0 } }
}
