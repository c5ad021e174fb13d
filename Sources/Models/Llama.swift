// Llama.swift: the Llama decoder (inference): prefill, KV cache, decode steps, logits and
// log-probabilities of given tokens.
// Port of the Llama architecture as llama.cpp's `llm_build_llama` and Hugging Face's
// `LlamaForCausalLM` define it (pre-norm RMSNorm blocks, RoPE, grouped-query attention, SwiGLU
// MLP, optional tied LM head); written from those descriptions, no code copied.
//
// Per layer, for the N new tokens x: [N, C]:
//   h = RMSNorm(x) ; q = h Wq^T, k = h Wk^T, v = h Wv^T ; RoPE(q, k) ; cache k, v
//   x += Attention(q, cache) Wo^T
//   h = RMSNorm(x) ; x += (SiLU(h Wg^T) * (h Wu^T)) Wd^T
// then RMSNorm(x) and the LM head (the token embedding when tied).
// Names: N new tokens, P cached positions before them, C hidden, F FFN width, H / Hkv heads,
// D head dim, V vocabulary.

import Kernels

/// Hyper-parameters of a Llama-family decoder.
public struct LlamaConfiguration: Sendable, Equatable {
    /// Transformer blocks.
    public var layerCount: Int
    /// Hidden size `C`.
    public var hiddenSize: Int
    /// FFN width `F`.
    public var intermediateSize: Int
    /// Query heads `H`.
    public var headCount: Int
    /// Key/value heads `Hkv`.
    public var kvHeadCount: Int
    /// Vocabulary size `V`.
    public var vocabularySize: Int
    /// Longest context the model was trained for.
    public var contextLength: Int
    /// RoPE base (theta).
    public var ropeBase: Double
    /// RMSNorm epsilon.
    public var rmsNormEpsilon: Float
    /// Which head-dimension elements RoPE pairs: adjacent for GGUF llama weights (the converter
    /// permuted Q/K rows), halves for Hugging Face checkpoints.
    public var ropeConvention: RoPE.Convention

    /// Head dimension `D = C / H`.
    public var headDim: Int { hiddenSize / headCount }

    /// Creates a configuration.
    public init(
        layerCount: Int, hiddenSize: Int, intermediateSize: Int, headCount: Int, kvHeadCount: Int,
        vocabularySize: Int, contextLength: Int, ropeBase: Double, rmsNormEpsilon: Float,
        ropeConvention: RoPE.Convention
    ) {
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.ropeBase = ropeBase
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeConvention = ropeConvention
    }
}

/// Weights of one transformer block.
public struct LlamaLayerWeights: Sendable {
    /// Pre-attention RMSNorm weight `[C]`.
    public var attentionNorm: FloatBuffer
    /// Q, K and V projections stacked, `[(H + 2 Hkv) * D, C]` (rows: q, then k, then v), so a
    /// step runs one product over them.
    public var queryKeyValue: QuantizedMatrix
    /// Output projection `[C, H*D]`.
    public var output: QuantizedMatrix
    /// Pre-FFN RMSNorm weight `[C]`.
    public var ffnNorm: FloatBuffer
    /// FFN gate and up projections stacked, `[2F, C]` (rows: gate, then up).
    public var gateUp: QuantizedMatrix
    /// FFN down projection `[C, F]`.
    public var down: QuantizedMatrix

    /// Creates a block's weights from the separate projections (`query [H*D, C]`,
    /// `key`/`value [Hkv*D, C]`, `gate`/`up [F, C]`), which are stacked into
    /// ``queryKeyValue`` and ``gateUp`` (the parts are not kept).
    public init(
        attentionNorm: FloatBuffer, query: QuantizedMatrix, key: QuantizedMatrix, value: QuantizedMatrix,
        output: QuantizedMatrix, ffnNorm: FloatBuffer, gate: QuantizedMatrix, up: QuantizedMatrix, down: QuantizedMatrix
    ) {
        self.attentionNorm = attentionNorm
        queryKeyValue = QuantizedMatrix(concatenating: [query, key, value])
        self.output = output
        self.ffnNorm = ffnNorm
        gateUp = QuantizedMatrix(concatenating: [gate, up])
        self.down = down
    }
}

