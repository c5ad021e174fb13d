// ScoreInput.swift: the items of a `score` run, read from JSONL and checked before any scoring.

import Formats
import Foundation

/// Where an item's document comes from.
public enum DocumentSource: Sendable, Equatable {
    /// Text given in the line.
    case text(String)
    /// A file path (resolved against the input file's folder, then the working directory).
    case path(String)
    /// A document already in the store.
    case storedID(String)
}

/// One question about one document, with answers to score.
public struct ScoreItem: Sendable, Equatable {
    /// Item id (from the line, or derived from document and question).
    public var id: String?
    /// The document.
    public var document: DocumentSource
    /// The question.
    public var question: String
    /// Answers to score, in order.
    public var answers: [String]
    /// 1-based line in the input file.
    public var line: Int

    /// Creates an item.
    public init(id: String?, document: DocumentSource, question: String, answers: [String], line: Int) {
        self.id = id
        self.document = document
        self.question = question
        self.answers = answers
        self.line = line
    }
}

/// Reads score inputs. Field names: ours (`id`, `document` (text or path), `doc_id`, `question`,
/// `answers`) and LongReward's (`context`, `query`, `answer`/`response`, `responses`,
/// `win_response` and `lose_response`, `chosen` and `rejected`).
public enum ScoreInput {
    /// Parses every line of `path`; any bad line fails the whole file (nothing is scored).
    ///
    /// - Parameter answersRequired: when false, a line may carry no answers: the item's answers
    ///   are then the ones already in the store (sampled with `longreward sample`), and a question
    ///   file doubles as a score input.
    public static func read(path: String, answersRequired: Bool = true) throws -> [ScoreItem] {
        let lines: [(line: Int, object: [String: Any])]
        do { lines = try JSONLines.readObjects(path: path) } catch let error as JSONLinesError {
            switch error {
            case .malformedLine(let file, let line, let reason): throw ScoringError.badInput(file: file, line: line, reason: "malformed JSON (\(reason))")
            case .unreadable(_, let reason): throw ScoringError.unreadableInput(path: path, reason: reason)
            case .missingField(let file, let line, let field): throw ScoringError.badInput(file: file, line: line, reason: "missing '\(field)'")
            }
        }
        guard !lines.isEmpty else { throw ScoringError.unreadableInput(path: path, reason: "no items (the file is empty)") }
        let folder = (path as NSString).deletingLastPathComponent
        return try lines.map {
            try parse(object: $0.object, number: $0.line, file: path, folder: folder, answersRequired: answersRequired)
        }
    }

    package static func parse(object: [String: Any], number: Int, file: String, folder: String, answersRequired: Bool) throws -> ScoreItem {
        func bad(_ reason: String) -> ScoringError { .badInput(file: file, line: number, reason: reason) }
        func string(_ keys: [String]) throws -> String? {
            for key in keys {
                guard let value = object[key], !(value is NSNull) else { continue }
                if let s = value as? String { return s }
                if let n = value as? NSNumber { return n.stringValue }
                throw bad("field '\(key)' must be a string")
            }
            return nil
        }
        let id = try string(["id", "item_id", "_id"])
        guard let question = try string(["question", "query", "instruction"]), !question.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw bad("missing 'question' (or 'query')")
        }
        let document: DocumentSource
        if let docID = try string(["doc_id", "document_id"]) {
            document = .storedID(docID)
        } else if let value = try string(["document", "context", "doc"]) {
            guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw bad("the document is empty") }
            if let path = resolvePath(value, folder: folder) {
                document = .path(path)
            } else if looksLikePath(value) {
                throw bad("document file '\(value)' not found (looked in \(folder.isEmpty ? "." : folder) and the working directory)")
            } else {
                document = .text(value)
            }
        } else {
            throw bad("missing 'document' (text or path), 'context', 'doc' or 'doc_id'")
        }
        var answers: [String] = []
        if let list = object["answers"] ?? object["responses"] {
            guard let strings = list as? [Any] else { throw bad("'answers' must be a list of strings") }
            for (i, a) in strings.enumerated() {
                guard let s = a as? String else { throw bad("answers[\(i)] must be a string") }
                answers.append(s)
            }
        }
        for key in ["answer", "response", "win_response", "lose_response", "chosen", "rejected"] {
            if let s = try string([key]) { answers.append(s) }
        }
        guard !answers.isEmpty || !answersRequired else { throw bad("no answers ('answers', 'answer', 'response' or 'win_response'/'lose_response')") }
        if let empty = answers.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw bad("answer \(empty) is empty")
        }
        return ScoreItem(id: id, document: document, question: question, answers: answers, line: number)
    }

    /// A path that exists, relative to the input's folder or the working directory.
    static func resolvePath(_ value: String, folder: String) -> String? {
        guard looksLikePath(value) else { return nil }
        let candidates = value.hasPrefix("/") ? [value] : [(folder as NSString).appendingPathComponent(value), value]
        var isDirectory: ObjCBool = false
        return candidates.first { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue }
    }

    /// Short, single-line text ending in a document extension reads as a path.
    static func looksLikePath(_ value: String) -> Bool {
        guard value.count < 1024, !value.contains("\n") else { return false }
        let lower = value.lowercased()
        return [".txt", ".md", ".markdown", ".jsonl", ".text"].contains { lower.hasSuffix($0) }
    }
}
