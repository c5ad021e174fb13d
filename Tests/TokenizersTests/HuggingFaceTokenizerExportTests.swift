// HuggingFaceTokenizerExportTests.swift: the Hugging Face tokenizer files exported from GGUF
// tokenizer metadata parse as JSON and carry the vocabulary, merges, added tokens, special-token
// roles and chat template; escaping of awkward pieces; one error per rejected input; and the
// real SmolLM2 file when it has been downloaded.

import Foundation
import Formats
import Testing
import Tokenizers

/// Tokenizer metadata for a GGUF file, as keys in writing order.
private struct TokenizerMetadata {
    var entries: [(String, GGUFValue)] = []

    subscript(key: String) -> GGUFValue? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            entries.removeAll { $0.0 == key }
            if let newValue { entries.append((key, newValue)) }
        }
    }

    static func strings(_ s: [String]) -> GGUFValue { .array(elementType: .string, values: s.map { .string($0) }) }
    static func int32s(_ v: [Int32]) -> GGUFValue { .array(elementType: .int32, values: v.map { .int32($0) }) }

    /// The SmolLM2 vocabulary fixture (extracted from the GGUF by scripts/make-tokenizer-fixtures.py).
    static func smolLM2() throws -> TokenizerMetadata {
        let v = try Fixtures.smolLM2Vocabulary()
        var m = TokenizerMetadata()
        m["tokenizer.ggml.model"] = .string("gpt2")
        m["tokenizer.ggml.pre"] = .string(v.pre)
        m["tokenizer.ggml.tokens"] = strings(v.tokens)
        m["tokenizer.ggml.token_type"] = int32s(v.tokenTypes)
        m["tokenizer.ggml.merges"] = strings(v.merges)
        if let bos = v.bos { m["tokenizer.ggml.bos_token_id"] = .uint32(UInt32(bos)) }
        if let eos = v.eos { m["tokenizer.ggml.eos_token_id"] = .uint32(UInt32(eos)) }
        if let unk = v.unk { m["tokenizer.ggml.unknown_token_id"] = .uint32(UInt32(unk)) }
        if let pad = v.pad { m["tokenizer.ggml.padding_token_id"] = .uint32(UInt32(pad)) }
        if let template = v.chatTemplate { m["tokenizer.chat_template"] = .string(template) }
        return m
    }

    /// Writes a tensor-less GGUF file holding these keys and opens it.
    func gguf() throws -> GGUFFile {
        var writer = GGUFWriter()
        for (key, value) in entries { writer.setMetadata(key, value) }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("tokenizer-export-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("vocab.gguf").path
        try writer.write(to: path)
        return try GGUFFile(path: path)
    }
}

/// Parses exported JSON text into a dictionary (failing the test if it is not a JSON object).
private func parse(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any], "not a JSON object", sourceLocation: sourceLocation)
}

/// `tokenizer.json`'s `model.vocab` as piece -> id.
private func vocab(_ tokenizer: [String: Any]) throws -> [String: Int] {
    let model = try #require(tokenizer["model"] as? [String: Any])
    return try #require(model["vocab"] as? [String: Int])
}

