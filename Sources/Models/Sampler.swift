// Sampler.swift: next-token selection from logits: greedy, temperature, top-k, top-p (nucleus),
// with a seeded generator so a (seed, prompt) pair always gives the same text.

import Kernels

/// How to pick tokens.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// Softmax temperature; 0 means greedy (argmax).
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0 = no limit).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches `topP` (1 = no limit).
    public var topP: Float
    /// Seed of the random generator.
    public var seed: UInt64

    /// Creates sampling parameters.
    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters()
}

/// Picks tokens from logits under ``SamplingParameters``.
public struct Sampler: Sendable {
    /// The parameters in use.
    public let parameters: SamplingParameters
    var rng: SplitMix64

    /// Creates a sampler; its generator starts from `parameters.seed`.
    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed)
    }

    /// Index of the largest logit, the first on ties (NaN logits never win, except at index 0,
    /// which wins when it is NaN): the same index as ``argmaxReference(_:count:)``. Two SIMD
    /// passes, the maximum and then its first index: a 49,152-entry vocabulary takes a few
    /// microseconds instead of ~20 (a batch-16 decode step picks 16 tokens).
    public static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        precondition(count >= 1, "Sampler.argmax: no logits")
        if logits[0].isNaN { return 0 }
        let m = VectorMath.max(logits, count)
        var i = 0
        let raw = UnsafeRawPointer(logits)
        while i + 16 <= count {
            if any(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) .== m) { break }
            i += 16
        }
        while i < count && logits[i] != m { i += 1 }
        return i < count ? Int32(i) : argmaxReference(logits, count: count)
    }

    /// The plain scan ``argmax(_:count:)`` equals: the first index whose logit exceeds every
    /// earlier one's.
    public static func argmaxReference(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        var best = 0
        for i in 1..<count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// Chooses the next token from `logits: [V]`.
    public mutating func next(_ logits: UnsafePointer<Float>, count V: Int) -> Int32 {
        let p = parameters
        if p.temperature <= 0 { return Self.argmax(logits, count: V) }
        // Candidates: all tokens, or the top-k by logit.
        var candidates: [(id: Int32, logit: Float)]
        if p.topK > 0 && p.topK < V {
            candidates = Self.topK(logits, count: V, k: p.topK)
        } else {
            candidates = (0..<V).map { (Int32($0), logits[$0]) }
            candidates.sort { $0.logit > $1.logit }
        }
        // Softmax at temperature over the candidates (sorted by decreasing logit).
        let m = candidates[0].logit
        var probs = candidates.map { Double(VectorMath.exp(($0.logit - m) / p.temperature)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        // Nucleus: the shortest prefix whose mass reaches topP.
        var keep = probs.count
        if p.topP < 1 {
            var mass = 0.0
            for i in probs.indices {
                mass += probs[i]
                if mass >= Double(p.topP) { keep = i + 1; break }
            }
        }
        let kept = probs[..<keep].reduce(0, +)
        var u = Double(rng.next() >> 11) / Double(1 << 53) * kept
        for i in 0..<keep {
            u -= probs[i]
            if u < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
    }

    /// The `k` largest logits with their ids, in decreasing order.
    static func topK(_ logits: UnsafePointer<Float>, count V: Int, k: Int) -> [(id: Int32, logit: Float)] {
        // A small sorted buffer: O(V log k) and no allocation per element.
        var best: [(id: Int32, logit: Float)] = []
        best.reserveCapacity(k + 1)
        for i in 0..<V {
            let z = logits[i]
            if best.count == k, z <= best[k - 1].logit { continue }
            var lo = 0, hi = best.count
            while lo < hi { let mid = (lo + hi) / 2; if best[mid].logit >= z { lo = mid + 1 } else { hi = mid } }
            best.insert((Int32(i), z), at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
