// Attention+BatchedDecode.swift: one decode step of several sequences, each with its own
// key/value cache, in one parallel region, reading a key prefix that several sequences share
// once for all of them.
//
// Sequences that continue one prompt (K answers sampled for a question, judge calls that start
// with the same rubric, `bench model --batch`) hold the same keys and values for the prompt's
// positions. Attention splits the keys of every sequence into fixed chunks [256 c, 256 (c + 1));
// a chunk that lies wholly inside a shared prefix is computed once for every sequence naming
// that prefix: its query rows are stacked (rows = sum over members of Nq G per KV head) and each
// cached row is read once for all of them, where separate sequences would read it once each.
// Every row goes through the same arithmetic either way (the kernels treat rows independently,
// chunk boundaries do not move, partial results merge in chunk order), so sharing changes no
// bit of the result: it only removes reads.
//
// Per task (a unit of sequences x one chunk): scaled query rows Qp [Hkv, rows, D], scores
// S [Hkv * rows, n] (causally masked by each row's position), P = exp(S - m), O = P V, kept as
// partial (O, m, l); then for each sequence, token and head, the partials of its chunks merge:
// M = max m_c, L = sum l_c e^(m_c - M), out = sum O_c e^(m_c - M) / L. The task that completes a
// sequence's last chunk does its merge, in the same parallel region.

import CQuantKernels
import Foundation
import Synchronization

extension Attention {
    /// Keys that several sequences of a batched decode step hold in common.
    public struct SharedPrefix {
        /// Equal for sequences that share these keys (the owner of the source cache).
        public var id: Int
        /// The cache holding them (positions `0..<count`, read only).
        public var source: DecodeCache
        /// Positions shared.
        public var count: Int

        /// Describes a shared prefix.
        public init(id: Int, source: DecodeCache, count: Int) {
            self.id = id
            self.source = source
            self.count = count
        }
    }

    /// One sequence of ``decode(sequences:heads:kvHeads:headDim:scale:threads:)``.
    public struct DecodeSequence {
        /// Its own cache, holding all `keyLength` positions (a shared prefix included).
        public var cache: DecodeCache
        /// Keys: the positions already cached plus the new tokens' own.
        public var keyLength: Int
        /// New tokens `Nq` (at most a few); token `t` sits at position `keyLength - Nq + t` and
        /// sees keys up to it (causal).
        public var queryLength: Int
        /// Queries `[Nq, H, D]`.
        public var q: UnsafePointer<Float>
        /// Output `[Nq, H, D]` (overwritten).
        public var out: UnsafeMutablePointer<Float>
        /// Positions `0..<shared.count` of `cache` equal those of `shared.source`, which other
        /// sequences of the step may name too; nil when none.
        public var shared: SharedPrefix?

        /// Describes one sequence.
        public init(
            cache: DecodeCache, keyLength: Int, queryLength: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
            shared: SharedPrefix? = nil
        ) {
            self.cache = cache
            self.keyLength = keyLength
            self.queryLength = queryLength
            self.q = q
            self.out = out
            self.shared = shared
        }
    }

    /// Keys per decode chunk: fixed, so results depend neither on the thread count nor on which
    /// sequences share a prefix.
    static let decodeChunk = 256

    /// A set of sequences reading one key range of one cache.
    fileprivate struct DecodeUnit: @unchecked Sendable {
        var owner: Int            // the sequence whose cache (or shared source) holds the keys
        var fromShared: Bool      // keys from owner's shared prefix source, not its own cache
        var members: [Int]        // sequence indices
        var rowStart: [Int]       // per member: first query row (per KV head)
        var rows: Int             // query rows per KV head
        var positions: [Int]      // per row: the absolute position of its token
        var chunk0: Int           // first chunk index (absolute)
        var chunkCount: Int
        var keyEnd: Int           // keys read end here (exclusive)
        var partBase: Int         // first partial row
    }

