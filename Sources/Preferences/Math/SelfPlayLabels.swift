// SelfPlayLabels.swift: SPA (spread preference annotation) self-labels from implicit DPO rewards, the
// smoothed SPA loss, and decoupled noise detection by logit extrapolation.

import Foundation

/// Summed log-probabilities of two responses under the policy and the reference model.
public struct ImplicitRewardInput: Sendable, Equatable {
    /// Identifier of the prompt/pair.
    public var id: String
    /// `log pi(y1 | x)`, summed over the tokens of response 1.
    public var policyLogProb1: Double
    /// `log ref(y1 | x)`, summed over the tokens of response 1.
    public var referenceLogProb1: Double
    /// `log pi(y2 | x)`, summed over the tokens of response 2.
    public var policyLogProb2: Double
    /// `log ref(y2 | x)`, summed over the tokens of response 2.
    public var referenceLogProb2: Double

    /// Creates an input.
    public init(
        id: String,
        policyLogProb1: Double,
        referenceLogProb1: Double,
        policyLogProb2: Double,
        referenceLogProb2: Double
    ) {
        self.id = id
        self.policyLogProb1 = policyLogProb1
        self.referenceLogProb1 = referenceLogProb1
        self.policyLogProb2 = policyLogProb2
        self.referenceLogProb2 = referenceLogProb2
    }
}

/// A self-annotated preference between two responses.
public struct SPALabel: Sendable, Equatable {
    /// Identifier of the prompt/pair (from the input).
    public var id: String
    /// Implicit reward of response 1: `beta * (log pi - log ref)`.
    public var reward1: Double
    /// Implicit reward of response 2: `beta * (log pi - log ref)`.
    public var reward2: Double
    /// `true` when response 1 is preferred (`reward1 >= reward2`; a tie prefers the first).
    public var prefersFirst: Bool
    /// `sigmoid(r_chosen - r_rejected) = sigmoid(margin)`, in `[0.5, 1]`.
    public var probability: Double
    /// `|reward1 - reward2|`.
    public var margin: Double
    /// `false` for the low-confidence labels (see `SPALabeler.lowConfidenceFlags`).
    public var confident: Bool
    /// Loss weight of the chosen side: `1 - alpha + alpha * c`, `c = confident ? 1 : 0`.
    public var chosenWeight: Double
    /// Loss weight of the rejected side: `alpha - alpha * c`.
    public var rejectedWeight: Double

    /// Creates a label.
    public init(
        id: String,
        reward1: Double,
        reward2: Double,
        prefersFirst: Bool,
        probability: Double,
        margin: Double,
        confident: Bool,
        chosenWeight: Double,
        rejectedWeight: Double
    ) {
        self.id = id
        self.reward1 = reward1
        self.reward2 = reward2
        self.prefersFirst = prefersFirst
        self.probability = probability
        self.margin = margin
        self.confident = confident
        self.chosenWeight = chosenWeight
        self.rejectedWeight = rejectedWeight
    }
}

/// Options of SPA labelling.
public struct SPAOptions: Sendable, Equatable {
    /// DPO temperature of the implicit reward; 0.1 by default.
    public var beta: Double
    /// Fraction of labels (smallest margins) marked low-confidence, in `[0, 1]`; 0.1 by default.
    public var lowConfidenceFraction: Double
    /// Label-smoothing strength for low-confidence labels, in `[0, 1]`; 0.1 by default.
    public var alpha: Double
    /// `nil`: rank margins over the whole set; `W`: over a running window of the last `W` labels (this one
    /// included, input order). Must be `>= 1` when set.
    public var window: Int?

    /// Creates options with the documented defaults.
    public init(
        beta: Double = 0.1,
        lowConfidenceFraction: Double = 0.1,
        alpha: Double = 0.1,
        window: Int? = nil
    ) {
        self.beta = beta
        self.lowConfidenceFraction = lowConfidenceFraction
        self.alpha = alpha
        self.window = window
    }
}

/// SPA self-labelling and its smoothed loss.
public enum SPALabeler {
    /// Labels each input pair by its implicit rewards `r_i = beta * (policyLogProb_i - referenceLogProb_i)`.
    ///
    /// The preferred response is the argmax (a tie prefers the first and is always low-confidence);
    /// `probability = sigmoid(margin)`; confidence follows `lowConfidenceFlags`; weights use `alpha`.
    /// Output has one label per input, in input order.
    /// Preconditions: `lowConfidenceFraction` and `alpha` in `0...1`, `window >= 1` when set.
    public static func label(_ inputs: [ImplicitRewardInput], options: SPAOptions) -> [SPALabel] {
        precondition((0.0...1.0).contains(options.alpha), "alpha must be in 0...1")
        let rewards = inputs.map { input in
            (options.beta * (input.policyLogProb1 - input.referenceLogProb1),
             options.beta * (input.policyLogProb2 - input.referenceLogProb2))
        }
        let margins = rewards.map { abs($0.0 - $0.1) }
        let lowConfidence = lowConfidenceFlags(
            margins, fraction: options.lowConfidenceFraction, window: options.window)
        let alpha = options.alpha
        return inputs.indices.map { i in
            let confidence = lowConfidence[i] ? 0.0 : 1.0
            return SPALabel(
                id: inputs[i].id,
                reward1: rewards[i].0,
                reward2: rewards[i].1,
                prefersFirst: rewards[i].0 >= rewards[i].1,
                probability: Logistic.sigmoid(margins[i]),
                margin: margins[i],
                confident: !lowConfidence[i],
                chosenWeight: 1 - alpha + alpha * confidence,
                rejectedWeight: alpha - alpha * confidence
            )
        }
    }

