// ScoringError.swift: the Scoring target's one error enum.

/// Errors raised while reading score inputs or running the pipeline.
public enum ScoringError: Error, CustomStringConvertible, Equatable {
    /// An input line is malformed (file, 1-based line, what is wrong).
    case badInput(file: String, line: Int, reason: String)
    /// The input file cannot be read.
    case unreadableInput(path: String, reason: String)
    /// A referenced document is not in the store and was not given.
    case unknownDocument(file: String, line: Int, id: String)
    /// The store was indexed with another embedder or other chunk sizes.
    case storeMismatch(store: String, setting: String, stored: String, requested: String)
    /// A setting that cannot work.
    case invalidConfiguration(String)
    /// The output file cannot be written.
    case unwritableOutput(path: String, reason: String)

    public var description: String {
        switch self {
        case .badInput(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .unreadableInput(let path, let reason):
            return "\(path): \(reason)"
        case .unknownDocument(let file, let line, let id):
            return "\(file):\(line): document '\(id)' is not in the store; run `longreward index` on it or give the text in \"document\""
        case .storeMismatch(let store, let setting, let stored, let requested):
            return "\(store): indexed with \(setting) \(stored), but this run uses \(requested); use the same \(setting) or another store"
        case .invalidConfiguration(let message):
            return message
        case .unwritableOutput(let path, let reason):
            return "\(path): cannot write output: \(reason)"
        }
    }
}
