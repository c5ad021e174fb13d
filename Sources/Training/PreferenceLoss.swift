// PreferenceLoss.swift: DPO (sigmoid, label-smoothed / cDPO, SPA soft labels), IPO and KTO losses
// and their derivatives with respect to the summed answer log-probs, in Double.
//
// Per pair, with policy log-probs pc, pr and reference log-probs rc, rr summed over answer tokens:
//   z = (pc - rc) - (pr - rr)
//   sigmoid (DPO, Rafailov et al. 2023), soft weights wc + wr = 1 (label smoothing eps gives
//   wc = 1 - eps, wr = eps, cDPO; SPA's `chosen_weight`/`rejected_weight` columns give them per pair):
//     l = -wc log sigmoid(beta z) - wr log sigmoid(-beta z)
//     dl/dz = beta (wr sigmoid(beta z) - wc sigmoid(-beta z))
//   ipo (Azar et al. 2023; as TRL, on length-averaged log-probs):
//     z' = (pc - rc) / |c| - (pr - rr) / |r|,  l = (z' - 1 / (2 beta))^2
// The batch loss is the mean over pairs plus ce_weight times the chosen answers' NLL per token
// (sum of -log p over every chosen token of the step / their count; TRL's rpo_alpha):
//   L = mean_pairs l + lambda * (-sum_pairs pc) / sum_pairs |c|
// Implicit rewards, as TRL logs them: rewards/chosen = beta (pc - rc), rewards/rejected = beta (pr - rr).
//
// KTO (Ethayarajh et al. 2024; TRL's formula), per example with label desirable or not:
//   r = p - ref,  KL = max(0, mean over the batch's mismatched pairs of (p_kl - ref_kl))  (no gradient)
//   desirable:   l = w_d (1 - sigmoid(beta (r - KL)))
//   undesirable: l = w_u (1 - sigmoid(beta (KL - r)))
//   L = mean over examples of l

import Foundation

/// Which preference loss to train with (TRL's `loss_type` names).
public enum PreferenceLossType: String, Sendable, Codable, CaseIterable {
    /// DPO's logistic loss (with label smoothing and soft labels).
    case sigmoid
    /// Identity preference optimisation (squared loss on length-averaged log-ratios).
    case ipo
}

/// Settings of the pairwise losses.
public struct PreferenceLossConfiguration: Sendable, Codable, Equatable {
    /// beta, the KL-penalty strength (LongReward 0.15).
    public var beta: Double = 0.15
    /// cDPO label smoothing eps in [0, 0.5).
    public var labelSmoothing: Double = 0
    /// The loss family.
    public var lossType: PreferenceLossType = .sigmoid
    /// lambda, the weight of the chosen answer's NLL (LongReward 0.1; TRL's rpo_alpha).
    public var ceWeight: Double = 0.1

    /// The defaults (LongReward's recipe).
    public init() {}
}

/// One pair's log-probs (sums over answer tokens) and optional soft-label weights.
public struct PairLogProbabilities: Sendable, Equatable {
    /// Policy log-probs of the chosen and rejected answers.
    public var policyChosen, policyRejected: Double
    /// Reference log-probs of the chosen and rejected answers.
    public var referenceChosen, referenceRejected: Double
    /// Answer lengths in tokens.
    public var chosenTokens, rejectedTokens: Int
    /// SPA soft-label weights (`chosen_weight`, `rejected_weight`); nil uses label smoothing.
    public var chosenWeight, rejectedWeight: Double?

    /// Creates a pair's values.
    public init(policyChosen: Double, policyRejected: Double, referenceChosen: Double, referenceRejected: Double,
                chosenTokens: Int, rejectedTokens: Int, chosenWeight: Double? = nil, rejectedWeight: Double? = nil) {
        self.policyChosen = policyChosen
        self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.chosenTokens = chosenTokens
        self.rejectedTokens = rejectedTokens
        self.chosenWeight = chosenWeight
        self.rejectedWeight = rejectedWeight
    }
}

/// The loss of a set of pairs, its parts, and its gradient w.r.t. each summed log-prob.
public struct PreferenceLossResult: Sendable {
    /// Total loss `L`.
    public var loss: Double
    /// Mean pairwise term.
    public var preferenceLoss: Double
    /// Chosen NLL per token (before the lambda weight).
    public var nllLoss: Double
    /// dL/d(policy chosen sum) and dL/d(policy rejected sum), per pair.
    public var dPolicyChosen: [Double], dPolicyRejected: [Double]
    /// Implicit rewards beta (p - ref), per pair.
    public var rewardChosen: [Double], rewardRejected: [Double]
}

/// Logistic helpers in Double.
enum Logistic {
    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
    /// log sigmoid(x) = -softplus(-x), stable for any x.
    static func logSigmoid(_ x: Double) -> Double { min(x, 0) - log1p(exp(-abs(x))) }
}

