// AdamW.swift: the optimiser, gradient-norm clipping and learning-rate schedules, with Hugging
// Face Trainer / PyTorch semantics.
//
//   clip:   n = sqrt(sum g^2) over every tensor;  g *= min(1, max_norm / (n + 1e-6))
//   AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW), step t = 1, 2, ...:
//     p *= 1 - lr * wd                         (decoupled decay; not on norm weights)
//     m  = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
//     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   schedules (transformers.get_*_schedule_with_warmup), for optimiser step s = 0, 1, ...:
//     s < warmup: lr * s / warmup; then linear: lr * (S - s) / (S - warmup),
//     cosine: lr * (1 + cos(pi (s - warmup) / (S - warmup))) / 2, constant: lr.

import Foundation
import Kernels

/// AdamW hyper-parameters.
public struct AdamWConfiguration: Sendable, Codable, Equatable {
    /// Peak learning rate.
    public var learningRate: Double = 1e-6
    /// Decoupled weight decay.
    public var weightDecay: Double = 0
    /// beta1, beta2.
    public var beta1: Double = 0.9, beta2: Double = 0.999
    /// epsilon.
    public var epsilon: Double = 1e-8

    /// Defaults: LongReward's learning rate, Hugging Face's betas and epsilon.
    public init() {}
}

/// AdamW over ``LlamaParameters`` with its two moments in the same layout.
public final class AdamW: @unchecked Sendable {
    /// Hyper-parameters.
    public var configuration: AdamWConfiguration
    /// First and second moments.
    public let m, v: LlamaParameters
    /// Steps taken.
    public private(set) var step: Int = 0

    /// Zero moments for `architecture`.
    public init(architecture: LlamaArchitecture, configuration: AdamWConfiguration) {
        self.configuration = configuration
        m = LlamaParameters(architecture: architecture)
        v = LlamaParameters(architecture: architecture)
    }

    /// Restores moments and the step count (from a checkpoint).
    public func restore(step: Int) { self.step = step }

    /// One update of `weights` from `gradients` at learning rate `lr`.
    public func update(weights: LlamaParameters, gradients: LlamaParameters, learningRate lr: Double) {
        step += 1
        let cfg = configuration
        let bc1 = 1 - pow(cfg.beta1, Double(step)), bc2 = 1 - pow(cfg.beta2, Double(step))
        let stepSize = Float(lr / bc1)
        let sqrtBc2 = Float(bc2.squareRoot())
        let (b1, b2, eps) = (Float(cfg.beta1), Float(cfg.beta2), Float(cfg.epsilon))
        for e in weights.entries {
            let p = weights.storage.pointer + e.offset, g = gradients.storage.pointer + e.offset
            let mm = m.storage.pointer + e.offset, vv = v.storage.pointer + e.offset
            let decay = e.decays ? Float(1 - lr * cfg.weightDecay) : 1
            for i in 0..<e.count {
                let gi = g[i]
                p[i] *= decay
                mm[i] = b1 * mm[i] + (1 - b1) * gi
                vv[i] = b2 * vv[i] + (1 - b2) * gi * gi
                p[i] -= stepSize * mm[i] / (vv[i].squareRoot() / sqrtBc2 + eps)
            }
        }
    }
}

/// Global gradient-norm clipping.
public enum GradientClipping {
    /// The L2 norm of every gradient together, accumulated in Double.
    public static func norm(_ g: LlamaParameters) -> Double {
        var total = 0.0
        for e in g.entries {
            let p = g.storage.pointer + e.offset
            var s: Float = 0, acc = 0.0
            for i in 0..<e.count {
                s += p[i] * p[i]
                if i & 1023 == 1023 { acc += Double(s); s = 0 }
            }
            total += acc + Double(s)
        }
        return total.squareRoot()
    }

    /// Scales the gradients so their norm is at most `maxNorm` (PyTorch's clip_grad_norm_);
    /// returns the norm before clipping. `maxNorm <= 0` disables clipping.
    @discardableResult
    public static func clip(_ g: LlamaParameters, maxNorm: Double) -> Double {
        let n = norm(g)
        guard maxNorm > 0 else { return n }
        let coef = min(1, maxNorm / (n + 1e-6))
        if coef < 1 { VectorMath.scale(g.storage.pointer, g.storage.count, by: Float(coef)) }
        return n
    }
}

/// The learning-rate schedule kinds (Hugging Face names).
public enum LearningRateScheduleKind: String, Sendable, Codable, CaseIterable {
    /// Linear decay to zero after warm-up.
    case linear
    /// Half-cosine decay to zero after warm-up.
    case cosine
    /// Constant after warm-up.
    case constant
}

/// Warm-up followed by linear, cosine or constant.
public struct LearningRateSchedule: Sendable, Equatable {
    /// Peak learning rate.
    public var peak: Double
    /// Warm-up steps.
    public var warmupSteps: Int
    /// Total optimiser steps.
    public var totalSteps: Int
    /// The kind.
    public var kind: LearningRateScheduleKind

    /// Creates a schedule.
    public init(peak: Double, warmupSteps: Int, totalSteps: Int, kind: LearningRateScheduleKind) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.kind = kind
    }

    /// The learning rate of optimiser step `s` (0-based).
    public func rate(atStep s: Int) -> Double {
        if s < warmupSteps { return peak * Double(s) / Double(max(1, warmupSteps)) }
        let span = Double(max(1, totalSteps - warmupSteps))
        let progress = Double(s - warmupSteps) / span
        switch kind {
        case .constant: return peak
        case .linear: return peak * max(0, 1 - progress)
        case .cosine: return peak * max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