    /// Low-confidence flags for a list of margins (input order).
    ///
    /// Rule: for label i, its window is the whole list (`window == nil`) or the last `W` labels ending at i.
    /// With `k = floor(fraction * windowCount)` (plus `1e-9` against rounding), label i is low-confidence
    /// when it is among the `k` smallest margins of its window, margins ordered ascending with ties broken
    /// by input order (earlier first). A zero (or non-finite) margin is always low-confidence. With the whole
    /// set this flags exactly `k` labels plus any further zero margins; a running window holding fewer than
    /// `1 / fraction` labels flags only zero margins.
    /// Preconditions: `fraction` in `0...1`, `window >= 1` when set.
    public static func lowConfidenceFlags(_ margins: [Double], fraction: Double, window: Int?) -> [Bool] {
        precondition((0.0...1.0).contains(fraction), "low-confidence fraction must be in 0...1")
        precondition(window.map { $0 >= 1 } ?? true, "window must be at least 1")
        var flags = margins.map { $0 == 0 || !$0.isFinite }
        if let window {
            for i in margins.indices {
                let start = max(0, i - window + 1)
                let k = flaggedCount(fraction: fraction, count: i - start + 1)
                let rank = (start...i).filter { j in ranksBefore(j, i, margins) }.count
                if rank < k { flags[i] = true }
            }
        } else {
            let k = flaggedCount(fraction: fraction, count: margins.count)
            let ordered = margins.indices.sorted { ranksBefore($0, $1, margins) }
            for i in ordered.prefix(k) { flags[i] = true }
        }
        return flags
    }

    /// The smoothed SPA loss of one pair, `z` = (log-ratio of chosen − log-ratio of rejected) under the
    /// model being trained: `L = -(1 - a + a c) log sigmoid(beta z) - (a - a c) log sigmoid(-beta z)`,
    /// `c = confident ? 1 : 0`, `a = alpha`. Stable for large `|beta z|`; `L(0) = log 2`.
    public static func loss(z: Double, beta: Double, alpha: Double, confident: Bool) -> Double {
        let (chosen, rejected) = weights(alpha: alpha, confident: confident)
        return -chosen * Logistic.logSigmoid(beta * z) - rejected * Logistic.logSigmoid(-beta * z)
    }

    /// Closed-form `dL/dz` of `loss`: `beta * ((a - a c) sigmoid(beta z) - (1 - a + a c) sigmoid(-beta z))`.
    public static func lossDerivative(z: Double, beta: Double, alpha: Double, confident: Bool) -> Double {
        let (chosen, rejected) = weights(alpha: alpha, confident: confident)
        return beta * (rejected * Logistic.sigmoid(beta * z) - chosen * Logistic.sigmoid(-beta * z))
    }

    // MARK: - Internals

    static func weights(alpha: Double, confident: Bool) -> (chosen: Double, rejected: Double) {
        let confidence = confident ? 1.0 : 0.0
        return (1 - alpha + alpha * confidence, alpha - alpha * confidence)
    }

    static func flaggedCount(fraction: Double, count: Int) -> Int {
        Int((fraction * Double(count) + 1e-9).rounded(.down))
    }

    /// `true` when label j sorts strictly before label i (smaller margin, or equal margin and earlier).
    static func ranksBefore(_ j: Int, _ i: Int, _ margins: [Double]) -> Bool {
        margins[j] != margins[i] ? margins[j] < margins[i] : j < i
    }
}

/// Decoupled noise detection: token log-probabilities under logits extrapolated away from the reference.
public enum NoiseExtrapolation {
    /// `log softmax(h)[token]` with `h = (1 + lambda) * policyLogits - lambda * referenceLogits`
    /// (`lambda = 0` is the policy's own log-probability). Both logit vectors have shape `[vocab]`;
    /// computed in `Double` with the maximum subtracted, so large logits do not overflow.
    /// Preconditions: equal non-zero lengths, `token` in range.
    public static func tokenLogProb(
        policyLogits: [Float],
        referenceLogits: [Float],
        token: Int,
        lambda: Double
    ) -> Double {
        precondition(!policyLogits.isEmpty && policyLogits.count == referenceLogits.count,
                     "logit vectors must be non-empty and of equal length")
        precondition(policyLogits.indices.contains(token), "token out of range")
        let logits = zip(policyLogits, referenceLogits).map { policy, reference in
            (1 + lambda) * Double(policy) - lambda * Double(reference)
        }
        let peak = logits.max() ?? 0
        let normaliser = logits.reduce(0) { $0 + exp($1 - peak) }
        return logits[token] - peak - log(normaliser)
    }
}
