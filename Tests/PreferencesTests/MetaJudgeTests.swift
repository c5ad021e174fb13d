// MetaJudgeTests.swift: tests of position weights, battle matrices, the Elo fit and judgment pairing.

import Foundation
import Testing
import Preferences

private func close(_ x: Double, _ y: Double, _ tolerance: Double = 1e-8) -> Bool { abs(x - y) <= tolerance }

private func allClose(_ x: [Double], _ y: [Double], _ tolerance: Double = 1e-8) -> Bool {
    x.count == y.count && zip(x, y).allSatisfy { close($0, $1, tolerance) }
}

private func cmp(_ first: Int, _ second: Int, _ result: Int) -> JudgmentComparison {
    JudgmentComparison(first: first, second: second, result: result)
}

/// A dense 4×4 battle matrix with every off-diagonal entry positive (the MLE exists).
private let dense: [[Double]] = [
    [0, 3, 1.5, 2],
    [1, 0, 2.5, 0.5],
    [2, 1, 0, 4],
    [0.5, 1.5, 1, 0],
]

@Test func positionWeightsFromCounts() {
    let comparisons = (0..<6).map { _ in cmp(0, 1, 1) } + (0..<2).map { _ in cmp(0, 1, -1) } + [cmp(1, 0, 0)]
    let weights = PositionWeights.estimate(comparisons)
    #expect(weights.firstWins == 6)
    #expect(weights.secondWins == 2)
    #expect(weights.w1 == 0.25)
    #expect(weights.w2 == 0.75)
    let none = PositionWeights.estimate([cmp(0, 1, 0)])
    #expect(none == PositionWeights(firstWins: 0, secondWins: 0, w1: 0.5, w2: 0.5))
}

@Test func battleMatrixByHand() {
    let comparisons: [JudgmentComparison] = [
        cmp(0, 1, 1),   // 0 wins first vs 1   → B[0][1] += w1
        cmp(1, 0, -1),  // 0 wins second vs 1  → B[0][1] += w2
        cmp(1, 0, 1),   // 1 wins first vs 0   → B[1][0] += w1
        cmp(0, 2, -1),  // 2 wins second vs 0  → B[2][0] += w2
        cmp(2, 0, 1),   // 2 wins first vs 0   → B[2][0] += w1
        cmp(1, 2, 1),   // 1 wins first vs 2   → B[1][2] += w1
        cmp(2, 1, 0),   // tie: nothing
    ]
    // First-position wins 4, second-position wins 2 → w1 = 2/6, w2 = 4/6.
    let weights = PositionWeights.estimate(comparisons)
    #expect(weights.firstWins == 4 && weights.secondWins == 2)
    let w1 = 1.0 / 3.0
    let w2 = 2.0 / 3.0
    let battles = BattleMatrix.build(count: 3, comparisons: comparisons, weights: weights)
    let expected: [[Double]] = [
        [0, w1 + w2, 0],
        [w1, 0, w1],
        [w2 + w1, 0, 0],
    ]
    for m in 0..<3 {
        #expect(allClose(battles[m], expected[m], 1e-15), "row \(m)")
    }
}

@Test func eloTwoPlayersClosedForm() {
    let a = 3.0
    let b = 1.25
    let scores = EloFit.fit([[0, a], [b, 0]], ridge: 0)
    #expect(scores.count == 2)
    #expect(close(scores[0] - scores[1], log(a / b)))
    #expect(close(scores[0] + scores[1], 0))
}

@Test func eloLogLikelihoodShiftInvariant() {
    let scores: [Double] = [0.3, -1.2, 0.7, 0.2]
    let shifted = scores.map { $0 + 5.5 }
    let base = EloFit.logLikelihood(dense, scores: scores)
    let moved = EloFit.logLikelihood(dense, scores: shifted)
    #expect(close(base, moved, 1e-12))
    // Hand value for two players: 3 log σ(1) + 1 log σ(-1).
    let two = EloFit.logLikelihood([[0, 3], [1, 0]], scores: [0.5, -0.5])
    let expected = 3 * log(1 / (1 + exp(-1.0))) + log(1 / (1 + exp(1.0)))
    #expect(close(two, expected, 1e-12))
}

@Test func eloPermutationEquivariant() {
    let scores = EloFit.fit(dense, ridge: 0)
    let permutation = [2, 0, 3, 1]  // new player i is old player permutation[i]
    let permuted = permutation.map { m in permutation.map { n in dense[m][n] } }
    let permutedScores = EloFit.fit(permuted, ridge: 0)
    #expect(allClose(permutedScores, permutation.map { scores[$0] }))
    #expect(close(scores.reduce(0, +), 0, 1e-12))
}