/// How a KV cache stores keys and values.
public enum KVCachePrecision: String, Sendable, CaseIterable, Codable {
    /// Float32 rows: exact (the default).
    case float32 = "f32"
    /// 8-bit rows with one scale per position and KV head (llama.cpp's q8_0 cache idea, with
    /// one block per head): a quarter of the memory, and of the bytes each decode step reads.
    /// Keys, values and a decode step's queries are rounded to 8 bits (relative error at most
    /// 1/254 of the head's largest value per element).
    case int8 = "q8"
}

/// A key/value cache for one sequence: per layer `K, V: [capacity, Hkv, D]`, as Float32 or as
/// 8-bit rows with scales `[Hkv, capacity]` (see ``KVCachePrecision``).
public final class KVCache: @unchecked Sendable {
    /// Positions the cache can hold.
    public let capacity: Int
    /// Positions filled so far.
    public internal(set) var count = 0
    /// How keys and values are stored.
    public let precision: KVCachePrecision
    let keys: [FloatBuffer]
    let values: [FloatBuffer]
    let keys8: [Int8Buffer]
    let values8: [Int8Buffer]
    let keyScales: [FloatBuffer]
    let valueScales: [FloatBuffer]
    let rowWidth: Int
    let kvHeads: Int
    let headDim: Int

    /// Allocates a cache for `capacity` positions of a model with `configuration`.
    public init(configuration c: LlamaConfiguration, capacity: Int, precision: KVCachePrecision = .float32) {
        precondition(capacity >= 1, "KVCache: capacity must be positive")
        self.capacity = capacity
        self.precision = precision
        (kvHeads, headDim) = (c.kvHeadCount, c.headDim)
        rowWidth = c.kvHeadCount * c.headDim
        let (floats, bytes, scales) = precision == .float32 ? (capacity * rowWidth, 0, 0) : (0, capacity * rowWidth, capacity * c.kvHeadCount)
        keys = (0..<c.layerCount).map { _ in FloatBuffer(count: floats) }
        values = (0..<c.layerCount).map { _ in FloatBuffer(count: floats) }
        keys8 = (0..<c.layerCount).map { _ in Int8Buffer(count: bytes) }
        values8 = (0..<c.layerCount).map { _ in Int8Buffer(count: bytes) }
        keyScales = (0..<c.layerCount).map { _ in FloatBuffer(count: scales) }
        valueScales = (0..<c.layerCount).map { _ in FloatBuffer(count: scales) }
    }

    /// Bytes held for keys and values (all layers).
    public var byteCount: Int {
        keys.count * 2 * (precision == .float32 ? capacity * rowWidth * 4 : capacity * (rowWidth + 4 * kvHeads))
    }

    /// The cache this one's first positions were copied from, and how many (see
    /// ``copyPrefix(from:count:)``).
    public private(set) var prefixSource: (cache: KVCache, count: Int)?

