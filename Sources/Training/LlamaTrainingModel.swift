// LlamaTrainingModel.swift: forward and backward of a Llama decoder over a packed batch, with
// per-layer recomputation. Port of the Llama architecture as Hugging Face's LlamaForCausalLM
// defines it (pre-norm RMSNorm blocks, RoPE, grouped-query attention, SwiGLU MLP, optional tied
// LM head), written from that description on this project's kernels.
//
// Per block, on the T packed tokens x: [T, C]:
//   h1 = RMSNorm(x) ; q = h1 Wq^T, k = h1 Wk^T, v = h1 Wv^T ; RoPE(q, k)
//   o  = Attention(q, k, v)              per span, causal, segment mask (PackedBatch.swift)
//   x2 = x + o Wo^T
//   h2 = RMSNorm(x2) ; g = h2 Wg^T, u = h2 Wu^T ; a = SiLU(g) * u
//   y  = x2 + a Wd^T
// then h = RMSNorm(y_L) and, on the M scored rows only, logprob = log_softmax(h W_out^T)[target].
//
// Memory: the forward keeps only each block's input (L + 1 buffers of T x C) and its attention
// output and logsumexp (L x T x (H D + H)); the backward recomputes one block's token-wise
// activations from its input (projections, norms, SwiGLU; never the attention), backpropagates
// through it and drops them. Peak activation memory is (2L + 1) T C + one block's working set (about 3 T F + 6 T C floats)
// + the flash-attention workspace (O(block^2) per thread) + the LM head's chunk (64 x V):
// never T x T, never T x V. `recompute = false` keeps every block's activations instead (one
// forward less per step; memory grows by L times the working set).
//
// Names: T packed tokens, C hidden, F FFN width, H / Hkv heads, D head dim, V vocabulary,
// M scored answer tokens, L layers.

import Kernels
import Models

/// Forward and backward of a Llama over ``PackedBatch``es, accumulating into ``gradients``.
///
/// ```swift
/// let model = LlamaTrainingModel(weights: weights)
/// let logps = model.forwardBackward(batch) { answerLogps in
///     answerLogps.map { _ in -1.0 / Double(answerLogps.count) }   // dLoss / d(sum logp)
/// }
/// ```
public final class LlamaTrainingModel: @unchecked Sendable {
    /// The weights being trained.
    public let weights: LlamaParameters
    /// Gradients, same table; ``forwardBackward(_:lossGradient:)`` adds into them.
    public let gradients: LlamaParameters
    /// Worker threads for GEMMs (OpenBLAS) and attention.
    public var threads: Int
    /// Recompute each block in the backward (default) instead of keeping its activations.
    public var recompute: Bool
    private var rope: RoPE.Table

    /// Wraps `weights`; gradients start at zero.
    public init(weights: LlamaParameters, threads: Int = 1, recompute: Bool = true) {
        self.weights = weights
        gradients = LlamaParameters(architecture: weights.architecture)
        self.threads = max(1, threads)
        self.recompute = recompute
        let c = weights.configuration
        rope = RoPE.Table(maxPositions: max(16, min(c.contextLength, 4096)), headDim: c.headDim, base: c.ropeBase)
    }

    private var c: LlamaConfiguration { weights.configuration }

    private func ropeTable(covering limit: Int) -> RoPE.Table {
        if rope.maxPositions < limit {
            rope = RoPE.Table(maxPositions: max(limit, rope.maxPositions * 2), headDim: c.headDim, base: c.ropeBase)
        }
        return rope
    }

    // MARK: - Public entry points

    /// Summed log-probabilities of every answer in `batch` (no gradient).
    public func answerLogProbabilities(_ batch: PackedBatch) -> [Double] {
        sums(tokenLogProbabilities(batch), batch)
    }

