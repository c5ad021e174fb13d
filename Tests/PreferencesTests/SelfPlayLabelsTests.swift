// SelfPlayLabelsTests.swift: tests of SPA labels, confidence flags, the smoothed loss and noise
// extrapolation.

import Foundation
import Testing
import Preferences

private func close(_ x: Double, _ y: Double, _ tolerance: Double = 1e-12) -> Bool { abs(x - y) <= tolerance }

/// Pair `i` with implicit-reward margin `margin` (beta 0.1): odd pairs prefer the second response.
private func pairInput(_ i: Int, margin: Double) -> ImplicitRewardInput {
    let logRatio = margin * 10
    return i.isMultiple(of: 2)
        ? ImplicitRewardInput(id: "p\(i)", policyLogProb1: logRatio, referenceLogProb1: 0,
                              policyLogProb2: 0, referenceLogProb2: 0)
        : ImplicitRewardInput(id: "p\(i)", policyLogProb1: 0, referenceLogProb1: 0,
                              policyLogProb2: logRatio, referenceLogProb2: 0)
}

@Test func spaRewardsFromLogProbs() {
    let input = ImplicitRewardInput(id: "q", policyLogProb1: -10, referenceLogProb1: -12,
                                    policyLogProb2: -15, referenceLogProb2: -14)
    let labels = SPALabeler.label([input], options: SPAOptions())
    let label = labels[0]
    // r1 = 0.1 * (-10 + 12) = 0.2; r2 = 0.1 * (-15 + 14) = -0.1; margin 0.3.
    #expect(close(label.reward1, 0.2))
    #expect(close(label.reward2, -0.1))
    #expect(label.prefersFirst)
    #expect(close(label.margin, 0.3))
    #expect(close(label.probability, 0.574442516811659))  // sigmoid(0.3)
    #expect(label.confident)  // one label: k = floor(0.1) = 0
    #expect(label.id == "q")
    let reversed = SPALabeler.label([input], options: SPAOptions(beta: 2))[0]
    #expect(close(reversed.reward1, 4) && close(reversed.reward2, -2))
    #expect(close(reversed.probability, 1 / (1 + exp(-6.0))))
}

@Test func spaBottomTenPercentIsLowConfidence() {
    let margins: [Double] = [3.0, 1.5, 0.2, 4.0, 2.2, 0.9, 5.1, 0.05, 2.5, 3.3,
                             1.1, 6.0, 0.7, 2.8, 1.9, 4.4, 0.3, 3.7, 1.4, 2.0]
    let inputs = margins.indices.map { pairInput($0, margin: margins[$0]) }
    let labels = SPALabeler.label(inputs, options: SPAOptions())
    let lowConfidence: [Int] = labels.indices.filter { !labels[$0].confident }
    #expect(lowConfidence == [2, 7])
    for (i, label) in labels.enumerated() {
        #expect(label.prefersFirst == i.isMultiple(of: 2), "pair \(i)")
        #expect(close(label.margin, margins[i], 1e-9), "pair \(i)")
        #expect(close(label.probability, 1 / (1 + exp(-label.margin))), "pair \(i)")
        let chosen: Double = label.confident ? 1.0 : 0.9
        let rejected: Double = label.confident ? 0.0 : 0.1
        #expect(close(label.chosenWeight, chosen) && close(label.rejectedWeight, rejected), "pair \(i)")
    }
}

@Test func spaZeroMarginIsAlwaysLowConfidence() {
    let inputs: [ImplicitRewardInput] = [
        ImplicitRewardInput(id: "t", policyLogProb1: -3, referenceLogProb1: -4,
                            policyLogProb2: -3, referenceLogProb2: -4),
        pairInput(1, margin: 2),
    ]
    let labels = SPALabeler.label(inputs, options: SPAOptions(window: 10))
    #expect(labels[0].prefersFirst)
    #expect(labels[0].margin == 0)
    #expect(!labels[0].confident)
    #expect(labels[0].probability == 0.5)
    #expect(labels[1].confident)
    let flags = SPALabeler.lowConfidenceFlags([0, 1, 0, 2], fraction: 0.1, window: nil)
    #expect(flags == [true, false, true, false])
}

