// HuggingFaceTokenizerExport.swift: turns a GGUF file's byte-level BPE tokenizer metadata
// (`tokenizer.ggml.*`, `tokenizer.chat_template`) into the Hugging Face files `tokenizer.json`,
// `tokenizer_config.json` and `special_tokens_map.json`.
//
// Formats: huggingface/tokenizers `tokenizer.json` (serialisation of `Tokenizer`: added_tokens,
// normalizer, pre_tokenizer, post_processor, decoder, model) and transformers'
// `tokenizer_config.json`. The pre-tokenizer reproduces what ``BPEPreTokenizer`` does:
//   gpt2 / default  ByteLevel(add_prefix_space: false, trim_offsets: true, use_regex: true),
//                   whose regex is the GPT-2 pattern;
//   smollm          Sequence[Digits(individual_digits: true), ByteLevel(same)], as in
//                   HuggingFaceTB/SmolLM2's own tokenizer.json.
// Control (GGUF type 3) and unknown (2) tokens become special added tokens, user-defined (4)
// ones non-special added tokens; HF matches both in text before pre-tokenizing, as our
// tokenizer does with `parseSpecial: true`. Merges use the list-of-strings form ("a b").
// The JSON is produced by a small ordered writer so the vocabulary stays in id order.

import Formats

/// The text of the three Hugging Face tokenizer files, ready to be written to a model folder.
///
/// ```swift
/// let files = try HuggingFaceTokenizerExport.files(from: gguf, modelMaxLength: 8192)
/// try files.tokenizerJSON.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
/// ```
public struct HuggingFaceTokenizerFiles: Sendable {
    /// `tokenizer.json`: the `tokenizers` library's serialised tokenizer (BPE model).
    public var tokenizerJSON: String
    /// `tokenizer_config.json`: transformers' tokenizer settings (special tokens, chat template).
    public var tokenizerConfigJSON: String
    /// `special_tokens_map.json`: the bos/eos/unk/pad tokens and additional special tokens.
    public var specialTokensMapJSON: String

    /// Bundles the three file texts.
    /// - Parameters:
    ///   - tokenizerJSON: the text of `tokenizer.json`.
    ///   - tokenizerConfigJSON: the text of `tokenizer_config.json`.
    ///   - specialTokensMapJSON: the text of `special_tokens_map.json`.
    public init(tokenizerJSON: String, tokenizerConfigJSON: String, specialTokensMapJSON: String) {
        self.tokenizerJSON = tokenizerJSON
        self.tokenizerConfigJSON = tokenizerConfigJSON
        self.specialTokensMapJSON = specialTokensMapJSON
    }
}

/// Exports a GGUF file's byte-level BPE tokenizer in Hugging Face's formats.
public enum HuggingFaceTokenizerExport {
    /// Builds `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` from the
    /// tokenizer metadata of an open GGUF file.
    ///
    /// Reads `tokenizer.ggml.model` (must be `gpt2`), `.pre` (`smollm`, `gpt2` or `default`;
    /// `default` when absent, as ``BPETokenizer/init(gguf:)`` does), `.tokens`, `.merges`,
    /// `.token_type`, the optional `.bos_token_id`, `.eos_token_id`, `.padding_token_id`,
    /// `.unknown_token_id`, `.add_bos_token`, `.add_eos_token`, and `tokenizer.chat_template`.
    ///
    /// ```swift
    /// let gguf = try GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
    /// let files = try HuggingFaceTokenizerExport.files(from: gguf, modelMaxLength: 8192)
    /// ```
    /// - Parameters:
    ///   - gguf: the open model file.
    ///   - modelMaxLength: the `model_max_length` written to `tokenizer_config.json`
    ///     (typically the model's context length).
    /// - Returns: the three files' JSON text (UTF-8, pretty-printed, vocabulary in id order).
    /// - Throws: ``TokenizerError/unsupportedTokenizerModel(file:model:supported:)`` for a model
    ///   other than `gpt2`; ``TokenizerError/missingMetadata(file:key:)`` or
    ///   ``TokenizerError/mistypedMetadata(file:key:expected:found:)`` for absent or mistyped keys;
    ///   ``TokenizerError/unknownPreTokenizer(_:)``; ``TokenizerError/inconsistentVocabulary(reason:)``
    ///   for mismatched arrays, duplicate pieces, unknown token types or out-of-range ids;
    ///   ``TokenizerError/invalidMerge(index:text:)`` for a merge `tokenizers` would reject.
    public static func files(from gguf: GGUFFile, modelMaxLength: Int) throws -> HuggingFaceTokenizerFiles {
        let meta = try Metadata(gguf)
        let vocabulary = try Vocabulary(meta)
        return HuggingFaceTokenizerFiles(
            tokenizerJSON: tokenizerJSON(vocabulary).rendered(),
            tokenizerConfigJSON: tokenizerConfigJSON(vocabulary, modelMaxLength: modelMaxLength).rendered(),
            specialTokensMapJSON: specialTokensMapJSON(vocabulary).rendered())
    }