@Suite("HuggingFaceTokenizerExport")
struct HuggingFaceTokenizerExportTests {
    @Test("SmolLM2's vocabulary exports to valid tokenizer.json, tokenizer_config.json and special_tokens_map.json")
    func smolLM2Export() throws {
        let fixture = try Fixtures.smolLM2Vocabulary()
        let files = try HuggingFaceTokenizerExport.files(from: try TokenizerMetadata.smolLM2().gguf(),
                                                         modelMaxLength: 8192)
        let tokenizer = try parse(files.tokenizerJSON)
        let model = try #require(tokenizer["model"] as? [String: Any])
        #expect(model["type"] as? String == "BPE")
        #expect(model["unk_token"] as? String == "<|endoftext|>")
        let pieces = try vocab(tokenizer)
        #expect(pieces.count == 49152)
        #expect(fixture.tokens.enumerated().allSatisfy { pieces[$0.element] == $0.offset })
        #expect(pieces["<|im_start|>"] == 1)
        #expect(pieces["Ġthe"] == fixture.tokens.firstIndex(of: "Ġthe"))
        let merges = try #require(model["merges"] as? [String])
        #expect(merges.count == fixture.merges.count)
        #expect(merges == fixture.merges)
        #expect(merges.first == "Ġ t")

        let added = try #require(tokenizer["added_tokens"] as? [[String: Any]])
        #expect(added.count == 17)
        #expect(added.compactMap { $0["id"] as? Int } == Array(0...16))
        #expect(added.compactMap { $0["content"] as? String } == Array(fixture.tokens[0...16]))
        #expect(added.allSatisfy { $0["special"] as? Bool == true && $0["normalized"] as? Bool == false })

        let pre = try #require(tokenizer["pre_tokenizer"] as? [String: Any])
        #expect(pre["type"] as? String == "Sequence")
        let steps = try #require(pre["pretokenizers"] as? [[String: Any]])
        #expect(steps.count == 2)
        #expect(steps[0]["type"] as? String == "Digits")
        #expect(steps[0]["individual_digits"] as? Bool == true)
        #expect(steps[1]["type"] as? String == "ByteLevel")
        #expect(steps[1]["add_prefix_space"] as? Bool == false)
        #expect(steps[1]["use_regex"] as? Bool == true)
        #expect((tokenizer["decoder"] as? [String: Any])?["type"] as? String == "ByteLevel")
        #expect((tokenizer["post_processor"] as? [String: Any])?["type"] as? String == "ByteLevel")
        #expect(tokenizer["normalizer"] is NSNull)
        #expect(files.tokenizerJSON.contains("\"<|im_start|>\": 1,"), "vocabulary written as UTF-8 in id order")

        let config = try parse(files.tokenizerConfigJSON)
        #expect(config["bos_token"] as? String == "<|im_start|>")
        #expect(config["eos_token"] as? String == "<|im_end|>")
        #expect(config["pad_token"] as? String == "<|im_end|>")
        #expect(config["unk_token"] as? String == "<|endoftext|>")
        #expect(config["chat_template"] as? String == fixture.chatTemplate)
        #expect(config["model_max_length"] as? Int == 8192)
        #expect(config["tokenizer_class"] as? String == "GPT2Tokenizer")
        #expect(config["add_bos_token"] as? Bool == false)
        #expect(config["add_eos_token"] == nil)
        #expect(config["clean_up_tokenization_spaces"] as? Bool == false)
        let decoder = try #require(config["added_tokens_decoder"] as? [String: [String: Any]])
        #expect(decoder.count == 17)
        #expect(decoder["2"]?["content"] as? String == "<|im_end|>")
        #expect(decoder["2"]?["special"] as? Bool == true)
        let additional = try #require(config["additional_special_tokens"] as? [String])
        #expect(additional == Array(fixture.tokens[3...16]))

        let map = try parse(files.specialTokensMapJSON)
        #expect((map["bos_token"] as? [String: Any])?["content"] as? String == "<|im_start|>")
        #expect((map["unk_token"] as? [String: Any])?["content"] as? String == "<|endoftext|>")
        #expect(map["additional_special_tokens"] as? [String] == additional)
    }

