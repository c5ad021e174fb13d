// Flash attention forward/backward against the naive reference and finite differences, for
// causal, grouped-query, padded, segment-masked and KV-cache (Nq < Nk) cases.

@testable import Kernels
import TestSupport
import Testing

/// One attention configuration under test.
struct AttentionCase: CustomStringConvertible, Sendable {
    let name: String
    let shape: AttentionShape
    let mask: AttentionMask
    let tiling: AttentionTiling
    var description: String { "\(name) \(shape)" }
}

/// Runs the flash forward and returns (out, lse).
func flashForward(_ q: [Float], _ k: [Float], _ v: [Float], _ c: AttentionCase, threads: Int = 1) -> ([Float], [Float]) {
    let out = FloatBuffer(count: c.shape.queryCount), lse = FloatBuffer(count: c.shape.lseCount)
    Attention.forward(
        out: out.pointer, lse: lse.pointer, q: q, k: k, v: v, shape: c.shape, mask: c.mask,
        tiling: c.tiling, threads: threads)
    return (out.array, lse.array)
}

/// Runs the flash forward + backward with `dout` and returns (dq, dk, dv).
func flashBackward(_ q: [Float], _ k: [Float], _ v: [Float], _ dout: [Float], _ c: AttentionCase, threads: Int = 1) -> ([Float], [Float], [Float]) {
    let (out, lse) = flashForward(q, k, v, c, threads: threads)
    let dq = FloatBuffer(count: c.shape.queryCount)
    let dk = FloatBuffer(count: c.shape.keyCount), dv = FloatBuffer(count: c.shape.keyCount)
    Attention.backward(
        dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout, q: q, k: k, v: v, out: out, lse: lse,
        shape: c.shape, mask: c.mask, tiling: c.tiling, threads: threads)
    return (dq.array, dk.array, dv.array)
}

func inputs(_ s: AttentionShape, seed: UInt64) -> ([Float], [Float], [Float], [Float]) {
    (randomFloats(s.queryCount, seed: seed, scale: 1), randomFloats(s.keyCount, seed: seed + 1, scale: 1),
     randomFloats(s.keyCount, seed: seed + 2, scale: 1), randomFloats(s.queryCount, seed: seed + 3, scale: 1))
}

/// Packed DPO layout: 5 prompt tokens (segment 0), 4 chosen (1), 4 rejected (2).
let packedSegments: [Int32] = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]

/// Small cases whose tiles do not divide the sequence, for finite differences.
let smallCases: [AttentionCase] = [
    AttentionCase(name: "causal-gqa", shape: AttentionShape(batch: 2, queryLength: 7, heads: 4, kvHeads: 2, headDim: 8),
                  mask: .causal, tiling: AttentionTiling(queryRows: 6, keyBlock: 3)),
    AttentionCase(name: "bidirectional-padded", shape: AttentionShape(batch: 2, queryLength: 6, heads: 2, kvHeads: 2, headDim: 8),
                  mask: AttentionMask(causal: false, keyLengths: [6, 4]), tiling: AttentionTiling(queryRows: 4, keyBlock: 4)),
    AttentionCase(name: "segments-packed-dpo", shape: AttentionShape(batch: 1, queryLength: 13, heads: 3, kvHeads: 1, headDim: 8),
                  mask: AttentionMask(causal: true, segments: packedSegments), tiling: AttentionTiling(queryRows: 6, keyBlock: 4)),
    AttentionCase(name: "kv-cache-offset", shape: AttentionShape(batch: 1, queryLength: 3, keyLength: 9, heads: 2, kvHeads: 1, headDim: 8),
                  mask: AttentionMask(causal: true), tiling: AttentionTiling(queryRows: 2, keyBlock: 4)),
]

@Suite struct AttentionTests {
    @Test(arguments: smallCases)
    func forwardMatchesReference(_ c: AttentionCase) {
        let (q, k, v, _) = inputs(c.shape, seed: 11)
        let (out, lse) = flashForward(q, k, v, c)
        let ref = Attention.referenceForward(q: q, k: k, v: v, shape: c.shape, mask: c.mask)
        #expect(relativeError(out, ref.out) < 1e-6, "\(c)")
        #expect(relativeError(lse, ref.lse) < 1e-6, "\(c)")
    }

