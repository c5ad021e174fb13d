// BPETokenizer+GGUF.swift: building the tokenizer and chat template stored in a GGUF file.

import Formats

extension BPETokenizer {
    /// Reads `tokenizer.ggml.*` from a GGUF file.
    /// - Throws: `FormatError` when a required key is missing or mistyped (`tokenizer.ggml.tokens`,
    ///   `.merges`, `.token_type`, `.pre` when the model is `gpt2`), ``TokenizerError`` when the
    ///   arrays are inconsistent or the model is not byte-level BPE.
    public convenience init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(gguf.path): tokenizer model '\(model)' is not byte-level BPE ('gpt2')")
        }
        func id(_ key: String) -> Int32? { (try? gguf.int("tokenizer.ggml.\(key)")).map(Int32.init) }
        try self.init(
            tokens: try gguf.stringArray("tokenizer.ggml.tokens"),
            merges: try gguf.stringArray("tokenizer.ggml.merges"),
            tokenTypes: try gguf.int32Array("tokenizer.ggml.token_type"),
            bosID: id("bos_token_id"), eosID: id("eos_token_id"), unknownID: id("unknown_token_id"),
            paddingID: id("padding_token_id"),
            preTokenizer: (try? gguf.string("tokenizer.ggml.pre")) ?? "default",
            addBOS: (try? gguf.bool("tokenizer.ggml.add_bos_token")) ?? false)
    }
}

extension ChatTemplate {
    /// The chat template stored as `tokenizer.chat_template`, or nil when the file has none.
    /// - Throws: ``TokenizerError/unsupportedChatTemplate(reason:)`` for a template that is not ChatML.
    public static func fromGGUF(_ gguf: GGUFFile) throws -> ChatTemplate? {
        guard let text = try? gguf.string("tokenizer.chat_template") else { return nil }
        return try ChatTemplate(jinjaTemplate: text)
    }
}