    /// The shape of one batched decode step, the same in every layer: which key chunks each
    /// sequence reads, which it shares, and how the work splits into tasks. Build it once per
    /// step (``decodePlan(sequences:heads:kvHeads:)``) and pass it to each layer's
    /// ``decode(sequences:plan:heads:kvHeads:headDim:scale:threads:)`` with that layer's caches.
    public struct DecodePlan: @unchecked Sendable {
        fileprivate let units: [DecodeUnit]
        fileprivate let partRows: Int
        fileprivate let taskUnit: [Int], taskChunk: [Int]
        fileprivate let maxRows: Int
        /// Per sequence and (token t, head h) at `t H + h`, its partial rows in key order: one
        /// per task the sequence takes part in.
        fileprivate let mergeSlots: [[[Int]]]
        /// Sequences, heads and KV heads it was built for.
        public let sequenceCount: Int, heads: Int, kvHeads: Int

        /// The cache rows the step reads, in the order its attention takes them: a shared
        /// prefix's whole chunks once (from the shared source of sequence `sequence`), then each
        /// sequence's own rows.
        public var reads: [DecodeRead] {
            units.map { DecodeRead(sequence: $0.owner, fromSharedSource: $0.fromShared, rows: ($0.chunk0 * decodeChunk)..<$0.keyEnd) }
        }
    }

    /// Key rows batched decode attention reads (see ``DecodePlan/reads``).
    public struct DecodeRead: Equatable, Sendable {
        /// The sequence whose cache, or whose shared prefix source, holds them.
        public var sequence: Int
        /// Whether they are read from that sequence's ``SharedPrefix/source``.
        public var fromSharedSource: Bool
        /// Positions read.
        public var rows: Range<Int>
    }

    /// The plan of a batched decode step over `sequences` (their key and query lengths and
    /// shared prefixes; their cache pointers are not kept).
    public static func decodePlan(sequences: [DecodeSequence], heads H: Int, kvHeads Hkv: Int) -> DecodePlan {
        precondition(H % Hkv == 0, "Attention.decode: \(H) heads do not group into \(Hkv) KV heads")
        let G = H / Hkv
        let (units, memberships, partRows) = decodeUnits(sequences, groupSize: G, kvHeads: Hkv)
        let mergeSlots = sequences.indices.map { s in
            (0..<(sequences[s].queryLength * H)).map { th in
                let (t, g, hh) = (th / H, th % H / G, th % H % G)
                return memberships[s].flatMap { u, rowStart in
                    let unit = units[u], r = rowStart + t * G + hh
                    return (0..<unit.chunkCount).map { c in unit.partBase + c * Hkv * unit.rows + g * unit.rows + r }
                }
            }
        }
        return DecodePlan(
            units: units, partRows: partRows,
            taskUnit: units.indices.flatMap { u in Array(repeating: u, count: units[u].chunkCount) },
            taskChunk: units.indices.flatMap { u in Array(0..<units[u].chunkCount) },
            maxRows: units.map(\.rows).max() ?? 0, mergeSlots: mergeSlots,
            sequenceCount: sequences.count, heads: H, kvHeads: Hkv)
    }

