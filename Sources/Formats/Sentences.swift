// Sentences.swift: where sentences end in plain text. The chunker cuts documents on these
// boundaries; the judges read a statement list written as running sentences with it.

/// A rule-based sentence splitter for English prose (no model, no locale data).
public enum Sentences {
    /// The sentences of `text`, trimmed of surrounding whitespace (``ranges(_:)``).
    public static func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return ranges(bytes).map { String(decoding: bytes[$0.0..<$0.1], as: UTF8.self) }
    }

    /// Whether byte `b` is ASCII whitespace (space, tab, newline, carriage return).
    public static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }

    /// Whether byte `b` closes a quotation or bracket that may follow a sentence's end.
    private static func isCloser(_ b: UInt8) -> Bool { b == 0x22 || b == 0x27 || b == 0x29 || b == 0x5D }

    /// Whether `sentence` ends as a finished one does: `.`, `!` or `?`, perhaps before closing
    /// quotes or brackets (a sentence cut off mid-way does not).
    public static func isFinished(_ sentence: String) -> Bool {
        guard let last = sentence.utf8.reversed().first(where: { !isCloser($0) }) else { return false }
        return last == UInt8(ascii: ".") || last == UInt8(ascii: "!") || last == UInt8(ascii: "?")
    }

    private static let abbreviations: Set<String> = [
        "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "fig", "approx", "dept",
        "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    ]

    /// Byte ranges of sentences: text ends a sentence at a newline, or at `.`, `!` or `?` (plus
    /// closing quotes or brackets) followed by whitespace, unless the `.` ends a known
    /// abbreviation or a single-letter initial. Ranges exclude surrounding whitespace.
    public static func ranges(_ bytes: [UInt8]) -> [(Int, Int)] {
        var ranges: [(Int, Int)] = []
        var start = 0
        func emit(_ end: Int) {
            var s = start, e = end
            while s < e, isSpace(bytes[s]) { s += 1 }
            while e > s, isSpace(bytes[e - 1]) { e -= 1 }
            if e > s { ranges.append((s, e)) }
            start = end
        }
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 10 {
                emit(i + 1)
            } else if b == UInt8(ascii: "."), isTerminal(bytes, i) {
                let j = skipClosers(bytes, i + 1)
                if j >= bytes.count || isSpace(bytes[j]) { emit(j); i = j; continue }
            } else if b == UInt8(ascii: "!") || b == UInt8(ascii: "?") {
                let j = skipClosers(bytes, i + 1)
                if j >= bytes.count || isSpace(bytes[j]) { emit(j); i = j; continue }
            }
            i += 1
        }
        emit(bytes.count)
        return ranges
    }

    /// The index after any closing quotes or brackets starting at `i`.
    private static func skipClosers(_ bytes: [UInt8], _ i: Int) -> Int {
        var j = i
        while j < bytes.count, isCloser(bytes[j]) { j += 1 }
        return j
    }

    /// Whether the `.` at `i` can end a sentence (not an abbreviation or an initial).
    private static func isTerminal(_ bytes: [UInt8], _ i: Int) -> Bool {
        var s = i
        while s > 0, !isSpace(bytes[s - 1]), bytes[s - 1] != UInt8(ascii: "(") { s -= 1 }
        let word = String(decoding: bytes[s..<i], as: UTF8.self).lowercased()
        if word.count == 1, let c = word.unicodeScalars.first, c.properties.isAlphabetic { return false }
        return !abbreviations.contains(word)
    }
}
