// Verdict.swift: parsing judge outputs into verdicts.

import Formats
import Foundation

/// A support label for one statement, with its faithfulness value.
public enum SupportLabel: String, Sendable, Codable, CaseIterable {
    case fully = "Fully"
    case partially = "Partially"
    case no = "No"

    /// 1, 0.5 or 0.
    public var value: Double {
        switch self {
        case .fully: return 1
        case .partially: return 0.5
        case .no: return 0
        }
    }
}

/// The two positions of a pairwise prompt.
public enum Choice: String, Sendable, Codable, CaseIterable {
    case a = "A"
    case b = "B"

    /// The other position.
    public var other: Choice { self == .a ? .b : .a }
}

/// A parsed judge output.
public enum Verdict: Sendable, Equatable {
    /// A 0-10 rating; `raw` is the number as written (may lie outside 0...10).
    case rating(Double, raw: Double)
    /// Factual statements (empty: the judge said the answer has none).
    case statements([String])
    /// Support for one statement.
    case support(SupportLabel)
    /// Support read from probabilities: the expected value (Fully 1, Partially 0.5, No 0) and
    /// the most likely label.
    case supportValue(Double, label: SupportLabel)
    /// Relevant facts from a chunk (empty: nothing relevant).
    case extract([String])
    /// Free text (a policy answer, a generated question), trimmed and non-empty.
    case text(String)
    /// Which of two shown items won.
    case choice(Choice)

    /// A compact text form for the store's `parsed_value`.
    public var stored: String {
        switch self {
        case .rating(let v, let raw): return raw == v ? formatNumber(v) : "\(formatNumber(v)) (raw \(formatNumber(raw)))"
        case .statements(let s): return s.isEmpty ? "[[NO STATEMENTS]]" : s.map { "<statement>\($0)</statement>" }.joined(separator: "\n")
        case .support(let label): return label.rawValue
        case .supportValue(let v, let label): return "\(formatNumber((v * 1000).rounded() / 1000)) (expected; most likely \(label.rawValue))"
        case .extract(let facts): return facts.isEmpty ? "[[NONE]]" : facts.map { "- " + $0 }.joined(separator: "\n")
        case .text(let text): return text
        case .choice(let choice): return choice.rawValue
        }
    }
}

private func formatNumber(_ v: Double) -> String {
    v == v.rounded() ? String(Int(v)) : String(v)
}

/// Parses judge outputs by mode; nil means unparseable (the caller retries).
public enum VerdictParser {
    /// Parses `text` according to `mode`.
    public static func parse(_ text: String, mode: ParseMode) -> Verdict? {
        switch mode {
        case .rating: return rating(text)
        case .statements: return statements(text)
        case .support: return support(text)
        case .extract: return extract(text)
        case .text: return freeText(text)
        case .choice: return choice(text)
        case .question: return question(text)
        }
    }

    /// The verdict from a judge's probabilities over `verdict.labels`: the probability-weighted
    /// mean of their values, renormalised over the labels (nil when they carry no probability).
    /// Ratings give `.rating`; support labels give `.supportValue` with the most likely label;
    /// choices give the more likely letter.
    public static func expected(_ probabilities: [Double], verdict: RubricVerdict, mode: ParseMode) -> Verdict? {
        guard probabilities.count == verdict.labels.count else { return nil }
        let mass = probabilities.reduce(0, +)
        guard mass > 0, mass.isFinite else { return nil }
        let value = zip(probabilities, verdict.values).map { $0 * $1 }.reduce(0, +) / mass
        switch mode {
        case .rating: return .rating(value, raw: value)
        case .support:
            let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
            guard let label = SupportLabel(rawValue: verdict.labels[best]) else { return nil }
            return .supportValue(value, label: label)
        case .choice:
            // The more likely letter; an exact tie is no verdict.
            guard let a = verdict.labels.firstIndex(of: Choice.a.rawValue), let b = verdict.labels.firstIndex(of: Choice.b.rawValue),
                probabilities[a] != probabilities[b]
            else { return nil }
            return .choice(probabilities[a] > probabilities[b] ? .a : .b)
        default: return nil
        }
    }

    /// The contents of every `[[...]]` in order.
    public static func bracketed(_ text: String) -> [String] {
        var out: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "[[") {
            guard let close = rest[open.upperBound...].range(of: "]]") else { break }
            out.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return out
    }

    /// The last `[[n]]` holding a number, clamped to 0...10. When there is none, the number after
    /// the last `Rating:` label is taken (`Rating: [7]`, `Rating: **7**`, `Rating: 7`): small
    /// judges often drop a bracket, and the label is what the rubrics ask for.
    public static func rating(_ text: String) -> Verdict? {
        for inner in bracketed(text).reversed() {
            let trimmed = inner.trimmingCharacters(in: .whitespaces)
            if let raw = Double(trimmed), raw.isFinite {
                return .rating(min(10, max(0, raw)), raw: raw)
            }
        }
        if let raw = labelledNumber(text, label: "rating:"), raw.isFinite {
            return .rating(min(10, max(0, raw)), raw: raw)
        }
        return nil
    }

    /// The number right after the last `label` (case-insensitive), skipping spaces, `[`, `*`.
    static func labelledNumber(_ text: String, label: String) -> Double? {
        let lower = text.lowercased()
        guard let range = lower.range(of: label, options: .backwards) else { return nil }
        var rest = lower[range.upperBound...].drop { $0 == " " || $0 == "[" || $0 == "*" }
        var digits = ""
        while let c = rest.first, c.isNumber || (c == "." && !digits.isEmpty && !digits.contains(".")) {
            digits.append(c)
            rest = rest.dropFirst()
        }
        if digits.hasSuffix(".") { digits.removeLast() }
        return Double(digits)
    }