    /// Finite-difference check of dq, dk, dv through the flash forward (Float32 forward, Double
    /// loss, 4-point stencil, h = 1e-2): truncation error ~h^4 and rounding ~1e-7/h keep the
    /// gradient within ~1e-4 absolute of the analytic one.
    @Test(arguments: smallCases)
    func backwardMatchesFiniteDifferences(_ c: AttentionCase) {
        let (q, k, v, w) = inputs(c.shape, seed: 23)
        let (dq, dk, dv) = flashBackward(q, k, v, w, c)
        let nq = numericalGradient(at: q) { weightedSum(flashForward($0, k, v, c).0, w) }
        let nk = numericalGradient(at: k) { weightedSum(flashForward(q, $0, v, c).0, w) }
        let nv = numericalGradient(at: v) { weightedSum(flashForward(q, k, $0, c).0, w) }
        for (name, a, n) in [("dq", dq, nq), ("dk", dk, nk), ("dv", dv, nv)] {
            let r = compareClose(a, n, rtol: 1e-3, atol: 2e-4)
            #expect(r.ok, "\(c) \(name): \(r)")
        }
    }

    /// Head dim 64, SmolLM2's grouping (9 query heads, 3 KV heads), lengths the tiles do not
    /// divide: flash forward and backward agree with the Double reference to 1e-5 relative.
    @Test(arguments: [(131, AttentionMask.causal), (97, AttentionMask(causal: false, keyLengths: [90]))])
    func largeHeadDimMatchesReference(_ n: Int, _ mask: AttentionMask) {
        let c = AttentionCase(name: "d64", shape: AttentionShape(queryLength: n, heads: 9, kvHeads: 3, headDim: 64),
                              mask: mask, tiling: AttentionTiling(queryRows: 48, keyBlock: 40))
        let (q, k, v, dout) = inputs(c.shape, seed: 5)
        let (out, _) = flashForward(q, k, v, c, threads: 2)
        let ref = Attention.referenceForward(q: q, k: k, v: v, shape: c.shape, mask: c.mask)
        #expect(relativeError(out, ref.out) < 1e-5)
        let (dq, dk, dv) = flashBackward(q, k, v, dout, c, threads: 2)
        let rb = Attention.referenceBackward(dout: dout, q: q, k: k, v: v, shape: c.shape, mask: c.mask)
        #expect(relativeError(dq, rb.dq) < 1e-5)
        #expect(relativeError(dk, rb.dk) < 1e-5)
        #expect(relativeError(dv, rb.dv) < 1e-5)
    }

    /// In a packed [prompt, chosen, rejected] sequence, the rejected answer's outputs equal those
    /// of the unpacked sequence [prompt, rejected]: it never sees the chosen tokens.
    @Test func packedSegmentsEqualSeparateSequences() {
        let (H, Hkv, D) = (3, 1, 16)
        let packed = AttentionShape(queryLength: 13, heads: H, kvHeads: Hkv, headDim: D)
        let c = AttentionCase(name: "packed", shape: packed, mask: AttentionMask(causal: true, segments: packedSegments),
                              tiling: AttentionTiling(queryRows: 6, keyBlock: 4))
        let (q, k, v, _) = inputs(packed, seed: 77)
        let (out, _) = flashForward(q, k, v, c)
        // Unpacked: prompt tokens 0..<5 followed by rejected tokens 9..<13.
        let keep = Array(0..<5) + Array(9..<13)
        func gather(_ x: [Float], _ heads: Int) -> [Float] { keep.flatMap { t in x[(t * heads * D)..<((t + 1) * heads * D)] } }
        let single = AttentionCase(name: "single", shape: AttentionShape(queryLength: 9, heads: H, kvHeads: Hkv, headDim: D),
                                   mask: .causal, tiling: .default)
        let (out2, _) = flashForward(gather(q, H), gather(k, Hkv), gather(v, Hkv), single)
        #expect(relativeError(gather(out, H), out2) < 1e-6)
    }