    /// Causal decode attention for several sequences at once (the decoder's step): one
    /// parallel region over every (sequence set, key chunk) task, with chunks inside a shared
    /// prefix computed once for all the sequences naming it (see the file header). Results are
    /// bitwise those of ``decode(out:lse:q:cache:shape:mask:scale:threads:)`` run per sequence
    /// with a causal mask, whatever the sharing and the thread count. `plan`, when given, must
    /// come from ``decodePlan(sequences:heads:kvHeads:)`` for sequences of the same lengths and
    /// sharing (another layer of the same step); without it the plan is built here.
    public static func decode(
        sequences: [DecodeSequence], plan given: DecodePlan? = nil, heads H: Int, kvHeads Hkv: Int, headDim D: Int,
        scale: Float? = nil, threads: Int = 1
    ) {
        let plan = given ?? decodePlan(sequences: sequences, heads: H, kvHeads: Hkv)
        precondition(plan.sequenceCount == sequences.count && plan.heads == H && plan.kvHeads == Hkv, "Attention.decode: a plan for another step")
        let G = H / Hkv, chunk = decodeChunk
        let sc = scale ?? 1 / Float(D).squareRoot()
        let (units, partRows, mergeSlots) = (plan.units, plan.partRows, plan.mergeSlots)  // immutable: workers share them
        let (taskUnit, taskChunk, maxRows) = (plan.taskUnit, plan.taskChunk, plan.maxRows)
        let views = units.map { u in
            DecodeCache.Pointers(u.fromShared ? sequences[u.owner].shared!.source : sequences[u.owner].cache)
        }
        let partials = DecodeScratch.buffer(count: partRows * (D + 2))
        defer { DecodeScratch.recycle(partials) }
        let partO = partials.pointer, partM = partO + partRows * D, partL = partM + partRows
        let (pO, pM, pL) = (SendablePointer(partO), SendablePointer(partM), SendablePointer(partL))
        let queries = sequences.map { SendablePointer($0.q) }, queryLengths = sequences.map(\.queryLength)
        let quantized = views.contains { $0.quantized }

        let spaces = DecodeScratch.workspaces(max(1, min(threads, taskUnit.count)), rows: Hkv * maxRows, headDim: D, chunk: chunk, quantized: quantized)
        defer { DecodeScratch.recycle(spaces) }
        // Merges sequence s: every (token, head) row over its units' chunks, in key order, into
        // its output. Each sequence writes only its own rows.
        let outs = sequences.map { SendablePointer($0.out) }
        let merge: @Sendable (Int) -> Void = { s in
            for th in 0..<(queryLengths[s] * H) {
                mergePartials(slots: mergeSlots[s][th], O: pO.pointer, m: pM.pointer, l: pL.pointer, headDim: D,
                              out: outs[s].pointer + th * D, lse: nil)
            }
        }
        // The task that finishes a sequence's last chunk merges it, inside the one region: its
        // decrement (acquire and release) sees every partial that the other tasks wrote before
        // theirs. A second region for the merges cost ~1 ms a 2-thread step at batch 16.
        // Every sequence reads at least its own last chunk (where its new tokens sit), so each
        // row of it has a partial per task it waits for.
        let pending = mergeSlots.map { Countdown($0[0].count) }
        Parallel.forEachTask(
            threads: threads, tasks: taskUnit.count,
            setup: { w in spaces[w] },
            body: { ws, task in
                let unit = units[taskUnit[task]]
                let rows = unit.rows, hr = Hkv * rows
                let base = unit.partBase + taskChunk[task] * hr
                let (O, m, l) = (pO.pointer + base * D, pM.pointer + base, pL.pointer + base)
                let k0 = (unit.chunk0 + taskChunk[task]) * chunk
                let n = min(k0 + chunk, unit.keyEnd) - k0
                // Qp [Hkv, rows, D]: for each member and token, the G query heads of KV head g.
                for g in 0..<Hkv {
                    for (mi, s) in unit.members.enumerated() {
                        for t in 0..<queryLengths[s] {
                            let src = queries[s].pointer + (t * H + g * G) * D
                            let dst = ws.q.pointer + (g * rows + unit.rowStart[mi] + t * G) * D
                            for c in 0..<(G * D) { dst[c] = src[c] * sc }
                        }
                    }
                }
                chunkPartials(ws, rows: rows, kvHeads: Hkv, headDim: D, view: views[taskUnit[task]], scaleRow: 0, keyStart: k0, keys: n, O: O, m: m, l: l) { row, i in
                    // Causal: keys after the row's position are hidden.
                    let visible = max(0, min(n, unit.positions[i % rows] + 1 - k0))
                    if visible < n { (row + visible).update(repeating: -.infinity, count: n - visible) }
                }
                for s in unit.members where pending[s].finishOne() { merge(s) }
            })
    }