    /// Forgets positions from `position` on (they will be overwritten).
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= count, "KVCache.truncate: \(position) outside 0...\(count)")
        count = position
        if let p = prefixSource, p.count > position { prefixSource = position > 0 ? (p.cache, position) : nil }
    }

    /// Copies the first `count` positions of `other` (a shared prompt prefix) into this cache
    /// and remembers `other`: sequences that decode together and copied one source read its
    /// whole chunks once for all of them (`Attention.decode(sequences:...)`). The source's first
    /// `count` positions must not change while this cache is in use (a `PrefixCache` entry, or a
    /// prompt's cache that only grows).
    public func copyPrefix(from other: KVCache, count n: Int) {
        precondition(n <= other.count && n <= capacity && rowWidth == other.rowWidth && precision == other.precision, "KVCache.copyPrefix: \(n) positions do not fit")
        prefixSource = n > 0 ? (other, n) : nil
        for l in keys.indices {
            switch precision {
            case .float32:
                keys[l].pointer.update(from: other.keys[l].pointer, count: n * rowWidth)
                values[l].pointer.update(from: other.values[l].pointer, count: n * rowWidth)
            case .int8:
                keys8[l].pointer.update(from: other.keys8[l].pointer, count: n * rowWidth)
                values8[l].pointer.update(from: other.values8[l].pointer, count: n * rowWidth)
                for g in 0..<kvHeads {
                    (keyScales[l].pointer + g * capacity).update(from: other.keyScales[l].pointer + g * other.capacity, count: n)
                    (valueScales[l].pointer + g * capacity).update(from: other.valueScales[l].pointer + g * other.capacity, count: n)
                }
            }
        }
        count = n
    }

    /// Writes `n` rows of keys and values `[n, Hkv, D]` of layer `l` at `position`.
    func store(layer l: Int, position p: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, count n: Int) {
        switch precision {
        case .float32:
            (keys[l].pointer + p * rowWidth).update(from: k, count: n * rowWidth)
            (values[l].pointer + p * rowWidth).update(from: v, count: n * rowWidth)
        case .int8:
            CacheQuantization.quantize(k, ldx: rowWidth, rows: n, heads: kvHeads, headDim: headDim, into: keys8[l].pointer + p * rowWidth, ldq: rowWidth, scales: keyScales[l].pointer + p, scaleStride: capacity)
            CacheQuantization.quantize(v, ldx: rowWidth, rows: n, heads: kvHeads, headDim: headDim, into: values8[l].pointer + p * rowWidth, ldq: rowWidth, scales: valueScales[l].pointer + p, scaleStride: capacity)
        }
    }

    /// Layer `l` as decode attention reads it.
    func decodeView(layer l: Int) -> Attention.DecodeCache {
        switch precision {
        case .float32: return .float32(keys: keys[l].pointer, values: values[l].pointer)
        case .int8:
            return .int8(keys: keys8[l].pointer, keyScales: keyScales[l].pointer, values: values8[l].pointer, valueScales: valueScales[l].pointer, scaleStride: capacity)
        }
    }

    /// Float32 keys and values `[n, Hkv, D]` of positions `0..<n` of layer `l`: the cache's own
    /// storage, or (8-bit cache) rows widened into `scratch` (each at least `n * rowWidth`).
    func floatRows(layer l: Int, count n: Int, scratch: (FloatBuffer, FloatBuffer)) -> (UnsafePointer<Float>, UnsafePointer<Float>) {
        switch precision {
        case .float32: return (UnsafePointer(keys[l].pointer), UnsafePointer(values[l].pointer))
        case .int8:
            CacheQuantization.dequantize(keys8[l].pointer, ldq: rowWidth, scales: keyScales[l].pointer, scaleStride: capacity, rows: n, heads: kvHeads, headDim: headDim, into: scratch.0.pointer, ldx: rowWidth)
            CacheQuantization.dequantize(values8[l].pointer, ldq: rowWidth, scales: valueScales[l].pointer, scaleStride: capacity, rows: n, heads: kvHeads, headDim: headDim, into: scratch.1.pointer, ldx: rowWidth)
            return (UnsafePointer(scratch.0.pointer), UnsafePointer(scratch.1.pointer))
        }
    }
}

/// A Llama decoder ready for inference.
public final class LlamaModel: @unchecked Sendable {
    /// Hyper-parameters.
    public let configuration: LlamaConfiguration
    /// Token embedding `[V, C]`.
    public let tokenEmbedding: QuantizedMatrix
    /// Blocks.
    public let layers: [LlamaLayerWeights]
    /// Final RMSNorm weight `[C]`.
    public let outputNorm: FloatBuffer
    /// LM head `[V, C]` (the token embedding when tied).
    public let outputHead: QuantizedMatrix
    /// Worker threads for matrix products and attention.
    public var threads: Int
    /// Activations of short products (decode steps, chunks of at most 16 tokens): `.q8` (the
    /// default) runs the integer kernels on 8-bit activations, as llama.cpp does; `.float32`
    /// keeps every product exact (slow decoding; for comparisons with float references).
    /// Longer products (prefill) are exact either way.
    public var decodeActivations: ActivationPrecision = .q8
    /// Storage of the caches ``makeCache(capacity:)`` creates: `.float32` (the default, exact)
    /// or `.int8` (a quarter of the memory and of a decode step's cache reads; see
    /// ``KVCachePrecision``).
    public var kvCachePrecision: KVCachePrecision = .float32
    /// When set, forward passes add their wall time to it part by part (`bench model --profile`).
    public var profile: ForwardProfile?
    let rope: RoPE.Table

