// LayerNorm.swift: layer normalisation with a learned scale and shift (BERT / MiniLM).
//
// For each row x[n, :] of length C:
//   mean[n]   = mean_c x[n, c]
//   rstd[n]   = 1 / sqrt(mean_c (x[n, c] - mean[n])^2 + epsilon)   (biased variance)
//   out[n, c] = (x[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]
//
// Reference: Ba, Kiros & Hinton, "Layer Normalization" (2016); `torch.nn.LayerNorm`
// (BERT uses epsilon = 1e-12). Backward follows llm.c's `layernorm_backward`.
// Layout: row-major, the normalised dimension C is contiguous.
//
// Math names:
//   N = number of rows (tokens), C = channels (hidden size).

/// Layer normalisation over the last dimension, with a learned per-channel weight and bias.
public enum LayerNorm {
    /// `x: [N, C]`, `weight: [C]`, `bias: [C]`, `out: [N, C]`, saved `mean: [N]`, `rstd: [N]`.
    ///
    /// Computes `out[n, c] = (x[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]` with the mean
    /// and the biased variance taken over `c` (two passes, so large means do not cancel).
    /// The backward pass needs `x`, `weight` and the saved `mean` and `rstd`.
    /// `out` may alias `x` (each row is reduced before it is written).
    /// - Parameters:
    ///   - out: output, `N * C` floats, overwritten.
    ///   - mean: saved row means, `N` floats, overwritten.
    ///   - rstd: saved reciprocal standard deviations, `N` floats, overwritten.
    ///   - x: input, `N * C` floats.
    ///   - weight: per-channel scale, `C` floats.
    ///   - bias: per-channel shift, `C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    ///   - epsilon: added to the variance before the square root; must be >= 0.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>,
        N: Int, C: Int, epsilon: Float
    ) {
        precondition(N >= 0 && C >= 1, "LayerNorm.forward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        precondition(epsilon >= 0, "LayerNorm.forward: epsilon must be >= 0, got \(epsilon)")
        for n in 0..<N {
            let xRow = x + n * C
            let outRow = out + n * C
            // first pass: mean; second pass: biased variance around it
            let m = VectorMath.sum(xRow, C) / Float(C)
            let variance = VectorMath.sumOfSquaredDeviations(xRow, from: m, C) / Float(C)
            let s = 1 / (variance + epsilon).squareRoot()
            mean[n] = m
            rstd[n] = s
            // normalise, scale and shift (plain loop: vectorises)
            for c in 0..<C {
                outRow[c] = (xRow[c] - m) * s * weight[c] + bias[c]
            }
        }
    }

    /// `dout: [N, C]`, `x: [N, C]`, `weight: [C]`, saved `mean: [N]`, `rstd: [N]`;
    /// `dx: [N, C]`, `dWeight: [C]`, `dBias: [C]`.
    ///
    /// Gradients are ACCUMULATED: `dx += dL/dx`, `dWeight += dL/dweight`, `dBias += dL/dbias`,
    /// so callers zero them first (llm.c convention). Needs the forward's `x`, `weight` and the
    /// saved `mean` and `rstd`. `dx` must not alias `dout` or `x`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the input, `N * C` floats, accumulated into.
    ///   - dWeight: gradient w.r.t. the weight, `C` floats, accumulated into.
    ///   - dBias: gradient w.r.t. the bias, `C` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `N * C` floats.
    ///   - x: the forward input, `N * C` floats.
    ///   - weight: the forward weight, `C` floats.
    ///   - mean: the forward's saved row means, `N` floats.
    ///   - rstd: the forward's saved reciprocal standard deviations, `N` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>,
        dBias: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>,
        x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>,
        N: Int, C: Int
    ) {
        precondition(N >= 0 && C >= 1, "LayerNorm.backward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        // in the forward pass this was: out[c] = norm[c] * weight[c] + bias[c],
        //   norm[c] = (x[c] - mean) * rstd.
        // With dnorm[c] = dout[c] * weight[c], differentiating through mean and rstd gives
        //   dx[i] = rstd * (dnorm[i] - mean_c(dnorm[c]) - norm[i] * mean_c(dnorm[c] * norm[c]))
        //   dweight[c] = sum_n dout[n, c] * norm[n, c],  dbias[c] = sum_n dout[n, c]
        for n in 0..<N {
            let xRow = x + n * C
            let doutRow = dout + n * C
            let dxRow = dx + n * C
            let m = mean[n]
            let s = rstd[n]
            // the two row reductions: mean(dnorm) and mean(dnorm * norm)
            let dnormMean = VectorMath.dot(doutRow, weight, C) / Float(C)
            let dnormNormMean = VectorMath.dot3Centered(doutRow, weight, xRow, from: m, C) * s / Float(C)
            // accumulate the three gradients
            for c in 0..<C {
                let norm = (xRow[c] - m) * s
                let dnorm = doutRow[c] * weight[c]
                dxRow[c] += s * (dnorm - dnormMean - norm * dnormNormMean)
                dWeight[c] += doutRow[c] * norm
                dBias[c] += doutRow[c]
            }
        }
    }

    /// Naive reference for tests: `x: [N, C]`, `weight: [C]`, `bias: [C]` ->
    /// `(out: [N, C], mean: [N], rstd: [N])`, computed row by row in Double.
    public static func reference(
        x: [Float], weight: [Float], bias: [Float], N: Int, C: Int, epsilon: Float
    ) -> (out: [Float], mean: [Float], rstd: [Float]) {
        precondition(x.count == N * C && weight.count == C && bias.count == C,
                     "LayerNorm.reference: x has \(x.count) (want N*C=\(N * C)), weight \(weight.count), bias \(bias.count) (want C=\(C))")
        var out = [Float](repeating: 0, count: N * C)
        var means = [Float](repeating: 0, count: N)
        var rstds = [Float](repeating: 0, count: N)
        for n in 0..<N {
            var m = 0.0
            for c in 0..<C { m += Double(x[n * C + c]) }
            m /= Double(C)
            var v = 0.0
            for c in 0..<C {
                let d = Double(x[n * C + c]) - m
                v += d * d
            }
            v /= Double(C)
            let s = 1 / (v + Double(epsilon)).squareRoot()
            means[n] = Float(m)
            rstds[n] = Float(s)
            for c in 0..<C {
                out[n * C + c] = Float((Double(x[n * C + c]) - m) * s * Double(weight[c]) + Double(bias[c]))
            }
        }
        return (out, means, rstds)
    }
}
