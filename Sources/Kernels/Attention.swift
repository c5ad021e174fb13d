// Attention.swift: scaled dot-product attention, forward and backward, as a tiled
// FlashAttention-2 on the CPU, beside a naive reference that materialises the N x N scores.
//
//   out = softmax(scale * Q K^T + mask) V          (PyTorch scaled_dot_product_attention)
//
// Reference: Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work
// Partitioning" (2023), Algorithms 1 and 2.
//
// Layout (row-major, contiguous last dimension), with the math names used below:
//   B  batch, Nq query rows, Nk key rows, H query heads, Hkv key/value heads, G = H / Hkv,
//   D  head dimension.
//   q, out, dq, dout: [B, Nq, H, D]      k, v, dk, dv: [B, Nk, Hkv, D]
//   lse (saved by the forward for the backward): [B, H, Nq]
// Query head h reads key/value head h / G (grouped-query attention; G = 1 is multi-head).
// Query row t sits at absolute position p = (Nk - Nq) + t, so a KV cache with Nq < Nk and
// training with Nq = Nk share one rule.
//
// Masking rule (see ``AttentionMask``): key j is visible to the row at position p when
//   j < keyLength[b]                                     (key padding, if given)
//   and j <= p                                           (if causal)
//   and (segment[b, j] == 0 || segment[b, j] == segment[b, p])   (if segments are given).
// Hidden scores are set to -infinity before the softmax (exp gives exactly 0). A row that sees
// no key at all gets out = 0 and lse = -infinity, and contributes no gradient.
//
// Tiling: the G query heads that share a key/value head are stacked into one tile of
// R = G * Br rows (row r is token r / G, head r % G), so every K/V block is read once for the
// whole group and the GEMMs get a taller M. Per tile the work memory is R x Bc scores plus a few
// R x D and Bc x D blocks: O(block^2) per worker, never O(N^2).

import CQuantKernels
import Foundation

/// Which keys each query row may attend to. See the file header for the exact rule.
public struct AttentionMask: Sendable {
    /// Hide keys after the query's own position.
    public var causal: Bool
    /// Per batch element, the number of real keys; keys at or beyond it are padding. `[B]`.
    public var keyLengths: [Int]?
    /// Per batch element and key position, a segment id. `[B, Nk]`. Segment 0 is a shared
    /// prefix that every token may see; other tokens see only their own segment. A DPO pair
    /// packed as `[prompt, chosen, rejected]` uses ids `0, 1, 2`.
    public var segments: [Int32]?

    /// Creates a mask.
    public init(causal: Bool, keyLengths: [Int]? = nil, segments: [Int32]? = nil) {
        self.causal = causal
        self.keyLengths = keyLengths
        self.segments = segments
    }

    /// Causal, no padding, one segment: a decoder.
    public static let causal = AttentionMask(causal: true)
    /// Every key visible: an encoder without padding.
    public static let bidirectional = AttentionMask(causal: false)
}

/// Sizes of one attention call. See the file header for the layouts.
public struct AttentionShape: Sendable, CustomStringConvertible {
    /// Batch size `B`.
    public var batch: Int
    /// Query rows `Nq`.
    public var queryLength: Int
    /// Key rows `Nk` (`>= Nq`; the last `Nq` key positions are the queries' own).
    public var keyLength: Int
    /// Query heads `H`.
    public var heads: Int
    /// Key/value heads `Hkv` (`H` must be a multiple of it).
    public var kvHeads: Int
    /// Head dimension `D`.
    public var headDim: Int

