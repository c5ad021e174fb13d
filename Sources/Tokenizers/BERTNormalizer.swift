// BERTNormalizer.swift: BERT's BasicTokenizer (text cleaning, CJK spacing, accent stripping,
// lower-casing, white-space and punctuation splitting) as Hugging Face tokenizers implements it.

import Foundation

/// BERT's normalizer and pre-tokenizer (`BertNormalizer` + `BertPreTokenizer`), producing the
/// words that WordPiece then splits.
struct BERTNormalizer: Sendable {
    /// Lower-case the text (and, as in BERT, strip accents).
    var lowercase: Bool = true
    /// Strip accents (NFD, then drop non-spacing marks). BERT's default follows ``lowercase``.
    var stripAccents: Bool = true

    /// Splits text into normalized words (each an array of code points).
    func words(_ text: String) -> [[Unicode.Scalar]] {
        var scalars = cleanAndSpaceCJK(text)
        if stripAccents { scalars = Self.stripAccents(scalars) }
        if lowercase { scalars = Self.lowercase(scalars) }
        return Self.split(scalars)
    }

    /// Removes NUL, U+FFFD and control/format/unassigned code points, maps white space to a
    /// space, and surrounds CJK ideographs with spaces.
    private func cleanAndSpaceCJK(_ text: String) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                result.append(" ")
            } else if Self.isCJKIdeograph(value) {
                result.append(" ")
                result.append(scalar)
                result.append(" ")
            } else {
                result.append(scalar)
            }
        }
        return result
    }

    /// Canonical decomposition followed by removal of non-spacing marks (category Mn).
    private static func stripAccents(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy({ $0.isASCII }) { return scalars }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        let decomposed = String(view).decomposedStringWithCanonicalMapping
        return decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
    }

    /// Full per-code-point lower-case mapping (no context rules, like Rust's `char::to_lowercase`).
    private static func lowercase(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(scalars.count)
        for scalar in scalars {
            if scalar.isASCII {
                let value = scalar.value
                result.append((65...90).contains(value) ? Unicode.Scalar(UInt8(value + 32)) : scalar)
            } else {
                result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return result
    }

    /// Splits on white space (dropped) and punctuation (kept, one code point per word).
    private static func split(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in scalars {
            if isWhitespace(scalar) {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
            } else if isPunctuation(scalar) {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Tab, newline and carriage return, plus every Unicode `White_Space` code point.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
    }

    /// Categories Cc, Cf, Cs, Co and Cn, except tab, newline and carriage return.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// ASCII punctuation and symbols (33-47, 58-64, 91-96, 123-126) plus Unicode P* categories.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
            || (123...126).contains(value)
        {
            return true
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK ideograph blocks BERT isolates (Hugging Face tokenizers' `is_chinese_char`).
    static func isCJKIdeograph(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
            || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
            || (0x2B740...0x2B81F).contains(value) || (0x2B920...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }
}
