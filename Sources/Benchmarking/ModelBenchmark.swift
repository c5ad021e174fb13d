// ModelBenchmark.swift: decoder prefill/decode throughput and encoder sentences/s, the figures
// the models issue asks for (compare: llama.cpp pp512 / tg128, sentence-transformers batch 32).

import Foundation
import Kernels
import Models

/// Result of `bench model`: `{"threads", "prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_bytes",
/// "prompt_tokens", "decode_tokens", "runs", "batched_decode"}`.
public struct ModelBenchmarkReport: Codable, Sendable {
    /// Worker threads.
    public var threads: Int
    /// Prompt tokens processed per second (one 512-token prefill, best of ``runs``).
    public var prefillTokensPerSecond: Double
    /// Tokens generated per second (128 greedy decode steps after the prefill, best of ``runs``).
    public var decodeTokensPerSecond: Double
    /// Peak resident memory of the process, bytes.
    public var peakRSSBytes: Int
    /// Prompt length used.
    public var promptTokens: Int
    /// Decode steps timed.
    public var decodeTokens: Int
    /// Rounds timed; every figure is the best of its rounds.
    public var runs: Int
    /// Batched decode: per batch size, tokens generated per second summed over the batch.
    public var batchedDecode: [BatchedDecodeFigure]

    enum CodingKeys: String, CodingKey {
        case threads
        case prefillTokensPerSecond = "prefill_tokens_per_s"
        case decodeTokensPerSecond = "decode_tokens_per_s"
        case peakRSSBytes = "peak_rss_bytes"
        case promptTokens = "prompt_tokens"
        case decodeTokens = "decode_tokens"
        case runs
        case batchedDecode = "batched_decode"
    }
}

/// Decode of `batch` sequences stepping together: `{"batch", "tokens_per_s", "speedup"}`.
public struct BatchedDecodeFigure: Codable, Sendable {
    /// Sequences decoded together.
    public var batch: Int
    /// Tokens generated per second, summed over the batch.
    public var tokensPerSecond: Double
    /// `tokensPerSecond` over single-sequence decode in the same run.
    public var speedup: Double
    /// With `profile`: milliseconds per step by part (``ForwardProfile/Part`` raw values).
    public var millisecondsPerStep: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case batch
        case tokensPerSecond = "tokens_per_s"
        case speedup
        case millisecondsPerStep = "ms_per_step"
    }
}

/// Result of `bench embed`: `{"threads", "sentences_per_s", "peak_rss_bytes"}`.
public struct EmbedBenchmarkReport: Codable, Sendable {
    /// Worker threads.
    public var threads: Int
    /// Texts embedded per second.
    public var sentencesPerSecond: Double
    /// Peak resident memory of the process, bytes.
    public var peakRSSBytes: Int
    /// Texts per run.
    public var texts: Int
    /// Mean tokens per text.
    public var meanTokens: Double

    enum CodingKeys: String, CodingKey {
        case threads
        case sentencesPerSecond = "sentences_per_s"
        case peakRSSBytes = "peak_rss_bytes"
        case texts
        case meanTokens = "mean_tokens"
    }
}