    /// Creates a shape; `keyLength` defaults to `queryLength` (self-attention).
    public init(batch: Int = 1, queryLength: Int, keyLength: Int? = nil, heads: Int, kvHeads: Int, headDim: Int) {
        self.batch = batch
        self.queryLength = queryLength
        self.keyLength = keyLength ?? queryLength
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    /// Query heads per key/value head.
    public var group: Int { heads / kvHeads }
    /// Absolute position of query row 0.
    public var queryOffset: Int { keyLength - queryLength }
    /// Elements in `q` / `out`.
    public var queryCount: Int { batch * queryLength * heads * headDim }
    /// Elements in `k` / `v`.
    public var keyCount: Int { batch * keyLength * kvHeads * headDim }
    /// Elements in `lse`.
    public var lseCount: Int { batch * heads * queryLength }

    public var description: String {
        "[B=\(batch), Nq=\(queryLength), Nk=\(keyLength), H=\(heads), Hkv=\(kvHeads), D=\(headDim)]"
    }

    func validate(_ mask: AttentionMask) {
        precondition(batch >= 1 && queryLength >= 0 && headDim >= 1, "Attention: bad shape \(self)")
        precondition(keyLength >= queryLength, "Attention: keyLength < queryLength in \(self)")
        precondition(kvHeads >= 1 && heads % kvHeads == 0, "Attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        if let kl = mask.keyLengths {
            precondition(kl.count == batch, "Attention: keyLengths has \(kl.count) entries for batch \(batch)")
            precondition(kl.allSatisfy { $0 >= 0 && $0 <= keyLength }, "Attention: keyLengths \(kl) outside 0...\(keyLength)")
        }
        if let s = mask.segments {
            precondition(s.count == batch * keyLength, "Attention: segments has \(s.count) entries, expected B*Nk = \(batch * keyLength)")
        }
    }
}

/// Tile sizes of the flash kernels.
public struct AttentionTiling: Sendable {
    /// Rows per tile after stacking a group's query heads (`G * Br`); `Br = max(1, queryRows / G)`.
    public var queryRows: Int
    /// Keys per block `Bc`.
    public var keyBlock: Int

    /// Creates a tiling.
    public init(queryRows: Int = 192, keyBlock: Int = 256) {
        precondition(queryRows >= 1 && keyBlock >= 1, "AttentionTiling: sizes must be positive")
        self.queryRows = queryRows
        self.keyBlock = keyBlock
    }

    /// The default tiling, tuned on the benchmark (see README's figures).
    public static let `default` = AttentionTiling()
}

/// Scaled dot-product attention: tiled flash forward/backward, a decode path and naive references.
public enum Attention {

    // MARK: - Visibility

    /// Visibility of keys for one batch element; resolved once per call.
    struct Visibility: @unchecked Sendable {  // the segment pointer is read-only during a call
        let causal: Bool
        let keyEnd: Int  // keys >= keyEnd are padding
        let segments: UnsafePointer<Int32>?  // [Nk] for this batch element

        @inline(__always)
        func visible(key j: Int, position p: Int) -> Bool {
            if j >= keyEnd { return false }
            if causal && j > p { return false }
            if let s = segments { return s[j] == 0 || s[j] == s[p] }
            return true
        }

        /// Exclusive end of the keys visible to position `p` before segment rules.
        @inline(__always)
        func end(forPosition p: Int) -> Int { causal ? min(keyEnd, p + 1) : keyEnd }

        /// Whether any key in `k0..<k1` may be visible to a position in `p0..<p1`.
        func anyVisible(keys k0: Int, _ k1: Int, positions p0: Int, _ p1: Int) -> Bool {
            if k0 >= keyEnd || k0 >= k1 || p0 >= p1 { return false }
            if causal && k0 > p1 - 1 { return false }
            guard let s = segments else { return true }
            var qMin = Int32.max, qMax = Int32.min
            for p in p0..<p1 { qMin = min(qMin, s[p]); qMax = max(qMax, s[p]) }
            for j in k0..<min(k1, keyEnd) where s[j] == 0 || (s[j] >= qMin && s[j] <= qMax) {
                return true
            }
            return false
        }

        /// Whether every key in `k0..<k1` is visible to every position in `p0..<p1`.
        func allVisible(keys k0: Int, _ k1: Int, positions p0: Int, _ p1: Int) -> Bool {
            if k1 > keyEnd { return false }
            if causal && k1 - 1 > p0 { return false }
            return segments == nil
        }
    }

    /// Runs `body` with a ``Visibility`` per batch element.
    static func withVisibility<R>(
        _ shape: AttentionShape, _ mask: AttentionMask, _ body: ([Visibility]) -> R
    ) -> R {
        let segs = mask.segments ?? []
        return segs.withUnsafeBufferPointer { sp in
            let vis = (0..<shape.batch).map { b in
                Visibility(
                    causal: mask.causal,
                    keyEnd: mask.keyLengths?[b] ?? shape.keyLength,
                    segments: mask.segments == nil ? nil : sp.baseAddress! + b * shape.keyLength)
            }
            return body(vis)
        }
    }

    /// Hides invisible scores of one tile row with -infinity.
    /// `row` holds scores for keys `k0..<k0+bc` of the query at position `p`.
    @inline(__always)
    static func maskRow(_ row: UnsafeMutablePointer<Float>, keys k0: Int, count bc: Int, position p: Int, _ vis: Visibility) {
        let end = max(0, min(bc, vis.end(forPosition: p) - k0))
        if end < bc { (row + end).update(repeating: -.infinity, count: bc - end) }
        if let s = vis.segments {
            let sp = s[p]
            for j in 0..<end where s[k0 + j] != 0 && s[k0 + j] != sp { row[j] = -.infinity }
        }
    }