    /// Log-probability of every scored answer token of `batch`, in ``PackedBatch/targets`` order.
    public func tokenLogProbabilities(_ batch: PackedBatch) -> [Float] {
        withThreads {
            let a = arena(T: batch.count, M: batch.targets.count)
            let ws = a.ws
            let (x, y) = (a.xs[0], a.xs[1])
            embed(batch, into: x)
            var (cur, next) = (x, y)
            for l in 0..<c.layerCount {
                blockForward(l, x: cur.pointer, out: next.pointer, acts: ws.block, batch)
                swap(&cur, &next)
            }
            head(batch, xL: cur, ws)
            return Array(UnsafeBufferPointer(start: ws.logprobs.pointer, count: batch.targets.count))
        }
    }

    /// Forward, loss gradient, backward. `lossGradient` receives the summed log-prob of every
    /// answer and returns dLoss/d(sum) for each; gradients of the weights are ADDED into
    /// ``gradients``. Returns the answers' summed log-probs.
    public func forwardBackward(_ batch: PackedBatch, lossGradient: ([Double]) -> [Double]) -> [Double] {
        withThreads {
            let (T, C, L) = (batch.count, c.hiddenSize, c.layerCount)
            let a = arena(T: T, M: batch.targets.count)
            let (ws, xs, kept, savedAttention) = (a.ws, a.xs, a.kept, a.savedAttention)
            embed(batch, into: xs[0])
            for l in 0..<L {
                blockForward(l, x: xs[l].pointer, out: xs[l + 1].pointer, acts: kept?[l] ?? ws.block, batch, attention: savedAttention?[l])
            }
            head(batch, xL: xs[L], ws)
            let tokenLogps = Array(UnsafeBufferPointer(start: ws.logprobs.pointer, count: batch.targets.count))
            let answerSums = sums(tokenLogps, batch)
            let dSum = lossGradient(answerSums)
            precondition(dSum.count == answerSums.count, "lossGradient returned \(dSum.count) values for \(answerSums.count) answers")
            for m in 0..<batch.targets.count { ws.dLogprobs.pointer[m] = Float(dSum[Int(batch.answerOfRow[m])]) }

            // LM head and final norm.
            let (dX, dY) = (a.dX, a.dY)
            headBackward(batch, xL: xs[L], dxL: dY, ws)
            var (dOut, dIn) = (dY, dX)
            for l in stride(from: L - 1, through: 0, by: -1) {
                let acts: BlockActivations
                if let kept { acts = kept[l] } else {
                    acts = ws.block
                    blockForward(l, x: xs[l].pointer, out: nil, acts: acts, batch, attention: savedAttention![l], reuseAttention: true)  // recompute
                }
                blockBackward(l, x: xs[l].pointer, acts: acts, dOut: dOut.pointer, dX: dIn.pointer, ws, batch)
                swap(&dOut, &dIn)
            }
            batch.tokens.withUnsafeBufferPointer { ids in
                Embedding.backward(dTable: gradients[.tokenEmbedding], dout: dOut.pointer, ids: ids.baseAddress!, N: T, V: c.vocabularySize, C: C)
            }
            return answerSums
        }
    }

    private func withThreads<R>(_ body: () -> R) -> R {
        let saved = GEMM.threadCount
        GEMM.threadCount = threads
        defer { GEMM.threadCount = saved }
        return body()
    }

    private func sums(_ tokenLogps: [Float], _ batch: PackedBatch) -> [Double] {
        var out = [Double](repeating: 0, count: batch.answerLengths.count)
        for (m, lp) in tokenLogps.enumerated() { out[Int(batch.answerOfRow[m])] += Double(lp) }
        return out
    }

    // MARK: - Buffers

    /// Every buffer one call needs, kept between calls (allocating and page-faulting gigabytes
    /// per step costs more than the step's non-GEMM work) and grown when a batch is larger.
    final class Arena {
        let T, M: Int
        let recompute: Bool
        let ws: Workspace
        /// Block inputs x_0 .. x_L (x_L is the final norm's input).
        let xs: [FloatBuffer]
        /// Without recomputation: every block's activations.
        let kept: [BlockActivations]?
        /// With recomputation: each block's attention output and logsumexp
        /// (T x H x D + T x H floats a layer), so the backward reruns only the token-wise products.
        let savedAttention: [(o: FloatBuffer, lse: FloatBuffer)]?
        let dX, dY: FloatBuffer

