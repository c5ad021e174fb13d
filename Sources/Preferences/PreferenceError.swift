// PreferenceError.swift: the Preferences target's one error enum.

/// Errors that stop a preference job (bad options, missing inputs, unwritable output). Questions
/// that cannot give a pair are not errors: they are skipped and counted by reason.
public enum PreferenceError: Error, CustomStringConvertible, Equatable {
    /// A setting that cannot work (the option and why).
    case invalidOption(String)
    /// The store has nothing to build from (what is missing and what to run first).
    case nothingToDo(String)
    /// A rubric the job needs is missing from the rubrics folder.
    case missingRubric(id: String, folder: String)
    /// A model file that does not exist or cannot be loaded.
    case modelUnavailable(path: String, reason: String)
    /// The output file cannot be written.
    case unwritableOutput(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidOption(let message): return message
        case .nothingToDo(let message): return message
        case .missingRubric(let id, let folder): return "\(folder): no rubric '\(id)' (expected \(folder)/\(id)/rubric.json)"
        case .modelUnavailable(let path, let reason): return "\(path): cannot load the model: \(reason)"
        case .unwritableOutput(let path, let reason): return "\(path): cannot write output: \(reason)"
        }
    }
}
