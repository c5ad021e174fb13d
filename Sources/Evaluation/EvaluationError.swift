// EvaluationError.swift: the Evaluation target's one error enum.

/// Errors raised while reading labelled inputs or running an evaluation.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    /// A labelled line is malformed (file, 1-based line, what is wrong).
    case badInput(file: String, line: Int, reason: String)
    /// The input file cannot be read or holds nothing to evaluate.
    case unreadableInput(path: String, reason: String)
    /// A setting that cannot work.
    case invalidOption(String)
    /// A rubric the method needs is missing from the rubrics folder.
    case missingRubric(id: String, folder: String)
    /// The output file cannot be written.
    case unwritableOutput(path: String, reason: String)

    public var description: String {
        switch self {
        case .badInput(let file, let line, let reason): "\(file):\(line): \(reason)"
        case .unreadableInput(let path, let reason): "\(path): \(reason)"
        case .invalidOption(let message): message
        case .missingRubric(let id, let folder): "rubric '\(id)' not found in \(folder)"
        case .unwritableOutput(let path, let reason): "\(path): cannot write output: \(reason)"
        }
    }
}
