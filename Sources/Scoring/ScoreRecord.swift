// ScoreRecord.swift: what `score` writes per answer (one JSON line) and stores with the reward.

import Judges

/// The four dimensions.
public enum Dimension: String, Sendable, Codable, CaseIterable {
    case helpfulness, logic, faithfulness, completeness
}

/// How a dimension ended.
public enum DimensionStatus: String, Sendable, Codable {
    /// Scored.
    case ok
    /// Every parse attempt failed (raw outputs kept), or the prompt did not fit the judge.
    case failed
    /// Scored by a documented policy rather than the judge (no factual statements).
    case policy
}

/// One dimension's result.
public struct DimensionResult: Sendable, Codable, Equatable {
    /// Outcome.
    public var status: DimensionStatus
    /// 0-10, nil when failed or excluded by policy.
    public var score: Double?
    /// Why it failed or which policy applied.
    public var reason: String?
    /// The judge's raw outputs when it failed.
    public var outputs: [String]?
}

/// A statement from the answer, its support label and the chunks shown as evidence.
public struct StatementResult: Sendable, Codable, Equatable {
    /// The statement as extracted.
    public var text: String
    /// Fully, Partially or No; nil when the support call failed.
    public var support: String?
    /// 1, 0.5, 0 (nil when failed).
    public var value: Double?
    /// Ordinals of the fine chunks shown to the judge, in document order.
    public var evidenceChunks: [Int]
}

/// The question-relevant facts from one coarse chunk.
public struct ExtractResult: Sendable, Codable, Equatable {
    /// The chunk's place in the document, e.g. `0%-35%`.
    public var position: String
    /// Facts (empty: nothing relevant).
    public var facts: [String]
    /// ok or failed.
    public var status: DimensionStatus
}

/// Judge usage.
public struct JudgeUsage: Sendable, Codable, Equatable {
    /// Judge calls (attempts) made, and attempts answered from the cache.
    public var calls = 0, cacheHits = 0
    /// Prompt and completion tokens; prompt tokens served by the prefix cache.
    public var tokensIn = 0, tokensOut = 0, cachedPromptTokens = 0

    /// Creates usage figures (all zero by default).
    public init(calls: Int = 0, cacheHits: Int = 0, tokensIn: Int = 0, tokensOut: Int = 0, cachedPromptTokens: Int = 0) {
        self.calls = calls
        self.cacheHits = cacheHits
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.cachedPromptTokens = cachedPromptTokens
    }

    /// What was spent between two snapshots of a running total.
    public static func - (later: JudgeUsage, earlier: JudgeUsage) -> JudgeUsage {
        JudgeUsage(
            calls: later.calls - earlier.calls, cacheHits: later.cacheHits - earlier.cacheHits,
            tokensIn: later.tokensIn - earlier.tokensIn, tokensOut: later.tokensOut - earlier.tokensOut,
            cachedPromptTokens: later.cachedPromptTokens - earlier.cachedPromptTokens)
    }

    /// Adds another usage.
    public static func += (total: inout JudgeUsage, o: JudgeUsage) { total.merge(o) }

    mutating func merge(_ o: JudgeUsage) {
        calls += o.calls
        cacheHits += o.cacheHits
        tokensIn += o.tokensIn
        tokensOut += o.tokensOut
        cachedPromptTokens += o.cachedPromptTokens
    }

    mutating func add(_ o: JudgeOutcome) {
        calls += o.attempts - o.cacheHits
        cacheHits += o.cacheHits
        tokensIn += o.tokensIn
        tokensOut += o.tokensOut
        cachedPromptTokens += o.cachedPromptTokens
    }
}

/// The output record of one scored answer.
public struct AnswerScore: Sendable, Codable, Equatable {
    /// Item id.
    public var itemId: String
    /// Answer id (`<item>/<hash>`).
    public var answerId: String
    /// Position in the input's answer list.
    public var answerIndex: Int
    /// Document id.
    public var documentId: String
    /// The question.
    public var question: String
    /// Scores of the dimensions that were scored.
    public var scores: [String: Double]
    /// Weighted mean over the scored dimensions (nil when none was).
    public var reward: Double?
    /// Dimensions that failed (the reward covers the others).
    public var failedDimensions: [String]
    /// Per-dimension detail.
    public var dimensions: [String: DimensionResult]
    /// Faithfulness statements.
    public var statements: [StatementResult]
    /// Completeness extracts (shared by every answer to the item).
    public var completenessExtracts: [ExtractResult]
    /// Judge calls for this answer's own dimensions.
    public var judge: JudgeUsage
    /// Judge calls for the item's extracts, shared by its answers.
    public var sharedJudge: JudgeUsage
    /// Wall time spent on this answer in this run.
    public var seconds: Double
    /// True when the record came from an earlier run with the same configuration.
    public var cached: Bool
    /// Text addressed to the judge found in the answer (``InjectionScreen``); absent when none.
    public var injection: [InjectionSignal]? = nil
}
