// JudgeError.swift: the Judges target's one error enum.

/// Errors raised while loading rubrics or calling a judge.
public enum JudgeError: Error, CustomStringConvertible, Equatable {
    /// No rubric folder could be found.
    case rubricsNotFound(tried: [String])
    /// A rubric folder lacks a file or has an invalid one.
    case invalidRubric(path: String, reason: String)
    /// A rubric was asked for by id but is not in the library.
    case unknownRubric(id: String, folder: String)
    /// A template was rendered without a value for one of its placeholders.
    case missingPlaceholder(rubric: String, name: String)
    /// The rendered prompt does not fit the judge's context.
    case promptTooLong(judge: String, tokens: Int, limit: Int)
    /// The judge could not be reached or failed (after its own retries).
    case unavailable(judge: String, reason: String)
    /// A rubric's verdict label cannot be read from this judge's token probabilities.
    case unencodableVerdict(rubric: String, verdict: String, judge: String, reason: String)

    public var description: String {
        switch self {
        case .rubricsNotFound(let tried):
            return "no Rubrics folder found (tried \(tried.joined(separator: ", "))); pass --rubrics DIR or set LONGREWARD_RUBRICS"
        case .invalidRubric(let path, let reason):
            return "\(path): invalid rubric: \(reason)"
        case .unknownRubric(let id, let folder):
            return "rubric '\(id)' not found in \(folder)"
        case .missingPlaceholder(let rubric, let name):
            return "rubric \(rubric): no value for placeholder {{\(name)}}"
        case .promptTooLong(let judge, let tokens, let limit):
            return "judge \(judge): prompt of \(tokens) tokens does not fit its context of \(limit)"
        case .unavailable(let judge, let reason):
            return "judge \(judge) failed: \(reason)"
        case .unencodableVerdict(let rubric, let verdict, let judge, let reason):
            return "rubric \(rubric): verdict '\(verdict)' cannot be read from the probabilities of judge \(judge): \(reason); use --verdict parse"
        }
    }
}
