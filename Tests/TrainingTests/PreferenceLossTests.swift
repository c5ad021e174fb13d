// PreferenceLossTests.swift: finite-difference checks of every loss's gradient w.r.t. the
// summed log-probs (DPO sigmoid, cDPO, SPA soft labels, IPO, KTO, the CE term), and fixed values.

import Foundation
import Testing
@testable import Training

private func pairs(_ x: [Double], lengths: [(Int, Int)], weights: [(Double, Double)?]) -> [PairLogProbabilities] {
    (0..<lengths.count).map { i in
        PairLogProbabilities(
            policyChosen: x[2 * i], policyRejected: x[2 * i + 1], referenceChosen: -20 - Double(i), referenceRejected: -25 + 2 * Double(i),
            chosenTokens: lengths[i].0, rejectedTokens: lengths[i].1, chosenWeight: weights[i]?.0, rejectedWeight: weights[i]?.1)
    }
}

private func checkGradient(_ cfg: PreferenceLossConfiguration, weights: [(Double, Double)?]) {
    let lengths = [(7, 9), (12, 5), (3, 4)]
    let x0: [Double] = [-21.5, -24.0, -19.0, -30.5, -27.0, -18.0]
    let r = PreferenceLoss.evaluate(pairs(x0, lengths: lengths, weights: weights), configuration: cfg)
    let analytic = (0..<3).flatMap { [r.dPolicyChosen[$0], r.dPolicyRejected[$0]] }
    for i in x0.indices {
        let h = 1e-5
        var xp = x0, xm = x0
        xp[i] += h
        xm[i] -= h
        let fp = PreferenceLoss.evaluate(pairs(xp, lengths: lengths, weights: weights), configuration: cfg).loss
        let fm = PreferenceLoss.evaluate(pairs(xm, lengths: lengths, weights: weights), configuration: cfg).loss
        let numeric = (fp - fm) / (2 * h)
        #expect(abs(numeric - analytic[i]) < 1e-7 + 1e-6 * abs(numeric), "\(cfg.lossType) coordinate \(i): \(numeric) vs \(analytic[i])")
    }
}

@Suite struct PreferenceLossTests {
    @Test func sigmoidGradientMatchesFiniteDifferences() {
        checkGradient(PreferenceLossConfiguration(), weights: [nil, nil, nil])
    }

    @Test func labelSmoothedGradientMatchesFiniteDifferences() {
        var c = PreferenceLossConfiguration()
        c.labelSmoothing = 0.2
        checkGradient(c, weights: [nil, nil, nil])
    }

    @Test func softLabelGradientMatchesFiniteDifferences() {
        checkGradient(PreferenceLossConfiguration(), weights: [(0.9, 0.1), nil, (0.55, 0.45)])
    }

    @Test func ipoGradientMatchesFiniteDifferences() {
        var c = PreferenceLossConfiguration()
        c.lossType = .ipo
        c.beta = 0.4
        checkGradient(c, weights: [nil, nil, nil])
    }

    @Test func softWeightsOfOneAndZeroEqualPlainDPO() {
        let x: [Double] = [-21.5, -24.0, -19.0, -30.5, -27.0, -18.0]
        let l = [(7, 9), (12, 5), (3, 4)]
        let plain = PreferenceLoss.evaluate(pairs(x, lengths: l, weights: [nil, nil, nil]), configuration: PreferenceLossConfiguration())
        let soft = PreferenceLoss.evaluate(pairs(x, lengths: l, weights: [(1, 0), (1, 0), (1, 0)]), configuration: PreferenceLossConfiguration())
        #expect(plain.loss == soft.loss)
        // and a hand value: one pair, z = 2, beta 0.5, no CE: -log sigmoid(1)
        var c = PreferenceLossConfiguration()
        c.beta = 0.5
        c.ceWeight = 0
        let one = PreferenceLoss.evaluate(
            [PairLogProbabilities(policyChosen: -1, policyRejected: -3, referenceChosen: -2, referenceRejected: -2, chosenTokens: 1, rejectedTokens: 1)],
            configuration: c)
        #expect(abs(one.loss - log(1 + exp(-1.0))) < 1e-15)
    }

    @Test func ktoGradientMatchesFiniteDifferences() {
        let labels = [true, false, true, false, false]
        let refs: [Double] = [-10, -12, -8, -15, -9]
        let kl: [(policy: Double, reference: Double)] = [(-11, -12.5), (-9, -9.2), (-14, -13)]  // mean 0.7 / 3 > 0
        var cfg = KTOLossConfiguration()
        cfg.desirableWeight = 1.3
        cfg.undesirableWeight = 0.7
        func loss(_ x: [Double]) -> KTOLossResult {
            KTOLoss.evaluate(x.indices.map { KTOLogProbabilities(policy: x[$0], reference: refs[$0], desirable: labels[$0]) }, kl: kl, configuration: cfg)
        }
        let x0: [Double] = [-9.5, -12.4, -7.0, -16.0, -8.1]
        let r = loss(x0)
        #expect(abs(r.kl - 0.7 / 3) < 1e-12)
        for i in x0.indices {
            var xp = x0, xm = x0
            xp[i] += 1e-5
            xm[i] -= 1e-5
            let numeric = (loss(xp).loss - loss(xm).loss) / 2e-5
            #expect(abs(numeric - r.dPolicy[i]) < 1e-8, "KTO coordinate \(i): \(numeric) vs \(r.dPolicy[i])")
        }
        // A negative KL estimate is clamped at zero.
        let clamped = KTOLoss.evaluate([KTOLogProbabilities(policy: -1, reference: -1, desirable: true)], kl: [(-5, -1)], configuration: KTOLossConfiguration())
        #expect(clamped.kl == 0)
        #expect(abs(clamped.loss - 0.5) < 1e-15)
    }

    @Test func scheduleFollowsHuggingFace() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 2, totalSteps: 10, kind: .linear)
        #expect(s.rate(atStep: 0) == 0)
        #expect(abs(s.rate(atStep: 1) - 5e-4) < 1e-18)
        #expect(abs(s.rate(atStep: 2) - 1e-3) < 1e-18)
        #expect(abs(s.rate(atStep: 6) - 5e-4) < 1e-18)
        let c = LearningRateSchedule(peak: 1, warmupSteps: 0, totalSteps: 4, kind: .cosine)
        #expect(abs(c.rate(atStep: 2) - 0.5) < 1e-12)
        #expect(LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 4, kind: .constant).rate(atStep: 3) == 2)
    }
}
