// PairSelectionTests.swift: tests of best/worst and length-controlled pair selection.

import Testing
import Preferences

/// Deterministic SplitMix64 generator for reproducible random cases.
struct PrefMathSplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func candidate(
    _ id: String, _ reward: Double?, _ length: Int, failed: Bool = false
) -> ScoredCandidate {
    ScoredCandidate(answerID: id, reward: reward, length: length, hasFailedDimension: failed)
}

private func ids(_ candidates: [ScoredCandidate]) -> [String] { candidates.map(\.answerID) }

private func pair(_ outcome: (result: Result<PairChoice, SkipReason>, excluded: Int)) -> PairChoice? {
    if case .success(let choice) = outcome.result { return choice }
    return nil
}

private func reason(_ outcome: (result: Result<PairChoice, SkipReason>, excluded: Int)) -> SkipReason? {
    if case .failure(let why) = outcome.result { return why }
    return nil
}

/// Rewards [7, 3, 9, 9, 2]: the two 9s differ in length (c 300, d 200).
private let fiveAnswers: [ScoredCandidate] = [
    candidate("a", 7, 100), candidate("b", 3, 50), candidate("c", 9, 300),
    candidate("d", 9, 200), candidate("e", 2, 80),
]

@Test func bestWorstPicksShorterTopAndLowest() {
    let outcome = PairSelector.select(fiveAnswers, options: PairOptions())
    let choice = pair(outcome)
    #expect(choice?.chosen.answerID == "d")
    #expect(choice?.rejected.answerID == "e")
    #expect(choice?.margin == 7.0)
    #expect(outcome.excluded == 0)
}

@Test func bestWorstTieRulesLongerRejectedThenSmallerID() {
    let answers: [ScoredCandidate] = [
        candidate("z", 9, 100), candidate("y", 9, 100), candidate("x", 1, 40),
        candidate("w", 1, 90), candidate("v", 1, 90),
    ]
    let choice = pair(PairSelector.select(answers, options: PairOptions()))
    // Equal reward and length at the top: smaller id "y"; at the bottom: longer (90), then smaller id "v".
    #expect(choice?.chosen.answerID == "y")
    #expect(choice?.rejected.answerID == "v")
}

@Test func tooFewUsableAnswers() {
    var answers = fiveAnswers
    answers[0].reward = nil
    let outcome = PairSelector.select(answers, options: PairOptions(minAnswers: 5))
    #expect(reason(outcome) == .tooFewAnswers)
    #expect(outcome.excluded == 1)
    let relaxed = PairSelector.select(answers, options: PairOptions(minAnswers: 4))
    #expect(pair(relaxed)?.chosen.answerID == "d")
    #expect(relaxed.excluded == 1)
}

@Test func atLeastTwoAnswersAlwaysNeeded() {
    let one = [candidate("a", 5, 10)]
    #expect(reason(PairSelector.select(one, options: PairOptions(minAnswers: 0))) == .tooFewAnswers)
    #expect(reason(PairSelector.select([], options: PairOptions(minAnswers: 0))) == .tooFewAnswers)
}

@Test func allEqualRewardsSkipped() {
    let answers = (0..<5).map { candidate("a\($0)", 6, 10 * $0 + 1) }
    #expect(reason(PairSelector.select(answers, options: PairOptions())) == .allEqualRewards)
}

@Test func marginThreshold() {
    let tooSmall = PairSelector.select(fiveAnswers, options: PairOptions(minMargin: 8))
    #expect(reason(tooSmall) == .marginTooSmall)
    let exact = PairSelector.select(fiveAnswers, options: PairOptions(minMargin: 7))
    #expect(pair(exact)?.margin == 7.0)
}

@Test func failedDimensionsExcludedUnlessAllowed() {
    var answers = fiveAnswers
    answers[3].hasFailedDimension = true  // "d", the shorter 9
    let strict = PairSelector.select(answers, options: PairOptions())
    #expect(reason(strict) == .tooFewAnswers)
    #expect(strict.excluded == 1)
    let fourNeeded = PairSelector.select(answers, options: PairOptions(minAnswers: 4))
    #expect(pair(fourNeeded)?.chosen.answerID == "c")
    #expect(fourNeeded.excluded == 1)
    let allowed = PairSelector.select(answers, options: PairOptions(allowFailedDimensions: true))
    #expect(pair(allowed)?.chosen.answerID == "d")
    #expect(allowed.excluded == 0)
}

@Test func nilAndNonFiniteRewardsExcluded() {
    let answers: [ScoredCandidate] = [
        candidate("a", nil, 5), candidate("b", .nan, 5), candidate("c", 4, 5), candidate("d", 1, 5),
    ]
    let outcome = PairSelector.select(answers, options: PairOptions(minAnswers: 2))
    #expect(outcome.excluded == 2)
    #expect(pair(outcome)?.chosen.answerID == "c")
    #expect(pair(outcome)?.rejected.answerID == "d")
}

/// Hand case: S_max = 10, S_min = 2.
private let tiered: [ScoredCandidate] = [
    candidate("a", 10, 500), candidate("b", 8, 100), candidate("c", 6, 50),
    candidate("d", 4, 400), candidate("e", 2, 300), candidate("f", 2, 200),
]

