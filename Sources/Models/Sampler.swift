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
    ///
    /// With a temperature, candidates are taken in decreasing logit (ties by id): the top-k, or
    /// the whole vocabulary. Their probabilities are the softmax at the temperature, normalised
    /// over every candidate (summed in the order they are listed: by id for the vocabulary, by
    /// rank for the top-k); the nucleus is the shortest prefix of the order whose mass reaches
    /// `topP`, and one uniform draw walks it. Over the whole vocabulary only the head of the
    /// order is sorted: the logits within `temperature * ln(1e7)` of the largest, a few hundred or
    /// thousand of SmolLM2's 49,152. The rest is sorted only when the nucleus or the draw goes
    /// past the head (sorting all 49,152 took as long as a single-sequence decode step).
    /// ``nextReference(_:count:)`` sorts everything; both give the same token for the same
    /// generator state.
    public mutating func next(_ logits: UnsafePointer<Float>, count V: Int) -> Int32 {
        let p = parameters
        if p.temperature <= 0 { return Self.argmax(logits, count: V) }
        if p.topK > 0 && p.topK < V { return draw(Self.topK(logits, count: V, k: p.topK).map(\.id), logits) }
        let (m, weights) = Self.weights(logits, count: V, temperature: p.temperature)
        // NaN weights (a NaN logit, or no finite one): sort everything, as the reference does.
        if weights.contains(where: \.isNaN) { return Int32(draw(order: Self.sortedIDs(logits, 0..<V), weights: weights) { [] }) }
        // {logit >= bound} is a prefix of the full order whatever the exponential's rounding.
        let bound = m - p.temperature * 16.118_095  // ln(1e7): weights below ~1e-7 stay unsorted
        var head = (0..<V).filter { logits[$0] >= bound }
        Self.sortByLogit(&head, logits)
        return Int32(draw(order: head, weights: weights) {
            var rest = (0..<V).filter { !(logits[$0] >= bound) }
            Self.sortByLogit(&rest, logits)
            return rest
        })
    }

    /// ``next(_:count:)`` sorting every candidate (the definition the lazy sort must match).
    public mutating func nextReference(_ logits: UnsafePointer<Float>, count V: Int) -> Int32 {
        let p = parameters
        if p.temperature <= 0 { return Self.argmaxReference(logits, count: V) }
        if p.topK > 0 && p.topK < V { return draw(Self.topK(logits, count: V, k: p.topK).map(\.id), logits) }
        let (_, weights) = Self.weights(logits, count: V, temperature: p.temperature)
        return Int32(draw(order: Self.sortedIDs(logits, 0..<V), weights: weights) { [] })
    }

    /// The largest logit `m` (NaN logits skipped) and exp((logit - m) / temperature) of every id,
    /// as Double.
    static func weights(_ logits: UnsafePointer<Float>, count V: Int, temperature: Float) -> (max: Float, weights: [Double]) {
        var m = -Float.infinity
        for i in 0..<V where logits[i] > m { m = logits[i] }
        return (m, (0..<V).map { Double(VectorMath.exp((logits[$0] - m) / temperature)) })
    }

    /// A draw over candidates already in order (the top-k, most likely first).
    private mutating func draw(_ ids: [Int32], _ logits: UnsafePointer<Float>) -> Int32 {
        let m = logits[Int(ids[0])]
        let weights = ids.map { Double(VectorMath.exp((logits[Int($0)] - m) / parameters.temperature)) }
        return ids[draw(order: Array(weights.indices), weights: weights) { [] }]
    }

    /// The draw over `weights` (normalised by their sum in index order), walking indices in
    /// `order` and then, if it gets there, in the order `rest()` returns (`order` followed by
    /// `rest()` holds every index once). The nucleus: the shortest prefix whose mass reaches
    /// `topP`. Returns an index of `weights`.
    private mutating func draw(order head: [Int], weights: [Double], rest: () -> [Int]) -> Int {
        let total = weights.reduce(0, +)
        var order = head
        var complete = order.count == weights.count
        func extend() {
            if !complete { order += rest(); complete = true }
        }
        var keep = weights.count
        if parameters.topP < 1 {
            var mass = 0.0, i = 0
            search: while true {
                while i < order.count {
                    mass += weights[order[i]] / total
                    if mass >= Double(parameters.topP) { keep = i + 1; break search }
                    i += 1
                }
                if complete { break }
                extend()
            }
        }
        // The nucleus's mass (every probability, in index order, when it is everything).
        let kept = keep == weights.count
            ? weights.reduce(0) { $0 + $1 / total } : order[..<keep].reduce(0) { $0 + weights[$1] / total }
        var u = Double(rng.next() >> 11) / Double(1 << 53) * kept
        var i = 0
        while i < keep {
            if i == order.count { extend() }
            u -= weights[order[i]] / total
            if u < 0 { return order[i] }
            i += 1
        }
        return order[keep - 1]  // the loop extended the order past keep if it had to
    }

    /// Ids of `range` in decreasing logit, ties by id (a stable sort of ascending ids).
    static func sortedIDs(_ logits: UnsafePointer<Float>, _ range: Range<Int>) -> [Int] {
        var ids = Array(range)
        sortByLogit(&ids, logits)
        return ids
    }

    /// Sorts ascending ids by decreasing logit, keeping id order among equal logits.
    static func sortByLogit(_ ids: inout [Int], _ logits: UnsafePointer<Float>) {
        ids.sort { logits[$0] > logits[$1] }
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
