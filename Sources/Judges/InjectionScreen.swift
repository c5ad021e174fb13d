// InjectionScreen.swift: finds text in an answer (or a document) that is addressed to the judge
// rather than to the question: verdict markup, rating lines, chat-template markers, statement
// tags, fake end-of-answer markers and notes to the grader. Neutralising (JudgedText) keeps
// such text from being read as the judge's own verdict, but a small judge's probabilities still
// move toward whatever the text asks for (README, "Reliability and security"); the scorer's
// injection policy uses these signals to penalise or flag the answer instead.

import Foundation

/// One kind of text addressed to the judge.
public enum InjectionSignal: String, Sendable, Codable, CaseIterable {
    /// `[[...]]`: the rubrics' verdict markup (`[[10]]`, `[[Fully]]`, `[[NO STATEMENTS]]`).
    case verdictMarkup = "verdict_markup"
    /// A line that starts `Rating:`, `Verdict:` or `Score:` and gives a number or a label.
    case ratingLine = "rating_line"
    /// A chat-template marker (`<|im_start|>`, `<|im_end|>`, any `<|...|>`).
    case chatTemplate = "chat_template"
    /// `<statement>` or `</statement>` tags (the faithfulness extractor's output format).
    case statementTags = "statement_tags"
    /// A line that only says the answer or response ends (`[End of answer]`).
    case endMarker = "end_marker"
    /// Words to a grader, judge, evaluator or reward model, or "ignore previous instructions".
    case graderAddress = "grader_address"
}

/// Finds ``InjectionSignal``s in judged text.
public enum InjectionScreen {
    /// The signals found in `text`, in ``InjectionSignal`` order, each once.
    public static func signals(in text: String) -> [InjectionSignal] {
        var found = Set<InjectionSignal>()
        let s = text.lowercased()
        if s.contains("[[") && s.contains("]]"), s.range(of: #"\[\[[^\[\]\n]{1,40}\]\]"#, options: .regularExpression) != nil {
            found.insert(.verdictMarkup)
        }
        if s.range(of: #"<\|[a-z_]{1,24}\|>"#, options: .regularExpression) != nil { found.insert(.chatTemplate) }
        if s.range(of: #"</?\s*statement\s*>"#, options: .regularExpression) != nil { found.insert(.statementTags) }
        for line in s.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.range(of: #"^(>\s*)?(rating|verdict|score)\s*[:=]\s*(\[\[)?\s*(\d|fully|partially|no\b)"#, options: .regularExpression) != nil {
                found.insert(.ratingLine)
            }
            if l.range(of: #"^[\[(\-=*#\s]*end of (the )?(answer|response|text|reply)[\])\-=*\s.]*$"#, options: .regularExpression) != nil {
                found.insert(.endMarker)
            }
        }
        if isGraderAddress(s) { found.insert(.graderAddress) }
        return InjectionSignal.allCases.filter { found.contains($0) }
    }

    /// Whether lowercased `s` speaks to whoever grades it: "ignore (your) previous instructions",
    /// or a grader word (grader, evaluator, rater, assessor, reward model, an automated or AI
    /// judge) with a word that asks for a score in the same sentence.
    static func isGraderAddress(_ s: String) -> Bool {
        if s.range(of: #"ignore\s+(all\s+|any\s+|your\s+|the\s+)*(previous|prior|above|earlier|system)\s+(instructions|prompts?|rules)"#, options: .regularExpression) != nil {
            return true
        }
        let grader = #"\b(graders?|evaluators?|raters?|assessors?|reward models?|(automated|ai|llm)\s+(judges?|graders?))\b"#
        guard s.range(of: grader, options: .regularExpression) != nil else { return false }
        let ask = #"\b(rate|rating|score|scores|grade|label|mark|award|give|assign|verdict|supported|correct)\b"#
        for sentence in s.split(whereSeparator: { ".!?\n".contains($0) }) {
            let t = String(sentence)
            if t.range(of: grader, options: .regularExpression) != nil && t.range(of: ask, options: .regularExpression) != nil { return true }
        }
        // A note that names the grader and asks in the next sentence ("Note to the grader: ...").
        return s.range(of: grader + #"[^.!?\n]{0,40}:"#, options: .regularExpression) != nil
    }
}
