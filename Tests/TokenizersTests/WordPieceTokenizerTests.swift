// WordPieceTokenizerTests.swift: all-MiniLM-L6-v2 WordPiece against sentence-transformers' ids.

import Testing
import Tokenizers

@Suite("WordPieceTokenizer (MiniLM)")
struct WordPieceTokenizerTests {
    @Test("ids match sentence-transformers", arguments: 0..<12)
    func goldenIDs(index: Int) throws {
        let tokenizer = try Fixtures.miniLM()
        let golden = try Fixtures.miniLMGolden().cases[index]
        let ids = tokenizer.encode(golden.text)
        #expect(ids == golden.tokenIds, "\(firstMismatch(ids, golden.tokenIds))")
        #expect(tokenizer.wordPieceIDs(golden.text).count + 2 == golden.untruncatedTokenCount)
    }

    @Test("truncation keeps 256 ids including [CLS] and [SEP]")
    func truncation() throws {
        let tokenizer = try Fixtures.miniLM()
        let ids = tokenizer.encode(Array(repeating: "word", count: 600).joined(separator: " "))
        #expect(ids.count == 256)
        #expect(ids.first == tokenizer.classifierID && ids.last == tokenizer.separatorID)
        let short = try WordPieceTokenizer(contentsOfFile: Fixtures.url("minilm-vocab", "txt").path, maxLength: 5)
        #expect(short.encode("one two three four five") == [101, 2028, 2048, 2093, 102])
    }

    @Test("basic tokenizer: case, accents, CJK, punctuation, unknown words")
    func basicTokenizer() throws {
        let tokenizer = try Fixtures.miniLM()
        #expect(tokenizer.tokenize("Héllo, WORLD!") == ["hello", ",", "world", "!"])
        #expect(tokenizer.tokenize("北京") == ["北", "京"])
        #expect(tokenizer.tokenize("zero\u{200B}width") == tokenizer.tokenize("zerowidth"))
        #expect(tokenizer.tokenize(String(repeating: "a", count: 101)) == ["[UNK]"])
        #expect(tokenizer.encode("") == [101, 102])
    }

    @Test("batches are padded with [PAD] and report lengths")
    func batch() throws {
        let tokenizer = try Fixtures.miniLM()
        let batch = tokenizer.encodeBatch(["Hello world", "Swift", ""])
        #expect(batch.lengths == [4, 3, 2])
        #expect(batch.paddedLength == 4)
        #expect(batch.tokenIDs[1] == [101, tokenizer.id(for: "swift")!, 102, 0])
        #expect(batch.tokenIDs[2] == [101, 102, 0, 0])
        #expect(batch.flattened.count == 12)
    }

    @Test("vocabulary errors")
    func errors() {
        #expect(throws: TokenizerError.missingToken("[CLS]")) {
            try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[SEP]"])
        }
        #expect(throws: TokenizerError.self) {
            try WordPieceTokenizer(contentsOfFile: "/nonexistent/vocab.txt")
        }
    }
}