@Test func spaRunningWindowVersusWholeSet() {
    var margins: [Double] = [5, 4, 3, 2, 1.5, 1.2, 1.1, 1.05, 1.01, 0.1, 0.2, 0.1]
    margins += Array(repeating: 3.0, count: 8) + [0.5, 0.4]
    // Window 10: labels 0...8 see fewer than 10 labels (k = 0); label 9 is its window's minimum;
    // 10 and 11 have label 9's 0.1 in their window (11 ties it but comes later); 20 still sees 11;
    // 21 (window 12...21) is the minimum of its window.
    let running = SPALabeler.lowConfidenceFlags(margins, fraction: 0.1, window: 10)
    let runningFlagged: [Int] = margins.indices.filter { running[$0] }
    #expect(runningFlagged == [9, 21])
    // Whole set: 22 labels, k = 2 → the two 0.1 margins (9 and 11).
    let whole = SPALabeler.lowConfidenceFlags(margins, fraction: 0.1, window: nil)
    let wholeFlagged: [Int] = margins.indices.filter { whole[$0] }
    #expect(wholeFlagged == [9, 11])
    let inputs = margins.indices.map { pairInput($0, margin: margins[$0]) }
    let labels = SPALabeler.label(inputs, options: SPAOptions(window: 10))
    let labelFlagged: [Int] = labels.indices.filter { !labels[$0].confident }
    #expect(labelFlagged == [9, 21])
}

@Test func spaLossAtZeroIsLogTwo() {
    for confident in [true, false] {
        for beta in [0.1, 1.0, 3.0] {
            let value = SPALabeler.loss(z: 0, beta: beta, alpha: 0.1, confident: confident)
            #expect(close(value, log(2.0)))
        }
    }
}

@Test func spaLossDerivativeMatchesFiniteDifference() {
    let h = 1e-5
    for z in [-30.0, -2.0, 0.0, 0.5, 7.0, 40.0] {
        for beta in [0.1, 1.0, 2.0] {
            for confident in [true, false] {
                let up = SPALabeler.loss(z: z + h, beta: beta, alpha: 0.1, confident: confident)
                let down = SPALabeler.loss(z: z - h, beta: beta, alpha: 0.1, confident: confident)
                let numeric = (up - down) / (2 * h)
                let exact = SPALabeler.lossDerivative(z: z, beta: beta, alpha: 0.1, confident: confident)
                #expect(abs(numeric - exact) < 1e-7, "z \(z) beta \(beta) confident \(confident)")
            }
        }
    }
}

@Test func spaLossValuesAndStability() {
    // Confident, beta z = 1: -log sigmoid(1) = log(1 + e^-1).
    let confident = SPALabeler.loss(z: 10, beta: 0.1, alpha: 0.1, confident: true)
    #expect(close(confident, log(1 + exp(-1.0))))
    // Low confidence: -0.9 log sigmoid(1) - 0.1 log sigmoid(-1).
    let smoothed = SPALabeler.loss(z: 10, beta: 0.1, alpha: 0.1, confident: false)
    #expect(close(smoothed, 0.9 * log(1 + exp(-1.0)) + 0.1 * log(1 + exp(1.0))))
    let far = SPALabeler.loss(z: -1000, beta: 1, alpha: 0, confident: true)
    #expect(close(far, 1000, 1e-9))
    let near = SPALabeler.loss(z: 1000, beta: 1, alpha: 0, confident: true)
    #expect(near.isFinite && near >= 0 && near < 1e-300)
}

@Test func noiseExtrapolationLambdaZeroIsPolicyLogSoftmax() {
    let policy: [Float] = [1, 2, 0.5]
    let reference: [Float] = [9, -3, 4]
    let value = NoiseExtrapolation.tokenLogProb(policyLogits: policy, referenceLogits: reference,
                                                token: 1, lambda: 0)
    // 2 - log(e^1 + e^2 + e^0.5)
    #expect(close(value, -0.4643687841079447))
}

@Test func noiseExtrapolationLambdaOneByHand() {
    let policy: [Float] = [2, 1, 0]
    let reference: [Float] = [1, 1, 1]
    // h = 2 * policy - reference = [3, 1, -1]; log softmax = h - log(e^3 + e^1 + e^-1).
    let first = NoiseExtrapolation.tokenLogProb(policyLogits: policy, referenceLogits: reference,
                                                token: 0, lambda: 1)
    let last = NoiseExtrapolation.tokenLogProb(policyLogits: policy, referenceLogits: reference,
                                               token: 2, lambda: 1)
    #expect(close(first, -0.1429316284998996))
    #expect(close(last, -4.1429316284999))
}

@Test func noiseExtrapolationLargeLogitsAreStable() {
    let policy: [Float] = [1000, 999, 0]
    let reference: [Float] = [0, 0, 0]
    let value = NoiseExtrapolation.tokenLogProb(policyLogits: policy, referenceLogits: reference,
                                                token: 0, lambda: 0)
    #expect(close(value, -log(1 + exp(-1.0))))
}
