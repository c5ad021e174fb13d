// PairSelection.swift: picks one chosen/rejected answer pair per question from reward-scored answers.

import Foundation

/// One answer to a question together with the reward the judge gave it.
public struct ScoredCandidate: Sendable, Equatable {
    /// Identifier of the answer, unique within its question; the last tie-breaker everywhere.
    public var answerID: String
    /// Aggregated reward; `nil` when every scoring dimension failed (the answer is then unusable).
    public var reward: Double?
    /// Answer length in characters (used by the tie rules and by length control).
    public var length: Int
    /// `true` when some dimension failed and `reward` was aggregated from the remaining ones only.
    public var hasFailedDimension: Bool

    /// Creates a candidate; `hasFailedDimension` defaults to `false`.
    public init(answerID: String, reward: Double?, length: Int, hasFailedDimension: Bool = false) {
        self.answerID = answerID
        self.reward = reward
        self.length = length
        self.hasFailedDimension = hasFailedDimension
    }
}

/// How the chosen and rejected answers of a question are picked.
public enum PairRule: Sendable, Equatable {
    /// LongReward: chosen = highest reward, rejected = lowest reward (length-aware tie rules, see
    /// `PairSelector.select`).
    case bestWorst
    /// Meta-Rewarding length control with `rho` in `[0, 1]`: chosen = shortest answer of the top reward
    /// tier, rejected = longest answer of the bottom tier (see `PairSelector.tiers`).
    /// `rho == 0` is exactly `bestWorst`.
    case lengthControl(rho: Double)
}

/// Options of pair selection.
public struct PairOptions: Sendable, Equatable {
    /// The pair rule; `.bestWorst` by default.
    public var rule: PairRule
    /// Usable answers a question needs before a pair is formed (at least 2 are always needed); 5 by default.
    public var minAnswers: Int
    /// Minimum reward margin: `chosen.reward - rejected.reward` must be `>= minMargin` (and `> 0`).
    public var minMargin: Double
    /// `false` (default): answers with a failed dimension are left out as unusable.
    public var allowFailedDimensions: Bool

    /// Creates options; every argument has the documented default.
    public init(
        rule: PairRule = .bestWorst,
        minAnswers: Int = 5,
        minMargin: Double = 0.0,
        allowFailedDimensions: Bool = false
    ) {
        self.rule = rule
        self.minAnswers = minAnswers
        self.minMargin = minMargin
        self.allowFailedDimensions = allowFailedDimensions
    }
}

/// Why a question (or answer) produced no training example. Raw values are human-readable summary lines;
/// the order of declaration is the sort order.
public enum SkipReason: String, Sendable, Codable, CaseIterable, Comparable, Error {
    /// Fewer usable answers than required.
    case tooFewAnswers = "too few scored answers"
    /// Every usable answer has the same reward.
    case allEqualRewards = "all rewards equal"
    /// The chosen/rejected margin is below `PairOptions.minMargin`.
    case marginTooSmall = "reward margin below minimum"
    /// Length-control tiers overlap and the same answer was picked on both sides.
    case sameAnswer = "chosen and rejected are the same answer"
    /// Length-control tiers overlap and the chosen answer does not outscore the rejected one.
    case invertedTiers = "chosen does not outscore rejected"
    /// Meta-judge: the chosen judgment is longer than the length limit.
    case chosenTooLong = "chosen judgment over the length limit"
    /// Meta-judge: every judgment has the same Elo score.
    case noEloSpread = "all judgments rated alike"
    /// No label was confident enough to keep.
    case noConfidentLabel = "no confident label"
    /// Meta-judge: every sampled judgment of the answer gave the same rating.
    case noScoreSpread = "judgment ratings do not vary"
    /// Synth: the model gave no usable related question.
    case noPerturbedQuestion = "no perturbed question"
    /// Synth: no answer to the original or the perturbed question, or the two were the same.
    case noSyntheticAnswers = "no distinct synthetic answers"
    /// Label: no reference model was given.
    case missingReference = "missing reference model"

