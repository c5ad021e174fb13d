// Labels.swift: KTO (unpaired desirable/undesirable) labels, their class balance, and reward ranking.

import Foundation

/// How KTO labels are derived from scored answers.
public enum KTOLabelRule: Sendable, Equatable {
    /// Every usable answer is labelled: desirable when `reward >= t`.
    case threshold(Double)
    /// Only the pair of `PairSelector.select`: chosen → desirable, rejected → undesirable;
    /// other answers are not emitted.
    case pairRule
}

/// One KTO example label.
public struct KTOLabel: Sendable, Equatable {
    /// The labelled answer.
    public var answerID: String
    /// `true`: desirable; `false`: undesirable.
    public var label: Bool
    /// The answer's reward.
    public var reward: Double

    /// Creates a label.
    public init(answerID: String, label: Bool, reward: Double) {
        self.answerID = answerID
        self.label = label
        self.reward = reward
    }
}

/// KTO labelling of one question's answers.
public enum KTOLabeler {
    /// Labels the answers of one question.
    ///
    /// Usability is that of `PairSelector.usable` with `pairOptions.allowFailedDimensions`; `excluded`
    /// counts unusable answers (no reward, or a failed dimension when not allowed).
    /// - `.threshold(t)`: every usable answer, in input order, labelled `reward >= t`; needs at least one
    ///   usable answer (`minAnswers` is not applied), else `skip = .tooFewAnswers`.
    /// - `.pairRule`: `PairSelector.select` with `pairOptions`; on success
    ///   `[chosen → true, rejected → false]`,
    ///   otherwise no labels and `skip` = the selector's reason.
    public static func label(
        _ candidates: [ScoredCandidate],
        rule: KTOLabelRule,
        pairOptions: PairOptions
    ) -> (labels: [KTOLabel], skip: SkipReason?, excluded: Int) {
        switch rule {
        case .threshold(let threshold):
            let pool = PairSelector.usable(
                candidates, allowFailedDimensions: pairOptions.allowFailedDimensions)
            let excluded = candidates.count - pool.count
            guard !pool.isEmpty else { return ([], .tooFewAnswers, excluded) }
            let labels = pool.map { candidate in
                let reward = PairSelector.rewardValue(candidate)
                return KTOLabel(answerID: candidate.answerID, label: reward >= threshold, reward: reward)
            }
            return (labels, nil, excluded)
        case .pairRule:
            let (result, excluded) = PairSelector.select(candidates, options: pairOptions)
            switch result {
            case .success(let pair):
                let labels = [
                    KTOLabel(answerID: pair.chosen.answerID, label: true,
                             reward: PairSelector.rewardValue(pair.chosen)),
                    KTOLabel(answerID: pair.rejected.answerID, label: false,
                             reward: PairSelector.rewardValue(pair.rejected)),
                ]
                return (labels, nil, excluded)
            case .failure(let reason):
                return ([], reason, excluded)
            }
        }
    }
}

/// Counts of desirable and undesirable KTO labels, with TRL's class-weight advice.
public struct LabelBalance: Sendable, Equatable {
    /// Number of desirable (`true`) labels.
    public var desirable: Int
    /// Number of undesirable (`false`) labels.
    public var undesirable: Int

    /// Creates a balance from counts.
    public init(desirable: Int, undesirable: Int) {
        self.desirable = desirable
        self.undesirable = undesirable
    }

    /// Counts the labels of a label list.
    public init(labels: [KTOLabel]) {
        let desirable = labels.filter(\.label).count
        self.init(desirable: desirable, undesirable: labels.count - desirable)
    }

    /// TRL's KTOTrainer advises `desirable_weight * desirable / (undesirable_weight * undesirable)` in
    /// `[1, 4/3]`. This is the `desirable_weight` that makes the ratio exactly 1 with
    /// `undesirable_weight = 1`, i.e. `undesirable / desirable`; `nil` when either count is 0.
    public var suggestedDesirableWeight: Double? {
        guard desirable > 0, undesirable > 0 else { return nil }
        return Double(undesirable) / Double(desirable)
    }

    /// `desirableWeight * desirable / (undesirableWeight * undesirable)`; `nil` when the denominator is 0.
    public func weightedRatio(desirableWeight: Double = 1, undesirableWeight: Double = 1) -> Double? {
        let denominator = undesirableWeight * Double(undesirable)
        guard denominator != 0 else { return nil }
        return desirableWeight * Double(desirable) / denominator
    }

    /// Whether `weightedRatio` lies in TRL's advised range `[1, 4/3]` (small rounding slack allowed).
    public func isWithinAdvisedRange(desirableWeight: Double = 1, undesirableWeight: Double = 1) -> Bool {
        let ratio = weightedRatio(desirableWeight: desirableWeight, undesirableWeight: undesirableWeight)
        guard let ratio else { return false }
        return ratio >= 1 - 1e-12 && ratio <= 4.0 / 3.0 + 1e-12
    }
}

/// Ranking of answers by reward (for ranked / listwise exports).
public enum Ranking {
    /// The usable answers (see `PairSelector.usable`) sorted by reward descending; equal rewards put the
    /// shorter answer first, then the smaller `answerID`. Unusable answers are dropped.
    public static func ranked(
        _ candidates: [ScoredCandidate],
        allowFailedDimensions: Bool = false
    ) -> [ScoredCandidate] {
        PairSelector.usable(candidates, allowFailedDimensions: allowFailedDimensions)
            .sorted(by: PairSelector.precedesAsBest)
    }
}