        init(_ c: LlamaConfiguration, T: Int, M: Int, recompute: Bool) {
            (self.T, self.M, self.recompute) = (T, M, recompute)
            let L = c.layerCount
            ws = Workspace(c, T: T, M: M)
            xs = (0...L).map { _ in FloatBuffer(count: T * c.hiddenSize) }
            kept = recompute ? nil : (0..<L).map { _ in BlockActivations(c, T: T) }
            savedAttention = recompute ? (0..<L).map { _ in (FloatBuffer(count: T * c.headCount * c.headDim), FloatBuffer(count: T * c.headCount)) } : nil
            dX = FloatBuffer(count: T * c.hiddenSize)
            dY = FloatBuffer(count: T * c.hiddenSize)
        }
    }

    private var cachedArena: Arena?

    /// An arena for at least `T` tokens and `M` scored rows.
    private func arena(T: Int, M: Int) -> Arena {
        if let a = cachedArena, a.T >= T, a.M >= M, a.recompute == recompute { return a }
        cachedArena = nil  // free the old one first
        let a = Arena(c, T: T, M: max(M, 1), recompute: recompute)
        cachedArena = a
        return a
    }

    /// Frees the buffers kept between calls.
    public func releaseBuffers() { cachedArena = nil }

    /// One block's activations over T tokens (what its backward needs).
    final class BlockActivations {
        let h1, rstd1, q, k, v, o, lse, x2, h2, rstd2, g, u, a: FloatBuffer
        init(_ c: LlamaConfiguration, T: Int) {
            let (C, F, HD, KD) = (c.hiddenSize, c.intermediateSize, c.headCount * c.headDim, c.kvHeadCount * c.headDim)
            h1 = FloatBuffer(count: T * C); rstd1 = FloatBuffer(count: T)
            q = FloatBuffer(count: T * HD); k = FloatBuffer(count: T * KD); v = FloatBuffer(count: T * KD)
            o = FloatBuffer(count: T * HD); lse = FloatBuffer(count: T * c.headCount)
            x2 = FloatBuffer(count: T * C); h2 = FloatBuffer(count: T * C); rstd2 = FloatBuffer(count: T)
            g = FloatBuffer(count: T * F); u = FloatBuffer(count: T * F); a = FloatBuffer(count: T * F)
        }
    }

    /// Buffers reused across blocks in one call: one block's activations and gradients, and the
    /// LM head's gathered rows.
    final class Workspace {
        let block: BlockActivations
        let dx2, dh, dA, dG, dU, dO, dq, dk, dv: FloatBuffer
        let hF, rstdF, gathered, logprobs, lseHead, dLogprobs, dGathered: FloatBuffer
        init(_ c: LlamaConfiguration, T: Int, M: Int) {
            let (C, F, HD, KD) = (c.hiddenSize, c.intermediateSize, c.headCount * c.headDim, c.kvHeadCount * c.headDim)
            block = BlockActivations(c, T: T)
            dx2 = FloatBuffer(count: T * C); dh = FloatBuffer(count: T * C)
            dA = FloatBuffer(count: T * F); dG = FloatBuffer(count: T * F); dU = FloatBuffer(count: T * F)
            dO = FloatBuffer(count: T * HD); dq = FloatBuffer(count: T * HD); dk = FloatBuffer(count: T * KD); dv = FloatBuffer(count: T * KD)
            hF = FloatBuffer(count: T * C); rstdF = FloatBuffer(count: T)
            gathered = FloatBuffer(count: max(1, M) * C); logprobs = FloatBuffer(count: max(1, M)); lseHead = FloatBuffer(count: max(1, M))
            dLogprobs = FloatBuffer(count: max(1, M)); dGathered = FloatBuffer(count: max(1, M) * C)
        }
    }

    // MARK: - Embedding and head

    private func embed(_ batch: PackedBatch, into x: FloatBuffer) {
        batch.tokens.withUnsafeBufferPointer { ids in
            Embedding.forward(out: x.pointer, ids: ids.baseAddress!, table: weights[.tokenEmbedding], N: batch.count, V: c.vocabularySize, C: c.hiddenSize)
        }
    }