    /// Assembles a model from its weights. Shapes are checked (programmer errors).
    public init(
        configuration c: LlamaConfiguration, tokenEmbedding: QuantizedMatrix, layers: [LlamaLayerWeights],
        outputNorm: FloatBuffer, outputHead: QuantizedMatrix?, threads: Int = 1
    ) {
        let (C, D) = (c.hiddenSize, c.headDim)
        precondition(layers.count == c.layerCount, "LlamaModel: \(layers.count) layers, configuration says \(c.layerCount)")
        precondition(tokenEmbedding.rows == c.vocabularySize && tokenEmbedding.cols == C, "LlamaModel: token embedding [\(tokenEmbedding.rows), \(tokenEmbedding.cols)] vs [V=\(c.vocabularySize), C=\(C)]")
        for (i, l) in layers.enumerated() {
            precondition(l.queryKeyValue.rows == (c.headCount + 2 * c.kvHeadCount) * D && l.queryKeyValue.cols == C, "LlamaModel: layer \(i) q/k/v shape")
            precondition(l.output.rows == C && l.gateUp.rows == 2 * c.intermediateSize && l.down.cols == c.intermediateSize, "LlamaModel: layer \(i) shapes")
        }
        configuration = c
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.outputHead = outputHead ?? tokenEmbedding
        self.threads = threads
        rope = RoPE.Table(maxPositions: c.contextLength, headDim: D, base: c.ropeBase)
    }