    // MARK: - tokenizer.json

    private static func tokenizerJSON(_ v: Vocabulary) -> JSONValue {
        let byteLevel: JSONValue = .object([
            ("type", "ByteLevel"), ("add_prefix_space", false), ("trim_offsets", true), ("use_regex", true),
        ])
        let preTokenizer: JSONValue
        switch v.preTokenizer {
        case .gpt2:
            preTokenizer = byteLevel
        case .smollm:
            preTokenizer = .object([
                ("type", "Sequence"),
                ("pretokenizers", .array([.object([("type", "Digits"), ("individual_digits", true)]), byteLevel])),
            ])
        }
        // Offsets only; ids come from the model. BOS/EOS insertion, when the GGUF asks for it,
        // is a template around the sequence.
        let offsets: JSONValue = .object([
            ("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", false), ("use_regex", true),
        ])
        var postProcessor = offsets
        if let template = v.template() {
            postProcessor = .object([("type", "Sequence"), ("processors", .array([offsets, template]))])
        }
        let model: JSONValue = .object([
            ("type", "BPE"),
            ("dropout", .null),
            // Bytes missing from the vocabulary encode as the unknown token, as in BPETokenizer.
            ("unk_token", v.unknownID.map { .string(v.tokens[$0]) } ?? .null),
            ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null),
            ("fuse_unk", false),
            ("byte_fallback", false),
            ("ignore_merges", false),
            ("vocab", .object(v.tokens.enumerated().map { ($0.element, .int($0.offset)) })),
            ("merges", .array(v.merges.map { .string($0) })),
        ])
        return .object([
            ("version", "1.0"),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(v.addedTokens.map { token in
                .object([("id", .int(token.id))] + addedTokenFields(v.tokens[token.id], special: token.special))
            })),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", postProcessor),
            ("decoder", .object([
                ("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true),
            ])),
            ("model", model),
        ])
    }

    /// The `AddedToken` fields shared by `tokenizer.json` and `tokenizer_config.json`.
    private static func addedTokenFields(_ content: String, special: Bool?) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [
            ("content", .string(content)), ("single_word", false), ("lstrip", false), ("rstrip", false),
            ("normalized", false),
        ]
        if let special { fields.append(("special", .bool(special))) }
        return fields
    }

    // MARK: - tokenizer_config.json and special_tokens_map.json

    private static func tokenizerConfigJSON(_ v: Vocabulary, modelMaxLength: Int) -> JSONValue {
        func name(_ id: Int?) -> JSONValue { id.map { .string(v.tokens[$0]) } ?? .null }
        var fields: [(String, JSONValue)] = [
            ("add_bos_token", .bool(v.addBOS)),
        ]
        if v.addEOS { fields.append(("add_eos_token", true)) }
        fields += [
            ("add_prefix_space", false),
            ("added_tokens_decoder", .object(v.addedTokens.map { token in
                (String(token.id), .object(addedTokenFields(v.tokens[token.id], special: token.special)))
            })),
            ("additional_special_tokens", .array(v.additionalSpecialIDs.map { .string(v.tokens[$0]) })),
            ("bos_token", name(v.bosID)),
        ]
        if let template = v.chatTemplate { fields.append(("chat_template", .string(template))) }
        fields += [
            ("clean_up_tokenization_spaces", false),
            ("eos_token", name(v.eosID)),
            ("model_max_length", .int(modelMaxLength)),
            ("pad_token", name(v.paddingID)),
            ("tokenizer_class", "GPT2Tokenizer"),
            ("unk_token", name(v.unknownID)),
            ("vocab_size", .int(v.tokens.count)),
        ]
        return .object(fields)
    }

    private static func specialTokensMapJSON(_ v: Vocabulary) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("additional_special_tokens", .array(v.additionalSpecialIDs.map { .string(v.tokens[$0]) })),
        ]
        for (key, id) in [("bos_token", v.bosID), ("eos_token", v.eosID), ("pad_token", v.paddingID),
                          ("unk_token", v.unknownID)] {
            if let id { fields.append((key, .object(addedTokenFields(v.tokens[id], special: nil)))) }
        }
        return .object(fields)
    }
}

