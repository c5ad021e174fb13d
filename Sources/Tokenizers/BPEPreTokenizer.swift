// BPEPreTokenizer.swift: hand-written scanners that split text into words before byte-level BPE,
// reproducing llama.cpp's splits for the GPT-2 and SmolLM2 pre-tokenizers.

/// How text is cut into words before BPE merges run inside each word.
///
/// * ``gpt2``: the GPT-2 pattern
///   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
///   (llama.cpp's `unicode_regex_split_custom_gpt2`, GGUF names `gpt2` and `default`).
/// * ``smollm``: first every `\p{N}` code point becomes a word of its own (so "2024" is four
///   words), then the GPT-2 pattern runs on the text between numbers. This is llama.cpp's
///   `LLAMA_VOCAB_PRE_TYPE_SMOLLM` (shared with StarCoder) and the Hugging Face tokenizer's
///   `Sequence[Digits(individual_digits=true), ByteLevel]`.
public enum BPEPreTokenizer: String, Sendable, CaseIterable {
    /// The GPT-2 pattern alone.
    case gpt2
    /// Single-code-point numbers, then the GPT-2 pattern.
    case smollm

    /// Maps a GGUF `tokenizer.ggml.pre` value to a pre-tokenizer.
    /// - Throws: ``TokenizerError/unknownPreTokenizer(_:)`` for names not implemented here.
    public init(ggufName name: String) throws {
        switch name {
        case "gpt2", "default": self = .gpt2
        case "smollm": self = .smollm
        default: throw TokenizerError.unknownPreTokenizer(name)
        }
    }

    /// Splits `text` into words and returns them as strings (a convenience for tests and tools;
    /// the tokenizer itself works on index ranges).
    public func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(CharacterClass.of)
        var ends: [Int] = []
        appendWordEnds(scalars, classes, 0..<scalars.count, into: &ends)
        var words: [String] = []
        var start = 0
        for end in ends {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[start..<end])
            words.append(String(view))
            start = end
        }
        return words
    }

    /// Appends the exclusive end index of every word of `scalars[range]` to `ends`.
    /// Words are contiguous and cover the range completely.
    func appendWordEnds(
        _ scalars: [Unicode.Scalar], _ classes: [CharacterClass], _ range: Range<Int>,
        into ends: inout [Int]
    ) {
        switch self {
        case .gpt2:
            Self.scanGPT2(scalars, classes, range, into: &ends)
        case .smollm:
            // Pass 1 (`\p{N}`): each number is a fragment; so is each run in between.
            var runStart = range.lowerBound
            for index in range where classes[index] == .number {
                if runStart < index { Self.scanGPT2(scalars, classes, runStart..<index, into: &ends) }
                ends.append(index + 1)
                runStart = index + 1
            }
            if runStart < range.upperBound {
                Self.scanGPT2(scalars, classes, runStart..<range.upperBound, into: &ends)
            }
        }
    }

    /// The GPT-2 pattern over one fragment. Look-ahead never crosses the fragment's end, as in
    /// llama.cpp where each fragment left by an earlier pass is scanned on its own.
    private static func scanGPT2(
        _ scalars: [Unicode.Scalar], _ classes: [CharacterClass], _ range: Range<Int>,
        into ends: inout [Int]
    ) {
        let end = range.upperBound
        var pos = range.lowerBound
        /// The class at `index`, or `nil` past the fragment.
        @inline(__always) func classAt(_ index: Int) -> CharacterClass? {
            index < end ? classes[index] : nil
        }
        while pos < end {
            let scalar = scalars[pos]

            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
            if scalar == "'" && pos + 1 < end {
                let next = scalars[pos + 1]
                if next == "s" || next == "t" || next == "m" || next == "d" {
                    pos += 2
                    ends.append(pos)
                    continue
                }
                if pos + 2 < end {
                    let third = scalars[pos + 2]
                    if (next == "r" && third == "e") || (next == "v" && third == "e")
                        || (next == "l" && third == "l")
                    {
                        pos += 3
                        ends.append(pos)
                        continue
                    }
                }
            }

            // An optional leading space joins the letter / number / symbol run after it.
            let isSpace = scalar == " "
            let lead = isSpace ? classAt(pos + 1) : classes[pos]
            if let lead, lead != .whitespace {
                if isSpace { pos += 1 }
                while classAt(pos) == lead { pos += 1 }
                ends.append(pos)
                continue
            }

            // \s+(?!\S) then \s+
            var count = 0
            while classAt(pos + count) == .whitespace { count += 1 }
            if count > 1 && pos + count < end {
                // Leave the last white-space character to prefix the next word.
                pos += count - 1
                ends.append(pos)
                continue
            }
            if count > 0 {
                pos += count
                ends.append(pos)
                continue
            }
            // Unreachable for well-formed input (every in-range code point has a class).
            pos += 1
            ends.append(pos)
        }
    }
}
