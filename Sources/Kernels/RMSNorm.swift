// RMSNorm.swift: root-mean-square normalisation, the pre-norm of every Llama block.
//
// For each row x[n, :] of length C:
//   rstd[n]   = 1 / sqrt(mean_c(x[n, c]^2) + epsilon)
//   out[n, c] = x[n, c] * rstd[n] * weight[c]
// There is no mean subtraction and no bias (unlike LayerNorm).
//
// Reference: Zhang & Sennrich, "Root Mean Square Layer Normalization" (2019);
// `LlamaRMSNorm` in Hugging Face transformers (SmolLM2 uses epsilon = 1e-5).
// Layout: row-major, the normalised dimension C is contiguous.
//
// Math names:
//   N = number of rows (tokens), C = channels (hidden size).

/// Root-mean-square normalisation over the last dimension, with a learned per-channel scale.
public enum RMSNorm {
    /// `x: [N, C]`, `weight: [C]`, `out: [N, C]`, saved `rstd: [N]`.
    ///
    /// Computes `rstd[n] = 1 / sqrt(mean_c(x[n, c]^2) + epsilon)` and
    /// `out[n, c] = x[n, c] * rstd[n] * weight[c]`. The backward pass needs `x`, `weight` and the
    /// saved `rstd`. `out` may alias `x` (each row is reduced before it is written).
    /// - Parameters:
    ///   - out: output, `N * C` floats, overwritten.
    ///   - rstd: saved reciprocal RMS per row, `N` floats, overwritten.
    ///   - x: input, `N * C` floats.
    ///   - weight: per-channel scale, `C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    ///   - epsilon: added to the mean square before the square root; must be >= 0.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>,
        N: Int, C: Int, epsilon: Float
    ) {
        precondition(N >= 0 && C >= 1, "RMSNorm.forward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        precondition(epsilon >= 0, "RMSNorm.forward: epsilon must be >= 0, got \(epsilon)")
        for n in 0..<N {
            let xRow = x + n * C
            let outRow = out + n * C
            // mean of squares, then the reciprocal root
            let meanSquare = VectorMath.sumOfSquares(xRow, C) / Float(C)
            let r = 1 / (meanSquare + epsilon).squareRoot()
            rstd[n] = r
            // scale and apply the learned weight (plain loop: vectorises)
            for c in 0..<C {
                outRow[c] = xRow[c] * r * weight[c]
            }
        }
    }

    /// `dout: [N, C]`, `x: [N, C]`, `weight: [C]`, saved `rstd: [N]`; `dx: [N, C]`, `dWeight: [C]`.
    ///
    /// Gradients are ACCUMULATED: `dx += dL/dx` and `dWeight += dL/dweight`, so callers zero
    /// them first (llm.c convention). Needs the forward's `x`, `weight` and saved `rstd`.
    /// `dx` must not alias `dout` or `x`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the input, `N * C` floats, accumulated into.
    ///   - dWeight: gradient w.r.t. the weight, `C` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `N * C` floats.
    ///   - x: the forward input, `N * C` floats.
    ///   - weight: the forward weight, `C` floats.
    ///   - rstd: the forward's saved reciprocal RMS, `N` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>,
        x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>,
        N: Int, C: Int
    ) {
        precondition(N >= 0 && C >= 1, "RMSNorm.backward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        // in the forward pass this was: out[c] = x[c] * r * weight[c], r = (mean_c x[c]^2 + eps)^(-1/2)
        // dr/dx[i] = -r^3 * x[i] / C, so with g[c] = dout[c] * weight[c]:
        //   dx[i] = r * g[i] - (r^3 / C) * x[i] * sum_c g[c] * x[c]
        //         = r * (g[i] - x[i] * r^2 * mean_c(g[c] * x[c]))
        //   dweight[c] = sum_n dout[n, c] * x[n, c] * r[n]
        for n in 0..<N {
            let xRow = x + n * C
            let doutRow = dout + n * C
            let dxRow = dx + n * C
            let r = rstd[n]
            let gxMean = VectorMath.dot3(doutRow, weight, xRow, C) / Float(C)
            let k = r * r * gxMean
            for c in 0..<C {
                dxRow[c] += r * (doutRow[c] * weight[c] - xRow[c] * k)
                dWeight[c] += doutRow[c] * xRow[c] * r
            }
        }
    }

    /// Naive reference for tests: `x: [N, C]`, `weight: [C]` -> `(out: [N, C], rstd: [N])`,
    /// computed row by row in Double and rounded to Float at the end.
    public static func reference(
        x: [Float], weight: [Float], N: Int, C: Int, epsilon: Float
    ) -> (out: [Float], rstd: [Float]) {
        precondition(x.count == N * C && weight.count == C,
                     "RMSNorm.reference: x has \(x.count) (want N*C=\(N * C)), weight has \(weight.count) (want C=\(C))")
        var out = [Float](repeating: 0, count: N * C)
        var rstd = [Float](repeating: 0, count: N)
        for n in 0..<N {
            var meanSquare = 0.0
            for c in 0..<C { meanSquare += Double(x[n * C + c]) * Double(x[n * C + c]) }
            meanSquare /= Double(C)
            let r = 1 / (meanSquare + Double(epsilon)).squareRoot()
            rstd[n] = Float(r)
            for c in 0..<C { out[n * C + c] = Float(Double(x[n * C + c]) * r * Double(weight[c])) }
        }
        return (out, rstd)
    }
}
