// TrainingError.swift: the Training target's errors, each naming the file (and line) and the problem.

/// Errors raised while loading models or data, training, checkpointing or exporting.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A model file or folder is missing, corrupt or not a Llama.
    case model(file: String, reason: String)
    /// A data line is malformed, lacks a column or has an empty answer.
    case data(file: String, line: Int, reason: String)
    /// A data file as a whole is unusable (missing, empty, no usable pairs).
    case dataFile(file: String, reason: String)
    /// A checkpoint does not match this run (another model or configuration) or is corrupt.
    case checkpoint(folder: String, reason: String)
    /// Writing an output failed (disk full, permissions).
    case write(file: String, reason: String)
    /// Options that cannot work together.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .model(let file, let reason): "\(file): \(reason)"
        case .data(let file, let line, let reason): "\(file):\(line): \(reason)"
        case .dataFile(let file, let reason): "\(file): \(reason)"
        case .checkpoint(let folder, let reason): "checkpoint \(folder): \(reason)"
        case .write(let file, let reason): "cannot write \(file): \(reason)"
        case .invalidOption(let reason): reason
        }
    }
}
