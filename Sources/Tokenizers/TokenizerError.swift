// TokenizerError.swift: the single error type thrown by the Tokenizers module.

/// Everything that can go wrong while building or using a tokenizer or a chat template.
///
/// Each case carries enough context to explain itself through ``description``.
public enum TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A token the tokenizer needs (a special token, a byte token) is not in the vocabulary.
    case missingToken(String)
    /// The vocabulary arrays contradict each other (counts differ, ids out of range, ...).
    case inconsistentVocabulary(reason: String)
    /// The GGUF `tokenizer.ggml.pre` value names a pre-tokenizer this module does not implement.
    case unknownPreTokenizer(String)
    /// Merge rule number `index` is malformed or references tokens that do not exist.
    case invalidMerge(index: Int, text: String)
    /// A token id outside the vocabulary was passed to a decoder.
    case unknownTokenID(Int)
    /// A vocabulary file could not be read or parsed.
    case vocabularyFile(path: String, reason: String)
    /// A chat template is not in a format this module can render.
    case unsupportedChatTemplate(reason: String)
    /// The GGUF file's `tokenizer.ggml.model` is not one this operation supports (`supported`).
    case unsupportedTokenizerModel(file: String, model: String, supported: String)
    /// A GGUF metadata key the tokenizer needs is absent.
    case missingMetadata(file: String, key: String)
    /// A GGUF metadata key has a different type than the tokenizer needs.
    case mistypedMetadata(file: String, key: String, expected: String, found: String)

    /// A one-line, human-readable explanation of the error.
    public var description: String {
        switch self {
        case .missingToken(let token):
            return "token \(token.debugDescription) is missing from the vocabulary"
        case .inconsistentVocabulary(let reason):
            return "inconsistent vocabulary: \(reason)"
        case .unknownPreTokenizer(let name):
            return "unknown pre-tokenizer \(name.debugDescription) (supported: smollm, gpt2, default)"
        case .invalidMerge(let index, let text):
            return "invalid merge #\(index) \(text.debugDescription)"
        case .unknownTokenID(let id):
            return "token id \(id) is outside the vocabulary"
        case .vocabularyFile(let path, let reason):
            return "cannot load vocabulary file \(path): \(reason)"
        case .unsupportedChatTemplate(let reason):
            return "unsupported chat template: \(reason)"
        case .unsupportedTokenizerModel(let file, let model, let supported):
            return "\(file): tokenizer model \(model.debugDescription) is not supported (supported: \(supported))"
        case .missingMetadata(let file, let key):
            return "\(file): missing tokenizer metadata key '\(key)'"
        case .mistypedMetadata(let file, let key, let expected, let found):
            return "\(file): tokenizer metadata key '\(key)' is \(found), expected \(expected)"
        }
    }
}
