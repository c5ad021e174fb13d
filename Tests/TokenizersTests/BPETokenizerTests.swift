// BPETokenizerTests.swift: SmolLM2 byte-level BPE against llama.cpp's token ids.

import Testing
import Tokenizers

@Suite("BPETokenizer (SmolLM2)")
struct BPETokenizerTests {
    @Test("ids match llama.cpp", arguments: Fixtures.smolLM2CaseNames)
    func goldenIDs(name: String) throws {
        let tokenizer = try Fixtures.smolLM2()
        let golden = try Fixtures.smolLM2Case(name)
        let ids = tokenizer.encode(golden.text, parseSpecial: golden.parseSpecial)
        #expect(ids == golden.tokenIds, "\(firstMismatch(ids, golden.tokenIds))")
        // A second run is served from the word cache and must agree.
        #expect(tokenizer.encode(golden.text, parseSpecial: golden.parseSpecial) == ids)
    }

    @Test("decode(encode(x)) == x", arguments: Fixtures.smolLM2CaseNames)
    func roundTrip(name: String) throws {
        let tokenizer = try Fixtures.smolLM2()
        let golden = try Fixtures.smolLM2Case(name)
        let ids = tokenizer.encode(golden.text, parseSpecial: golden.parseSpecial)
        #expect(try tokenizer.decode(ids) == golden.text)
    }

    @Test("streaming detokenizer emits only complete UTF-8")
    func streamingChinese() throws {
        let tokenizer = try Fixtures.smolLM2()
        let golden = try Fixtures.smolLM2Case("unicode_chinese")
        var detokenizer = tokenizer.makeDetokenizer()
        var streamed = ""
        var sawHeldBack = false
        for id in golden.tokenIds {
            let piece = try detokenizer.append(id)
            #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "partial UTF-8 leaked at token \(id)")
            if piece.isEmpty && detokenizer.hasPendingBytes { sawHeldBack = true }
            streamed += piece
        }
        streamed += detokenizer.flush()
        #expect(streamed == golden.text)
        #expect(sawHeldBack, "the Chinese text should contain characters split across tokens")
    }

    @Test("flush returns an unfinished sequence as U+FFFD")
    func flushIncomplete() throws {
        let tokenizer = try Fixtures.smolLM2()
        let ids = tokenizer.encode("机")
        var detokenizer = tokenizer.makeDetokenizer()
        // Feed only the first token of a multi-token character when it splits.
        if ids.count > 1 {
            #expect(try detokenizer.append(ids[0]) == "")
            #expect(detokenizer.flush().unicodeScalars.contains("\u{FFFD}"))
        }
        #expect(Detokenizer.completePrefixLength([0x41, 0xE6, 0x9C]) == 1)
        #expect(Detokenizer.completePrefixLength([0x41, 0xE6, 0x9C, 0xBA]) == 4)
        #expect(Detokenizer.completePrefixLength([0xF0, 0x9F, 0x9A]) == 0)
    }

    @Test("digits are split one per token")
    func digitsSplit() throws {
        let tokenizer = try Fixtures.smolLM2()
        let ids = tokenizer.encode("in 2024")
        let pieces = try ids.map { try tokenizer.piece(for: $0) }
        #expect(pieces == ["in", "Ġ", "2", "0", "2", "4"])
        #expect(BPEPreTokenizer.smollm.split("in 2024!") == ["in", " ", "2", "0", "2", "4", "!"])
        #expect(BPEPreTokenizer.gpt2.split("in 2024!") == ["in", " 2024", "!"])
    }

    @Test("GPT-2 pre-tokenizer splits")
    func gpt2Splits() {
        let split = BPEPreTokenizer.gpt2.split
        #expect(split("I'm here's") == ["I", "'m", " here", "'s"])
        #expect(split("a   b") == ["a", "  ", " b"])
        #expect(split("a \n\nb  ") == ["a", " \n", "\n", "b", "  "])
        #expect(split("hello!!  ?") == ["hello", "!!", " ", " ?"])
        #expect(split("Café naïve") == ["Café", " naïve"])
        #expect(split("tab\tand") == ["tab", "\t", "and"])
    }