    /// Results are bitwise identical across runs and thread counts.
    @Test func deterministicAcrossRunsAndThreads() {
        let c = AttentionCase(name: "det", shape: AttentionShape(queryLength: 300, heads: 9, kvHeads: 3, headDim: 64),
                              mask: .causal, tiling: AttentionTiling(queryRows: 48, keyBlock: 32))
        let (q, k, v, dout) = inputs(c.shape, seed: 9)
        let a = flashBackward(q, k, v, dout, c, threads: 2)
        let b = flashBackward(q, k, v, dout, c, threads: 2)
        let one = flashBackward(q, k, v, dout, c, threads: 1)
        #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2)
        #expect(a.0 == one.0 && a.1 == one.1 && a.2 == one.2)
    }

    /// The decode path (SIMD dots, split keys, merged logsumexps) equals the reference.
    @Test(arguments: [1, 3])
    func decodeMatchesReference(_ nq: Int) {
        let shape = AttentionShape(batch: 2, queryLength: nq, keyLength: 1100, heads: 9, kvHeads: 3, headDim: 64)
        let mask = AttentionMask(causal: true, keyLengths: [1100, 700])
        let (q, k, v, _) = inputs(shape, seed: 3)
        let out = FloatBuffer(count: shape.queryCount), lse = FloatBuffer(count: shape.lseCount)
        Attention.decode(out: out.pointer, lse: lse.pointer, q: q, k: k, v: v, shape: shape, mask: mask, threads: 2)
        let ref = Attention.referenceForward(q: q, k: k, v: v, shape: shape, mask: mask)
        #expect(relativeError(out.array, ref.out) < 1e-5)
        #expect(relativeError(lse.array, ref.lse) < 1e-6)
    }

    /// Decode with a head width off the kernels' 32-column tiles, segment masks, a sequence whose
    /// keys are all padding (zeros, -inf lse) and query rows beyond a 3-row tile.
    @Test func decodeOddShapesMatchReference() {
        let shape = AttentionShape(batch: 3, queryLength: 2, keyLength: 530, heads: 8, kvHeads: 2, headDim: 40)
        let segments = (0..<3).flatMap { _ in (0..<530).map { Int32($0 < 200 ? 1 : 2) } }
        let mask = AttentionMask(causal: true, keyLengths: [530, 0, 333], segments: segments)
        let (q, k, v, _) = inputs(shape, seed: 5)
        let out = FloatBuffer(count: shape.queryCount), lse = FloatBuffer(count: shape.lseCount)
        Attention.decode(out: out.pointer, lse: lse.pointer, q: q, k: k, v: v, shape: shape, mask: mask, threads: 2)
        let ref = Attention.referenceForward(q: q, k: k, v: v, shape: shape, mask: mask)
        #expect(relativeError(out.array, ref.out) < 1e-5)
        let finite = (0..<shape.lseCount).filter { ref.lse[$0].isFinite }
        #expect(finite.count < shape.lseCount)  // the padded sequence has no visible key
        #expect(relativeError(finite.map { lse.array[$0] }, finite.map { ref.lse[$0] }) < 1e-6)
        #expect((0..<shape.lseCount).allSatisfy { ref.lse[$0].isFinite || lse.array[$0] == -.infinity })
    }

