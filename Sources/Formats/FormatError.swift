// FormatError.swift: the one error type of the Formats module (GGUF, safetensors, dequantisation).
//
// Every case carries the file it happened in and enough context (offset, key, tensor name, found
// and expected values) that the message alone explains what is wrong with the file.

/// Everything that can go wrong while reading or writing a model file.
///
/// Each case names the file (its path as given to the reader or writer) and the problem;
/// ``description`` renders a one-line message suitable for showing to a user.
public enum FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, mapped, written or renamed (`reason` is the OS error text).
    case io(file: String, reason: String)
    /// A read of `needed` bytes at `offset` would run past the end of the file (`size` bytes).
    case truncated(file: String, offset: Int, needed: Int, size: Int)
    /// A length or count field at `offset` is larger than the whole file could ever hold.
    case absurdLength(file: String, offset: Int, what: String, length: UInt64, size: Int)
    /// The file does not start with the expected magic bytes.
    case badMagic(file: String, found: String)
    /// The file's format version is not one this reader understands.
    case unsupportedVersion(file: String, version: UInt32)
    /// A GGUF metadata value has a type id outside the spec.
    case unknownValueType(file: String, key: String, type: UInt32)
    /// A GGUF tensor has a ggml type id this reader does not know.
    case unknownTensorType(file: String, tensor: String, type: UInt32)
    /// A tensor's data offset is not a multiple of the file's alignment.
    case misaligned(file: String, tensor: String, offset: Int, alignment: Int)
    /// The same metadata key appears twice.
    case duplicateKey(file: String, key: String)
    /// The same tensor name appears twice.
    case duplicateTensor(file: String, tensor: String)
    /// A tensor has more dimensions than the format allows.
    case invalidDimensionCount(file: String, tensor: String, count: Int, max: Int)
    /// A tensor's shape is unusable (negative or overflowing sizes, rows not a whole number of blocks).
    case invalidShape(file: String, tensor: String, reason: String)
    /// A tensor's bytes `[begin, end)` (relative to the data section) are not inside it (`available` bytes).
    case tensorOutOfBounds(file: String, tensor: String, begin: Int, end: Int, available: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(file: String, first: String, second: String)
    /// A tensor's stored byte count disagrees with its shape and type.
    case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// A safetensors tensor has a dtype string this reader does not know.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A required metadata key is absent.
    case missingKey(file: String, key: String)
    /// A metadata value has a different type than the caller asked for.
    case typeMismatch(file: String, key: String, expected: String, found: String)
    /// No tensor of that name exists in the file.
    case tensorNotFound(file: String, tensor: String)
    /// The tensor's type cannot be converted to Float by this module.
    case unsupportedConversion(file: String, tensor: String, type: String)
    /// The header is malformed in a way not covered by a more specific case.
    case invalidHeader(file: String, reason: String)
    /// A writer was given inconsistent input (shape and value count differ, duplicate names, ...).
    case invalidArgument(file: String, reason: String)

    /// A one-line, human-readable message naming the file and the problem.
    public var description: String {
        switch self {
        case .io(let file, let reason):
            return "\(file): I/O error: \(reason)"
        case .truncated(let file, let offset, let needed, let size):
            return "\(file): truncated: needed \(needed) bytes at offset \(offset) but the file has \(size) bytes"
        case .absurdLength(let file, let offset, let what, let length, let size):
            return "\(file): \(what) at offset \(offset) is \(length), more than the whole file (\(size) bytes) could hold"
        case .badMagic(let file, let found):
            return "\(file): bad magic \(found)"
        case .unsupportedVersion(let file, let version):
            return "\(file): unsupported format version \(version)"
        case .unknownValueType(let file, let key, let type):
            return "\(file): metadata key '\(key)' has unknown value type \(type)"
        case .unknownTensorType(let file, let tensor, let type):
            return "\(file): tensor '\(tensor)' has unknown ggml type \(type)"
        case .misaligned(let file, let tensor, let offset, let alignment):
            return "\(file): tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case .duplicateKey(let file, let key):
            return "\(file): duplicate metadata key '\(key)'"
        case .duplicateTensor(let file, let tensor):
            return "\(file): duplicate tensor name '\(tensor)'"
        case .invalidDimensionCount(let file, let tensor, let count, let max):
            return "\(file): tensor '\(tensor)' has \(count) dimensions (at most \(max) allowed)"
        case .invalidShape(let file, let tensor, let reason):
            return "\(file): tensor '\(tensor)' has an invalid shape: \(reason)"
        case .tensorOutOfBounds(let file, let tensor, let begin, let end, let available):
            return "\(file): tensor '\(tensor)' bytes [\(begin), \(end)) lie outside the data section (\(available) bytes)"
        case .overlappingTensors(let file, let first, let second):
            return "\(file): tensors '\(first)' and '\(second)' overlap"
        case .sizeMismatch(let file, let tensor, let expectedBytes, let actualBytes):
            return "\(file): tensor '\(tensor)' should occupy \(expectedBytes) bytes but occupies \(actualBytes)"
        case .unknownDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case .missingKey(let file, let key):
            return "\(file): missing metadata key '\(key)'"
        case .typeMismatch(let file, let key, let expected, let found):
            return "\(file): metadata key '\(key)' is \(found), expected \(expected)"
        case .tensorNotFound(let file, let tensor):
            return "\(file): no tensor named '\(tensor)'"
        case .unsupportedConversion(let file, let tensor, let type):
            return "\(file): tensor '\(tensor)' of type \(type) cannot be converted to Float"
        case .invalidHeader(let file, let reason):
            return "\(file): invalid header: \(reason)"
        case .invalidArgument(let file, let reason):
            return "\(file): invalid argument: \(reason)"
        }
    }
}
