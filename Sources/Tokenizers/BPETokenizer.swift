// BPETokenizer.swift: byte-level BPE (GPT-2 family, SmolLM2) built from GGUF-style arrays,
// matching llama.cpp's `llm_tokenizer_bpe` token for token.

import Kernels

/// A byte-level BPE tokenizer such as SmolLM2's, built from the arrays a GGUF file stores.
///
/// Encoding follows llama.cpp: special tokens found literally in the text are cut out first
/// (control and unknown tokens only when `parseSpecial` is true, user-defined ones always), the
/// remaining text is split into words by the ``BPEPreTokenizer``, each word's UTF-8 bytes become
/// byte tokens, and merges are applied lowest rank first (leftmost first among equal ranks).
/// A character holding a byte the vocabulary has no piece for encodes as U+FFFD (as the
/// unknown id it would be SmolLM2's `<|endoftext|>`); llama.cpp throws instead.
///
/// The type is immutable apart from an internal, lock-protected word cache, and is `Sendable`.
public final class BPETokenizer: Sendable {
    /// Vocabulary pieces in GPT-2 byte-to-unicode spelling; the index is the token id.
    public let tokens: [String]
    /// The type of every token, parallel to ``tokens``.
    public let tokenTypes: [TokenType]
    /// The pre-tokenizer that splits text into words.
    public let preTokenizer: BPEPreTokenizer
    /// Beginning-of-sequence token id, if the model has one.
    public let bosID: Int32?
    /// End-of-sequence token id, if the model has one.
    public let eosID: Int32?
    /// Unknown-token id, if the model has one.
    public let unknownID: Int32?
    /// Padding token id, if the model has one.
    public let paddingID: Int32?
    /// Whether ``encode(_:parseSpecial:)`` prepends ``bosID``.
    public let addBOS: Bool

    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// Piece text -> id (a later duplicate wins, as in llama.cpp).
    private let idForPiece: [String: Int32]
    /// Byte -> id of the token spelling that single byte.
    private let byteTokenIDs: [Int32]
    /// Bytes with no piece of their own, whose character encodes as U+FFFD (see `encode`).
    private let piecelessBytes: [Bool]
    /// (left id << 32 | right id) -> merge rank and merged id.
    private let merges: [UInt64: Merge]
    /// Raw bytes each token decodes to.
    private let tokenBytes: [[UInt8]]
    /// Tokens matched literally before pre-tokenization, longest first.
    private let specialTokens: [SpecialToken]
    /// Word bytes -> token ids, shared by all callers.
    private let wordCache = Locked<[[UInt8]: [Int32]]>([:])
    /// The cache is emptied when it grows past this many words.
    private static let wordCacheLimit = 200_000

    private struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    private struct SpecialToken: Sendable {
        let id: Int32
        let bytes: [UInt8]
        /// Control and unknown tokens are matched only when special parsing is on.
        let needsParseSpecial: Bool
    }

    /// Builds a tokenizer from the arrays stored in a GGUF file.
    /// - Parameters:
    ///   - tokens: `tokenizer.ggml.tokens`, pieces in byte-to-unicode form (`Ġ` is a space).
    ///   - merges: `tokenizer.ggml.merges`, `"left right"` pairs; a merge's rank is its index.
    ///   - tokenTypes: `tokenizer.ggml.token_type` (llama.cpp numbering: 1 normal, 2 unknown,
    ///     3 control, 4 user-defined, 5 unused, 6 byte); must have one entry per token.
    ///   - bosID: `tokenizer.ggml.bos_token_id`.
    ///   - eosID: `tokenizer.ggml.eos_token_id`.
    ///   - unknownID: `tokenizer.ggml.unknown_token_id`.
    ///   - paddingID: `tokenizer.ggml.padding_token_id`.
    ///   - preTokenizer: `tokenizer.ggml.pre` (`smollm`, `gpt2` or `default`).
    ///   - addBOS: `tokenizer.ggml.add_bos_token`.
    /// - Throws: ``TokenizerError`` when the arrays are inconsistent, a merge is malformed or
    ///   references unknown pieces, a byte token is missing, or the pre-tokenizer is unknown.
    public init(
        tokens: [String], merges: [String], tokenTypes: [Int32],
        bosID: Int32? = nil, eosID: Int32? = nil, unknownID: Int32? = nil, paddingID: Int32? = nil,
        preTokenizer: String, addBOS: Bool = false
    ) throws {
        guard !tokens.isEmpty else {
            throw TokenizerError.inconsistentVocabulary(reason: "the token list is empty")
        }
        guard tokens.count <= Int(Int32.max) else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(tokens.count) tokens exceed Int32 ids")
        }
        guard tokenTypes.count == tokens.count else {
            throw TokenizerError.inconsistentVocabulary(
                reason: "\(tokens.count) tokens but \(tokenTypes.count) token types")
        }
        var types: [TokenType] = []
        types.reserveCapacity(tokenTypes.count)
        for (index, raw) in tokenTypes.enumerated() {
            guard let type = TokenType(rawValue: raw) else {
                throw TokenizerError.inconsistentVocabulary(
                    reason: "token \(index) has unknown type \(raw)")
            }
            types.append(type)
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("unk", unknownID), ("pad", paddingID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError.inconsistentVocabulary(
                    reason: "\(name) id \(id) is outside the \(tokens.count)-token vocabulary")
            }
        }
        if addBOS && bosID == nil {
            throw TokenizerError.missingToken("<bos> (addBOS is set but no BOS id was given)")
        }