    /// Final norm, gather of the scored rows, fused LM head + log-softmax.
    private func head(_ batch: PackedBatch, xL: FloatBuffer, _ ws: Workspace) {
        let (T, C, M) = (batch.count, c.hiddenSize, batch.targets.count)
        RMSNorm.forward(out: ws.hF.pointer, rstd: ws.rstdF.pointer, x: xL.pointer, weight: weights[.outputNorm], N: T, C: C, epsilon: c.rmsNormEpsilon)
        for m in 0..<M {
            (ws.gathered.pointer + m * C).update(from: ws.hF.pointer + Int(batch.scoredRows[m]) * C, count: C)
        }
        batch.targets.withUnsafeBufferPointer { t in
            LMHeadCrossEntropy.forward(
                logprobs: ws.logprobs.pointer, lse: ws.lseHead.pointer, hidden: ws.gathered.pointer,
                weight: weights[.output], targets: t.baseAddress!, N: M, C: C, V: c.vocabularySize)
        }
    }

    /// Backward of ``head(_:xL:_:)`` given `ws.dLogprobs`; writes dLoss/dx_L into `dxL`.
    private func headBackward(_ batch: PackedBatch, xL: FloatBuffer, dxL: FloatBuffer, _ ws: Workspace) {
        let (T, C, M) = (batch.count, c.hiddenSize, batch.targets.count)
        ws.dGathered.zero()
        batch.targets.withUnsafeBufferPointer { t in
            LMHeadCrossEntropy.backward(
                dHidden: ws.dGathered.pointer, dWeight: gradients[.output], dLogprobs: ws.dLogprobs.pointer,
                hidden: ws.gathered.pointer, weight: weights[.output], targets: t.baseAddress!, lse: ws.lseHead.pointer,
                N: M, C: C, V: c.vocabularySize)
        }
        // in the forward pass this was: gathered[m] = hF[row(m)]; rows repeat (the prompt's
        // last token predicts every answer's first token), so the scatter adds.
        let dhF = ws.dh
        dhF.zero()
        for m in 0..<M {
            VectorMath.add(ws.dGathered.pointer + m * C, into: dhF.pointer + Int(batch.scoredRows[m]) * C, C)
        }
        dxL.zero()
        RMSNorm.backward(dx: dxL.pointer, dWeight: gradients[.outputNorm], dout: dhF.pointer, x: xL.pointer, weight: weights[.outputNorm], rstd: ws.rstdF.pointer, N: T, C: C)
    }

    // MARK: - Block

    /// `y = W x` for every row: `out[T, n] = inp[T, k] W[n, k]^T`.
    @inline(__always)
    private func linear(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>, T: Int, n: Int, k: Int, accumulate: Bool = false) {
        GEMM.multiply(m: T, n: n, k: k, a: inp, lda: k, b: w, ldb: k, transB: .transposed, c: out, ldc: n, beta: accumulate ? 1 : 0)
    }

    /// Backward of ``linear``: `dInp[T, k] (+)= dOut[T, n] W[n, k]`, `dW[n, k] += dOut^T inp`.
    @inline(__always)
    private func linearBackward(dInp: UnsafeMutablePointer<Float>, accumulate: Bool, dW: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>, w: UnsafePointer<Float>, T: Int, n: Int, k: Int) {
        GEMM.multiply(m: T, n: k, k: n, a: dOut, lda: n, b: w, ldb: k, c: dInp, ldc: k, beta: accumulate ? 1 : 0)
        GEMM.multiply(m: n, n: k, k: T, a: dOut, lda: n, transA: .transposed, b: inp, ldb: k, c: dW, ldc: k, beta: 1)
    }

    private func attentionShape(_ n: Int) -> AttentionShape {
        AttentionShape(batch: 1, queryLength: n, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim)
    }