    /// Orders reasons by declaration order (for stable summaries).
    public static func < (lhs: SkipReason, rhs: SkipReason) -> Bool {
        order(lhs) < order(rhs)
    }

    private static func order(_ reason: SkipReason) -> Int {
        allCases.firstIndex(of: reason) ?? 0
    }
}

/// A selected preference pair.
public struct PairChoice: Sendable, Equatable {
    /// The preferred answer.
    public var chosen: ScoredCandidate
    /// The dispreferred answer.
    public var rejected: ScoredCandidate
    /// `chosen.reward - rejected.reward`, always `> 0` and `>= minMargin` for a returned pair.
    public var margin: Double

    /// Creates a pair choice.
    public init(chosen: ScoredCandidate, rejected: ScoredCandidate, margin: Double) {
        self.chosen = chosen
        self.rejected = rejected
        self.margin = margin
    }
}

/// Pair selection for one question.
public enum PairSelector {
    /// Absolute tolerance on the length-control tier bounds, so rewards exactly on a bound (e.g. the
    /// midpoint at `rho = 0.5`) belong to the tier despite rounding. Not applied at `rho == 0`.
    public static let tierTolerance = 1e-9

    /// The usable answers, in input order: those with a finite reward and, unless
    /// `allowFailedDimensions`, without a failed dimension.
    public static func usable(
        _ candidates: [ScoredCandidate],
        allowFailedDimensions: Bool
    ) -> [ScoredCandidate] {
        candidates.filter { candidate in
            guard let reward = candidate.reward, reward.isFinite else { return false }
            return allowFailedDimensions || !candidate.hasFailedDimension
        }
    }

    /// Selects the chosen/rejected pair of one question.
    ///
    /// Usable answers are those of `usable(_:allowFailedDimensions:)`; `excluded` counts the others.
    /// Steps, in order:
    /// 1. fewer than `max(minAnswers, 2)` usable answers → `.tooFewAnswers`;
    /// 2. highest reward == lowest reward → `.allEqualRewards`;
    /// 3. `.bestWorst`: chosen = highest reward, ties → the shorter answer, then the smaller `answerID`;
    ///    rejected = lowest reward, ties → the longer answer, then the smaller `answerID`.
    ///    `.lengthControl(rho)`: chosen = shortest answer of the top tier (ties → higher reward, then
    ///    smaller `answerID`), rejected = longest answer of the bottom tier (ties → lower reward, then
    ///    smaller `answerID`); tiers as in `tiers(_:rho:)`;
    /// 4. same `answerID` on both sides → `.sameAnswer`;
    /// 5. margin `chosen - rejected <= 0` → `.invertedTiers`;
    /// 6. margin `< minMargin` → `.marginTooSmall` (a margin exactly equal to `minMargin` is kept).
    ///
    /// Precondition: `rho` in `0...1`.
    public static func select(
        _ candidates: [ScoredCandidate],
        options: PairOptions
    ) -> (result: Result<PairChoice, SkipReason>, excluded: Int) {
        let pool = usable(candidates, allowFailedDimensions: options.allowFailedDimensions)
        return (choose(from: pool, options: options), candidates.count - pool.count)
    }

    /// Length-control tiers over the candidates that have a reward, each in input order.
    ///
    /// With `S_max`, `S_min` the highest and lowest reward: top tier = rewards in
    /// `[(1 - rho) S_max + rho S_min, S_max]`, bottom tier = rewards in
    /// `[S_min, (1 - rho) S_min + rho S_max]`,
    /// both widened by `tierTolerance` when `rho > 0`. At `rho = 0` the tiers are the exact ties with
    /// `S_max` / `S_min`; at `rho = 1` both tiers hold every answer. Empty input gives empty tiers.
    /// Precondition: `rho` in `0...1`.
    public static func tiers(
        _ usable: [ScoredCandidate],
        rho: Double
    ) -> (top: [ScoredCandidate], bottom: [ScoredCandidate]) {
        precondition((0.0...1.0).contains(rho), "length-control rho must be in 0...1")
        let scored = usable.filter { $0.reward != nil }
        let rewards = scored.map(rewardValue)
        guard let high = rewards.max(), let low = rewards.min() else { return ([], []) }
        let tolerance = rho > 0 ? tierTolerance : 0
        let topFloor = (1 - rho) * high + rho * low - tolerance
        let bottomCeiling = (1 - rho) * low + rho * high + tolerance
        let top = scored.filter { rewardValue($0) >= topFloor }
        let bottom = scored.filter { rewardValue($0) <= bottomCeiling }
        return (top, bottom)
    }