    /// `<statement>` items; `[[NO STATEMENTS]]` alone means none. An unclosed last item (a
    /// truncated output) is dropped when closed items come before it. When none is closed but
    /// one is opened (a small judge writing its statements as running sentences inside one tag
    /// until its token budget ran out), the complete sentences after the opening tag are the
    /// items (``Sentences``; a last sentence cut off without `.`, `!` or `?` is dropped). An item
    /// that repeats an earlier one (same words, case and spacing aside) is kept once, so a
    /// judge's loop does not weigh one statement several times in the faithfulness mean.
    public static func statements(_ text: String) -> Verdict? {
        var items: [String] = []
        var rest = text[...]
        var unclosed: Substring? = nil
        while let open = rest.range(of: "<statement>") {
            guard let close = rest[open.upperBound...].range(of: "</statement>") else {
                unclosed = rest[open.upperBound...]
                break
            }
            let body = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
            if !body.isEmpty { items.append(body) }
            rest = rest[close.upperBound...]
        }
        if items.isEmpty, let unclosed {
            items = Sentences.split(String(unclosed)).filter(Sentences.isFinished)
        }
        if !items.isEmpty { return .statements(distinct(items)) }
        if bracketed(text).contains(where: { $0.trimmingCharacters(in: .whitespaces).uppercased() == "NO STATEMENTS" }) {
            return .statements([])
        }
        return nil
    }

    /// `items` without those that repeat an earlier one up to case and runs of whitespace.
    static func distinct(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { item in
            seen.insert(item.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")).inserted
        }
    }

    /// The last `[[Fully]]`, `[[Partially]]` or `[[No...]]` (case-insensitive; "No support" counts).
    public static func support(_ text: String) -> Verdict? {
        for inner in bracketed(text).reversed() {
            let word = inner.trimmingCharacters(in: .whitespaces).lowercased()
            if word.hasPrefix("fully") { return .support(.fully) }
            if word.hasPrefix("partially") { return .support(.partially) }
            if word == "no" || word.hasPrefix("no ") || word.hasPrefix("not") { return .support(.no) }
        }
        // Fallback: the word after the last `Verdict:` label, brackets or not.
        let lower = text.lowercased()
        if let range = lower.range(of: "verdict:", options: .backwards) {
            let word = lower[range.upperBound...].drop { $0 == " " || $0 == "[" || $0 == "*" }
            if word.hasPrefix("fully") { return .support(.fully) }
            if word.hasPrefix("partially") { return .support(.partially) }
            if word.hasPrefix("no") || word.hasPrefix("not") { return .support(.no) }
        }
        return nil
    }

    /// `- ` or `* ` lines; `[[NONE]]` without bullet lines means nothing relevant. Prose without
    /// bullets is kept line by line (small judges often skip the bullets); empty output is unparseable.
    public static func extract(_ text: String) -> Verdict? {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let bullets = lines.compactMap { line -> String? in
            guard line.hasPrefix("- ") || line.hasPrefix("* ") else { return nil }
            let fact = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            return fact.isEmpty ? nil : fact
        }
        if !bullets.isEmpty { return .extract(bullets) }
        if bracketed(text).contains(where: { $0.trimmingCharacters(in: .whitespaces).uppercased() == "NONE" }) { return .extract([]) }
        let prose = lines.filter { !$0.hasPrefix("[[") }
        return prose.isEmpty ? nil : .extract(prose)
    }

    /// The trimmed output; empty or whitespace-only output is unparseable.
    public static func freeText(_ text: String) -> Verdict? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : .text(trimmed)
    }

    /// The last `[[A]]` or `[[B]]` (case-insensitive, `[[Answer A]]` counts). When there is none,
    /// the letter after the last `Verdict:` or `Winner:` label. Anything else (ties included) is
    /// unparseable.
    public static func choice(_ text: String) -> Verdict? {
        func letter(_ word: Substring) -> Choice? {
            var w = word.drop { $0 == " " || $0 == "[" || $0 == "*" || $0 == "\"" }
            for prefix in ["answer ", "judgment ", "response ", "assistant "] where w.lowercased().hasPrefix(prefix) {
                w = w.dropFirst(prefix.count)
            }
            guard let c = w.first?.uppercased() else { return nil }
            let rest = w.dropFirst().first
            guard rest == nil || !(rest!.isLetter || rest!.isNumber) else { return nil }
            return Choice(rawValue: c)
        }
        for inner in bracketed(text).reversed() {
            if let c = letter(inner.trimmingCharacters(in: .whitespaces)[...]) { return .choice(c) }
        }
        let lower = text.lowercased()
        var best: (String.Index, Choice)? = nil
        for label in ["verdict:", "winner:", "better:"] {
            guard let range = lower.range(of: label, options: .backwards),
                let c = letter(text[range.upperBound...])
            else { continue }
            if best == nil || range.lowerBound > best!.0 { best = (range.lowerBound, c) }
        }
        return best.map { .choice($0.1) }
    }

    /// One question: the text after the last `Question:` label up to the line end, or else the
    /// first line that ends with `?`. Brackets and quotes around it are removed.
    public static func question(_ text: String) -> Verdict? {
        func clean(_ s: Substring) -> String {
            s.trimmingCharacters(in: CharacterSet(charactersIn: " \t*\"[]"))
        }
        if let range = text.range(of: "question:", options: [.backwards, .caseInsensitive]) {
            let line = text[range.upperBound...].split(separator: "\n", omittingEmptySubsequences: true).first ?? ""
            let q = clean(line)
            if q.count > 3 { return .text(q) }
        }
        for line in text.split(separator: "\n") {
            let q = clean(line)
            if q.hasSuffix("?") && q.count > 3 { return .text(q) }
        }
        return nil
    }
}
