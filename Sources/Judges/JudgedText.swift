// JudgedText.swift: keeps judged texts (answers, documents, passages) from steering their own
// verdict. Before a text goes into a prompt, whatever could close its block or open a verdict is
// neutralised; after the judge answers, only what it wrote after the last judged text it could
// have copied is read.

/// Defences against judged text that tries to set its own score.
public enum JudgedText {
    /// Output-format labels the rubrics use for verdicts; a judged line starting with one is quoted.
    public static let verdictLabels = ["Rating:", "Verdict:"]

    /// `text` as it may appear inside a prompt:
    /// - `[[` and `]]` are split (`[ [`, `] ]`), so no verdict or `[[NO STATEMENTS]]` can be
    ///   written from inside;
    /// - chat-template markers (`<|im_start|>`, any `<|...|>`) are split (`< |`, `| >`), so the
    ///   tokenizer never reads them as special tokens (a fake end of turn);
    /// - `<statement>` tags lose their angle brackets (`‹statement›`);
    /// - a line that starts with one of `blockMarkers` (the rubric's own labels such as
    ///   `Answer:` or `[Answer B]`) or a verdict label is quoted with `> `, so it cannot pass for
    ///   the prompt's structure.
    /// Text without any of these is returned unchanged (cached prompts stay valid).
    public static func neutralise(_ text: String, blockMarkers: [String]) -> String {
        var out = text
        if out.contains("[[") || out.contains("]]") {
            while out.contains("[[") { out = out.replacingOccurrences(of: "[[", with: "[ [") }
            while out.contains("]]") { out = out.replacingOccurrences(of: "]]", with: "] ]") }
        }
        if out.contains("<|") { out = out.replacingOccurrences(of: "<|", with: "< |") }
        if out.contains("|>") { out = out.replacingOccurrences(of: "|>", with: "| >") }
        if out.range(of: "statement>", options: .caseInsensitive) != nil {
            for tag in ["<statement>", "</statement>"] {
                out = out.replacingOccurrences(of: tag, with: tag.replacingOccurrences(of: "<", with: "‹").replacingOccurrences(of: ">", with: "›"), options: .caseInsensitive)
            }
        }
        let markers = (blockMarkers + verdictLabels).map { $0.lowercased() }
        guard out.contains(where: { $0 == ":" || $0 == "[" }) else { return out }
        var changed = false
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            let body = line.drop { $0 == " " || $0 == "\t" }.lowercased()
            guard markers.contains(where: { body.hasPrefix($0) }) else { return line }
            changed = true
            return "> " + line
        }
        return changed ? lines.joined(separator: "\n") : out
    }

    /// The rubric's block labels: the lines of a user template that hold no placeholder and
    /// are a short label (`Answer:`, `Passages:`) or a bracketed heading (`[Answer A]`).
    public static func blockMarkers(userTemplate: String) -> [String] {
        userTemplate.split(separator: "\n").compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.contains("{{"), !line.isEmpty, line.count <= 48 else { return nil }
            if line.hasPrefix("[") && line.hasSuffix("]") { return line }
            if line.hasSuffix(":") { return line }
            return nil
        }
    }

    /// The part of a judge's `output` that is its own: what follows the last place where it
    /// copied a line of any judged text (as given or as neutralised): a line of 16 characters
    /// or more, or any line holding `[[`, `]]` or a verdict label.
    /// A judge that echoes an answer holding `[[10]]` is then read after the echo.
    public static func ownOutput(_ output: String, judged: [String], blockMarkers: [String]) -> Substring {
        var cut = output.startIndex
        for value in judged {
            for form in Set([value, neutralise(value, blockMarkers: blockMarkers)]) {
                for line in form.split(separator: "\n") {
                    let probe = line.trimmingCharacters(in: .whitespaces)
                    // Long lines, and any line that looks like a verdict however short.
                    let verdictLike = probe.contains("[[") || probe.contains("]]")
                        || verdictLabels.contains { probe.range(of: $0, options: .caseInsensitive) != nil }
                    guard probe.count >= 16 || (verdictLike && probe.count >= 4),
                        let found = output.range(of: probe, options: .backwards)
                    else { continue }
                    if found.upperBound > cut { cut = found.upperBound }
                }
            }
        }
        return output[cut...]
    }
}
