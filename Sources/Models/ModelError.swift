// ModelError.swift: the Models target's errors, each naming the file and the problem.

/// Errors raised while locating or loading a model.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// No model file at the resolved path.
    case modelNotFound(path: String, hint: String)
    /// The file's architecture is not one this build can run.
    case unsupportedArchitecture(file: String, architecture: String, supported: [String])
    /// A required tensor is absent.
    case missingTensor(file: String, tensor: String)
    /// A tensor's shape differs from what the hyper-parameters imply.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// A hyper-parameter is missing or out of range.
    case invalidHyperparameter(file: String, key: String, reason: String)
    /// The tokenizer stored with the model disagrees with the model.
    case tokenizerMismatch(file: String, reason: String)

    public var description: String {
        switch self {
        case .modelNotFound(let path, let hint):
            return "model not found at \(path). \(hint)"
        case .unsupportedArchitecture(let file, let arch, let supported):
            return "\(file): unsupported architecture '\(arch)' (supported: \(supported.joined(separator: ", ")))"
        case .missingTensor(let file, let tensor):
            return "\(file): missing tensor '\(tensor)'"
        case .shapeMismatch(let file, let tensor, let expected, let found):
            return "\(file): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .invalidHyperparameter(let file, let key, let reason):
            return "\(file): hyper-parameter '\(key)': \(reason)"
        case .tokenizerMismatch(let file, let reason):
            return "\(file): tokenizer inconsistent with the model: \(reason)"
        }
    }
}
