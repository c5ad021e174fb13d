// Detokenizer.swift: streaming decoding that never emits half of a UTF-8 character.

/// Turns a stream of token ids into text, one token at a time.
///
/// Byte-level BPE often spells one character with several tokens (a Chinese character is three
/// UTF-8 bytes, frequently split across byte tokens). The detokenizer buffers bytes and returns
/// only text made of complete UTF-8 sequences; the concatenation of everything ``append(_:)`` and
/// ``flush()`` return equals ``BPETokenizer/decode(_:skipSpecial:)`` of the whole stream.
public struct Detokenizer: Sendable {
    /// The tokenizer whose vocabulary is decoded.
    public let tokenizer: BPETokenizer
    /// Whether control tokens produce no text.
    public let skipSpecial: Bool
    /// Bytes of an incomplete trailing UTF-8 sequence, held back until it completes.
    private var pending: [UInt8] = []

    /// Creates a detokenizer (also available as ``BPETokenizer/makeDetokenizer(skipSpecial:)``).
    public init(tokenizer: BPETokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Whether bytes of an unfinished character are buffered.
    public var hasPendingBytes: Bool { !pending.isEmpty }

    /// Adds one token and returns the text it completes (possibly empty).
    /// - Throws: ``TokenizerError/unknownTokenID(_:)`` for an id outside the vocabulary.
    public mutating func append(_ id: Int32) throws -> String {
        if skipSpecial && tokenizer.isControl(id) { return "" }
        pending.append(contentsOf: try tokenizer.bytes(for: id))
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Returns whatever is still buffered (an unfinished sequence becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside an unfinished UTF-8 sequence.
    /// Invalid bytes count as complete (they decode to U+FFFD right away).
    public static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var index = count - 1
        // Find the last non-continuation byte among the final four.
        while index >= 0 && index >= count - 4 {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {
                let width: Int
                switch byte {
                case 0xC2...0xDF: width = 2
                case 0xE0...0xEF: width = 3
                case 0xF0...0xF4: width = 4
                default: width = 1  // ASCII or a byte that can never start a sequence
                }
                return index + width > count ? index : count
            }
            index -= 1
        }
        return count
    }
}
