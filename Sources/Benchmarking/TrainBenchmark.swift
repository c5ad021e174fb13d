// TrainBenchmark.swift: one DPO optimiser step on one pair of a given shape, the figure the
// training issue asks for (compare: PyTorch eager, ../shared/peers/torch_dpo_step.py).
//
// Pair tokens count both full sequences, 2 (P + A), as an unpacked trainer processes them; the
// step packs [prompt | chosen | rejected] (P + 2A tokens) and recomputes each block.

import Foundation
import Kernels
import Models
import Training

/// Result of `bench train`.
public struct TrainBenchmarkReport: Codable, Sendable {
    /// Worker threads.
    public var threads: Int
    /// Prompt and answer tokens of the pair.
    public var promptTokens, answerTokens: Int
    /// Whether blocks were recomputed in the backward.
    public var recompute: Bool
    /// 2 (P + A) / seconds of one optimiser step.
    public var pairTokensPerSecond: Double
    /// Seconds of one optimiser step (forward, backward, clip, AdamW).
    public var secondsPerPair: Double
    /// Reference pass (forward only, buffers warm) over the packed pair: packed tokens per second.
    public var referenceTokensPerSecond: Double
    /// The same pass counted as the step is: 2 (P + A) pair tokens per second (what an unpacked
    /// reference pass over `[prompt, chosen]` and `[prompt, rejected]` would have to process).
    public var referencePairTokensPerSecond: Double
    /// Peak resident memory of the process.
    public var peakRSSBytes: Int
    /// Loss of the step (ln 2 + lambda NLL: policy = reference).
    public var loss: Double

    enum CodingKeys: String, CodingKey {
        case threads, recompute, loss
        case promptTokens = "prompt_tokens", answerTokens = "answer_tokens"
        case pairTokensPerSecond = "pair_tokens_per_s", secondsPerPair = "seconds_per_pair"
        case referenceTokensPerSecond = "reference_tokens_per_s", peakRSSBytes = "peak_rss_bytes"
        case referencePairTokensPerSecond = "reference_pair_tokens_per_s"
    }
}

/// The training benchmark.
public enum TrainBenchmark {
    /// Loads `modelPath`, then times a reference pass and one DPO step on random token ids.
    public static func run(modelPath: String, promptTokens P: Int, answerTokens A: Int, threads: Int, recompute: Bool) throws -> TrainBenchmarkReport {
        let weights = try LlamaParameters.load(path: modelPath).parameters
        let model = LlamaTrainingModel(weights: weights, threads: threads, recompute: recompute)
        var rng = SplitMix64(seed: 7)
        let V = UInt64(weights.configuration.vocabularySize)
        func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % V) } }
        let seq = TrainingSequence(prompt: ids(P), answers: [ids(A), ids(A)])
        let batch = PackedBatch([seq])

        // The reference pass, twice: the first call also allocates the buffers a trainer keeps
        // between rows; the second is the steady rate.
        let ref = model.answerLogProbabilities(batch)
        let t0 = Date()
        _ = model.answerLogProbabilities(batch)
        let refSeconds = Date().timeIntervalSince(t0)

        let optimizer = AdamW(architecture: weights.architecture, configuration: AdamWConfiguration())
        let t1 = Date()
        model.gradients.zero()
        var loss = 0.0
        _ = model.forwardBackward(batch) { s in
            let pair = PairLogProbabilities(policyChosen: s[0], policyRejected: s[1], referenceChosen: ref[0], referenceRejected: ref[1], chosenTokens: A, rejectedTokens: A)
            let r = PreferenceLoss.evaluate([pair], configuration: PreferenceLossConfiguration())
            loss = r.loss
            return [r.dPolicyChosen[0], r.dPolicyRejected[0]]
        }
        GradientClipping.clip(model.gradients, maxNorm: 1)
        optimizer.update(weights: weights, gradients: model.gradients, learningRate: 1e-6)
        let seconds = Date().timeIntervalSince(t1)
        return TrainBenchmarkReport(
            threads: threads, promptTokens: P, answerTokens: A, recompute: recompute,
            pairTokensPerSecond: Double(2 * (P + A)) / seconds, secondsPerPair: seconds,
            referenceTokensPerSecond: Double(batch.count) / refSeconds,
            referencePairTokensPerSecond: Double(2 * (P + A)) / refSeconds, peakRSSBytes: ProcessMemory.peakResidentBytes() ?? 0, loss: loss)
    }
}
