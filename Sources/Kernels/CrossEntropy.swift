// CrossEntropy.swift: the LM head fused with log-softmax and target gathering, over row chunks.
//
//   z = h W^T                       logits (never materialised for all N rows at once)
//   logprob[n] = z[n, t_n] - logsumexp_v z[n, v]
//
// Equivalent to PyTorch's `log_softmax(h @ W.T, -1).gather(-1, t)`. Rows are processed in
// chunks of `chunkRows`, so work memory is chunkRows x V floats, never N x V. The backward
// recomputes each chunk's logits from the saved logsumexp (like flash attention's backward).
//
// Names: N rows (tokens), C hidden size, V vocabulary. Layout row-major:
//   hidden: [N, C]   weight: [V, C] (a tied embedding table is used as is)   targets: [N]

import Foundation

/// Fused LM head + per-token log-probabilities of target tokens (forward and backward).
public enum LMHeadCrossEntropy {

    /// Default rows per chunk: 64 x 49152 floats = 12 MiB of logits for SmolLM2.
    public static let defaultChunkRows = 64

    /// Log-probabilities of `targets` under `softmax(hidden W^T)`.
    ///
    /// Shapes: `hidden: [N, C]`, `weight: [V, C]`, `targets: [N]` (a negative target marks a
    /// row to ignore: its log-prob is 0), `logprobs: [N]`, saved `lse: [N]` (the backward needs
    /// `hidden`, `weight`, `targets`, `lse`). Work memory: `chunkRows * V` floats.
    /// BLAS threads follow ``GEMM/threadCount``.
    public static func forward(
        logprobs: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        N: Int, C: Int, V: Int, chunkRows: Int = defaultChunkRows
    ) {
        precondition(N >= 0 && C >= 1 && V >= 1 && chunkRows >= 1, "LMHeadCrossEntropy: bad sizes N=\(N) C=\(C) V=\(V) chunk=\(chunkRows)")
        let logits = FloatBuffer(count: min(N, chunkRows) * V)
        var n0 = 0
        while n0 < N {
            let rows = min(chunkRows, N - n0)
            GEMM.multiply(
                m: rows, n: V, k: C, a: hidden + n0 * C, lda: C, b: weight, ldb: C, transB: .transposed,
                c: logits.pointer, ldc: V)
            for r in 0..<rows {
                let z = logits.pointer + r * V
                let t = Int(targets[n0 + r])
                precondition(t < V, "LMHeadCrossEntropy: target \(t) at row \(n0 + r) outside vocabulary \(V)")
                let l = VectorMath.logSumExp(z, V)
                lse[n0 + r] = l
                logprobs[n0 + r] = t < 0 ? 0 : z[t] - l
            }
            n0 += rows
        }
    }

    /// Backward of ``forward(logprobs:lse:hidden:weight:targets:N:C:V:chunkRows:)``.
    /// Gradients are **accumulated** into `dHidden` and `dWeight`.
    ///
    /// Shapes: `dLogprobs: [N]` (dLoss/dlogprob per row; ignored rows contribute nothing),
    /// `dHidden: [N, C]`, `dWeight: [V, C]`, and the forward's `hidden`, `weight`, `targets`, `lse`.
    /// In the forward pass this was `logprob[n] = z[n, t_n] - lse[n]` with `z = h W^T`, so
    /// `dz[n, v] = g_n * ([v == t_n] - exp(z[n, v] - lse[n]))`, `dh = dz W`, `dW += dz^T h`.
    public static func backward(
        dHidden: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
        dLogprobs: UnsafePointer<Float>,
        hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        lse: UnsafePointer<Float>,
        N: Int, C: Int, V: Int, chunkRows: Int = defaultChunkRows
    ) {
        precondition(N >= 0 && C >= 1 && V >= 1 && chunkRows >= 1, "LMHeadCrossEntropy: bad sizes N=\(N) C=\(C) V=\(V) chunk=\(chunkRows)")
        let logits = FloatBuffer(count: min(N, chunkRows) * V)
        var n0 = 0
        while n0 < N {
            let rows = min(chunkRows, N - n0)
            GEMM.multiply(
                m: rows, n: V, k: C, a: hidden + n0 * C, lda: C, b: weight, ldb: C, transB: .transposed,
                c: logits.pointer, ldc: V)
            for r in 0..<rows {
                let dz = logits.pointer + r * V
                let t = Int(targets[n0 + r])
                let g = t < 0 ? 0 : dLogprobs[n0 + r]
                if g == 0 { dz.update(repeating: 0, count: V); continue }
                // dz = -g * softmax(z), then + g at the target.
                _ = VectorMath.expShiftSum(dz, V, shift: lse[n0 + r])
                VectorMath.scale(dz, V, by: -g)
                dz[t] += g
            }
            // dh[chunk] += dz W ;  dW += dz^T h[chunk]
            GEMM.multiply(
                m: rows, n: C, k: V, a: logits.pointer, lda: V, b: weight, ldb: C,
                c: dHidden + n0 * C, ldc: C, beta: 1)
            GEMM.multiply(
                m: V, n: C, k: rows, a: logits.pointer, lda: V, transA: .transposed, b: hidden + n0 * C, ldb: C,
                c: dWeight, ldc: C, beta: 1)
            n0 += rows
        }
    }

    /// Naive reference in Double: full logits per row, log-softmax, gather. For tests.
    /// Returns `(logprobs: [N], lse: [N])`.
    public static func referenceForward(
        hidden: [Float], weight: [Float], targets: [Int32], N: Int, C: Int, V: Int
    ) -> (logprobs: [Double], lse: [Double]) {
        var lp = [Double](repeating: 0, count: N), lse = [Double](repeating: 0, count: N)
        for n in 0..<N {
            var z = [Double](repeating: 0, count: V)
            for v in 0..<V {
                var s = 0.0
                for c in 0..<C { s += Double(hidden[n * C + c]) * Double(weight[v * C + c]) }
                z[v] = s
            }
            let m = z.max()!
            let l = m + log(z.reduce(0) { $0 + exp($1 - m) })
            lse[n] = l
            lp[n] = targets[n] < 0 ? 0 : z[Int(targets[n])] - l
        }
        return (lp, lse)
    }
}
