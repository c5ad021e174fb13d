// CharacterClass.swift: the coarse Unicode classes the GPT-2 style pre-tokenizers look at.

/// The class of a code point as llama.cpp's pre-tokenizers see it: letters (`\p{L}`), numbers
/// (`\p{N}`), white space (Unicode `White_Space`) and everything else.
enum CharacterClass: UInt8 {
    case letter
    case number
    case whitespace
    case other

    /// Classes of the ASCII range, precomputed because they dominate ordinary text.
    private static let asciiTable: [CharacterClass] = (0..<128).map { slowClass(of: Unicode.Scalar(UInt8($0))) }

    /// The class of one code point.
    @inline(__always)
    static func of(_ scalar: Unicode.Scalar) -> CharacterClass {
        scalar.value < 128 ? asciiTable[Int(scalar.value)] : slowClass(of: scalar)
    }

    private static func slowClass(of scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
