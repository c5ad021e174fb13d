// PreferenceRecords.swift: the JSONL records the exports write, with the column names TRL's
// trainers read (DPOTrainer: prompt/chosen/rejected; KTOTrainer: prompt/completion/label;
// SFTTrainer: prompt/completion). Standard format holds strings; conversational format holds
// lists of {"role", "content"} messages. Every record carries a `metadata` object.

import Foundation
import Tokenizers

/// A prompt or completion column: a string (standard format) or messages (conversational).
public enum ExportText: Encodable, Sendable, Equatable {
    /// Plain text.
    case text(String)
    /// Chat messages.
    case messages([ChatMessage])

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .messages(let messages): try container.encode(messages)
        }
    }

    /// An assistant turn (conversational) or the bare text.
    static func completion(_ text: String, conversational: Bool) -> ExportText {
        conversational ? .messages([ChatMessage(role: "assistant", content: text)]) : .text(text)
    }
}

/// The four dimension scores of an answer (null when a dimension failed or was not scored).
public struct DimensionScores: Codable, Sendable, Equatable {
    /// 0-10 each.
    public var helpfulness, logic, faithfulness, completeness: Double?

    /// From a score record's `scores` map.
    public init(_ scores: [String: Double]) {
        helpfulness = scores["helpfulness"]
        logic = scores["logic"]
        faithfulness = scores["faithfulness"]
        completeness = scores["completeness"]
    }

    public func encode(to encoder: Encoder) throws {
        // Always all four keys, so every line has the same schema.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(helpfulness, forKey: .helpfulness)
        try c.encode(logic, forKey: .logic)
        try c.encode(faithfulness, forKey: .faithfulness)
        try c.encode(completeness, forKey: .completeness)
    }
}

/// Metadata of a pair of answers.
public struct PairMetadata: Encodable, Sendable {
    /// Item, document and question.
    public var itemId: String, documentId: String, question: String
    /// Answer ids.
    public var chosenId: String, rejectedId: String
    /// Rewards and their difference.
    public var chosenReward: Double, rejectedReward: Double, margin: Double
    /// Dimension scores.
    public var chosenScores: DimensionScores, rejectedScores: DimensionScores
    /// `best-worst` or `length-control rho=...`.
    public var rule: String
    /// The scoring configuration the rewards come from.
    public var configHash: String
}

/// One DPO line.
public struct DPORecord: Encodable, Sendable {
    /// TRL columns.
    public var prompt: ExportText, chosen: ExportText, rejected: ExportText
    /// Ids and scores.
    public var metadata: PairMetadata
}

/// Metadata of one KTO example.
public struct KTOMetadata: Encodable, Sendable {
    /// Item, document, question and answer.
    public var itemId: String, documentId: String, question: String, answerId: String
    /// Reward and dimension scores.
    public var reward: Double, scores: DimensionScores
    /// `threshold=...` or the pair rule.
    public var rule: String
    /// The scoring configuration.
    public var configHash: String
}

/// One KTO line.
public struct KTORecord: Encodable, Sendable {
    /// TRL columns.
    public var prompt: ExportText, completion: ExportText, label: Bool
    /// Ids and scores.
    public var metadata: KTOMetadata
}

/// Metadata of a ranked list.
public struct RankedMetadata: Encodable, Sendable {
    /// Item, document and question.
    public var itemId: String, documentId: String, question: String
    /// Answer ids and dimension scores, best first.
    public var answerIds: [String], scores: [DimensionScores]
    /// The scoring configuration.
    public var configHash: String
}

/// One ranked line: every usable answer, best first, with its reward.
public struct RankedRecord: Encodable, Sendable {
    /// The prompt.
    public var prompt: ExportText
    /// Answers, best first.
    public var completions: [ExportText]
    /// Their rewards.
    public var rewards: [Double]
    /// Ids and scores.
    public var metadata: RankedMetadata
}

/// Writes JSON lines to `<path>.partial` and renames on `finish`, so a failed run leaves no
/// half-written file.
final class JSONLinesWriter {
    let path: String
    private let handle: FileHandle
    private let encoder: JSONEncoder
    private(set) var count = 0

    init(path: String) throws {
        self.path = path
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw PreferenceError.unwritableOutput(path: path, reason: "cannot create \(partial)")
        }
        self.handle = handle
        encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    func write<T: Encodable>(_ record: T) throws {
        do {
            try handle.write(contentsOf: try encoder.encode(record) + Data("\n".utf8))
        } catch {
            throw PreferenceError.unwritableOutput(path: path, reason: "\(error)")
        }
        count += 1
    }

    func finish() throws {
        try handle.close()
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: path + ".partial", toPath: path)
    }

    func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path + ".partial")
    }
}