// MARK: - Reading and checking the GGUF metadata

/// Typed access to `tokenizer.*` keys that throws ``TokenizerError``.
private struct Metadata {
    let gguf: GGUFFile

    init(_ gguf: GGUFFile) throws {
        self.gguf = gguf
        let model = try string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TokenizerError.unsupportedTokenizerModel(file: gguf.path, model: model, supported: "gpt2")
        }
    }

    func value(_ key: String) throws -> GGUFValue {
        guard let value = gguf.metadata[key] else { throw TokenizerError.missingMetadata(file: gguf.path, key: key) }
        return value
    }

    func mistyped(_ key: String, _ expected: String, _ found: GGUFValue) -> TokenizerError {
        .mistypedMetadata(file: gguf.path, key: key, expected: expected, found: found.typeName)
    }

    func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.string else { throw mistyped(key, "STRING", v) }
        return s
    }

    func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard let a = v.stringArray else { throw mistyped(key, "ARRAY[STRING]", v) }
        return a
    }

    func intArray(_ key: String) throws -> [Int] {
        let v = try value(key)
        guard let a = v.intArray else { throw mistyped(key, "ARRAY[INT32]", v) }
        return a
    }

    /// An optional integer (nil when absent).
    func optionalInt(_ key: String) throws -> Int? {
        guard let v = gguf.metadata[key] else { return nil }
        guard let i = v.int else { throw mistyped(key, "an integer", v) }
        return i
    }

    /// An optional BOOL (false when absent).
    func flag(_ key: String) throws -> Bool {
        guard let v = gguf.metadata[key] else { return false }
        guard let b = v.bool else { throw mistyped(key, "BOOL", v) }
        return b
    }

    func optionalString(_ key: String) throws -> String? {
        guard gguf.metadata[key] != nil else { return nil }
        return try string(key)
    }
}

/// The checked vocabulary, special-token roles and added tokens of one GGUF tokenizer.
private struct Vocabulary {
    let tokens: [String]
    let merges: [String]
    let preTokenizer: BPEPreTokenizer
    let bosID: Int?, eosID: Int?, unknownID: Int?, paddingID: Int?
    let addBOS: Bool, addEOS: Bool
    let chatTemplate: String?
    /// Control, unknown and user-defined tokens in id order; `special` is false for user-defined.
    let addedTokens: [(id: Int, special: Bool)]

    /// Special added tokens that are none of bos/eos/unk/pad (transformers' additional_special_tokens).
    var additionalSpecialIDs: [Int] {
        let roles = Set([bosID, eosID, unknownID, paddingID].compactMap { $0 })
        return addedTokens.filter { $0.special && !roles.contains($0.id) }.map(\.id)
    }