    /// Decode against an 8-bit cache: the float result over the dequantised keys and values,
    /// up to the rounding of the query rows to 8 bits (measured: 1.3e-3 relative, 1.8e-4 in the
    /// logsumexps), for a padded,
    /// segmented batch and both thread counts (which give identical bits).
    @Test func decodeFromEightBitCacheMatchesDequantisedReference() {
        let shape = AttentionShape(batch: 2, queryLength: 2, keyLength: 530, heads: 9, kvHeads: 3, headDim: 64)
        let segments = (0..<2).flatMap { _ in (0..<530).map { Int32($0 < 200 ? 1 : 2) } }
        let mask = AttentionMask(causal: true, keyLengths: [530, 333], segments: segments)
        let (q, k, v, _) = inputs(shape, seed: 7)
        let (Nk, Hkv, D, stride) = (530, 3, 64, 531)  // scale rows padded past Nk, as in a cache
        var k8 = [Int8](repeating: 0, count: k.count), v8 = k8
        var ks = [Float](repeating: .nan, count: 2 * Hkv * stride), vs = ks
        var kf = [Float](repeating: 0, count: k.count), vf = kf
        for b in 0..<2 {
            let (o, so) = (b * Nk * Hkv * D, b * Hkv * stride)
            CacheQuantization.quantize(k.withUnsafeBufferPointer { $0.baseAddress! + o }, ldx: Hkv * D, rows: Nk, heads: Hkv, headDim: D,
                                       into: k8.withUnsafeMutableBufferPointer { $0.baseAddress! + o }, ldq: Hkv * D,
                                       scales: ks.withUnsafeMutableBufferPointer { $0.baseAddress! + so }, scaleStride: stride)
            CacheQuantization.quantize(v.withUnsafeBufferPointer { $0.baseAddress! + o }, ldx: Hkv * D, rows: Nk, heads: Hkv, headDim: D,
                                       into: v8.withUnsafeMutableBufferPointer { $0.baseAddress! + o }, ldq: Hkv * D,
                                       scales: vs.withUnsafeMutableBufferPointer { $0.baseAddress! + so }, scaleStride: stride)
            CacheQuantization.dequantize(k8.withUnsafeBufferPointer { $0.baseAddress! + o }, ldq: Hkv * D, scales: ks.withUnsafeBufferPointer { $0.baseAddress! + so },
                                         scaleStride: stride, rows: Nk, heads: Hkv, headDim: D, into: kf.withUnsafeMutableBufferPointer { $0.baseAddress! + o }, ldx: Hkv * D)
            CacheQuantization.dequantize(v8.withUnsafeBufferPointer { $0.baseAddress! + o }, ldq: Hkv * D, scales: vs.withUnsafeBufferPointer { $0.baseAddress! + so },
                                         scaleStride: stride, rows: Nk, heads: Hkv, headDim: D, into: vf.withUnsafeMutableBufferPointer { $0.baseAddress! + o }, ldx: Hkv * D)
        }
        let ref = Attention.referenceForward(q: q, k: kf, v: vf, shape: shape, mask: mask)
        var results: [[Float]] = []
        for threads in [1, 2] {
            let out = FloatBuffer(count: shape.queryCount), lse = FloatBuffer(count: shape.lseCount)
            k8.withUnsafeBufferPointer { kp in v8.withUnsafeBufferPointer { vp in ks.withUnsafeBufferPointer { ksp in vs.withUnsafeBufferPointer { vsp in
                Attention.decode(out: out.pointer, lse: lse.pointer, q: q,
                                 cache: .int8(keys: kp.baseAddress!, keyScales: ksp.baseAddress!, values: vp.baseAddress!, valueScales: vsp.baseAddress!, scaleStride: stride),
                                 shape: shape, mask: mask, threads: threads)
            } } } }
            let err = relativeError(out.array, ref.out)
            #expect(err < 5e-3, "relative error \(err)")
            let lseErr = (0..<shape.lseCount).map { abs(Double(lse.array[$0]) - Double(ref.lse[$0])) }.max()!
            #expect(lseErr < 2e-3, "lse error \(lseErr)")
            results.append(out.array)
        }
        #expect(results[0] == results[1])
    }