    /// Tasks a sequence still waits for in a batched decode step.
    private final class Countdown: Sendable {
        private let left: Atomic<Int>
        init(_ tasks: Int) { left = Atomic(tasks) }
        /// Counts one task done; true for the last (whose caller then sees every earlier task's writes).
        func finishOne() -> Bool { left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
    }

    /// The work of a batched decode step: per shared prefix id, its whole chunks for all its
    /// members (one unit); per sequence, its remaining chunks. Also, per sequence, the units it
    /// belongs to (in key order) with its first row in each, and the partial rows needed.
    private static func decodeUnits(
        _ sequences: [DecodeSequence], groupSize G: Int, kvHeads Hkv: Int
    ) -> (units: [DecodeUnit], memberships: [[(unit: Int, rowStart: Int)]], partRows: Int) {
        let chunk = decodeChunk
        // Units: per shared prefix id, its whole chunks for every member; per sequence, the rest.
        var units: [DecodeUnit] = []
        var sharedChunks = [Int](repeating: 0, count: sequences.count)
        var groups: [Int: [Int]] = [:]
        var order: [Int] = []
        for (s, seq) in sequences.enumerated() {
            precondition(seq.queryLength >= 1 && seq.keyLength >= seq.queryLength, "Attention.decode: sequence \(s) has \(seq.queryLength) queries, \(seq.keyLength) keys")
            guard let p = seq.shared else { continue }
            // Whole chunks only, and none holding a query's own position.
            let whole = min(p.count, seq.keyLength - seq.queryLength) / chunk
            if whole == 0 { continue }
            if groups[p.id] == nil { order.append(p.id) }
            groups[p.id, default: []].append(s)
            sharedChunks[s] = whole
        }
        var partRows = 0
        // Per sequence, the units it belongs to (in key order) and its first row in each.
        var memberships = [[(unit: Int, rowStart: Int)]](repeating: [], count: sequences.count)
        func addUnit(owner: Int, fromShared: Bool, _ members: [Int], chunk0: Int, chunkCount: Int, keyEnd: Int) {
            var rowStart: [Int] = [], positions: [Int] = []
            var rows = 0
            for s in members {
                memberships[s].append((units.count, rows))
                rowStart.append(rows)
                let seq = sequences[s]
                for t in 0..<seq.queryLength {
                    for _ in 0..<G { positions.append(seq.keyLength - seq.queryLength + t) }
                }
                rows += seq.queryLength * G
            }
            units.append(DecodeUnit(owner: owner, fromShared: fromShared, members: members, rowStart: rowStart, rows: rows, positions: positions,
                                    chunk0: chunk0, chunkCount: chunkCount, keyEnd: keyEnd, partBase: partRows))
            partRows += chunkCount * Hkv * rows
        }
        for id in order {
            var members = groups[id]!
            // Members agree on the chunks they share: the fewest any of them has.
            let whole = members.map { sharedChunks[$0] }.min()!
            if members.count == 1 { sharedChunks[members[0]] = 0; continue }
            for s in members { sharedChunks[s] = whole }
            members.sort()
            addUnit(owner: members[0], fromShared: true, members, chunk0: 0, chunkCount: whole, keyEnd: whole * chunk)
        }
        for (s, seq) in sequences.enumerated() {
            let first = sharedChunks[s]
            let total = (seq.keyLength + chunk - 1) / chunk
            addUnit(owner: s, fromShared: false, [s], chunk0: first, chunkCount: total - first, keyEnd: seq.keyLength)
        }
        return (units, memberships, partRows)
    }