    // MARK: - Naive reference

    /// Naive attention forward in Double, materialising every score row. For tests.
    ///
    /// Shapes: `q: [B, Nq, H, D]`, `k, v: [B, Nk, Hkv, D]`. Returns `out: [B, Nq, H, D]` and
    /// `lse: [B, H, Nq]` with the masking rule of the file header.
    public static func referenceForward(
        q: [Float], k: [Float], v: [Float], shape: AttentionShape, mask: AttentionMask, scale: Float? = nil
    ) -> (out: [Double], lse: [Double]) {
        shape.validate(mask)
        let (B, Nq, Nk, H, Hkv, D, G) = (shape.batch, shape.queryLength, shape.keyLength, shape.heads, shape.kvHeads, shape.headDim, shape.group)
        let sc = Double(scale ?? 1 / Float(D).squareRoot())
        var out = [Double](repeating: 0, count: shape.queryCount)
        var lse = [Double](repeating: -.infinity, count: shape.lseCount)
        withVisibility(shape, mask) { vis in
            for b in 0..<B {
                for h in 0..<H {
                    let g = h / G
                    for t in 0..<Nq {
                        let p = shape.queryOffset + t
                        var s = [Double](repeating: -.infinity, count: Nk)
                        for j in 0..<Nk where vis[b].visible(key: j, position: p) {
                            var d = 0.0
                            for c in 0..<D {
                                d += Double(q[((b * Nq + t) * H + h) * D + c]) * Double(k[((b * Nk + j) * Hkv + g) * D + c])
                            }
                            s[j] = d * sc
                        }
                        let m = s.max()!
                        if m == -.infinity { continue }
                        let e = s.map { Foundation.exp($0 - m) }
                        let l = e.reduce(0, +)
                        lse[(b * H + h) * Nq + t] = m + Foundation.log(l)
                        for j in 0..<Nk where e[j] > 0 {
                            for c in 0..<D {
                                out[((b * Nq + t) * H + h) * D + c] += e[j] / l * Double(v[((b * Nk + j) * Hkv + g) * D + c])
                            }
                        }
                    }
                }
            }
        }
        return (out, lse)
    }