    /// The batched decode step: sequences that copied one prefix read its whole chunks once for
    /// all of them, and every output is bitwise what a causal per-sequence decode gives, for both
    /// cache storages, one or two new tokens, and one to three threads (the task finishing a
    /// sequence's last chunk merges it); and it is the float64 reference's attention (Float32
    /// cache).
    @Test func batchedDecodeWithSharedPrefixIsBitwisePerSequence() {
        let (H, Hkv, D) = (9, 3, 64)
        let row = Hkv * D
        let prefix = 600  // two whole shared chunks and a partial one
        let keyLengths = [650, 601, 700, 300, 900], queryLengths = [1, 1, 2, 1, 1]
        let sharers: Set<Int> = [0, 1, 2, 4]  // sequence 3 has no prefix of its own
        let source = randomFloats(prefix * row, seed: 21, scale: 1), sourceV = randomFloats(prefix * row, seed: 22, scale: 1)
        for quantized in [false, true] {
            // Per sequence: its own full cache (prefix copied in), queries and outputs.
            let capacity = 1000
            var ks: [[Float]] = [], vs: [[Float]] = []
            for s in keyLengths.indices {
                var k = randomFloats(capacity * row, seed: 30 + UInt64(s), scale: 1), v = randomFloats(capacity * row, seed: 40 + UInt64(s), scale: 1)
                if sharers.contains(s) {
                    for i in 0..<(prefix * row) { k[i] = source[i]; v[i] = sourceV[i] }
                }
                ks.append(k)
                vs.append(v)
            }
            let store = { (x: [Float]) -> (FloatBuffer, Int8Buffer, FloatBuffer) in
                let n = x.count / row
                let f = FloatBuffer(x), q = Int8Buffer(count: x.count), sc = FloatBuffer(count: Hkv * n)
                CacheQuantization.quantize(f.pointer, ldx: row, rows: n, heads: Hkv, headDim: D, into: q.pointer, ldq: row, scales: sc.pointer, scaleStride: n)
                return (f, q, sc)
            }
            let kc = ks.map(store), vc = vs.map(store), srcK = store(source), srcV = store(sourceV)
            func view(_ k: (FloatBuffer, Int8Buffer, FloatBuffer), _ v: (FloatBuffer, Int8Buffer, FloatBuffer)) -> Attention.DecodeCache {
                quantized ? .int8(keys: k.1.pointer, keyScales: k.2.pointer, values: v.1.pointer, valueScales: v.2.pointer, scaleStride: k.2.count / Hkv)
                    : .float32(keys: k.0.pointer, values: v.0.pointer)
            }
            let qs = keyLengths.indices.map { FloatBuffer(randomFloats(queryLengths[$0] * H * D, seed: 50 + UInt64($0), scale: 1)) }
            var outputs: [[[Float]]] = []
            for (sharing, threads) in [(true, 1), (true, 2), (true, 3), (false, 1)] {
                let outs = keyLengths.indices.map { FloatBuffer(count: queryLengths[$0] * H * D) }
                let seqs = keyLengths.indices.map { s in
                    Attention.DecodeSequence(
                        cache: view(kc[s], vc[s]), keyLength: keyLengths[s], queryLength: queryLengths[s], q: qs[s].pointer, out: outs[s].pointer,
                        shared: sharing && sharers.contains(s) ? Attention.SharedPrefix(id: 7, source: view(srcK, srcV), count: prefix) : nil)
                }
                Attention.decode(sequences: seqs, heads: H, kvHeads: Hkv, headDim: D, threads: threads)
                outputs.append(outs.map(\.array))
                if sharing && threads == 2 {
                    // A plan built beforehand (as a model builds one per step for all its layers).
                    let plan = Attention.decodePlan(sequences: seqs, heads: H, kvHeads: Hkv)
                    Attention.decode(sequences: seqs, plan: plan, heads: H, kvHeads: Hkv, headDim: D, threads: threads)
                    outputs.append(outs.map(\.array))
                }
            }
            #expect(outputs.dropFirst().allSatisfy { $0.elementsEqual(outputs[0]) }, "quantized \(quantized)")
            // One at a time through the general decode (causal shape), and the float64 reference.
            for s in keyLengths.indices {
                let shape = AttentionShape(queryLength: queryLengths[s], keyLength: keyLengths[s], heads: H, kvHeads: Hkv, headDim: D)
                let out = FloatBuffer(count: shape.queryCount), lse = FloatBuffer(count: shape.lseCount)
                Attention.decode(out: out.pointer, lse: lse.pointer, q: qs[s].pointer, cache: view(kc[s], vc[s]), shape: shape, mask: .causal)
                #expect(out.array.elementsEqual(outputs[0][s]), "sequence \(s), quantized \(quantized)")
                if !quantized {
                    let ref = Attention.referenceForward(q: qs[s].array, k: Array(ks[s].prefix(keyLengths[s] * row)), v: Array(vs[s].prefix(keyLengths[s] * row)), shape: shape, mask: .causal)
                    #expect(relativeError(outputs[0][s], ref.out) < 1e-5)
                }
            }
        }
    }

