// SelfTaught.swift: self-taught evaluator judgment filtering (correct, position-balanced) and majority vote.

import Foundation
import Judges

/// A position in a pairwise prompt: answer A (shown first) or answer B (shown second); the same
/// type the verdict parser returns.
public typealias PairPosition = Choice

/// One pairwise judgment of a pair whose better answer is known.
public struct PairwiseJudgment: Sendable, Equatable {
    /// The judge's full output (reasoning and verdict).
    public var text: String
    /// Where the known-better answer was shown.
    public var winnerPosition: PairPosition
    /// What the judge picked; `nil` for a tie or an unparseable verdict.
    public var verdict: PairPosition?

    /// `true` when the verdict names the known-better answer (`false` for `nil`).
    public var isCorrect: Bool { verdict == winnerPosition }

    /// Creates a judgment.
    public init(text: String, winnerPosition: PairPosition, verdict: PairPosition?) {
        self.text = text
        self.winnerPosition = winnerPosition
        self.verdict = verdict
    }
}

/// Outcome of `EvaluatorSelection.select`.
public struct EvaluatorSelectionResult: Sendable, Equatable {
    /// The kept judgments, in input order.
    public var kept: [PairwiseJudgment]
    /// Judgments whose verdict was right.
    public var correct: Int
    /// Judgments with a parsed but wrong verdict.
    public var wrong: Int
    /// Judgments with no verdict (tie or unparseable).
    public var unparsed: Int
    /// Correct judgments dropped to balance the winner positions.
    public var droppedForBalance: Int

    /// Creates a result.
    public init(kept: [PairwiseJudgment], correct: Int, wrong: Int, unparsed: Int, droppedForBalance: Int) {
        self.kept = kept
        self.correct = correct
        self.wrong = wrong
        self.unparsed = unparsed
        self.droppedForBalance = droppedForBalance
    }
}

/// Training-data filter of the self-taught evaluator.
public enum EvaluatorSelection {
    /// Keeps the correct judgments, balanced by winner position: with `nA` correct judgments whose winner was
    /// shown in A and `nB` in B, keeps the earliest `min(nA, nB)` of each side, returned in input order
    /// (so no position is favoured; nothing is kept when one side has none). Also counts correct, wrong,
    /// unparsed and the correct ones dropped for balance (`correct - kept.count`).
    public static func select(_ judgments: [PairwiseJudgment]) -> EvaluatorSelectionResult {
        let correctOnes = judgments.filter(\.isCorrect)
        let unparsed = judgments.filter { $0.verdict == nil }.count
        let wrong = judgments.count - correctOnes.count - unparsed
        let countA = correctOnes.filter { $0.winnerPosition == .a }.count
        let perSide = min(countA, correctOnes.count - countA)
        var takenA = 0
        var takenB = 0
        var kept: [PairwiseJudgment] = []
        for judgment in correctOnes {
            if judgment.winnerPosition == .a, takenA < perSide {
                takenA += 1
                kept.append(judgment)
            } else if judgment.winnerPosition == .b, takenB < perSide {
                takenB += 1
                kept.append(judgment)
            }
        }
        return EvaluatorSelectionResult(
            kept: kept,
            correct: correctOnes.count,
            wrong: wrong,
            unparsed: unparsed,
            droppedForBalance: correctOnes.count - kept.count
        )
    }
}

/// Result of a majority vote over several pairwise verdicts.
public struct VoteOutcome: Sendable, Equatable {
    /// The winning position; `nil` when the parsed votes tie (including no parsed votes).
    public var choice: PairPosition?
    /// Votes for A.
    public var votesA: Int
    /// Votes for B.
    public var votesB: Int
    /// Votes with no verdict (`nil`).
    public var abstained: Int

    /// Creates an outcome.
    public init(choice: PairPosition?, votesA: Int, votesB: Int, abstained: Int) {
        self.choice = choice
        self.votesA = votesA
        self.votesB = votesB
        self.abstained = abstained
    }
}

/// Majority vote over sampled verdicts.
public enum MajorityVote {
    /// Strict majority of the parsed votes (abstentions ignored): A when `votesA > votesB`, B when
    /// `votesB > votesA`, `nil` on a tie or when nothing parsed.
    public static func decide(_ votes: [PairPosition?]) -> VoteOutcome {
        let votesA = votes.filter { $0 == .a }.count
        let votesB = votes.filter { $0 == .b }.count
        let choice: PairPosition? = votesA > votesB ? .a : (votesB > votesA ? .b : nil)
        let abstained = votes.count - votesA - votesB
        return VoteOutcome(choice: choice, votesA: votesA, votesB: votesB, abstained: abstained)
    }
}