/// DPO, cDPO, SPA and IPO losses over pairs.
public enum PreferenceLoss {
    /// The loss of `pairs` as one optimiser step sees them.
    /// - Parameters:
    ///   - pairs: every pair of the step.
    ///   - configuration: beta, smoothing, loss type, lambda.
    ///   - pairCount: the divisor of the pairwise mean (defaults to `pairs.count`; a
    ///     micro-batch of a larger step passes the step's count).
    ///   - chosenTokenCount: the divisor of the NLL term (defaults to the chosen tokens of `pairs`).
    public static func evaluate(
        _ pairs: [PairLogProbabilities], configuration cfg: PreferenceLossConfiguration,
        pairCount: Int? = nil, chosenTokenCount: Int? = nil
    ) -> PreferenceLossResult {
        let n = Double(max(1, pairCount ?? pairs.count))
        let nc = Double(max(1, chosenTokenCount ?? pairs.reduce(0) { $0 + $1.chosenTokens }))
        let beta = cfg.beta
        var pref = 0.0, nll = 0.0
        var dc = [Double](), dr = [Double](), rc = [Double](), rr = [Double]()
        for p in pairs {
            let lc = p.policyChosen - p.referenceChosen, lr = p.policyRejected - p.referenceRejected
            var l: Double, gc: Double, gr: Double
            switch cfg.lossType {
            case .sigmoid:
                let wc = p.chosenWeight ?? (1 - cfg.labelSmoothing)
                let wr = p.rejectedWeight ?? cfg.labelSmoothing
                let z = lc - lr
                l = -wc * Logistic.logSigmoid(beta * z) - wr * Logistic.logSigmoid(-beta * z)
                let dz = beta * (wr * Logistic.sigmoid(beta * z) - wc * Logistic.sigmoid(-beta * z))
                (gc, gr) = (dz, -dz)
            case .ipo:
                let ac = Double(max(1, p.chosenTokens)), ar = Double(max(1, p.rejectedTokens))
                let z = lc / ac - lr / ar
                let d = z - 1 / (2 * beta)
                l = d * d
                (gc, gr) = (2 * d / ac, -2 * d / ar)
            }
            pref += l / n
            nll -= p.policyChosen / nc
            dc.append(gc / n - cfg.ceWeight / nc)
            dr.append(gr / n)
            rc.append(beta * lc)
            rr.append(beta * lr)
        }
        return PreferenceLossResult(
            loss: pref + cfg.ceWeight * nll, preferenceLoss: pref, nllLoss: nll,
            dPolicyChosen: dc, dPolicyRejected: dr, rewardChosen: rc, rewardRejected: rr)
    }
}

/// One KTO example's log-probs.
public struct KTOLogProbabilities: Sendable, Equatable {
    /// Policy and reference log-probs of the completion (sums over its tokens).
    public var policy, reference: Double
    /// Whether the completion is desirable.
    public var desirable: Bool

    /// Creates an example's values.
    public init(policy: Double, reference: Double, desirable: Bool) {
        self.policy = policy
        self.reference = reference
        self.desirable = desirable
    }
}

/// Settings of the KTO loss (TRL's names).
public struct KTOLossConfiguration: Sendable, Codable, Equatable {
    /// beta.
    public var beta: Double = 0.1
    /// Weight of desirable examples.
    public var desirableWeight: Double = 1
    /// Weight of undesirable examples.
    public var undesirableWeight: Double = 1

    /// TRL's defaults.
    public init() {}
}

/// The KTO loss, its gradient w.r.t. each policy sum, and the implicit rewards.
public struct KTOLossResult: Sendable {
    /// Mean loss.
    public var loss: Double
    /// The KL estimate used (after the clamp at zero).
    public var kl: Double
    /// dL/d(policy sum) per example.
    public var dPolicy: [Double]
    /// beta (p - ref) per example.
    public var rewards: [Double]
}

/// KTO (TRL's formulation).
public enum KTOLoss {
    /// The KTO loss of `examples` given the mismatched pairs' policy and reference sums
    /// (`kl`: one `(policy, reference)` per mismatched pair; the estimate carries no gradient).
    /// - Parameter exampleCount: the divisor of the mean (defaults to `examples.count`).
    public static func evaluate(
        _ examples: [KTOLogProbabilities], kl: [(policy: Double, reference: Double)],
        configuration cfg: KTOLossConfiguration, exampleCount: Int? = nil
    ) -> KTOLossResult {
        let n = Double(max(1, exampleCount ?? examples.count))
        let klMean = kl.isEmpty ? 0 : kl.reduce(0) { $0 + ($1.policy - $1.reference) } / Double(kl.count)
        let z0 = max(0, klMean)
        let beta = cfg.beta
        var loss = 0.0, grads = [Double](), rewards = [Double]()
        for e in examples {
            let r = e.policy - e.reference
            if e.desirable {
                let s = Logistic.sigmoid(beta * (r - z0))
                loss += cfg.desirableWeight * (1 - s) / n
                grads.append(-cfg.desirableWeight * beta * s * (1 - s) / n)
            } else {
                let s = Logistic.sigmoid(beta * (z0 - r))
                loss += cfg.undesirableWeight * (1 - s) / n
                grads.append(cfg.undesirableWeight * beta * s * (1 - s) / n)
            }
            rewards.append(beta * r)
        }
        return KTOLossResult(loss: loss, kl: z0, dPolicy: grads, rewards: rewards)
    }
}
