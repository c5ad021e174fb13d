// TrainingConfiguration.swift: every setting of a training run (TRL's DPOConfig / KTOConfig
// names where TRL has them), as the CLI builds it and checkpoints record it.

import Foundation
import Formats

/// What is trained.
public enum TrainingObjective: String, Sendable, Codable {
    /// Pairs (prompt/chosen/rejected): DPO sigmoid, cDPO, SPA weights or IPO, plus lambda * CE.
    case dpo
    /// Single completions with a desirable/undesirable label (prompt/completion/label).
    case kto
}

/// The tensor type of the exported GGUF.
public enum GGUFExportType: String, Sendable, Codable, CaseIterable {
    /// 32-bit floats (exact).
    case f32
    /// 16-bit floats.
    case f16
    /// 8-bit blocks of 32 with an F16 scale (llama.cpp Q8_0).
    case q8_0
}

/// A training run's settings.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
    /// DPO or KTO.
    public var objective: TrainingObjective = .dpo
    /// Training data (JSONL).
    public var dataPath: String
    /// The policy to train (llama GGUF or Hugging Face folder).
    public var modelPath: String
    /// The reference model (default: the initial policy).
    public var referencePath: String?
    /// A GGUF whose tokenizer to use when the model is a Hugging Face folder.
    public var tokenizerPath: String?
    /// Output folder.
    public var outputDirectory: String
    /// Pairwise losses.
    public var loss = PreferenceLossConfiguration()
    /// KTO loss.
    public var kto = KTOLossConfiguration()
    /// Optimiser.
    public var optimizer = AdamWConfiguration()
    /// Schedule after warm-up.
    public var scheduler: LearningRateScheduleKind = .linear
    /// Warm-up steps.
    public var warmupSteps = 0
    /// Global gradient-norm clip (0 disables).
    public var maxGradNorm = 1.0
    /// Pairs (or KTO examples) per micro-batch.
    public var batchSize = 16
    /// Micro-batches per optimiser step.
    public var gradientAccumulation = 1
    /// Passes over the data (ignored with ``maxSteps``).
    public var epochs = 1
    /// Optimiser steps to take (overrides ``epochs``).
    public var maxSteps: Int?
    /// Length limits.
    public var limits = LengthLimits()
    /// Share of the data held out for evaluation.
    public var evalFraction = 0.0
    /// A separate evaluation file.
    public var evalDataPath: String?
    /// Evaluate every N steps (nil: at the start and the end only).
    public var evalEvery: Int?
    /// Checkpoint every N steps (nil: at the end only).
    public var saveEvery: Int?
    /// Seed of the shuffle and the held-out split.
    public var seed: UInt64 = 0
    /// Worker threads.
    public var threads = 1
    /// Per-layer recomputation.
    public var recompute = true
    /// Packed tokens per forward/backward (default: max(max_length, the longest pair)).
    public var rowTokens: Int?
    /// GGUF export type (nil: none).
    public var exportGGUF: GGUFExportType? = .f16
    /// Write a Hugging Face folder too.
    public var exportHuggingFace = false

    /// A configuration with the required paths and LongReward's defaults.
    public init(objective: TrainingObjective = .dpo, dataPath: String, modelPath: String, outputDirectory: String) {
        self.objective = objective
        self.dataPath = dataPath
        self.modelPath = modelPath
        self.outputDirectory = outputDirectory
        if objective == .kto { loss.beta = 0.1 }
    }

    /// Examples per optimiser step (batch size x gradient accumulation).
    public var examplesPerStep: Int { batchSize * gradientAccumulation }

    /// Checks values that cannot work.
    /// - Throws: ``TrainingError/invalidOption(_:)``.
    public func validate() throws {
        func need(_ ok: Bool, _ what: String) throws { if !ok { throw TrainingError.invalidOption(what) } }
        try need(loss.beta > 0, "--beta must be > 0")
        try need((0..<0.5).contains(loss.labelSmoothing), "--label-smoothing must be in [0, 0.5)")
        try need(loss.ceWeight >= 0, "--ce-weight must be >= 0")
        try need(optimizer.learningRate >= 0, "--learning-rate must be >= 0")
        try need(optimizer.weightDecay >= 0, "--weight-decay must be >= 0")
        try need(batchSize >= 1, "--batch-size must be >= 1")
        try need(gradientAccumulation >= 1, "--grad-accum must be >= 1")
        try need(epochs >= 1, "--epochs must be >= 1")
        try need((maxSteps ?? 1) >= 1, "--max-steps must be >= 1")
        try need(warmupSteps >= 0, "--warmup-steps must be >= 0")
        try need(limits.maxLength >= 2, "--max-length must be >= 2")
        try need(limits.maxPromptLength >= 1 && limits.maxPromptLength < limits.maxLength, "--max-prompt-length must be in 1..<max-length")
        try need((0..<1).contains(evalFraction), "--eval-fraction must be in [0, 1)")
        try need(!(evalFraction > 0 && evalDataPath != nil), "give --eval-fraction or --eval-data, not both")
        try need((evalEvery ?? 1) >= 1 && (saveEvery ?? 1) >= 1, "--eval-every and --save-every must be >= 1")
        try need(threads >= 1, "--threads must be >= 1")
        try need(kto.desirableWeight > 0 && kto.undesirableWeight > 0, "--desirable-weight and --undesirable-weight must be > 0")
    }

    /// The settings that change the trained weights (not threads, logging, saving or exports):
    /// a checkpoint resumes only under the same fingerprint.
    var resumeFingerprint: String {
        struct Key: Encodable {
            var objective: TrainingObjective, loss: PreferenceLossConfiguration, kto: KTOLossConfiguration
            var optimizer: AdamWConfiguration, scheduler: LearningRateScheduleKind, warmupSteps: Int, maxGradNorm: Double
            var batchSize: Int, gradientAccumulation: Int, epochs: Int, maxSteps: Int?, limits: LengthLimits
            var evalFraction: Double, seed: UInt64, rowTokens: Int?
        }
        let key = Key(objective: objective, loss: loss, kto: kto, optimizer: optimizer, scheduler: scheduler, warmupSteps: warmupSteps,
                      maxGradNorm: maxGradNorm, batchSize: batchSize, gradientAccumulation: gradientAccumulation, epochs: epochs,
                      maxSteps: maxSteps, limits: limits, evalFraction: evalFraction, seed: seed, rowTokens: rowTokens)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return SHA256.hex(Array((try? e.encode(key)) ?? Data()))
    }
}