    /// Adds rows `rows` of `cache` (keys, then values; `rowWidth` values a row) to `feed`, so
    /// that products running before a decode step prefetch them (see ``DecodePlan/reads``).
    public static func addRows(_ rows: Range<Int>, of cache: DecodeCache, rowWidth: Int, to feed: PrefetchFeed) {
        guard !rows.isEmpty else { return }
        let v = DecodeCache.Pointers(cache)
        if v.quantized {
            feed.add(v.k8! + rows.lowerBound * rowWidth, bytes: rows.count * rowWidth)
            feed.add(v.v8! + rows.lowerBound * rowWidth, bytes: rows.count * rowWidth)
        } else {
            feed.add(v.k32! + rows.lowerBound * rowWidth, bytes: rows.count * rowWidth * 4)
            feed.add(v.v32! + rows.lowerBound * rowWidth, bytes: rows.count * rowWidth * 4)
        }
    }

    /// Work memory of one decode worker: scaled queries `[rows, D]`, scores `[rows, chunk]`,
    /// and for 8-bit caches the int8 queries, P times the value scales and the query scales.
    /// Contents are scratch: every call writes what it reads.
    final class DecodeWorkspace: @unchecked Sendable {
        let q: FloatBuffer, s: FloatBuffer, q8: Int8Buffer, work: FloatBuffer
        let rows: Int, headDim: Int, chunk: Int, quantized: Bool
        init(rows: Int, headDim D: Int, chunk: Int, quantized: Bool) {
            (self.rows, self.headDim, self.chunk, self.quantized) = (rows, D, chunk, quantized)
            q = FloatBuffer(count: rows * D)
            s = FloatBuffer(count: rows * chunk)
            q8 = Int8Buffer(count: quantized ? rows * D : 0)
            work = FloatBuffer(count: quantized ? rows * chunk + rows : 0)
        }

        /// Whether this workspace serves a call needing `rows` rows of this shape.
        func fits(rows: Int, headDim D: Int, chunk: Int, quantized: Bool) -> Bool {
            rows <= self.rows && D == headDim && chunk == self.chunk && (!quantized || self.quantized)
        }
    }

    /// Decode scratch kept from one call to the next: each step of a batched decode calls
    /// attention once per layer, and allocating (and zero-filling) the workers' workspaces and
    /// the partial results afresh every time cost 2-5% of the step at batch 16 (half a
    /// megabyte per layer, often fresh pages). At most `keep` of each are kept.
    enum DecodeScratch {
        static let keep = 8
        private static let freeWorkspaces = Locked<[DecodeWorkspace]>([])
        private static let freeBuffers = Locked<[FloatBuffer]>([])

        /// `count` workspaces for calls of this shape (reused where one fits).
        static func workspaces(_ count: Int, rows: Int, headDim D: Int, chunk: Int, quantized: Bool) -> [DecodeWorkspace] {
            var out: [DecodeWorkspace] = []
            freeWorkspaces.withLock { free in
                while out.count < count, let i = free.firstIndex(where: { $0.fits(rows: rows, headDim: D, chunk: chunk, quantized: quantized) }) {
                    out.append(free.remove(at: i))
                }
            }
            while out.count < count { out.append(DecodeWorkspace(rows: rows, headDim: D, chunk: chunk, quantized: quantized)) }
            return out
        }

        /// A buffer of at least `count` floats (contents undefined).
        static func buffer(count: Int) -> FloatBuffer {
            let reused = freeBuffers.withLock { free -> FloatBuffer? in
                guard let i = free.indices.filter({ free[$0].count >= count }).min(by: { free[$0].count < free[$1].count }) else { return nil }
                return free.remove(at: i)
            }
            return reused ?? FloatBuffer(count: count)
        }

        /// Returns workspaces for later calls.
        static func recycle(_ spaces: [DecodeWorkspace]) {
            freeWorkspaces.withLock { free in
                free.append(contentsOf: spaces)
                if free.count > keep { free.removeFirst(free.count - keep) }
            }
        }

        /// Returns a buffer for later calls.
        static func recycle(_ buffer: FloatBuffer) {
            freeBuffers.withLock { free in
                free.append(buffer)
                if free.count > keep { free.removeFirst(free.count - keep) }
            }
        }
    }

