// Fixtures.swift: loads the tokenizer fixtures (see scripts/make-tokenizer-fixtures.py).

import Foundation
import Tokenizers

/// Shared, lazily loaded fixtures for the tokenizer tests.
enum Fixtures {
    /// Errors raised while reading fixtures.
    struct MissingFixture: Error, CustomStringConvertible {
        let name: String
        var description: String { "fixture \(name) not found in the test bundle" }
    }

    /// The SmolLM2 tokenizer metadata extracted from the GGUF.
    struct SmolLM2Vocabulary: Decodable {
        let pre: String
        let tokens: [String]
        let merges: [String]
        let tokenTypes: [Int32]
        let bos: Int32?
        let eos: Int32?
        let unk: Int32?
        let pad: Int32?
        let addBos: Bool
        let chatTemplate: String?
    }

    /// One llama.cpp tokenization of a SmolLM2 reference text.
    struct SmolLM2Case: Decodable, Sendable {
        let name: String
        let text: String
        let parseSpecial: Bool
        let tokenIds: [Int32]
    }

    /// The sentence-transformers tokenization of the MiniLM reference texts.
    struct MiniLMGolden: Decodable, Sendable {
        struct Case: Decodable, Sendable {
            let index: Int
            let text: String
            let tokenIds: [Int32]
            let untruncatedTokenCount: Int
        }
        let maxSeqLength: Int
        let cases: [Case]
    }

    static func url(_ name: String, _ ext: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures") else {
            throw MissingFixture(name: "\(name).\(ext)")
        }
        return url
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: url(name, "json")))
    }

    private static let vocabularyResult = Result { try decode(SmolLM2Vocabulary.self, "smollm2-vocab") }
    private static let smolLM2Result = Result { () throws -> BPETokenizer in
        let vocabulary = try vocabularyResult.get()
        return try BPETokenizer(
            tokens: vocabulary.tokens, merges: vocabulary.merges, tokenTypes: vocabulary.tokenTypes,
            bosID: vocabulary.bos, eosID: vocabulary.eos, unknownID: vocabulary.unk,
            paddingID: vocabulary.pad, preTokenizer: vocabulary.pre, addBOS: vocabulary.addBos)
    }
    private static let smolLM2GoldenResult = Result { try decode([SmolLM2Case].self, "smollm2-golden") }
    private static let miniLMResult = Result {
        try WordPieceTokenizer(contentsOfFile: url("minilm-vocab", "txt").path)
    }
    private static let miniLMGoldenResult = Result { try decode(MiniLMGolden.self, "minilm-golden") }

    /// The raw SmolLM2 vocabulary arrays.
    static func smolLM2Vocabulary() throws -> SmolLM2Vocabulary { try vocabularyResult.get() }
    /// The SmolLM2 tokenizer (built once).
    static func smolLM2() throws -> BPETokenizer { try smolLM2Result.get() }
    /// The SmolLM2 golden case with this name.
    static func smolLM2Case(_ name: String) throws -> SmolLM2Case {
        guard let found = try smolLM2GoldenResult.get().first(where: { $0.name == name }) else {
            throw MissingFixture(name: "smollm2-golden[\(name)]")
        }
        return found
    }
    /// The MiniLM WordPiece tokenizer (built once).
    static func miniLM() throws -> WordPieceTokenizer { try miniLMResult.get() }
    /// The MiniLM golden data.
    static func miniLMGolden() throws -> MiniLMGolden { try miniLMGoldenResult.get() }

    /// Names of the SmolLM2 golden cases.
    static let smolLM2CaseNames = ["short_english", "chat_judge", "long_1500", "unicode_chinese"]
}

/// Index of the first difference between two id arrays, for readable failures.
func firstMismatch(_ a: [Int32], _ b: [Int32]) -> String {
    for index in 0..<min(a.count, b.count) where a[index] != b[index] {
        return "first mismatch at \(index): \(a[index]) vs \(b[index]) (counts \(a.count), \(b.count))"
    }
    return a.count == b.count ? "equal" : "counts \(a.count) vs \(b.count)"
}