    @Test("awkward pieces and templates survive escaping; add_bos/add_eos become a template")
    func escapingAndTemplate() throws {
        // Byte-level spellings plus pieces that exercise every escape (a real vocabulary would not
        // hold raw control characters, but the writer must not care).
        let tokens = ["a", "b", "ab", "\"", "\\", "\"\\", "\u{1}\u{1F}", "\n\t\r\u{8}\u{C}", "世界", "é🙂",
                      "\u{7F}\u{2028}", "/", "<|ctl|>", "<user>"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[12] = 3
        types[13] = 4
        var m = TokenizerMetadata()
        m["tokenizer.ggml.model"] = .string("gpt2")
        m["tokenizer.ggml.pre"] = .string("gpt2")
        m["tokenizer.ggml.tokens"] = TokenizerMetadata.strings(tokens)
        m["tokenizer.ggml.token_type"] = TokenizerMetadata.int32s(types)
        m["tokenizer.ggml.merges"] = TokenizerMetadata.strings(["a b", "\" \\"])
        m["tokenizer.ggml.bos_token_id"] = .uint32(12)
        m["tokenizer.ggml.eos_token_id"] = .int32(12)
        m["tokenizer.ggml.add_bos_token"] = .bool(true)
        m["tokenizer.ggml.add_eos_token"] = .bool(true)
        let template = "{{ \"quoted\" }}\n\t\\ {% if x %}世界{% endif %}\u{0}"
        m["tokenizer.chat_template"] = .string(template)
        let files = try HuggingFaceTokenizerExport.files(from: try m.gguf(), modelMaxLength: 16)

        let tokenizer = try parse(files.tokenizerJSON)
        #expect(try vocab(tokenizer) == Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($0.element, $0.offset) }))
        let model = try #require(tokenizer["model"] as? [String: Any])
        #expect(model["merges"] as? [String] == ["a b", "\" \\"])
        #expect(model["unk_token"] is NSNull)
        #expect(files.tokenizerJSON.contains("\"世界\""), "non-ASCII is kept as UTF-8")
        #expect(files.tokenizerJSON.contains("\"\\u0001\\u001f\""))
        #expect(files.tokenizerJSON.contains("\"\\n\\t\\r\\b\\f\""))
        let pre = try #require(tokenizer["pre_tokenizer"] as? [String: Any])
        #expect(pre["type"] as? String == "ByteLevel")

        let added = try #require(tokenizer["added_tokens"] as? [[String: Any]])
        #expect(added.count == 2)
        #expect(added.map { $0["content"] as? String } == ["<|ctl|>", "<user>"])
        #expect(added.map { $0["special"] as? Bool } == [true, false])

        let post = try #require(tokenizer["post_processor"] as? [String: Any])
        #expect(post["type"] as? String == "Sequence")
        let processors = try #require(post["processors"] as? [[String: Any]])
        #expect(processors.map { $0["type"] as? String } == ["ByteLevel", "TemplateProcessing"])
        let single = try #require(processors[1]["single"] as? [[String: Any]])
        #expect(single.count == 3, "bos, $A, eos")
        let specials = try #require(processors[1]["special_tokens"] as? [String: [String: Any]])
        #expect(specials["<|ctl|>"]?["ids"] as? [Int] == [12])

        let config = try parse(files.tokenizerConfigJSON)
        #expect(config["chat_template"] as? String == template)
        #expect(config["add_bos_token"] as? Bool == true)
        #expect(config["add_eos_token"] as? Bool == true)
        #expect(config["pad_token"] is NSNull)
        #expect(config["unk_token"] is NSNull)
        #expect(config["model_max_length"] as? Int == 16)
        let map = try parse(files.specialTokensMapJSON)
        #expect(map["pad_token"] == nil)
        #expect(map["additional_special_tokens"] as? [String] == [])
    }

    /// A small valid vocabulary, modified by each error case.
    private static func tiny() -> TokenizerMetadata {
        var m = TokenizerMetadata()
        m["tokenizer.ggml.model"] = .string("gpt2")
        m["tokenizer.ggml.pre"] = .string("smollm")
        m["tokenizer.ggml.tokens"] = TokenizerMetadata.strings(["a", "b", "ab"])
        m["tokenizer.ggml.token_type"] = TokenizerMetadata.int32s([1, 1, 1])
        m["tokenizer.ggml.merges"] = TokenizerMetadata.strings(["a b"])
        return m
    }

    @Test("the tiny vocabulary is valid")
    func tinyIsValid() throws {
        let files = try HuggingFaceTokenizerExport.files(from: try Self.tiny().gguf(), modelMaxLength: 4)
        #expect(try vocab(try parse(files.tokenizerJSON)).count == 3)
    }

    @Test("unsupported or inconsistent metadata throws TokenizerError")
    func errors() throws {
        func expectError(_ change: (inout TokenizerMetadata) -> Void,
                         sourceLocation: SourceLocation = #_sourceLocation,
                         _ check: (TokenizerError) -> Bool) throws {
            var m = Self.tiny()
            change(&m)
            let gguf = try m.gguf()
            do {
                _ = try HuggingFaceTokenizerExport.files(from: gguf, modelMaxLength: 4)
                Issue.record("nothing was thrown", sourceLocation: sourceLocation)
            } catch let error as TokenizerError {
                #expect(check(error), "thrown: \(error)", sourceLocation: sourceLocation)
            }
        }
        try expectError({ $0["tokenizer.ggml.model"] = .string("llama") }) {
            if case .unsupportedTokenizerModel(_, "llama", "gpt2") = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.model"] = nil }) {
            if case .missingMetadata(_, "tokenizer.ggml.model") = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.tokens"] = nil }) {
            if case .missingMetadata(_, "tokenizer.ggml.tokens") = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.merges"] = nil }) {
            if case .missingMetadata(_, "tokenizer.ggml.merges") = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.token_type"] = TokenizerMetadata.strings(["1", "1", "1"]) }) {
            if case .mistypedMetadata(_, "tokenizer.ggml.token_type", _, "ARRAY[STRING]") = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.bos_token_id"] = .string("0") }) {
            if case .mistypedMetadata(_, "tokenizer.ggml.bos_token_id", _, _) = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.pre"] = .string("llama3") }) { $0 == .unknownPreTokenizer("llama3") }
        try expectError({ $0["tokenizer.ggml.token_type"] = TokenizerMetadata.int32s([1, 1]) }) {
            $0 == .inconsistentVocabulary(reason: "3 tokens but 2 token types")
        }
        try expectError({ $0["tokenizer.ggml.token_type"] = TokenizerMetadata.int32s([1, 9, 1]) }) {
            $0 == .inconsistentVocabulary(reason: "token 1 has unknown type 9")
        }
        try expectError({ $0["tokenizer.ggml.eos_token_id"] = .uint32(3) }) {
            $0 == .inconsistentVocabulary(reason: "eos id 3 is outside the 3-token vocabulary")
        }
        try expectError({ $0["tokenizer.ggml.tokens"] = TokenizerMetadata.strings(["a", "b", "a"]) }) {
            if case .inconsistentVocabulary = $0 { true } else { false }
        }
        try expectError({ $0["tokenizer.ggml.merges"] = TokenizerMetadata.strings(["a b", "b a"]) }) {
            $0 == .invalidMerge(index: 1, text: "b a")
        }
        try expectError({ $0["tokenizer.ggml.merges"] = TokenizerMetadata.strings(["ab"]) }) {
            $0 == .invalidMerge(index: 0, text: "ab")
        }
        try expectError({ $0["tokenizer.ggml.add_bos_token"] = .bool(true) }) {
            if case .missingToken = $0 { true } else { false }
        }
    }

    @Test("the downloaded SmolLM2 GGUF exports a tokenizer matching its metadata",
          .enabled(if: FileManager.default.fileExists(atPath: smolLM2ModelPath),
                   "SmolLM2-135M-Instruct.Q4_1.gguf not downloaded (make setup)"))
    func realSmolLM2() throws {
        let gguf = try GGUFFile(path: smolLM2ModelPath)
        let files = try HuggingFaceTokenizerExport.files(from: gguf, modelMaxLength: 8192)
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens")
        let tokenizer = try parse(files.tokenizerJSON)
        #expect(try vocab(tokenizer).count == tokens.count)
        let model = try #require(tokenizer["model"] as? [String: Any])
        #expect(model["merges"] as? [String] == (try gguf.stringArray("tokenizer.ggml.merges")))
        let config = try parse(files.tokenizerConfigJSON)
        #expect(config["chat_template"] as? String == (try gguf.string("tokenizer.chat_template")))
        #expect(config["eos_token"] as? String == tokens[try gguf.int("tokenizer.ggml.eos_token_id")])
        // The committed fixture was extracted from this file: both exports agree.
        let fromFixture = try HuggingFaceTokenizerExport.files(from: try TokenizerMetadata.smolLM2().gguf(),
                                                               modelMaxLength: 8192)
        #expect(files.tokenizerJSON == fromFixture.tokenizerJSON)
        #expect(files.tokenizerConfigJSON == fromFixture.tokenizerConfigJSON)
    }
}

/// `$LONGREWARD_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf` (default home `~/.cache/longreward`).
private let smolLM2ModelPath: String = {
    let env = ProcessInfo.processInfo.environment
    let home = env["LONGREWARD_HOME"].map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/longreward")
    return home.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
}()