    /// A fresh cache sized for `capacity` positions (at most the context length).
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(configuration: configuration, capacity: min(capacity, configuration.contextLength), precision: kvCachePrecision)
    }

    // MARK: - Forward

    /// Runs `tokens` through the decoder after the positions already in `cache`, appends their
    /// keys and values to it, and returns the final-normed hidden states `[N, C]`.
    /// - Precondition: `cache.count + tokens.count <= cache.capacity`; every id is in `0..<V`.
    /// `activations` overrides ``decodeActivations`` for this call.
    public func forward(tokens: [Int32], cache: KVCache, activations: ActivationPrecision? = nil) -> FloatBuffer {
        forward(batch: [tokens], caches: [cache], activations: activations)[0]
    }

    /// Several sequences at once: each `batch[s]` continues `caches[s]`. Matrix products run on
    /// all new tokens together; attention runs per sequence (the decode path when a sequence
    /// adds few tokens). Returns each sequence's final-normed hidden states `[N_s, C]`.
    /// `activations` overrides ``decodeActivations`` for this call.
    public func forward(batch: [[Int32]], caches: [KVCache], activations: ActivationPrecision? = nil) -> [FloatBuffer] {
        let precision = activations ?? decodeActivations
        precondition(batch.count == caches.count, "LlamaModel.forward: \(batch.count) sequences, \(caches.count) caches")
        let c = configuration
        let (C, F, H, Hkv, D) = (c.hiddenSize, c.intermediateSize, c.headCount, c.kvHeadCount, c.headDim)
        let counts = batch.map(\.count)
        let N = counts.reduce(0, +)
        var starts: [Int] = []  // first row of each sequence in the stacked activations
        var acc = 0
        for n in counts { starts.append(acc); acc += n }
        for (s, cache) in caches.enumerated() {
            precondition(cache.count + counts[s] <= cache.capacity, "LlamaModel.forward: sequence \(s) needs \(cache.count + counts[s]) positions, cache holds \(cache.capacity)")
        }
        if N == 0 { return batch.map { _ in FloatBuffer(count: 0) } }
        let clock = profile
        var mark = clock != nil ? ForwardProfile.now() : 0

        // Embedding lookup (dequantised rows of the token table) and positions.
        let x = FloatBuffer(count: N * C)
        var positions = [Int32](repeating: 0, count: N)
        for (s, tokens) in batch.enumerated() {
            for (i, t) in tokens.enumerated() {
                precondition(t >= 0 && Int(t) < c.vocabularySize, "LlamaModel.forward: token id \(t) outside 0..<\(c.vocabularySize)")
                tokenEmbedding.dequantizeRows(Int(t)..<(Int(t) + 1), into: x.pointer + (starts[s] + i) * C)
                positions[starts[s] + i] = Int32(caches[s].count + i)
            }
        }
        let h = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N)
        let q = FloatBuffer(count: N * H * D), k = FloatBuffer(count: N * Hkv * D), v = FloatBuffer(count: N * Hkv * D)
        let attn = FloatBuffer(count: N * H * D), proj = FloatBuffer(count: N * C)
        let gate = FloatBuffer(count: N * F)
        let (QKV, qkv) = ((H + 2 * Hkv) * D, FloatBuffer(count: N * (H + 2 * Hkv) * D))
        let gateUp = FloatBuffer(count: N * 2 * F)
        let lse = FloatBuffer(count: H * (counts.max() ?? 0))
        // Float32 rows of an 8-bit cache for a prefill's attention (grown on demand).
        var widened = (FloatBuffer(count: 0), FloatBuffer(count: 0))
        // Sequences adding a few tokens decode together; the rest prefill one by one.
        let decoding = caches.indices.filter { counts[$0] > 0 && counts[$0] <= 4 }
        /// The decoding sequences as layer `l`'s attention sees them.
        func decodeSequences(layer l: Int) -> [Attention.DecodeSequence] {
            decoding.map { s in
                let (cache, n, r0) = (caches[s], counts[s], starts[s])
                let shared = cache.prefixSource.map {
                    Attention.SharedPrefix(id: Int(bitPattern: UInt(bitPattern: ObjectIdentifier($0.cache))), source: $0.cache.decodeView(layer: l), count: $0.count)
                }
                return Attention.DecodeSequence(
                    cache: cache.decodeView(layer: l), keyLength: cache.count + n, queryLength: n,
                    q: q.pointer + r0 * H * D, out: attn.pointer + r0 * H * D, shared: shared)
            }
        }
        // A batched decode step's attention streams every sequence's cache rows from memory,
        // which it cannot overlap with its own arithmetic; the products before it (compute-bound
        // with many rows) prefetch them instead: each layer's products and the next layer's qkv
        // product are fed the next layer's rows (see PrefetchFeed).
        // The decode step's shape (chunks, sharing, tasks) is the same in every layer: planned once.
        let plan = decoding.isEmpty ? nil : Attention.decodePlan(sequences: decodeSequences(layer: 0), heads: H, kvHeads: Hkv)
        let feed = N > 4 && plan != nil ? PrefetchFeed() : nil
        let reads = feed != nil ? plan!.reads : []  // the same positions in every layer
        /// Hands layer `l`'s cache rows that attention will read to `feed`.
        func feedReads(layer l: Int) {
            guard let feed else { return }
            feed.clear()
            for read in reads {
                let cache = caches[decoding[read.sequence]]
                let view = read.fromSharedSource ? cache.prefixSource!.cache.decodeView(layer: l) : cache.decodeView(layer: l)
                Attention.addRows(read.rows, of: view, rowWidth: Hkv * D, to: feed)
            }
        }
        feedReads(layer: 0)

        for (l, w) in layers.enumerated() {
            // Attention block.
            RMSNorm.forward(out: h.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.attentionNorm.pointer, N: N, C: C, epsilon: c.rmsNormEpsilon)
            clock?.lap(.other, &mark)
            // One product for q, k and v: qkv [N, (H + 2 Hkv) D], then split into q, k, v.
            w.queryKeyValue.multiply(x: h.pointer, rows: N, y: qkv.pointer, threads: threads, activations: precision, prefetch: feed)
            clock?.lap(.qkv, &mark)
            for i in 0..<N {
                let src = qkv.pointer + i * QKV
                (q.pointer + i * H * D).update(from: src, count: H * D)
                (k.pointer + i * Hkv * D).update(from: src + H * D, count: Hkv * D)
                (v.pointer + i * Hkv * D).update(from: src + (H + Hkv) * D, count: Hkv * D)
            }
            positions.withUnsafeBufferPointer { pos in
                RoPE.forward(x: q.pointer, positions: pos.baseAddress!, table: rope, N: N, H: H, D: D, convention: c.ropeConvention)
                RoPE.forward(x: k.pointer, positions: pos.baseAddress!, table: rope, N: N, H: Hkv, D: D, convention: c.ropeConvention)
            }
            clock?.lap(.other, &mark)
            // Every sequence's new keys and values go into its cache; sequences adding more
            // than a few tokens prefill here, one by one, and the rest decode together below
            // (one parallel region, shared prompt chunks read once).
            for (s, cache) in caches.enumerated() where counts[s] > 0 {
                let (n, p, r0) = (counts[s], cache.count, starts[s])
                let row = Hkv * D
                cache.store(layer: l, position: p, keys: k.pointer + r0 * row, values: v.pointer + r0 * row, count: n)
                let (qs, os) = (q.pointer + r0 * H * D, attn.pointer + r0 * H * D)
                if n > 4 {
                    let shape = AttentionShape(queryLength: n, keyLength: p + n, heads: H, kvHeads: Hkv, headDim: D)
                    if cache.precision != .float32 && widened.0.count < (p + n) * row {
                        widened = (FloatBuffer(count: (p + n) * row), FloatBuffer(count: (p + n) * row))
                    }
                    let (kf, vf) = cache.floatRows(layer: l, count: p + n, scratch: widened)
                    Attention.forward(out: os, lse: lse.pointer, q: qs, k: kf, v: vf, shape: shape, mask: .causal, threads: threads)
                }
            }
            if let plan { Attention.decode(sequences: decodeSequences(layer: l), plan: plan, heads: H, kvHeads: Hkv, headDim: D, threads: threads) }
            clock?.lap(.attention, &mark)
            if l + 1 < layers.count { feedReads(layer: l + 1) } else { feed?.clear() }
            w.output.multiply(x: attn.pointer, rows: N, y: proj.pointer, threads: threads, activations: precision, prefetch: feed)
            clock?.lap(.output, &mark)
            VectorMath.add(proj.pointer, into: x.pointer, N * C)

            // FFN block.
            RMSNorm.forward(out: h.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.ffnNorm.pointer, N: N, C: C, epsilon: c.rmsNormEpsilon)
            clock?.lap(.other, &mark)
            // One product for gate and up: [N, 2F] (row i: gate_i, then up_i).
            w.gateUp.multiply(x: h.pointer, rows: N, y: gateUp.pointer, threads: threads, activations: precision, prefetch: feed)
            clock?.lap(.gateUp, &mark)
            SwiGLU.forward(out: gate.pointer, gateUp: gateUp.pointer, N: N, F: F, threads: threads)
            clock?.lap(.swiglu, &mark)
            w.down.multiply(x: gate.pointer, rows: N, y: proj.pointer, threads: threads, activations: precision, prefetch: feed)
            clock?.lap(.down, &mark)
            VectorMath.add(proj.pointer, into: x.pointer, N * C)
        }
        for (s, cache) in caches.enumerated() { cache.count += counts[s] }
        RMSNorm.forward(out: h.pointer, rstd: rstd.pointer, x: x.pointer, weight: outputNorm.pointer, N: N, C: C, epsilon: c.rmsNormEpsilon)
        let outputs = (0..<batch.count).map { s in
            let out = FloatBuffer(count: counts[s] * C)
            out.pointer.update(from: h.pointer + starts[s] * C, count: counts[s] * C)
            return out
        }
        clock?.lap(.other, &mark)
        return outputs
    }

    // MARK: - Logits and log-probabilities

    /// Logits `[rows, V]` of hidden states `[rows, C]` (overwrites `out`).
    /// `activations` overrides ``decodeActivations`` for this call.
    public func logits(
        hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, activations: ActivationPrecision? = nil
    ) {
        outputHead.multiply(x: hidden, rows: rows, y: out, threads: threads, activations: activations ?? decodeActivations)
    }

    /// Calls `body(row, logits)` for each row of `hidden: [rows, C]`, computing the logits 64
    /// rows at a time so that `rows x V` floats are never held at once. Exact (Float32
    /// activations) whatever ``decodeActivations`` says: this is the scoring path.
    public func forEachLogitRow(hidden: FloatBuffer, rows: Int, _ body: (Int, UnsafePointer<Float>) -> Void) {
        let (C, V) = (configuration.hiddenSize, configuration.vocabularySize)
        let chunk = 64
        let buf = FloatBuffer(count: min(rows, chunk) * V)
        var r0 = 0
        while r0 < rows {
            let n = min(chunk, rows - r0)
            logits(hidden: hidden.pointer + r0 * C, rows: n, into: buf.pointer, activations: .float32)
            for i in 0..<n { body(r0 + i, buf.pointer + i * V) }
            r0 += n
        }
    }

    /// Final-normed hidden states `[continuation.count, C]` of the rows that predict each
    /// continuation token (one prefill over prompt + continuation).
    public func continuationHidden(prompt: [Int32], continuation: [Int32]) -> FloatBuffer {
        precondition(!prompt.isEmpty, "LlamaModel.continuationHidden: the prompt must not be empty")
        let cache = makeCache(capacity: prompt.count + continuation.count)
        let hidden = forward(tokens: prompt + continuation, cache: cache, activations: .float32)
        let C = configuration.hiddenSize, rows = continuation.count
        let sub = FloatBuffer(count: rows * C)
        if rows > 0 { sub.pointer.update(from: hidden.pointer + (prompt.count - 1) * C, count: rows * C) }
        return sub
    }

    /// Log-probabilities of `continuation` after `prompt` under extrapolated logits
    /// `h = (1 + lambda) h_self - lambda h_reference` (SPA's decoupled noise detection: it
    /// sharpens what the policy learned beyond its reference). Both models must share the
    /// vocabulary. Logits are computed one row at a time, so `V` floats per model are held.
    /// - Returns: per-token log-probabilities (`continuation.count` values); lambda 0 gives
    ///   `logProbabilities(prompt:continuation:)`.
    public func extrapolatedLogProbabilities(
        prompt: [Int32], continuation: [Int32], reference: LlamaModel, lambda: Float
    ) -> [Float] {
        let V = configuration.vocabularySize, C = configuration.hiddenSize, Cr = reference.configuration.hiddenSize
        precondition(V == reference.configuration.vocabularySize, "extrapolation needs one vocabulary")
        if continuation.isEmpty { return [] }
        let mine = continuationHidden(prompt: prompt, continuation: continuation)
        let theirs = reference.continuationHidden(prompt: prompt, continuation: continuation)
        let a = FloatBuffer(count: V), b = FloatBuffer(count: V)
        var out = [Float](repeating: 0, count: continuation.count)
        for i in 0..<continuation.count {
            logits(hidden: mine.pointer + i * C, rows: 1, into: a.pointer, activations: .float32)
            reference.logits(hidden: theirs.pointer + i * Cr, rows: 1, into: b.pointer, activations: .float32)
            for v in 0..<V { a.pointer[v] = (1 + lambda) * a.pointer[v] - lambda * b.pointer[v] }
            out[i] = a.pointer[Int(continuation[i])] - VectorMath.logSumExp(a.pointer, V)
        }
        return out
    }

    /// Log-probabilities of `continuation` after `prompt`: one prefill over both, then
    /// `log p(continuation[i] | prompt, continuation[..<i])` for each token.
    /// - Returns: per-token log-probabilities (`continuation.count` values).
    public func logProbabilities(prompt: [Int32], continuation: [Int32]) -> [Float] {
        precondition(!prompt.isEmpty, "LlamaModel.logProbabilities: the prompt must not be empty")
        if continuation.isEmpty { return [] }
        let cache = makeCache(capacity: prompt.count + continuation.count)
        let hidden = forward(tokens: prompt + continuation, cache: cache, activations: .float32)
        // Rows prompt.count - 1 ..< end - 1 predict the continuation tokens.
        let C = configuration.hiddenSize, V = configuration.vocabularySize
        let rows = continuation.count
        let sub = FloatBuffer(count: rows * C)
        sub.pointer.update(from: hidden.pointer + (prompt.count - 1) * C, count: rows * C)
        var out = [Float](repeating: 0, count: rows)
        forEachLogitRow(hidden: sub, rows: rows) { i, z in
            out[i] = z[Int(continuation[i])] - VectorMath.logSumExp(z, V)
        }
        return out
    }
}
