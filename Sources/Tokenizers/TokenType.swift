// TokenType.swift: llama.cpp's token types as stored in GGUF `tokenizer.ggml.token_type`.

/// The kind of a vocabulary entry, with llama.cpp's numbering (`llama_token_type`).
public enum TokenType: Int32, Sendable, CaseIterable {
    /// Not defined (value 0; treated like ``normal``).
    case undefined = 0
    /// An ordinary BPE piece.
    case normal = 1
    /// The unknown-token placeholder.
    case unknown = 2
    /// A control token such as `<|im_start|>`; matched in text only when special parsing is on.
    case control = 3
    /// A user-defined token; always matched literally in text, even without special parsing.
    case userDefined = 4
    /// A reserved, unused slot.
    case unused = 5
    /// A raw byte token (`<0x41>` in SentencePiece vocabularies).
    case byte = 6

    /// Whether the token is matched as a whole in the input before BPE (llama.cpp's
    /// "special token cache": control, user-defined and unknown tokens).
    var isSpecial: Bool { self == .control || self == .userDefined || self == .unknown }
}