/// Model throughput measurements.
public enum ModelBenchmark {
    /// Prefill of `promptTokens` tokens and `decodeTokens` greedy steps after it, each the best
    /// of `runs`. The prompt is deterministic filler text cut to exactly `promptTokens` ids.
    /// With `batches`, also decodes `decodeTokens` steps of that many sequences at once (each
    /// continuing its own copy of the prompt's cache) and reports tokens/s summed over the batch;
    /// with `profile`, also where a batched step's time goes (``ForwardProfile``, from the best
    /// run). Decode runs in rounds: each round times one sequence, then every batch size, so a
    /// host that slows for a while slows every figure of a round alike, and the best round of
    /// each figure is kept (the ratio of batched to single decode is what the figures compare).
    public static func decoder(
        _ lm: LanguageModel, threads: Int, promptTokens: Int = 512, decodeTokens: Int = 128, batches: [Int] = [], runs: Int = 3,
        profile: Bool = false
    ) -> ModelBenchmarkReport {
        lm.threads = threads
        let m = lm.model
        var ids = lm.tokenizer.encode(fillerText(words: promptTokens * 2))
        ids = Array(ids.prefix(promptTokens))
        let rounds = max(1, runs)
        var prefill = Double.infinity
        for _ in 0..<rounds {
            let cache = m.makeCache(capacity: promptTokens)
            prefill = min(prefill, Measure.seconds { _ = m.forward(tokens: ids, cache: cache) })
        }
        let V = m.configuration.vocabularySize, C = m.configuration.hiddenSize
        let prompt = m.makeCache(capacity: promptTokens)
        let h = m.forward(tokens: ids, cache: prompt)
        let z = FloatBuffer(count: V)
        m.logits(hidden: h.pointer + (promptTokens - 1) * C, rows: 1, into: z.pointer)
        let first = Sampler.argmax(z.pointer, count: V)

        // Decode: feed the argmax back for decodeTokens steps after the prompt.
        func decodeOne() -> Double {
            let cache = m.makeCache(capacity: promptTokens + decodeTokens + 1)
            cache.copyPrefix(from: prompt, count: promptTokens)
            var next = first
            return Measure.seconds {
                for _ in 0..<decodeTokens {
                    let hh = m.forward(tokens: [next], cache: cache)
                    m.logits(hidden: hh.pointer, rows: 1, into: z.pointer)
                    next = Sampler.argmax(z.pointer, count: V)
                }
            }
        }
        // Batched decode: B copies of the prompt's cache, B argmax streams stepping together.
        func decodeBatch(_ B: Int, _ parts: ForwardProfile?) -> Double {
            let caches = (0..<B).map { _ in m.makeCache(capacity: promptTokens + decodeTokens + 1) }
            for c in caches { c.copyPrefix(from: prompt, count: promptTokens) }
            let zs = FloatBuffer(count: B * V), hs = FloatBuffer(count: B * C)
            var tokens = (0..<B).map { b in Int32((Int(first) + b) % V) }  // distinct streams
            m.profile = parts
            defer { m.profile = nil }
            func timed(_ part: ForwardProfile.Part, _ body: () -> Void) {
                if let parts { parts.time(part, body) } else { body() }
            }
            return Measure.seconds {
                for _ in 0..<decodeTokens {
                    let out = m.forward(batch: tokens.map { [$0] }, caches: caches)
                    for b in 0..<B { (hs.pointer + b * C).update(from: out[b].pointer, count: C) }
                    timed(.lmHead) { m.logits(hidden: hs.pointer, rows: B, into: zs.pointer) }
                    timed(.sampling) { for b in 0..<B { tokens[b] = Sampler.argmax(zs.pointer + b * V, count: V) } }
                }
            }
        }
        let sizes = batches.filter { $0 >= 1 }
        var decode = Double.infinity
        var best = [Double](repeating: .infinity, count: sizes.count)
        var bestParts = [ForwardProfile?](repeating: nil, count: sizes.count)
        for _ in 0..<rounds {
            decode = min(decode, decodeOne())
            for (i, B) in sizes.enumerated() {
                let parts = profile ? ForwardProfile() : nil
                let seconds = decodeBatch(B, parts)
                if seconds < best[i] { (best[i], bestParts[i]) = (seconds, parts) }
            }
        }
        let single = Double(decodeTokens) / decode
        let figures = sizes.enumerated().map { i, B in
            let rate = Double(B * decodeTokens) / best[i]
            let ms = bestParts[i].map { p in
                Dictionary(uniqueKeysWithValues: p.seconds.map { ($0.key.rawValue, $0.value * 1000 / Double(decodeTokens)) })
            }
            return BatchedDecodeFigure(batch: B, tokensPerSecond: rate, speedup: rate / single, millisecondsPerStep: ms)
        }
        return ModelBenchmarkReport(
            threads: threads, prefillTokensPerSecond: Double(promptTokens) / prefill,
            decodeTokensPerSecond: single, peakRSSBytes: ProcessMemory.peakResidentBytes() ?? 0,
            promptTokens: promptTokens, decodeTokens: decodeTokens, runs: rounds, batchedDecode: figures)
    }

    /// `texts` texts of about `words` words each, embedded in batches of `batchSize` (best of `runs`).
    public static func encoder(_ enc: BERTEncoder, threads: Int, texts: Int = 512, words: Int = 200, batchSize: Int = 32, runs: Int = 2) -> EmbedBenchmarkReport {
        enc.threads = threads
        let corpus = (0..<texts).map { fillerText(words: words, seed: UInt64($0) + 1) }
        let ids = corpus.map { enc.tokenizer.encode($0) }
        var best = Double.infinity
        for _ in 0..<runs { best = min(best, Measure.seconds { _ = enc.embed(tokenIDs: ids, batchSize: batchSize) }) }
        return EmbedBenchmarkReport(
            threads: threads, sentencesPerSecond: Double(texts) / best, peakRSSBytes: ProcessMemory.peakResidentBytes() ?? 0,
            texts: texts, meanTokens: Double(ids.map(\.count).reduce(0, +)) / Double(texts))
    }

    /// Deterministic English-like filler: `words` words drawn from a fixed list with a seeded
    /// generator, with sentence breaks.
    public static func fillerText(words: Int, seed: UInt64 = 1) -> String {
        var rng = SplitMix64(seed: seed)
        var out: [String] = []
        out.reserveCapacity(words)
        for i in 0..<words {
            var w = fillerWords[Int(rng.next() % UInt64(fillerWords.count))]
            if i % 12 == 11 { w += "." }
            out.append(w)
        }
        return out.joined(separator: " ")
    }

    static let fillerWords = """
        the report describes how the committee reviewed annual budget figures for regional water \
        projects including pipeline maintenance staffing costs and new monitoring stations across \
        northern districts while engineers measured pressure losses during winter storms and \
        recommended replacing older valves before the next inspection cycle in march members also \
        discussed training schedules supplier contracts emergency response times and a proposal to \
        publish quarterly data on consumption per household with clear charts and simple summaries
        """.split(separator: " ").map(String.init)
}