    /// One block on the packed tokens; `out` nil recomputes the activations only (the backward
    /// needs everything up to `a`, not the block's output).
    /// `attention`: where the attention output and logsumexp go (default: `acts`); with
    /// `reuseAttention` they already hold this block's values and attention is not rerun.
    private func blockForward(
        _ l: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>?, acts s: BlockActivations, _ batch: PackedBatch,
        attention: (o: FloatBuffer, lse: FloatBuffer)? = nil, reuseAttention: Bool = false
    ) {
        let (T, C, F, H, Hkv, D) = (batch.count, c.hiddenSize, c.intermediateSize, c.headCount, c.kvHeadCount, c.headDim)
        let w = weights
        RMSNorm.forward(out: s.h1.pointer, rstd: s.rstd1.pointer, x: x, weight: w[.attentionNorm, layer: l], N: T, C: C, epsilon: c.rmsNormEpsilon)
        linear(s.q.pointer, s.h1.pointer, w[.query, layer: l], T: T, n: H * D, k: C)
        linear(s.k.pointer, s.h1.pointer, w[.key, layer: l], T: T, n: Hkv * D, k: C)
        linear(s.v.pointer, s.h1.pointer, w[.value, layer: l], T: T, n: Hkv * D, k: C)
        let table = ropeTable(covering: batch.positionLimit)
        batch.positions.withUnsafeBufferPointer { pos in
            RoPE.forward(x: s.q.pointer, positions: pos.baseAddress!, table: table, N: T, H: H, D: D, convention: c.ropeConvention)
            RoPE.forward(x: s.k.pointer, positions: pos.baseAddress!, table: table, N: T, H: Hkv, D: D, convention: c.ropeConvention)
        }
        let (o, lse) = attention ?? (s.o, s.lse)
        for span in batch.spans where !reuseAttention {
            let n = span.count, t0 = span.lowerBound
            let mask = AttentionMask(causal: true, segments: Array(batch.segments[span]))
            Attention.forward(
                out: o.pointer + t0 * H * D, lse: lse.pointer + t0 * H,
                q: s.q.pointer + t0 * H * D, k: s.k.pointer + t0 * Hkv * D, v: s.v.pointer + t0 * Hkv * D,
                shape: attentionShape(n), mask: mask, threads: threads)
        }
        if o !== s.o {  // the backward reads the block's attention from `acts`
            s.o.pointer.update(from: o.pointer, count: T * H * D)
            s.lse.pointer.update(from: lse.pointer, count: T * H)
        }
        s.x2.pointer.update(from: x, count: T * C)
        linear(s.x2.pointer, s.o.pointer, w[.attentionOutput, layer: l], T: T, n: C, k: H * D, accumulate: true)
        RMSNorm.forward(out: s.h2.pointer, rstd: s.rstd2.pointer, x: s.x2.pointer, weight: w[.ffnNorm, layer: l], N: T, C: C, epsilon: c.rmsNormEpsilon)
        linear(s.g.pointer, s.h2.pointer, w[.gate, layer: l], T: T, n: F, k: C)
        linear(s.u.pointer, s.h2.pointer, w[.up, layer: l], T: T, n: F, k: C)
        SwiGLU.forward(out: s.a.pointer, gate: s.g.pointer, up: s.u.pointer, N: T, F: F)
        guard let out else { return }
        out.update(from: s.x2.pointer, count: T * C)
        linear(out, s.a.pointer, w[.down, layer: l], T: T, n: C, k: F, accumulate: true)
    }

