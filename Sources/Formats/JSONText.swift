// JSONText.swift: the one JSON string-literal writer for files whose JSON we lay out by hand
// (safetensors headers, Hugging Face tokenizer files).

/// Hand-written JSON output.
public enum JSONText {
    /// A JSON string literal (RFC 8259): `"` and backslash escaped, control characters (U+0000-U+001F)
    /// as short escapes or `\u00XX`; everything else, non-ASCII included, kept as UTF-8.
    public static func string(_ s: String) -> String {
        var out = ""
        write(s, into: &out)
        return out
    }

    /// Appends the literal of `s` to `out`.
    public static func write(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16, uppercase: false)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