        self.tokens = tokens
        self.tokenTypes = types
        self.preTokenizer = try BPEPreTokenizer(ggufName: preTokenizer)
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS

        var idForPiece = [String: Int32](minimumCapacity: tokens.count)
        for (index, piece) in tokens.enumerated() { idForPiece[piece] = Int32(index) }
        self.idForPiece = idForPiece

        // Some vocabularies (SmolLM2's among them) lack pieces for bytes that never occur in
        // their training text (rare control bytes, bytes invalid in UTF-8). Such a byte encodes
        // as the unknown token; without one the vocabulary is unusable.
        var byteTokenIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let piece = String(ByteLevelAlphabet.scalarForByte[byte])
            if let id = idForPiece[piece] {
                byteTokenIDs[byte] = id
            } else if let unknownID {
                byteTokenIDs[byte] = unknownID
            } else {
                throw TokenizerError.missingToken(piece)
            }
        }
        self.byteTokenIDs = byteTokenIDs
        let replacement = Array("\u{FFFD}".utf8)
        let missing = (0..<256).filter { idForPiece[String(ByteLevelAlphabet.scalarForByte[$0])] == nil }.map(UInt8.init)
        var pieceless = [Bool](repeating: false, count: 256)
        // Only worth doing when U+FFFD itself is spelled with pieces (else the unknown id stays).
        if !replacement.contains(where: { missing.contains($0) }) { for b in missing { pieceless[Int(b)] = true } }
        self.piecelessBytes = pieceless

        var mergeTable = [UInt64: Merge](minimumCapacity: merges.count)
        for (rank, text) in merges.enumerated() {
            // Split at the first space that is not the first character (pieces never contain
            // a literal space: the byte-level alphabet spells it `Ġ`).
            let scalars = text.unicodeScalars
            guard let space = scalars.dropFirst().firstIndex(of: " ") else {
                throw TokenizerError.invalidMerge(index: rank, text: text)
            }
            let left = String(scalars[..<space])
            let right = String(scalars[scalars.index(after: space)...])
            guard !right.isEmpty, let leftID = idForPiece[left], let rightID = idForPiece[right],
                let resultID = idForPiece[left + right]
            else {
                throw TokenizerError.invalidMerge(index: rank, text: text)
            }
            let key = UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))
            if mergeTable[key] == nil {  // the first (lowest-rank) rule for a pair wins
                mergeTable[key] = Merge(rank: Int32(rank), result: resultID)
            }
        }
        self.merges = mergeTable

        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(tokens.count)
        var specials: [SpecialToken] = []
        for (index, piece) in tokens.enumerated() {
            let type = types[index]
            if type.isSpecial {
                tokenBytes.append(Array(piece.utf8))
                if !piece.isEmpty {
                    specials.append(
                        SpecialToken(
                            id: Int32(index), bytes: Array(piece.utf8),
                            needsParseSpecial: type != .userDefined))
                }
            } else {
                tokenBytes.append(ByteLevelAlphabet.decode(piece))
            }
        }
        // Longest first, ties by id, so that the partition is deterministic.
        specials.sort { ($0.bytes.count, -$0.id) > ($1.bytes.count, -$1.id) }
        self.tokenBytes = tokenBytes
        self.specialTokens = specials
    }

    // MARK: - Lookup

    /// The id of a vocabulary piece given in byte-to-unicode spelling, or `nil`.
    public func id(forPiece piece: String) -> Int32? { idForPiece[piece] }

    /// The piece of a token id in byte-to-unicode spelling.
    /// - Throws: ``TokenizerError/unknownTokenID(_:)`` for an id outside the vocabulary.
    public func piece(for id: Int32) throws -> String {
        guard id >= 0, Int(id) < tokens.count else { throw TokenizerError.unknownTokenID(Int(id)) }
        return tokens[Int(id)]
    }

    /// Whether `id` is a control token (such as `<|im_end|>`).
    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < tokenTypes.count && tokenTypes[Int(id)] == .control
    }

    /// The raw bytes one token decodes to (its UTF-8 text for special tokens).
    /// - Throws: ``TokenizerError/unknownTokenID(_:)`` for an id outside the vocabulary.
    public func bytes(for id: Int32) throws -> [UInt8] {
        guard id >= 0, Int(id) < tokenBytes.count else { throw TokenizerError.unknownTokenID(Int(id)) }
        return tokenBytes[Int(id)]
    }

    // MARK: - Encoding

    /// Encodes text to token ids exactly as llama.cpp's `llama_tokenize` does.
    /// - Parameters:
    ///   - text: the text to encode.
    ///   - parseSpecial: when true, control tokens written literally in the text (such as
    ///     `<|im_start|>`) become their single ids; when false they are encoded as plain text.
    ///     User-defined tokens are always matched.
    /// - Returns: token ids, preceded by ``bosID`` when ``addBOS`` is set.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 4)
        if addBOS, let bosID { output.append(bosID) }
        var bytes = Array(text.utf8)
        // A character with a byte the vocabulary has no piece for (SmolLM2 lacks some control
        // bytes and rare lead bytes such as 0xF2) is written as U+FFFD: as the unknown token it
        // would be <|endoftext|>, an end of text inside the text.
        if bytes.contains(where: { piecelessBytes[Int($0)] }) {
            var scalars = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                scalars.append(String(scalar).utf8.contains(where: { piecelessBytes[Int($0)] }) ? "\u{FFFD}" : scalar)
            }
            bytes = Array(String(scalars).utf8)
        }
        for fragment in partition(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .special(let id):
                output.append(id)
            case .text(let range):
                encodeText(bytes[range], into: &output)
            }
        }
        return output
    }

    private enum Fragment {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Cuts special tokens out of the text, longest token first, each over every remaining text
    /// fragment from left to right (llama.cpp's `tokenizer_st_partition`).
    private func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        for special in specialTokens where parseSpecial || !special.needsParseSpecial {
            let pattern = special.bytes
            let first = pattern[0]
            var next: [Fragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment, range.count >= pattern.count else {
                    next.append(fragment)
                    continue
                }
                var start = range.lowerBound
                var index = range.lowerBound
                let last = range.upperBound - pattern.count
                while index <= last {
                    if bytes[index] == first && bytes[index..<index + pattern.count].elementsEqual(pattern) {
                        if start < index { next.append(.text(start..<index)) }
                        next.append(.special(special.id))
                        changed = true
                        index += pattern.count
                        start = index
                    } else {
                        index += 1
                    }
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = next }
        }
        return fragments
    }

    /// Pre-tokenizes one text fragment and appends the BPE ids of every word.
    private func encodeText(_ bytes: ArraySlice<UInt8>, into output: inout [Int32]) {
        // Decode to code points, remembering where each starts in the byte buffer.
        var scalars: [Unicode.Scalar] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var position = bytes.startIndex
        // `String.utf8` input is valid UTF-8, so each decoded scalar spans its UTF-8 length.
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalars.append(scalar)
                offsets.append(position)
                position += UTF8.width(scalar)
            case .emptyInput:
                break decoding
            case .error:
                scalars.append("\u{FFFD}")
                offsets.append(position)
                position += 1
            }
        }
        offsets.append(bytes.endIndex)
        let classes = scalars.map(CharacterClass.of)
        var ends: [Int] = []
        ends.reserveCapacity(scalars.count / 3 + 1)
        preTokenizer.appendWordEnds(scalars, classes, 0..<scalars.count, into: &ends)

        var words: [[UInt8]] = []
        words.reserveCapacity(ends.count)
        var start = 0
        for end in ends {
            words.append(Array(bytes[offsets[start]..<offsets[end]]))
            start = end
        }
        // Look every word up in the shared cache under one lock acquisition.
        var found: [[Int32]?] = wordCache.withLock { cache in words.map { cache[$0] } }
        // Merge the misses outside the lock (each distinct word once), then publish them.
        var fresh: [[UInt8]: [Int32]] = [:]
        for index in words.indices where found[index] == nil {
            if let ids = fresh[words[index]] {
                found[index] = ids
            } else {
                let ids = mergeWord(words[index])
                fresh[words[index]] = ids
                found[index] = ids
            }
        }
        for ids in found { output.append(contentsOf: ids ?? []) }  // every entry is set above
        if !fresh.isEmpty {
            wordCache.withLock { cache in
                if cache.count + fresh.count > Self.wordCacheLimit { cache.removeAll(keepingCapacity: true) }
                cache.merge(fresh) { current, _ in current }
            }
        }
    }

    /// Applies the merges to one word (UTF-8 bytes), lowest rank first and leftmost first among
    /// equal ranks, the order of llama.cpp's priority queue.
    func mergeWord(_ word: [UInt8]) -> [Int32] {
        let count = word.count
        if count == 1 { return [byteTokenIDs[Int(word[0])]] }
        var ids = word.map { byteTokenIDs[Int($0)] }
        var next = Array(1...count)  // `count` means none
        var previous = Array(-1..<(count - 1))
        var alive = [Bool](repeating: true, count: count)
        var heap = PairHeap()

        @inline(__always) func push(_ left: Int, _ right: Int) {
            guard left >= 0, right < count else { return }
            let key = UInt64(UInt32(bitPattern: ids[left])) << 32 | UInt64(UInt32(bitPattern: ids[right]))
            guard let merge = merges[key] else { return }
            heap.push(PairHeap.Entry(rank: merge.rank, left: Int32(left), right: Int32(right),
                                     leftID: ids[left], rightID: ids[right], result: merge.result))
        }
        for index in 0..<(count - 1) { push(index, index + 1) }
        while let entry = heap.pop() {
            let left = Int(entry.left), right = Int(entry.right)
            // Skip pairs made stale by an earlier merge.
            guard alive[left], alive[right], ids[left] == entry.leftID, ids[right] == entry.rightID
            else { continue }
            ids[left] = entry.result
            alive[right] = false
            let after = next[right]
            next[left] = after
            if after < count { previous[after] = left }
            push(previous[left], left)
            push(left, after)
        }
        var result: [Int32] = []
        var index = 0
        while index < count {
            result.append(ids[index])
            index = next[index]
        }
        return result
    }

    // MARK: - Decoding

    /// Decodes token ids to text.
    /// - Parameters:
    ///   - ids: token ids.
    ///   - skipSpecial: when true, control tokens produce no text.
    /// - Returns: the text; byte sequences that are not valid UTF-8 become U+FFFD.
    /// - Throws: ``TokenizerError/unknownTokenID(_:)`` for an id outside the vocabulary.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, Int(id) < tokenBytes.count else { throw TokenizerError.unknownTokenID(Int(id)) }
            if skipSpecial && tokenTypes[Int(id)] == .control { continue }
            bytes.append(contentsOf: tokenBytes[Int(id)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A streaming decoder over this tokenizer (see ``Detokenizer``).
    public func makeDetokenizer(skipSpecial: Bool = false) -> Detokenizer {
        Detokenizer(tokenizer: self, skipSpecial: skipSpecial)
    }
}

/// A binary min-heap of candidate merges ordered by (rank, left position).
struct PairHeap {
    struct Entry {
        let rank: Int32
        let left: Int32
        let right: Int32
        let leftID: Int32
        let rightID: Int32
        let result: Int32

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : left < other.left
        }
    }

    private var storage: [Entry] = []

    mutating func push(_ entry: Entry) {
        storage.append(entry)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child].precedes(storage[parent]) else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = storage.first else { return nil }
        let last = storage.removeLast()
        if !storage.isEmpty {
            storage[0] = last
            var parent = 0
            let count = storage.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                var best = left
                if left + 1 < count && storage[left + 1].precedes(storage[left]) { best = left + 1 }
                guard storage[best].precedes(storage[parent]) else { break }
                storage.swapAt(best, parent)
                parent = best
            }
        }
        return top
    }
}