    /// Backward of ``blockForward``: given `dOut = dLoss/dy`, writes `dX = dLoss/dx` and adds
    /// the block's weight gradients.
    private func blockBackward(_ l: Int, x: UnsafePointer<Float>, acts s: BlockActivations, dOut: UnsafePointer<Float>, dX: UnsafeMutablePointer<Float>, _ ws: Workspace, _ batch: PackedBatch) {
        let (T, C, F, H, Hkv, D) = (batch.count, c.hiddenSize, c.intermediateSize, c.headCount, c.kvHeadCount, c.headDim)
        let (w, g) = (weights, gradients)
        // in the forward pass this was: y = x2 + a Wd^T, a = SiLU(gate) * up
        ws.dx2.pointer.update(from: dOut, count: T * C)
        linearBackward(dInp: ws.dA.pointer, accumulate: false, dW: g[.down, layer: l], dOut: dOut, inp: s.a.pointer, w: w[.down, layer: l], T: T, n: C, k: F)
        ws.dG.zero(); ws.dU.zero()
        SwiGLU.backward(dGate: ws.dG.pointer, dUp: ws.dU.pointer, dout: ws.dA.pointer, gate: s.g.pointer, up: s.u.pointer, N: T, F: F)
        // gate = h2 Wg^T, up = h2 Wu^T
        linearBackward(dInp: ws.dh.pointer, accumulate: false, dW: g[.gate, layer: l], dOut: ws.dG.pointer, inp: s.h2.pointer, w: w[.gate, layer: l], T: T, n: F, k: C)
        linearBackward(dInp: ws.dh.pointer, accumulate: true, dW: g[.up, layer: l], dOut: ws.dU.pointer, inp: s.h2.pointer, w: w[.up, layer: l], T: T, n: F, k: C)
        // h2 = RMSNorm(x2)
        RMSNorm.backward(dx: ws.dx2.pointer, dWeight: g[.ffnNorm, layer: l], dout: ws.dh.pointer, x: s.x2.pointer, weight: w[.ffnNorm, layer: l], rstd: s.rstd2.pointer, N: T, C: C)
        // x2 = x + o Wo^T
        linearBackward(dInp: ws.dO.pointer, accumulate: false, dW: g[.attentionOutput, layer: l], dOut: ws.dx2.pointer, inp: s.o.pointer, w: w[.attentionOutput, layer: l], T: T, n: C, k: H * D)
        // o = Attention(q, k, v) per span
        ws.dq.zero(); ws.dk.zero(); ws.dv.zero()
        for span in batch.spans {
            let n = span.count, t0 = span.lowerBound
            let mask = AttentionMask(causal: true, segments: Array(batch.segments[span]))
            Attention.backward(
                dq: ws.dq.pointer + t0 * H * D, dk: ws.dk.pointer + t0 * Hkv * D, dv: ws.dv.pointer + t0 * Hkv * D,
                dout: ws.dO.pointer + t0 * H * D,
                q: s.q.pointer + t0 * H * D, k: s.k.pointer + t0 * Hkv * D, v: s.v.pointer + t0 * Hkv * D,
                out: s.o.pointer + t0 * H * D, lse: s.lse.pointer + t0 * H,
                shape: attentionShape(n), mask: mask, threads: threads)
        }
        // q, k were rotated in place: undo the rotation on their gradients
        let table = ropeTable(covering: batch.positionLimit)
        batch.positions.withUnsafeBufferPointer { pos in
            RoPE.backward(dx: ws.dq.pointer, positions: pos.baseAddress!, table: table, N: T, H: H, D: D, convention: c.ropeConvention)
            RoPE.backward(dx: ws.dk.pointer, positions: pos.baseAddress!, table: table, N: T, H: Hkv, D: D, convention: c.ropeConvention)
        }
        // q = h1 Wq^T, k = h1 Wk^T, v = h1 Wv^T
        linearBackward(dInp: ws.dh.pointer, accumulate: false, dW: g[.query, layer: l], dOut: ws.dq.pointer, inp: s.h1.pointer, w: w[.query, layer: l], T: T, n: H * D, k: C)
        linearBackward(dInp: ws.dh.pointer, accumulate: true, dW: g[.key, layer: l], dOut: ws.dk.pointer, inp: s.h1.pointer, w: w[.key, layer: l], T: T, n: Hkv * D, k: C)
        linearBackward(dInp: ws.dh.pointer, accumulate: true, dW: g[.value, layer: l], dOut: ws.dv.pointer, inp: s.h1.pointer, w: w[.value, layer: l], T: T, n: Hkv * D, k: C)
        // h1 = RMSNorm(x), and the residual: dx = dx2 + RMSNorm'(dh1)
        dX.update(from: ws.dx2.pointer, count: T * C)
        RMSNorm.backward(dx: dX, dWeight: g[.attentionNorm, layer: l], dout: ws.dh.pointer, x: x, weight: w[.attentionNorm, layer: l], rstd: s.rstd1.pointer, N: T, C: C)
    }
}