    init(_ meta: Metadata) throws {
        tokens = try meta.stringArray("tokenizer.ggml.tokens")
        merges = try meta.stringArray("tokenizer.ggml.merges")
        let types = try meta.intArray("tokenizer.ggml.token_type")
        preTokenizer = try BPEPreTokenizer(ggufName: meta.optionalString("tokenizer.ggml.pre") ?? "default")
        bosID = try meta.optionalInt("tokenizer.ggml.bos_token_id")
        eosID = try meta.optionalInt("tokenizer.ggml.eos_token_id")
        unknownID = try meta.optionalInt("tokenizer.ggml.unknown_token_id")
        paddingID = try meta.optionalInt("tokenizer.ggml.padding_token_id")
        addBOS = try meta.flag("tokenizer.ggml.add_bos_token")
        addEOS = try meta.flag("tokenizer.ggml.add_eos_token")
        chatTemplate = try meta.optionalString("tokenizer.chat_template")

        guard !tokens.isEmpty else { throw TokenizerError.inconsistentVocabulary(reason: "the token list is empty") }
        guard types.count == tokens.count else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(tokens.count) tokens but \(types.count) token types")
        }
        for (role, id) in [("bos", bosID), ("eos", eosID), ("unk", unknownID), ("pad", paddingID)] {
            if let id, !tokens.indices.contains(id) {
                throw TokenizerError.inconsistentVocabulary(
                    reason: "\(role) id \(id) is outside the \(tokens.count)-token vocabulary")
            }
        }
        if addBOS, bosID == nil { throw TokenizerError.missingToken("<bos> (add_bos_token is set but no bos id)") }
        if addEOS, eosID == nil { throw TokenizerError.missingToken("<eos> (add_eos_token is set but no eos id)") }

        // A JSON vocabulary maps each piece to one id: a repeated piece cannot be exported.
        var ids = [String: Int](minimumCapacity: tokens.count)
        for (id, piece) in tokens.enumerated() {
            if let first = ids.updateValue(id, forKey: piece) {
                throw TokenizerError.inconsistentVocabulary(
                    reason: "piece \(piece.debugDescription) is both token \(first) and token \(id)")
            }
        }
        // tokenizers rejects merges whose parts or result are not in the vocabulary.
        for (index, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
                  ids[String(parts[0])] != nil, ids[String(parts[1])] != nil,
                  ids[String(parts[0] + parts[1])] != nil
            else { throw TokenizerError.invalidMerge(index: index, text: merge) }
        }

        var added: [(id: Int, special: Bool)] = []
        for (id, raw) in types.enumerated() {
            guard let raw32 = Int32(exactly: raw), let type = TokenType(rawValue: raw32) else {
                throw TokenizerError.inconsistentVocabulary(reason: "token \(id) has unknown type \(raw)")
            }
            switch type {
            case .control, .unknown: added.append((id, true))
            case .userDefined: added.append((id, false))
            case .undefined, .normal, .unused, .byte: break
            }
        }
        addedTokens = added
    }

    /// A TemplateProcessing post-processor adding BOS and/or EOS, or nil when neither is added.
    func template() -> JSONValue? {
        guard addBOS || addEOS else { return nil }
        func special(_ id: Int) -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .int(0))]))])
        }
        func sequence(_ name: String, _ typeID: Int) -> JSONValue {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(typeID))]))])
        }
        func around(_ name: String, _ typeID: Int) -> [JSONValue] {
            (addBOS ? [special(bosID!)] : []) + [sequence(name, typeID)] + (addEOS ? [special(eosID!)] : [])
        }
        var specials: [(String, JSONValue)] = []
        for id in Set([addBOS ? bosID : nil, addEOS ? eosID : nil].compactMap { $0 }).sorted() {
            specials.append((tokens[id], .object([
                ("id", .string(tokens[id])), ("ids", .array([.int(id)])), ("tokens", .array([.string(tokens[id])])),
            ])))
        }
        return .object([
            ("type", "TemplateProcessing"),
            ("single", .array(around("A", 0))),
            ("pair", .array(around("A", 0) + around("B", 1))),
            ("special_tokens", .object(specials)),
        ])
    }
}

// MARK: - Ordered JSON

/// A JSON value whose objects keep their key order (the vocabulary is written in id order).
enum JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }

    /// Pretty-printed text (2-space indent, like the files Hugging Face publishes), ending in a newline.
    func rendered() -> String {
        var out = ""
        out.reserveCapacity(1 << 20)
        write(into: &out, indent: 0)
        out += "\n"
        return out
    }

    private func write(into out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): JSONText.write(s, into: &out)
        case .array(let elements):
            guard !elements.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, e) in elements.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                e.write(into: &out, indent: indent + 2)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let fields):
            guard !fields.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (i, (key, value)) in fields.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                JSONText.write(key, into: &out)
                out += ": "
                value.write(into: &out, indent: indent + 2)
                out += i + 1 < fields.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

}
