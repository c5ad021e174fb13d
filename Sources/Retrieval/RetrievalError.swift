// RetrievalError.swift: the Retrieval target's one error enum; each case names what it concerns.

/// Errors raised while reading documents, chunking, embedding or searching.
public enum RetrievalError: Error, CustomStringConvertible, Equatable {
    /// A document file could not be read.
    case unreadableDocument(path: String, reason: String)
    /// A document is empty after normalisation.
    case emptyDocument(source: String)
    /// A document is not UTF-8 text (binary data, another encoding).
    case binaryDocument(source: String, reason: String)
    /// A document is longer than the configured limit.
    case documentTooLong(source: String, tokens: Int, limit: Int)
    /// Chunking settings that cannot work.
    case invalidChunking(reason: String)
    /// An embedder failed or answered with the wrong shape.
    case embedding(embedder: String, reason: String)
    /// Vectors of the wrong width for an index.
    case dimensionMismatch(expected: Int, got: Int, context: String)
    /// A FAISS operation failed.
    case index(operation: String, path: String?, message: String)
    /// The index file does not exist.
    case indexFileMissing(path: String)
    /// An index kind string that does not parse, or a parameter out of range.
    case invalidIndexKind(String, reason: String)
    /// An argument out of range, such as `k < 1`.
    case invalidArgument(name: String, value: Int, reason: String)
    /// The file holds an index of another family than the one requested.
    case kindMismatch(path: String, requested: IndexKind, found: String)
    /// The file holds an index this module cannot use (another type, or not inner product).
    case unsupportedIndex(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableDocument(let path, let reason):
            return "\(path): cannot read document: \(reason)"
        case .emptyDocument(let source):
            return "\(source): the document is empty"
        case .binaryDocument(let source, let reason):
            return "\(source): not a text document (\(reason)); give txt, md or jsonl in UTF-8"
        case .documentTooLong(let source, let tokens, let limit):
            return "\(source): \(tokens) tokens is over the limit of \(limit); raise --max-document-tokens or split the document"
        case .invalidChunking(let reason):
            return "invalid chunking settings: \(reason)"
        case .embedding(let embedder, let reason):
            return "embedder \(embedder): \(reason)"
        case .dimensionMismatch(let expected, let got, let context):
            return "dimension mismatch in \(context): expected a multiple of \(expected) floats (one \(expected)-d vector per row), got \(got)"
        case .index(let operation, let path, let message):
            return "FAISS \(operation) failed\(path.map { " (\($0))" } ?? ""): \(message)"
        case .indexFileMissing(let path):
            return "index file not found: \(path)"
        case .invalidIndexKind(let text, let reason):
            return "invalid index kind '\(text)': \(reason)"
        case .invalidArgument(let name, let value, let reason):
            return "invalid \(name) \(value): \(reason)"
        case .kindMismatch(let path, let requested, let found):
            return "index file \(path) holds a \(found) index, but \(requested) was requested"
        case .unsupportedIndex(let path, let reason):
            return "unsupported index in \(path): \(reason)"
        }
    }
}
