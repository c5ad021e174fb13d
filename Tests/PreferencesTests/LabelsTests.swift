// LabelsTests.swift: tests of KTO labelling, label balance and reward ranking.

import Testing
import Preferences

private let answers: [ScoredCandidate] = [
    ScoredCandidate(answerID: "a", reward: 7, length: 100),
    ScoredCandidate(answerID: "b", reward: 3, length: 50),
    ScoredCandidate(answerID: "c", reward: 9, length: 300),
    ScoredCandidate(answerID: "d", reward: nil, length: 10),
    ScoredCandidate(answerID: "e", reward: 5, length: 80),
    ScoredCandidate(answerID: "f", reward: 8, length: 60, hasFailedDimension: true),
]

@Test func ktoThresholdLabels() {
    let out = KTOLabeler.label(answers, rule: .threshold(5), pairOptions: PairOptions())
    let expected: [KTOLabel] = [
        KTOLabel(answerID: "a", label: true, reward: 7),
        KTOLabel(answerID: "b", label: false, reward: 3),
        KTOLabel(answerID: "c", label: true, reward: 9),
        KTOLabel(answerID: "e", label: true, reward: 5),  // reward == threshold is desirable
    ]
    #expect(out.labels == expected)
    #expect(out.skip == nil)
    #expect(out.excluded == 2)  // d (no reward) and f (failed dimension)
    let allowed = KTOLabeler.label(answers, rule: .threshold(5),
                                   pairOptions: PairOptions(allowFailedDimensions: true))
    #expect(allowed.labels.count == 5)
    #expect(allowed.excluded == 1)
}

@Test func ktoThresholdNeedsOneUsableAnswer() {
    let none = [ScoredCandidate(answerID: "x", reward: nil, length: 3)]
    let out = KTOLabeler.label(none, rule: .threshold(1), pairOptions: PairOptions())
    #expect(out.labels.isEmpty)
    #expect(out.skip == .tooFewAnswers)
    #expect(out.excluded == 1)
    let one = [ScoredCandidate(answerID: "y", reward: 0.5, length: 3)]
    let single = KTOLabeler.label(one, rule: .threshold(1), pairOptions: PairOptions())
    #expect(single.labels == [KTOLabel(answerID: "y", label: false, reward: 0.5)])
    #expect(single.skip == nil)
}

@Test func ktoPairRuleLabels() {
    let out = KTOLabeler.label(answers, rule: .pairRule, pairOptions: PairOptions(minAnswers: 4))
    let expected: [KTOLabel] = [
        KTOLabel(answerID: "c", label: true, reward: 9),
        KTOLabel(answerID: "b", label: false, reward: 3),
    ]
    #expect(out.labels == expected)
    #expect(out.skip == nil)
    #expect(out.excluded == 2)
    let skipped = KTOLabeler.label(answers, rule: .pairRule, pairOptions: PairOptions(minAnswers: 5))
    #expect(skipped.labels.isEmpty)
    #expect(skipped.skip == .tooFewAnswers)
}

@Test func labelBalanceWeights() {
    let labels: [KTOLabel] = [
        KTOLabel(answerID: "1", label: true, reward: 1), KTOLabel(answerID: "2", label: true, reward: 1),
        KTOLabel(answerID: "3", label: true, reward: 1), KTOLabel(answerID: "4", label: false, reward: 0),
    ]
    let balance = LabelBalance(labels: labels)
    #expect(balance == LabelBalance(desirable: 3, undesirable: 1))
    let weight: Double? = balance.suggestedDesirableWeight
    #expect(weight == 1.0 / 3.0)
    let ratio: Double? = balance.weightedRatio(desirableWeight: weight ?? 0)
    #expect(abs((ratio ?? 0) - 1) < 1e-12)
    #expect(balance.isWithinAdvisedRange(desirableWeight: weight ?? 0))
    #expect(!balance.isWithinAdvisedRange())  // 3:1 unweighted is outside [1, 4/3]
    let inverse = LabelBalance(desirable: 2, undesirable: 5)
    #expect(inverse.suggestedDesirableWeight == 2.5)
    #expect(LabelBalance(desirable: 0, undesirable: 4).suggestedDesirableWeight == nil)
    #expect(LabelBalance(desirable: 4, undesirable: 0).suggestedDesirableWeight == nil)
}

@Test func rankingOrderWithTies() {
    let pool: [ScoredCandidate] = [
        ScoredCandidate(answerID: "b", reward: 5, length: 100),
        ScoredCandidate(answerID: "c", reward: 5, length: 50),
        ScoredCandidate(answerID: "a", reward: 9, length: 10),
        ScoredCandidate(answerID: "a2", reward: 5, length: 50),
        ScoredCandidate(answerID: "n", reward: nil, length: 1),
        ScoredCandidate(answerID: "f", reward: 6, length: 1, hasFailedDimension: true),
    ]
    let order: [String] = Ranking.ranked(pool).map(\.answerID)
    #expect(order == ["a", "a2", "c", "b"])
    let withFailed: [String] = Ranking.ranked(pool, allowFailedDimensions: true).map(\.answerID)
    #expect(withFailed == ["a", "f", "a2", "c", "b"])
}