@Test func eloSymmetricMatchesGiveZero() {
    let symmetric: [[Double]] = [[0, 2, 1], [2, 0, 3], [1, 3, 0]]
    let scores = EloFit.fit(symmetric, ridge: 0)
    #expect(allClose(scores, [0, 0, 0], 1e-12))
}

@Test func eloScaleInvariantWithoutRidge() {
    let scaled = dense.map { $0.map { 7.5 * $0 } }
    #expect(allClose(EloFit.fit(dense, ridge: 0), EloFit.fit(scaled, ridge: 0)))
}

@Test func eloFitIsAMaximum() {
    let scores = EloFit.fit(dense, ridge: 0)
    let best = EloFit.logLikelihood(dense, scores: scores)
    let h = 1e-4
    for k in 0..<4 {
        var up = scores
        var down = scores
        up[k] += h
        down[k] -= h
        let upValue = EloFit.logLikelihood(dense, scores: up)
        let downValue = EloFit.logLikelihood(dense, scores: down)
        let derivative = (upValue - downValue) / (2 * h)
        #expect(abs(derivative) < 1e-7, "component \(k)")
        #expect(upValue < best && downValue < best, "component \(k)")
    }
}

@Test func eloNeverLosingPlayerStaysFinite() {
    // Player 0 beats everyone and never loses: no ridge-0 MLE; the default ridge keeps it finite.
    let battles: [[Double]] = [
        [0, 2, 3],
        [0, 0, 1],
        [0, 1, 0],
    ]
    let scores = EloFit.fit(battles)
    #expect(scores.allSatisfy { $0.isFinite })
    #expect(scores[0] > scores[1] && scores[0] > scores[2])
    #expect(scores[1] > scores[2])  // 1 and 2 split 1:1, but 2 lost more often to 0
    #expect(close(scores.reduce(0, +), 0, 1e-12))
}

@Test func eloDegenerateSizes() {
    #expect(EloFit.fit([]) == [])
    #expect(EloFit.fit([[0]]) == [0])
    // Disconnected pairs with ridge 0 still return finite scores.
    let disconnected: [[Double]] = [[0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    let scores = EloFit.fit(disconnected, ridge: 0)
    #expect(scores.allSatisfy { $0.isFinite })
    #expect(close(scores[0] - scores[1], log(2.0)))
    #expect(close(scores[2], scores[3]))
}

@Test func judgmentPairingWithLengthLimit() {
    let scores: [Double] = [0.5, -1, 1.2, 0.1]
    let lengths: [Int] = [100, 200, 900, 50]
    let free = JudgmentPairing.pick(scores: scores, lengths: lengths, maxLength: nil)
    if case .success(let picked) = free {
        #expect(picked.chosen == 2 && picked.rejected == 1)
    } else {
        Issue.record("expected a pair")
    }
    let limited = JudgmentPairing.pick(scores: scores, lengths: lengths, maxLength: 500)
    if case .failure(let why) = limited {
        #expect(why == .chosenTooLong)
    } else {
        Issue.record("expected skip")
    }
    let roomy = JudgmentPairing.pick(scores: scores, lengths: lengths, maxLength: 900)
    if case .success(let picked) = roomy {
        #expect(picked.chosen == 2)
    } else {
        Issue.record("expected a pair")
    }
    let flat = JudgmentPairing.pick(scores: [0.2, 0.2, 0.2], lengths: [1, 2, 3], maxLength: nil)
    if case .failure(let why) = flat { #expect(why == .noEloSpread) } else { Issue.record("expected skip") }
    let tied = JudgmentPairing.pick(scores: [1, 1, -1, -1], lengths: [30, 20, 5, 9], maxLength: nil)
    if case .success(let picked) = tied {
        #expect(picked.chosen == 1 && picked.rejected == 3)  // shorter top, longer bottom
    } else {
        Issue.record("expected a pair")
    }
}

@Test func scoreSpreadVarianceAndMostVaried() {
    let scores: [Double?] = [2, 4, nil, 4, 4, 5, 5, 7, 9]
    #expect(close(ScoreSpread.variance(scores), 4, 1e-12))
    #expect(ScoreSpread.variance([3, nil]) == 0)
    #expect(ScoreSpread.variance([]) == 0)
    let variances: [Double] = [0.5, 2, 0, 2, 1]
    #expect(ScoreSpread.mostVaried(variances, count: 3) == [1, 3, 4])
    #expect(ScoreSpread.mostVaried(variances, count: 10) == [1, 3, 4, 0])
    #expect(ScoreSpread.mostVaried(variances, count: 0) == [])
}