    /// What a batched decode step reads (its plan's reads), and those rows handed to a prefetch
    /// feed: a shared prefix's whole chunks once (keys, then values), then each sequence's own
    /// rows, whole rows throughout.
    @Test func decodeReadsNameSharedChunksOnce() {
        let (H, Hkv, D) = (9, 3, 64)
        let row = Hkv * D, capacity = 1000, lineFloats = 16
        let keyLengths = [650, 601, 700, 300, 900], queryLengths = [1, 1, 2, 1, 1]
        let sharers: Set<Int> = [0, 1, 2, 4]
        let source = (FloatBuffer(count: 600 * row), FloatBuffer(count: 600 * row))
        let caches = keyLengths.map { _ in (FloatBuffer(count: capacity * row), FloatBuffer(count: capacity * row)) }
        let q = FloatBuffer(count: 2 * H * D), out = FloatBuffer(count: 2 * H * D)
        let seqs = keyLengths.indices.map { s in
            Attention.DecodeSequence(
                cache: .float32(keys: caches[s].0.pointer, values: caches[s].1.pointer), keyLength: keyLengths[s],
                queryLength: queryLengths[s], q: q.pointer, out: out.pointer,
                shared: sharers.contains(s) ? Attention.SharedPrefix(id: 7, source: .float32(keys: source.0.pointer, values: source.1.pointer), count: 600) : nil)
        }
        let plan = Attention.decodePlan(sequences: seqs, heads: H, kvHeads: Hkv)
        #expect(plan.reads == [Attention.DecodeRead(sequence: 0, fromSharedSource: true, rows: 0..<512)]
            + keyLengths.indices.map { Attention.DecodeRead(sequence: $0, fromSharedSource: false, rows: (sharers.contains($0) ? 512 : 0)..<keyLengths[$0]) })
        let feed = PrefetchFeed()
        for read in plan.reads {
            let cache: Attention.DecodeCache = read.fromSharedSource ? seqs[read.sequence].shared!.source : seqs[read.sequence].cache
            Attention.addRows(read.rows, of: cache, rowWidth: row, to: feed)
        }
        // Two whole chunks (512 rows) are shared; the sharers' own rows start at 512, sequence 3's at 0.
        let own = [650 - 512, 601 - 512, 700 - 512, 300, 900 - 512]
        #expect(feed.remainingLines == 2 * (512 + own.reduce(0, +)) * row / lineFloats)
        let address = { (p: UnsafeMutablePointer<Float>) in UInt(bitPattern: p) }
        var expected: [(UInt, Int)] = [(address(source.0.pointer), 512), (address(source.1.pointer), 512)]
        for s in keyLengths.indices {
            let first = sharers.contains(s) ? 512 : 0
            expected += [(address(caches[s].0.pointer + first * row), own[s]), (address(caches[s].1.pointer + first * row), own[s])]
        }
        for (start, rows) in expected {
            let lines = feed.take(rows * row / lineFloats)
            #expect(lines.first == start && lines.last == start + UInt(4 * (rows * row - lineFloats)))
        }
        #expect(feed.remainingLines == 0)
    }

    /// A row that sees no key (all keys padding) yields zeros, -inf lse and no gradient.
    @Test func fullyMaskedRowsAreZero() {
        let c = AttentionCase(name: "empty", shape: AttentionShape(batch: 1, queryLength: 4, heads: 1, kvHeads: 1, headDim: 4),
                              mask: AttentionMask(causal: false, keyLengths: [0]), tiling: .default)
        let (q, k, v, dout) = inputs(c.shape, seed: 1)
        let (out, lse) = flashForward(q, k, v, c)
        #expect(out.allSatisfy { $0 == 0 })
        #expect(lse.allSatisfy { $0 == -.infinity })
        let (dq, dk, dv) = flashBackward(q, k, v, dout, c)
        #expect(dq.allSatisfy { $0 == 0 } && dk.allSatisfy { $0 == 0 } && dv.allSatisfy { $0 == 0 })
    }
}