    /// Partial attention of scaled query rows `ws.q [Hkv, rows, D]` over keys
    /// `keyStart ..< keyStart + keys` of `view` (scales of batch row `scaleRow`): `O [Hkv rows, D]
    /// = P V` with `P = exp(S - m)`, `m` the row maxima and `l` the row sums of `P`; rows that see no
    /// key get `m = -inf`, `l = 0`, `O = 0`. `mask(row, i)` hides keys of score row `i`.
    static func chunkPartials(
        _ ws: DecodeWorkspace, rows: Int, kvHeads Hkv: Int, headDim D: Int, view: DecodeCache.Pointers, scaleRow: Int,
        keyStart k0: Int, keys n: Int, O: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>,
        mask: (UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        let hr = Hkv * rows, chunk = ws.chunk
        let (Qp, S) = (ws.q.pointer, ws.s.pointer)
        if n <= 0 {
            O.update(repeating: 0, count: hr * D)
            m.update(repeating: -.infinity, count: hr)
            l.update(repeating: 0, count: hr)
            return
        }
        // S [Hkv, rows, n] = Q K_chunk^T, reading each cache row once for every head and row.
        let rowBase = k0 * Hkv * D
        let scaleBase = scaleRow * Hkv * view.scaleStride + k0
        if view.quantized {
            // Query rows to int8, one scale per row.
            let (Qq, qd) = (ws.q8.pointer, ws.work.pointer + hr * chunk)
            lra_quantize_heads(Qp, Int64(D), Int64(hr), 1, Int64(D), Qq, Int64(D), qd, 1)
            lra_scores_q8(Qq, qd, Int64(Hkv), Int64(rows), Int64(D), view.k8! + rowBase, Int64(Hkv * D),
                          view.keyScales! + scaleBase, Int64(view.scaleStride), Int64(n), S, Int64(chunk))
        } else {
            lra_scores(Qp, Int64(Hkv), Int64(rows), Int64(D), view.k32! + rowBase, Int64(Hkv * D), Int64(n), S, Int64(chunk))
        }
        for i in 0..<hr { mask(S + i * chunk, i) }
        lra_softmax_rows(S, Int64(chunk), Int64(hr), Int64(n), m, l)
        // O [Hkv, rows, D] = P V_chunk, again one pass over whole value rows.
        if view.quantized {
            lra_weighted_sum_q8(S, Int64(chunk), Int64(Hkv), Int64(rows), Int64(n), view.v8! + rowBase, Int64(Hkv * D),
                                view.valueScales! + scaleBase, Int64(view.scaleStride), Int64(D), O, ws.work.pointer)
        } else {
            lra_weighted_sum(S, Int64(chunk), Int64(Hkv), Int64(rows), Int64(n), view.v32! + rowBase, Int64(Hkv * D), Int64(D), O)
        }
    }

    /// Merges partial results (row `slot` of `O [*, D]`, `m`, `l`) in the order given into
    /// `out [D]`; writes the logsumexp to `lse` when given (-inf, and zeros, when no key was seen).
    static func mergePartials(
        slots: [Int], O: UnsafePointer<Float>, m: UnsafePointer<Float>, l: UnsafePointer<Float>, headDim D: Int,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?
    ) {
        var M = -Float.infinity
        for i in slots { M = max(M, m[i]) }
        out.update(repeating: 0, count: D)
        if M == -.infinity { lse?.pointee = -.infinity; return }
        var L: Float = 0
        for i in slots {
            let mc = m[i]
            if mc == -.infinity { continue }
            let w = VectorMath.exp(mc - M)
            L += l[i] * w
            VectorMath.axpy(w, O + i * D, out, D)
        }
        VectorMath.scale(out, D, by: 1 / L)
        lse?.pointee = M + Foundation.log(L)
    }
}