@Test func lengthControlTiersByHand() {
    // rho 0: top [10, 10] = {a}; bottom [2, 2] = {e, f}.
    let t0 = PairSelector.tiers(tiered, rho: 0)
    #expect(ids(t0.top) == ["a"])
    #expect(ids(t0.bottom) == ["e", "f"])
    // rho 0.25: top floor 0.75*10 + 0.25*2 = 8 → {a, b}; bottom ceiling 0.75*2 + 0.25*10 = 4 → {d, e, f}.
    let t25 = PairSelector.tiers(tiered, rho: 0.25)
    #expect(ids(t25.top) == ["a", "b"])
    #expect(ids(t25.bottom) == ["d", "e", "f"])
    // rho 0.5: both bounds are 6 → top {a, b, c}, bottom {c, d, e, f} (c on the boundary of both).
    let t50 = PairSelector.tiers(tiered, rho: 0.5)
    #expect(ids(t50.top) == ["a", "b", "c"])
    #expect(ids(t50.bottom) == ["c", "d", "e", "f"])
    // rho 1: top floor 2, bottom ceiling 10 → everything in both.
    let t100 = PairSelector.tiers(tiered, rho: 1)
    #expect(ids(t100.top) == ids(tiered))
    #expect(ids(t100.bottom) == ids(tiered))
}

@Test func lengthControlMidpointBoundaryWithRounding() {
    // (1 - 0.5) * 0.3 + 0.5 * 0.1 need not round to exactly 0.2; the tolerance keeps 0.2 in both tiers.
    let small = [candidate("a", 0.1, 1), candidate("b", 0.2, 1), candidate("c", 0.3, 1)]
    let t = PairSelector.tiers(small, rho: 0.5)
    #expect(ids(t.top) == ["b", "c"])
    #expect(ids(t.bottom) == ["a", "b"])
    let large = [candidate("a", 0.7, 1), candidate("b", 0.8, 1), candidate("c", 0.9, 1)]
    let u = PairSelector.tiers(large, rho: 0.5)
    #expect(ids(u.top) == ["b", "c"])
    #expect(ids(u.bottom) == ["a", "b"])
}

@Test func lengthControlPicksShortestTopLongestBottom() {
    let options025 = PairOptions(rule: .lengthControl(rho: 0.25), minAnswers: 5)
    let c025 = pair(PairSelector.select(tiered, options: options025))
    #expect(c025?.chosen.answerID == "b")    // shortest of {a, b}
    #expect(c025?.rejected.answerID == "d")  // longest of {d, e, f}
    #expect(c025?.margin == 4.0)
    let options05 = PairOptions(rule: .lengthControl(rho: 0.5), minAnswers: 5)
    let c05 = pair(PairSelector.select(tiered, options: options05))
    #expect(c05?.chosen.answerID == "c")     // shortest of {a, b, c}
    #expect(c05?.rejected.answerID == "d")   // longest of {c, d, e, f}
    #expect(c05?.margin == 2.0)
    let options0 = PairOptions(rule: .lengthControl(rho: 0), minAnswers: 5)
    let c0 = pair(PairSelector.select(tiered, options: options0))
    #expect(c0?.chosen.answerID == "a")
    #expect(c0?.rejected.answerID == "e")    // longer of the two 2s
}

@Test func lengthControlOverlappingTiers() {
    // rho 1: chosen = shortest overall (c, 6), rejected = longest overall (a, 10) → inverted.
    let rhoOne = PairOptions(rule: .lengthControl(rho: 1), minAnswers: 5)
    let inverted = PairSelector.select(tiered, options: rhoOne)
    #expect(reason(inverted) == .invertedTiers)
    // rho 0.5 on {10 (600), 6 (400), 2 (100)}: answer "m" is shortest on top and longest at the bottom.
    let answers = [candidate("h", 10, 600), candidate("m", 6, 400), candidate("l", 2, 100)]
    let rhoHalf = PairOptions(rule: .lengthControl(rho: 0.5), minAnswers: 3)
    let same = PairSelector.select(answers, options: rhoHalf)
    #expect(reason(same) == .sameAnswer)
}

@Test func rhoZeroEqualsBestWorstOnRandomCases() {
    var rng = PrefMathSplitMix(seed: 20_240_601)
    var paired = 0
    for trial in 0..<300 {
        let count = Int.random(in: 2...9, using: &rng)
        let answers: [ScoredCandidate] = (0..<count).map { i in
            let reward: Double? = Int.random(in: 0..<8, using: &rng) == 0
                ? nil : Double(Int.random(in: 1...6, using: &rng)) / 2
            let length = Int.random(in: 1...4, using: &rng) * 100
            let failed = Int.random(in: 0..<6, using: &rng) == 0
            return candidate("id\(Int.random(in: 0...20, using: &rng))-\(i)", reward, length, failed: failed)
        }
        let minAnswers = Int.random(in: 2...5, using: &rng)
        let allow = Bool.random(using: &rng)
        let base = PairOptions(rule: .bestWorst, minAnswers: minAnswers, allowFailedDimensions: allow)
        var controlled = base
        controlled.rule = .lengthControl(rho: 0)
        let expected = PairSelector.select(answers, options: base)
        let actual = PairSelector.select(answers, options: controlled)
        #expect(expected.result == actual.result, "trial \(trial)")
        #expect(expected.excluded == actual.excluded, "trial \(trial)")
        if case .success = expected.result { paired += 1 }
    }
    #expect(paired >= 100)  // the cases exercise real pairs, not only skips
}

@Test func skipReasonsSortInDeclarationOrder() {
    let sorted: [SkipReason] = [.marginTooSmall, .tooFewAnswers, .allEqualRewards].sorted()
    let expected: [SkipReason] = [.tooFewAnswers, .allEqualRewards, .marginTooSmall]
    #expect(sorted == expected)
    #expect(SkipReason.sameAnswer.rawValue == "chosen and rejected are the same answer")
}
