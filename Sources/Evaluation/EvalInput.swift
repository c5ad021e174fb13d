// EvalInput.swift: labelled items for `longreward eval`, read and checked before any judge call.

import Foundation
import Formats
import Scoring

/// A labelled preference: answer `better` should get the higher reward.
public struct EvalPair: Sendable, Codable, Hashable {
    /// Indices into the item's answers.
    public var better: Int, worse: Int

    /// Creates a pair.
    public init(better: Int, worse: Int) {
        self.better = better
        self.worse = worse
    }
}

/// One question about one document with answers of known relative quality.
public struct EvalItem: Sendable {
    /// The question, document and answers (as a score input).
    public var item: ScoreItem
    /// Labelled pairs, better first (given, or derived from `humanScores`).
    public var preferences: [EvalPair]
    /// One human score per answer, when given.
    public var humanScores: [Double]?
    /// Each answer's label kind (`labels[i].kind`, e.g. `invented`), when given.
    public var kinds: [String?]
}

/// Reads labelled evaluation inputs.
///
/// Lines carry a question, a document (`document` text or path, or `doc_id`) and answers (as in
/// `score`), with `preferences` (pairs `[better, worse]` of answer indices) and/or `human_scores`
/// (one number per answer; every pair with different scores becomes a preference), and optional
/// `labels` (objects with a `kind`). TRL-style lines (`prompt`, `chosen`, `rejected` as strings
/// or message lists, plus a `document`) are one pair each.
public enum EvalInput {
    /// Parses and checks every line; any bad line fails the whole file before anything runs.
    public static func read(path: String) throws -> [EvalItem] {
        let lines: [(line: Int, object: [String: Any])]
        do { lines = try JSONLines.readObjects(path: path) } catch let error as JSONLinesError {
            switch error {
            case .malformedLine(let file, let line, let reason): throw EvaluationError.badInput(file: file, line: line, reason: "malformed JSON (\(reason))")
            case .unreadable(_, let reason): throw EvaluationError.unreadableInput(path: path, reason: reason)
            case .missingField(let file, let line, let field): throw EvaluationError.badInput(file: file, line: line, reason: "missing '\(field)'")
            }
        }
        guard !lines.isEmpty else { throw EvaluationError.unreadableInput(path: path, reason: "no items (the file is empty)") }
        let folder = (path as NSString).deletingLastPathComponent
        var seen: [String: Int] = [:]
        return try lines.map { entry in
            let item = try parse(object: entry.object, line: entry.line, file: path, folder: folder)
            if let id = item.item.id {
                if let first = seen[id] {
                    throw EvaluationError.badInput(file: path, line: entry.line, reason: "id '\(id)' is already used on line \(first)")
                }
                seen[id] = entry.line
            }
            return item
        }
    }

    /// One line.
    static func parse(object original: [String: Any], line: Int, file: String, folder: String) throws -> EvalItem {
        func bad(_ reason: String) -> EvaluationError { .badInput(file: file, line: line, reason: reason) }
        var object = original
        // TRL: prompt / chosen / rejected, strings or conversations.
        var trlPair = false
        if object["chosen"] != nil || object["rejected"] != nil {
            guard let chosen = try text(object["chosen"], role: "assistant"), let rejected = try text(object["rejected"], role: "assistant") else {
                throw bad("'chosen' and 'rejected' must both be given, as strings or message lists")
            }
            guard object["answers"] == nil, object["responses"] == nil else {
                throw bad("give either 'answers' or 'chosen' and 'rejected', not both")
            }
            object["chosen"] = nil
            object["rejected"] = nil
            object["answers"] = [chosen, rejected]
            trlPair = true
        }
        if object["question"] == nil && object["query"] == nil, let prompt = object["prompt"] {
            guard let question = try text(prompt, role: "user") else { throw bad("'prompt' must be a string or a message list with a user message") }
            object["question"] = question
        }
        let item: ScoreItem
        do { item = try ScoreInput.parse(object: object, number: line, file: file, folder: folder, answersRequired: true) } catch let error as ScoringError {
            if case .badInput(_, _, let reason) = error { throw bad(reason) }
            throw error
        }
        let n = item.answers.count
        guard n >= 2 else { throw bad("an item needs at least two answers to compare (it has \(n))") }
        var firstSeen: [String: Int] = [:]
        for (i, answer) in item.answers.enumerated() {
            let key = answer.trimmingCharacters(in: .whitespacesAndNewlines)
            if let j = firstSeen[key] { throw bad("answers \(j) and \(i) are identical; identical answers cannot be ranked") }
            firstSeen[key] = i
        }
        var pairs: [EvalPair] = []
        if trlPair {
            pairs = [EvalPair(better: 0, worse: 1)]
        } else if let raw = object["preferences"], !(raw is NSNull) {
            guard let list = raw as? [Any] else { throw bad("'preferences' must be a list of [better, worse] answer indices") }
            for (k, entry) in list.enumerated() {
                guard let pair = entry as? [Any], pair.count == 2, let b = integer(pair[0]), let w = integer(pair[1]) else {
                    throw bad("preferences[\(k)] must be [better, worse], two answer indices")
                }
                for index in [b, w] where !(0..<n).contains(index) {
                    throw bad("preferences[\(k)] names answer \(index), but the item has \(n) answers (0-\(n - 1))")
                }
                guard b != w else { throw bad("preferences[\(k)] pairs answer \(b) with itself") }
                let p = EvalPair(better: b, worse: w)
                guard !pairs.contains(p) else { throw bad("preferences[\(k)] repeats [\(b), \(w)]") }
                guard !pairs.contains(EvalPair(better: w, worse: b)) else { throw bad("preferences[\(k)] contradicts [\(w), \(b)]") }
                pairs.append(p)
            }
        }
        var human: [Double]? = nil
        if let raw = object["human_scores"], !(raw is NSNull) {
            guard let list = raw as? [Any], list.count == n else {
                throw bad("'human_scores' must be a list of \(n) numbers, one per answer")
            }
            human = try list.enumerated().map { k, v in
                guard let d = (v as? NSNumber)?.doubleValue, d.isFinite else { throw bad("human_scores[\(k)] is not a number") }
                return d
            }
            if pairs.isEmpty {
                for i in 0..<n { for j in 0..<n where human![i] > human![j] { pairs.append(EvalPair(better: i, worse: j)) } }
                guard !pairs.isEmpty else { throw bad("every human score is the same, so no answer is better than another") }
            }
        }
        guard !pairs.isEmpty else {
            throw bad("no labels: give 'preferences' (pairs [better, worse] of answer indices), 'human_scores' (one per answer), or 'chosen' and 'rejected'")
        }
        var kinds = [String?](repeating: nil, count: n)
        if let labels = object["labels"] as? [Any] {
            guard labels.count == n else { throw bad("'labels' has \(labels.count) entries for \(n) answers") }
            kinds = labels.map { ($0 as? [String: Any])?["kind"] as? String }
        }
        return EvalItem(item: item, preferences: pairs, humanScores: human, kinds: kinds)
    }

    /// A string, or the content of the last message with `role` in a message list.
    static func text(_ value: Any?, role: String) throws -> String? {
        if let s = value as? String { return s }
        if let messages = value as? [[String: Any]] {
            return messages.last { ($0["role"] as? String) == role }?["content"] as? String
        }
        return nil
    }

    static func integer(_ value: Any) -> Int? {
        guard let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() else { return nil }
        return n.intValue
    }
}