    @Test("special tokens are parsed only when asked")
    func specialParsing() throws {
        let tokenizer = try Fixtures.smolLM2()
        let text = "<|im_start|>user\nHi<|im_end|>"
        let parsed = tokenizer.encode(text, parseSpecial: true)
        #expect(parsed.first == 1)
        #expect(parsed.last == 2)
        #expect(parsed == [1] + tokenizer.encode("user\nHi") + [2])
        let literal = tokenizer.encode(text, parseSpecial: false)
        #expect(!literal.contains(1) && !literal.contains(2))
        #expect(try tokenizer.decode(literal) == text)
        #expect(try tokenizer.decode(parsed) == text)
        #expect(try tokenizer.decode(parsed, skipSpecial: true) == "user\nHi")
    }

    @Test("empty text encodes to nothing")
    func emptyText() throws {
        let tokenizer = try Fixtures.smolLM2()
        #expect(tokenizer.encode("").isEmpty)
        #expect(try tokenizer.decode([]) == "")
    }

    @Test("unknown ids are rejected")
    func unknownID() throws {
        let tokenizer = try Fixtures.smolLM2()
        #expect(throws: TokenizerError.unknownTokenID(49_152)) { try tokenizer.decode([49_152]) }
        var detokenizer = tokenizer.makeDetokenizer()
        #expect(throws: TokenizerError.unknownTokenID(-1)) { try detokenizer.append(-1) }
    }

    // MARK: - Inconsistent vocabularies

    /// A tiny valid vocabulary: the 256 byte pieces plus "ab" and "abc".
    static func tinyVocabulary() -> (tokens: [String], types: [Int32]) {
        var tokens = ByteLevelAlphabet.scalarForByte.map { String($0) }
        tokens += ["ab", "abc", "<|end|>"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[types.count - 1] = 3
        return (tokens, types)
    }

    @Test("a tiny vocabulary merges lowest rank first")
    func tinyMerges() throws {
        let (tokens, types) = Self.tinyVocabulary()
        let tokenizer = try BPETokenizer(
            tokens: tokens, merges: ["a b", "ab c"], tokenTypes: types, preTokenizer: "gpt2")
        let pieces = try tokenizer.encode("abcab").map { try tokenizer.piece(for: $0) }
        #expect(pieces == ["abc", "ab"])
        #expect(tokenizer.encode("x<|end|>", parseSpecial: true).last == Int32(tokens.count - 1))
    }

    @Test("token count must equal type count")
    func typeCountMismatch() {
        let (tokens, types) = Self.tinyVocabulary()
        #expect(throws: TokenizerError.inconsistentVocabulary(reason: "\(tokens.count) tokens but \(types.count - 1) token types")) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: Array(types.dropLast()), preTokenizer: "gpt2")
        }
    }

    @Test("merges must reference known tokens")
    func invalidMerges() {
        let (tokens, types) = Self.tinyVocabulary()
        #expect(throws: TokenizerError.invalidMerge(index: 1, text: "a zz")) {
            try BPETokenizer(tokens: tokens, merges: ["a b", "a zz"], tokenTypes: types, preTokenizer: "gpt2")
        }
        #expect(throws: TokenizerError.invalidMerge(index: 0, text: "abc")) {
            try BPETokenizer(tokens: tokens, merges: ["abc"], tokenTypes: types, preTokenizer: "gpt2")
        }
        // "b c" is well-formed but "bc" is not a token.
        #expect(throws: TokenizerError.invalidMerge(index: 0, text: "b c")) {
            try BPETokenizer(tokens: tokens, merges: ["b c"], tokenTypes: types, preTokenizer: "gpt2")
        }
    }

    @Test("other configuration errors")
    func configurationErrors() {
        let (tokens, types) = Self.tinyVocabulary()
        #expect(throws: TokenizerError.unknownPreTokenizer("llama3")) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: types, preTokenizer: "llama3")
        }
        #expect(throws: TokenizerError.missingToken("Ā")) {
            try BPETokenizer(tokens: Array(tokens.dropFirst()), merges: [], tokenTypes: Array(types.dropFirst()), preTokenizer: "gpt2")
        }
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: types, bosID: 9_999, preTokenizer: "gpt2")
        }
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: types.map { _ in 42 }, preTokenizer: "gpt2")
        }
    }

    @Test("error descriptions carry their context")
    func errorDescriptions() {
        #expect(TokenizerError.invalidMerge(index: 7, text: "a zz").description.contains("#7"))
        #expect(TokenizerError.unknownTokenID(5).description.contains("5"))
        #expect(TokenizerError.vocabularyFile(path: "/x", reason: "gone").description.contains("/x"))
    }
}
