// SelfTaughtTests.swift: tests of self-taught evaluator selection and majority voting.

import Testing
import Preferences

private func judgment(_ text: String, winner: PairPosition, verdict: PairPosition?) -> PairwiseJudgment {
    PairwiseJudgment(text: text, winnerPosition: winner, verdict: verdict)
}

@Test func evaluatorSelectionBalancesPositions() {
    let judgments: [PairwiseJudgment] = [
        judgment("A1", winner: .a, verdict: .a),
        judgment("W1", winner: .a, verdict: .b),
        judgment("A2", winner: .a, verdict: .a),
        judgment("B1", winner: .b, verdict: .b),
        judgment("A3", winner: .a, verdict: .a),
        judgment("U1", winner: .b, verdict: nil),
        judgment("W2", winner: .b, verdict: .a),
        judgment("A4", winner: .a, verdict: .a),
        judgment("B2", winner: .b, verdict: .b),
        judgment("W3", winner: .a, verdict: .b),
        judgment("A5", winner: .a, verdict: .a),
    ]
    let result = EvaluatorSelection.select(judgments)
    #expect(result.kept.map(\.text) == ["A1", "A2", "B1", "B2"])
    #expect(result.correct == 7)
    #expect(result.wrong == 3)
    #expect(result.unparsed == 1)
    #expect(result.droppedForBalance == 3)
    #expect(judgments[1].isCorrect == false)
    #expect(judgments[5].isCorrect == false)
}

@Test func evaluatorSelectionOneSidedKeepsNothing() {
    let judgments = [judgment("x", winner: .a, verdict: .a), judgment("y", winner: .a, verdict: .a)]
    let result = EvaluatorSelection.select(judgments)
    #expect(result.kept.isEmpty)
    #expect(result.droppedForBalance == 2)
}

@Test func majorityVote() {
    let clear = MajorityVote.decide([.a, .b, .a, nil, .a])
    #expect(clear == VoteOutcome(choice: .a, votesA: 3, votesB: 1, abstained: 1))
    let tie = MajorityVote.decide([.a, .b, nil, nil])
    #expect(tie == VoteOutcome(choice: nil, votesA: 1, votesB: 1, abstained: 2))
    let silent = MajorityVote.decide([nil, nil])
    #expect(silent.choice == nil)
    #expect(MajorityVote.decide([.b]).choice == .b)
    #expect(MajorityVote.decide([]).choice == nil)
}