    /// Naive attention backward in Double. For tests.
    ///
    /// Given `dout: [B, Nq, H, D]`, returns `dq: [B, Nq, H, D]`, `dk, dv: [B, Nk, Hkv, D]`.
    /// In the forward pass this was: `P = softmax(scale * Q K^T + mask)`, `out = P V`.
    public static func referenceBackward(
        dout: [Float], q: [Float], k: [Float], v: [Float], shape: AttentionShape, mask: AttentionMask, scale: Float? = nil
    ) -> (dq: [Double], dk: [Double], dv: [Double]) {
        shape.validate(mask)
        let (B, Nq, Nk, H, Hkv, D, G) = (shape.batch, shape.queryLength, shape.keyLength, shape.heads, shape.kvHeads, shape.headDim, shape.group)
        let sc = Double(scale ?? 1 / Float(D).squareRoot())
        var dq = [Double](repeating: 0, count: shape.queryCount)
        var dk = [Double](repeating: 0, count: shape.keyCount)
        var dv = [Double](repeating: 0, count: shape.keyCount)
        withVisibility(shape, mask) { vis in
            for b in 0..<B {
                for h in 0..<H {
                    let g = h / G
                    for t in 0..<Nq {
                        let p = shape.queryOffset + t
                        let qo = ((b * Nq + t) * H + h) * D
                        var s = [Double](repeating: -.infinity, count: Nk)
                        for j in 0..<Nk where vis[b].visible(key: j, position: p) {
                            var d = 0.0
                            for c in 0..<D { d += Double(q[qo + c]) * Double(k[((b * Nk + j) * Hkv + g) * D + c]) }
                            s[j] = d * sc
                        }
                        let m = s.max()!
                        if m == -.infinity { continue }
                        let e = s.map { Foundation.exp($0 - m) }
                        let l = e.reduce(0, +)
                        let P = e.map { $0 / l }
                        // dP_j = dout . v_j ; dS_j = P_j (dP_j - sum_i P_i dP_i)
                        var dP = [Double](repeating: 0, count: Nk)
                        for j in 0..<Nk where P[j] > 0 {
                            let vo = ((b * Nk + j) * Hkv + g) * D
                            for c in 0..<D {
                                dP[j] += Double(dout[qo + c]) * Double(v[vo + c])
                                dv[vo + c] += P[j] * Double(dout[qo + c])
                            }
                        }
                        var dot = 0.0
                        for j in 0..<Nk { dot += P[j] * dP[j] }
                        for j in 0..<Nk where P[j] > 0 {
                            let dS = P[j] * (dP[j] - dot)
                            let ko = ((b * Nk + j) * Hkv + g) * D
                            for c in 0..<D {
                                dq[qo + c] += dS * sc * Double(k[ko + c])
                                dk[ko + c] += dS * sc * Double(q[qo + c])
                            }
                        }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }

    // MARK: - Flash forward

    /// Tiled (FlashAttention-2) forward.
    ///
    /// Shapes: `q: [B, Nq, H, D]`, `k, v: [B, Nk, Hkv, D]`, `out: [B, Nq, H, D]`,
    /// saved `lse: [B, H, Nq]` (the per-row logsumexp of the scaled, masked scores; the backward
    /// needs `q, k, v, out, lse`). Work memory is O(R x Bc) per worker.
    /// - Parameters:
    ///   - scale: score scale, default `1 / sqrt(D)`.
    ///   - tiling: tile sizes.
    ///   - threads: workers; BLAS runs single-threaded inside them.
    public static func forward(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: AttentionShape, mask: AttentionMask, scale: Float? = nil,
        tiling: AttentionTiling = .default, threads: Int = 1
    ) {
        shape.validate(mask)
        let (B, Nq, H, Hkv, D, G) = (shape.batch, shape.queryLength, shape.heads, shape.kvHeads, shape.headDim, shape.group)
        let Nk = shape.keyLength
        let sc = scale ?? 1 / Float(D).squareRoot()
        let Br = max(1, tiling.queryRows / G), Bc = tiling.keyBlock
        let R = Br * G
        let nQB = (Nq + Br - 1) / Br
        let offset = shape.queryOffset
        let (qP, kP, vP, oP, lP) = (SendablePointer(q), SendablePointer(k), SendablePointer(v), SendablePointer(out), SendablePointer(lse))

        let savedThreads = GEMM.threadCount
        GEMM.threadCount = 1
        defer { GEMM.threadCount = savedThreads }

        withVisibility(shape, mask) { visAll in
            // Task order: for each (b, g), the last query blocks first (they have the most keys).
            Parallel.forEachTask(
                threads: threads, tasks: B * Hkv * nQB,
                setup: { _ in ForwardWorkspace(rows: R, keyBlock: Bc, headDim: D) },
                body: { ws, task in
                    let i = nQB - 1 - task % nQB
                    let bg = task / nQB
                    let (b, g) = (bg / Hkv, bg % Hkv)
                    let vis = visAll[b]
                    let t0 = i * Br, t1 = min(Nq, t0 + Br)
                    let rows = (t1 - t0) * G
                    let (Qp, S, O, m, l) = (ws.q.pointer, ws.s.pointer, ws.o.pointer, ws.m.pointer, ws.l.pointer)

                    // Pack the group's query rows (token-major, head-minor), pre-scaled.
                    for tl in 0..<(t1 - t0) {
                        let src = qP.pointer + ((b * Nq + t0 + tl) * H + g * G) * D
                        let dst = Qp + tl * G * D
                        for c in 0..<(G * D) { dst[c] = src[c] * sc }
                    }
                    m.update(repeating: -.infinity, count: rows)
                    l.update(repeating: 0, count: rows)
                    O.update(repeating: 0, count: rows * D)

                    let p0 = offset + t0, p1 = offset + t1
                    let kEnd = vis.end(forPosition: p1 - 1)
                    var k0 = 0
                    while k0 < kEnd {
                        let bc = min(Bc, kEnd - k0)
                        defer { k0 += bc }
                        if !vis.anyVisible(keys: k0, k0 + bc, positions: p0, p1) { continue }
                        let kBlock = kP.pointer + ((b * Nk + k0) * Hkv + g) * D
                        let vBlock = vP.pointer + ((b * Nk + k0) * Hkv + g) * D
                        // S = (scale Q) K^T   [rows, bc]
                        GEMM.multiply(
                            m: rows, n: bc, k: D, a: Qp, lda: D, b: kBlock, ldb: Hkv * D, transB: .transposed,
                            c: S, ldc: Bc)
                        let full = vis.allVisible(keys: k0, k0 + bc, positions: p0, p1)
                        for r in 0..<rows {
                            let row = S + r * Bc
                            if !full { maskRow(row, keys: k0, count: bc, position: p0 + r / G, vis) }
                            let mNew = max(m[r], VectorMath.max(row, bc))
                            if mNew == -.infinity {
                                // Nothing visible yet in this row: contribute P = 0.
                                row.update(repeating: 0, count: bc)
                                continue
                            }
                            // Online softmax: P = exp(S - M); l = l * exp(Mold - M) + rowsum(P);
                            // O = O * exp(Mold - M)  (the P V term is added below).
                            let rowSum = VectorMath.expShiftSum(row, bc, shift: mNew)
                            let alpha = m[r] == -.infinity ? 0 : VectorMath.exp(m[r] - mNew)
                            l[r] = l[r] * alpha + rowSum
                            if alpha != 1 { VectorMath.scale(O + r * D, D, by: alpha) }
                            m[r] = mNew
                        }
                        // O += P V   [rows, D]
                        GEMM.multiply(
                            m: rows, n: D, k: bc, a: S, lda: Bc, b: vBlock, ldb: Hkv * D,
                            c: O, ldc: D, beta: 1)
                    }
                    // O /= l, lse = M + log l; scatter back to [B, Nq, H, D] / [B, H, Nq].
                    for r in 0..<rows {
                        let (tl, hh) = (r / G, r % G)
                        let h = g * G + hh
                        let dst = oP.pointer + ((b * Nq + t0 + tl) * H + h) * D
                        let lseAt = lP.pointer + (b * H + h) * Nq + t0 + tl
                        if l[r] > 0 {
                            let inv = 1 / l[r]
                            for c in 0..<D { dst[c] = O[r * D + c] * inv }
                            lseAt.pointee = m[r] + Foundation.log(l[r])
                        } else {
                            dst.update(repeating: 0, count: D)
                            lseAt.pointee = -.infinity
                        }
                    }
                })
        }
    }

    /// Per-worker buffers of the forward: packed Q, scores, output accumulator, row max and sum.
    struct ForwardWorkspace {
        let q, s, o, m, l: FloatBuffer
        init(rows R: Int, keyBlock Bc: Int, headDim D: Int) {
            q = FloatBuffer(count: R * D)
            s = FloatBuffer(count: R * Bc)
            o = FloatBuffer(count: R * D)
            m = FloatBuffer(count: R)
            l = FloatBuffer(count: R)
        }
    }

    // MARK: - Flash backward

    /// Tiled (FlashAttention-2) backward. Gradients are **accumulated** into `dq`, `dk`, `dv`
    /// (zero them first for a fresh gradient).
    ///
    /// Shapes: `dout, q, out, dq: [B, Nq, H, D]`, `k, v, dk, dv: [B, Nk, Hkv, D]`,
    /// `lse: [B, H, Nq]` as saved by ``forward(out:lse:q:k:v:shape:mask:scale:tiling:threads:)``.
    ///
    /// In the forward pass this was `S = scale Q K^T + mask`, `P = exp(S - lse)`, `out = P V`.
    /// Per tile this recomputes `P` and applies
    /// `dV += P^T dO`, `dP = dO V^T`, `dS = P * (dP - Dr)` with `Dr = rowsum(dO * O)`,
    /// `dQ += scale dS K`, `dK += scale dS^T Q`.
    /// Workers own key blocks (so `dK`, `dV` need no synchronisation); contributions to a `dQ`
    /// block are added in increasing key-block order through a ticket, so results are bitwise
    /// deterministic for any thread count. Work memory is O(R x Bc) per worker plus `Dr`
    /// (`B * H * Nq` floats).
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
        shape: AttentionShape, mask: AttentionMask, scale: Float? = nil,
        tiling: AttentionTiling = .default, threads: Int = 1
    ) {
        shape.validate(mask)
        let (B, Nq, H, Hkv, D, G) = (shape.batch, shape.queryLength, shape.heads, shape.kvHeads, shape.headDim, shape.group)
        let Nk = shape.keyLength
        let sc = scale ?? 1 / Float(D).squareRoot()
        let Br = max(1, tiling.queryRows / G), Bc = tiling.keyBlock
        let R = Br * G
        let nQB = (Nq + Br - 1) / Br
        let nKB = (Nk + Bc - 1) / Bc
        let offset = shape.queryOffset

        // Dr = rowsum(dO * O)   [B, H, Nq]
        let dRow = FloatBuffer(count: shape.lseCount)
        for b in 0..<B {
            for t in 0..<Nq {
                for h in 0..<H {
                    let o = ((b * Nq + t) * H + h) * D
                    dRow.pointer[(b * H + h) * Nq + t] = VectorMath.dot(dout + o, out + o, D)
                }
            }
        }
        let tickets = (0..<(B * Hkv * nQB)).map { _ in Ticket() }
        let (qP, kP, vP, doP, lP, dRP) = (SendablePointer(q), SendablePointer(k), SendablePointer(v), SendablePointer(dout), SendablePointer(lse), SendablePointer(dRow.pointer))
        let (dqP, dkP, dvP) = (SendablePointer(dq), SendablePointer(dk), SendablePointer(dv))

        let savedThreads = GEMM.threadCount
        GEMM.threadCount = 1
        defer { GEMM.threadCount = savedThreads }

        withVisibility(shape, mask) { visAll in
            // Task order: (b, g) major, key block j minor, so the task that must add to a dQ
            // block before task j (task j - 1) was always handed out earlier.
            Parallel.forEachTask(
                threads: threads, tasks: B * Hkv * nKB,
                setup: { _ in BackwardWorkspace(rows: R, keyBlock: Bc, headDim: D) },
                body: { ws, task in
                    let (bg, j) = (task / nKB, task % nKB)
                    let (b, g) = (bg / Hkv, bg % Hkv)
                    let vis = visAll[b]
                    let k0 = j * Bc, bc = min(Bc, Nk - k0)
                    let kBlock = kP.pointer + ((b * Nk + k0) * Hkv + g) * D
                    let vBlock = vP.pointer + ((b * Nk + k0) * Hkv + g) * D
                    let (Qp, dOp, P, dS, dQt, dKa, dVa, Lr, Dr) = (
                        ws.q.pointer, ws.dout.pointer, ws.p.pointer, ws.ds.pointer, ws.dq.pointer,
                        ws.dk.pointer, ws.dv.pointer, ws.lse.pointer, ws.dRow.pointer)
                    dKa.update(repeating: 0, count: bc * D)
                    dVa.update(repeating: 0, count: bc * D)
                    var touched = false

                    for i in 0..<nQB {
                        let ticket = tickets[bg * nQB + i]
                        let t0 = i * Br, t1 = min(Nq, t0 + Br)
                        let p0 = offset + t0, p1 = offset + t1
                        guard vis.anyVisible(keys: k0, k0 + bc, positions: p0, p1) else {
                            ticket.wait(for: j)
                            ticket.pass(to: j + 1)
                            continue
                        }
                        touched = true
                        let rows = (t1 - t0) * G
                        // Pack Q (pre-scaled), dO, lse and Dr for the group's rows.
                        for tl in 0..<(t1 - t0) {
                            let o = ((b * Nq + t0 + tl) * H + g * G) * D
                            for c in 0..<(G * D) {
                                Qp[tl * G * D + c] = qP.pointer[o + c] * sc
                                dOp[tl * G * D + c] = doP.pointer[o + c]
                            }
                            for hh in 0..<G {
                                let idx = (b * H + g * G + hh) * Nq + t0 + tl
                                Lr[tl * G + hh] = lP.pointer[idx]
                                Dr[tl * G + hh] = dRP.pointer[idx]
                            }
                        }
                        // S = (scale Q) K^T, then P = exp(S - lse) with the mask applied.
                        GEMM.multiply(
                            m: rows, n: bc, k: D, a: Qp, lda: D, b: kBlock, ldb: Hkv * D, transB: .transposed,
                            c: P, ldc: Bc)
                        let full = vis.allVisible(keys: k0, k0 + bc, positions: p0, p1)
                        for r in 0..<rows {
                            let row = P + r * Bc
                            if Lr[r] == -.infinity { row.update(repeating: 0, count: bc); continue }
                            if !full { maskRow(row, keys: k0, count: bc, position: p0 + r / G, vis) }
                            _ = VectorMath.expShiftSum(row, bc, shift: Lr[r])
                        }
                        // dV += P^T dO   [bc, D]
                        GEMM.multiply(
                            m: bc, n: D, k: rows, a: P, lda: Bc, transA: .transposed, b: dOp, ldb: D,
                            c: dVa, ldc: D, beta: 1)
                        // dP = dO V^T   [rows, bc]
                        GEMM.multiply(
                            m: rows, n: bc, k: D, a: dOp, lda: D, b: vBlock, ldb: Hkv * D, transB: .transposed,
                            c: dS, ldc: Bc)
                        // dS = P * (dP - Dr)
                        for r in 0..<rows {
                            let (pr, dr) = (P + r * Bc, dS + r * Bc)
                            let d = Dr[r]
                            for c in 0..<bc { dr[c] = pr[c] * (dr[c] - d) }
                        }
                        // dK += dS^T (scale Q)   [bc, D]
                        GEMM.multiply(
                            m: bc, n: D, k: rows, a: dS, lda: Bc, transA: .transposed, b: Qp, ldb: D,
                            c: dKa, ldc: D, beta: 1)
                        // dQ_tile = scale dS K   [rows, D], added in key-block order.
                        GEMM.multiply(
                            m: rows, n: D, k: bc, a: dS, lda: Bc, b: kBlock, ldb: Hkv * D,
                            c: dQt, ldc: D, alpha: sc)
                        ticket.wait(for: j)
                        for tl in 0..<(t1 - t0) {
                            let o = ((b * Nq + t0 + tl) * H + g * G) * D
                            VectorMath.add(dQt + tl * G * D, into: dqP.pointer + o, G * D)
                        }
                        ticket.pass(to: j + 1)
                    }
                    // This task owns key block j of head g: add without synchronisation.
                    if touched {
                        for jj in 0..<bc {
                            let o = ((b * Nk + k0 + jj) * Hkv + g) * D
                            VectorMath.add(dKa + jj * D, into: dkP.pointer + o, D)
                            VectorMath.add(dVa + jj * D, into: dvP.pointer + o, D)
                        }
                    }
                })
        }
    }

    /// Per-worker buffers of the backward.
    struct BackwardWorkspace {
        let q, dout, p, ds, dq, dk, dv, lse, dRow: FloatBuffer
        init(rows R: Int, keyBlock Bc: Int, headDim D: Int) {
            q = FloatBuffer(count: R * D)
            dout = FloatBuffer(count: R * D)
            p = FloatBuffer(count: R * Bc)
            ds = FloatBuffer(count: R * Bc)
            dq = FloatBuffer(count: R * D)
            dk = FloatBuffer(count: Bc * D)
            dv = FloatBuffer(count: Bc * D)
            lse = FloatBuffer(count: R)
            dRow = FloatBuffer(count: R)
        }
    }

    // MARK: - Decode

    /// The key/value cache a decode step reads.
    public enum DecodeCache {
        /// Float32 rows: `keys, values: [B, Nk, Hkv, D]`.
        case float32(keys: UnsafePointer<Float>, values: UnsafePointer<Float>)
        /// 8-bit rows `keys, values: [B, Nk, Hkv, D]` (int8, one scale per position and head:
        /// see `decode_attention.h`), scales `[B, Hkv, scaleStride]`: key `j` of head `g` of
        /// batch element `b` has its scale at `(b Hkv + g) scaleStride + j`.
        case int8(keys: UnsafePointer<Int8>, keyScales: UnsafePointer<Float>, values: UnsafePointer<Int8>, valueScales: UnsafePointer<Float>, scaleStride: Int)

        /// The same pointers in a form worker closures may capture.
        struct Pointers: @unchecked Sendable {
            var k32, v32: UnsafePointer<Float>?
            var k8, v8: UnsafePointer<Int8>?
            var keyScales, valueScales: UnsafePointer<Float>?
            var scaleStride = 0
            var quantized: Bool { k8 != nil }
            /// Moves the key/value pointers to batch element `b` of `[B, keys, rowWidth]` rows
            /// (scales are addressed per batch element by the caller).
            mutating func offset(batchElement b: Int, keys: Int, rowWidth: Int) {
                let o = b * keys * rowWidth
                k32 = k32.map { $0 + o }; v32 = v32.map { $0 + o }
                k8 = k8.map { $0 + o }; v8 = v8.map { $0 + o }
            }
            init(_ c: DecodeCache) {
                switch c {
                case let .float32(k, v): (k32, v32) = (k, v)
                case let .int8(k, ks, v, vs, stride): (k8, keyScales, v8, valueScales, scaleStride) = (k, ks, v, vs, stride)
                }
            }
        }
    }

    /// Attention for a few new query rows against a long key/value cache (decoding).
    ///
    /// Same contract and shapes as the forward (`q, out: [B, Nq, H, D]` with small `Nq`,
    /// `k, v: [B, Nk, Hkv, D]`, `lse: [B, H, Nq]`), but scores and weighted sums come from the
    /// SIMD kernels `lra_scores` / `lra_weighted_sum` (CQuantKernels), which read each cached key
    /// and value row once, whole, for every KV head and query row of the step (a GEMM with M of
    /// 1-12 rows runs far below peak, and one GEMV per row reads the cache G times), and the keys are split
    /// into chunks that workers process independently; partial results are merged with their
    /// logsumexps (flash-decoding). Work memory: one chunk of scores per worker.
    public static func decode(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: AttentionShape, mask: AttentionMask, scale: Float? = nil, threads: Int = 1
    ) {
        decode(out: out, lse: lse, q: q, cache: .float32(keys: k, values: v), shape: shape, mask: mask, scale: scale, threads: threads)
    }

    /// Decode attention against a cache in either storage (see ``DecodeCache``). With an 8-bit
    /// cache, each query row (already scaled) is quantised to int8 with one scale, scores are
    /// integer dot products (`lra_scores_q8`) and values are widened to floats as they are
    /// summed (`lra_weighted_sum_q8`): a quarter of the bytes of a Float32 cache per step.
    public static func decode(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, cache: DecodeCache,
        shape: AttentionShape, mask: AttentionMask, scale: Float? = nil, threads: Int = 1
    ) {
        shape.validate(mask)
        let (B, Nq, Nk, H, Hkv, D, G) = (shape.batch, shape.queryLength, shape.keyLength, shape.heads, shape.kvHeads, shape.headDim, shape.group)
        let sc = scale ?? 1 / Float(D).squareRoot()
        let rows = Nq * G
        // Chunks of keys that workers take independently; fixed, so results do not depend on
        // the thread count.
        let chunk = decodeChunk
        let nChunks = max(1, (Nk + chunk - 1) / chunk)
        let offset = shape.queryOffset
        let hr = Hkv * rows  // score rows per task: every KV head's query rows
        // Partial results per (b, chunk, g): O [rows, D], m [rows], l [rows].
        let partRows = B * nChunks * hr
        let partials = DecodeScratch.buffer(count: partRows * (D + 2))
        defer { DecodeScratch.recycle(partials) }
        let partO = partials.pointer, partM = partO + partRows * D, partL = partM + partRows
        let (qP, pO, pM, pL) = (SendablePointer(q), SendablePointer(partO), SendablePointer(partM), SendablePointer(partL))
        let storage = DecodeCache.Pointers(cache)

        withVisibility(shape, mask) { visAll in
            let spaces = DecodeScratch.workspaces(max(1, min(threads, B * nChunks)), rows: hr, headDim: D, chunk: chunk, quantized: storage.quantized)
            defer { DecodeScratch.recycle(spaces) }
            Parallel.forEachTask(
                threads: threads, tasks: B * nChunks,
                setup: { w in spaces[w] },
                body: { ws, task in
                    let (b, ci) = (task / nChunks, task % nChunks)
                    let vis = visAll[b]
                    let base = task * hr
                    let (O, m, l) = (pO.pointer + base * D, pM.pointer + base, pL.pointer + base)
                    let k0 = ci * chunk, k1 = min(Nk, k0 + chunk)
                    // Never read keys past the last one any row may see (padding may hold anything).
                    let n = min(k1, vis.end(forPosition: offset + Nq - 1)) - k0
                    // Qp [Hkv, rows, D]: head g's rows are its G query heads for each new token.
                    for g in 0..<Hkv {
                        for t in 0..<Nq {
                            let src = qP.pointer + ((b * Nq + t) * H + g * G) * D
                            let dst = ws.q.pointer + (g * rows + t * G) * D
                            for c in 0..<(G * D) { dst[c] = src[c] * sc }
                        }
                    }
                    var view = storage
                    view.offset(batchElement: b, keys: Nk, rowWidth: Hkv * D)
                    chunkPartials(ws, rows: rows, kvHeads: Hkv, headDim: D, view: view, scaleRow: b, keyStart: k0, keys: n, O: O, m: m, l: l) { row, i in
                        maskRow(row, keys: k0, count: n, position: offset + (i % rows) / G, vis)
                    }
                })
        }
        // Merge the chunks of each row: partial results of (b, chunk c, g, r) sit at
        // ((b nChunks + c) Hkv + g) rows + r.
        for bg in 0..<(B * Hkv) {
            let (b, g) = (bg / Hkv, bg % Hkv)
            for r in 0..<rows {
                let (t, hh) = (r / G, r % G)
                let h = g * G + hh
                let slots = (0..<nChunks).map { c in ((b * nChunks + c) * Hkv + g) * rows + r }
                mergePartials(slots: slots, O: partO, m: partM, l: partL, headDim: D,
                              out: out + ((b * Nq + t) * H + h) * D, lse: lse + (b * H + h) * Nq + t)
            }
        }
    }
}