    // MARK: - Internals

    static func choose(from pool: [ScoredCandidate], options: PairOptions) -> Result<PairChoice, SkipReason> {
        guard pool.count >= max(options.minAnswers, 2) else { return .failure(.tooFewAnswers) }
        let rewards = pool.map(rewardValue)
        guard let high = rewards.max(), let low = rewards.min(), high > low else {
            return .failure(.allEqualRewards)
        }
        let picked: (chosen: ScoredCandidate, rejected: ScoredCandidate)?
        switch options.rule {
        case .bestWorst:
            picked = bestWorstPair(pool)
        case .lengthControl(let rho):
            picked = lengthControlledPair(pool, rho: rho)
        }
        guard let picked else { return .failure(.tooFewAnswers) }
        if picked.chosen.answerID == picked.rejected.answerID { return .failure(.sameAnswer) }
        let margin = rewardValue(picked.chosen) - rewardValue(picked.rejected)
        if margin <= 0 { return .failure(.invertedTiers) }
        if margin < options.minMargin { return .failure(.marginTooSmall) }
        return .success(PairChoice(chosen: picked.chosen, rejected: picked.rejected, margin: margin))
    }

    static func rewardValue(_ candidate: ScoredCandidate) -> Double {
        candidate.reward ?? -Double.infinity
    }

    static func bestWorstPair(
        _ pool: [ScoredCandidate]
    ) -> (chosen: ScoredCandidate, rejected: ScoredCandidate)? {
        guard let chosen = pool.min(by: precedesAsBest), let rejected = pool.min(by: precedesAsWorst) else {
            return nil
        }
        return (chosen, rejected)
    }

    static func lengthControlledPair(
        _ pool: [ScoredCandidate],
        rho: Double
    ) -> (chosen: ScoredCandidate, rejected: ScoredCandidate)? {
        let (top, bottom) = tiers(pool, rho: rho)
        guard let chosen = top.min(by: precedesAsShortest),
              let rejected = bottom.min(by: precedesAsLongest) else { return nil }
        return (chosen, rejected)
    }

    /// Higher reward first, then shorter, then smaller id.
    static func precedesAsBest(_ x: ScoredCandidate, _ y: ScoredCandidate) -> Bool {
        let (rx, ry) = (rewardValue(x), rewardValue(y))
        if rx != ry { return rx > ry }
        if x.length != y.length { return x.length < y.length }
        return x.answerID < y.answerID
    }

    /// Lower reward first, then longer, then smaller id.
    static func precedesAsWorst(_ x: ScoredCandidate, _ y: ScoredCandidate) -> Bool {
        let (rx, ry) = (rewardValue(x), rewardValue(y))
        if rx != ry { return rx < ry }
        if x.length != y.length { return x.length > y.length }
        return x.answerID < y.answerID
    }

    /// Shorter first, then higher reward, then smaller id.
    static func precedesAsShortest(_ x: ScoredCandidate, _ y: ScoredCandidate) -> Bool {
        if x.length != y.length { return x.length < y.length }
        let (rx, ry) = (rewardValue(x), rewardValue(y))
        if rx != ry { return rx > ry }
        return x.answerID < y.answerID
    }

    /// Longer first, then lower reward, then smaller id.
    static func precedesAsLongest(_ x: ScoredCandidate, _ y: ScoredCandidate) -> Bool {
        if x.length != y.length { return x.length > y.length }
        let (rx, ry) = (rewardValue(x), rewardValue(y))
        if rx != ry { return rx < ry }
        return x.answerID < y.answerID
    }
}
