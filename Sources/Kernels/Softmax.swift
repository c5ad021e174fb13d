// Softmax.swift: softmax and log-softmax over the last dimension (attention, LM-head scoring).
//
// For each row x[n, :] of length C, with m = max_c x[n, c] subtracted for numerical stability:
//   Softmax:     y[c] = exp(x[c] - m) / sum_k exp(x[k] - m)
//   LogSoftmax:  y[c] = x[c] - m - log(sum_k exp(x[k] - m))
//
// Reference: `torch.softmax(x, dim=-1)`, `torch.log_softmax(x, dim=-1)`.
// Layout: x, y: [N, C] row-major, the reduced dimension C is contiguous.
// A row needs at least one finite value; an all -inf row gives NaN (as in PyTorch).
//
// Math names:
//   N = number of rows, C = row length (classes / keys / vocabulary).

import Foundation

/// Softmax over the last dimension.
public enum Softmax {
    /// `x: [N, C]`, `out: [N, C]`.
    ///
    /// Computes `out[n, c] = exp(x[n, c] - m[n]) / sum_k exp(x[n, k] - m[n])`, `m[n]` the row
    /// maximum. The backward pass needs the output `out` (not `x`). `out` may alias `x`.
    /// - Parameters:
    ///   - out: probabilities, `N * C` floats, overwritten; each row sums to 1.
    ///   - x: logits, `N * C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, N: Int, C: Int) {
        precondition(N >= 0 && C >= 1, "Softmax.forward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        for n in 0..<N {
            let xRow = x + n * C
            let outRow = out + n * C
            // subtract the row max so the largest exponent is exp(0) = 1
            let m = VectorMath.max(xRow, C)
            for c in 0..<C {
                outRow[c] = Foundation.exp(xRow[c] - m)
            }
            // normalise
            let invSum = 1 / VectorMath.sum(UnsafePointer(outRow), C)
            for c in 0..<C {
                outRow[c] *= invSum
            }
        }
    }

    /// `dout: [N, C]`, `out: [N, C]` (the forward's output); `dx: [N, C]`.
    ///
    /// The input gradient is ACCUMULATED: `dx += out * (dout - sum_c(dout * out))` row by row,
    /// so callers zero `dx` first. Needs the forward's output `out`. `dx` must not alias `dout`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the logits, `N * C` floats, accumulated into.
    ///   - dout: gradient w.r.t. the probabilities, `N * C` floats.
    ///   - out: the forward's probabilities, `N * C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, N: Int, C: Int
    ) {
        precondition(N >= 0 && C >= 1, "Softmax.backward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        // in the forward pass this was: y[c] = exp(x[c]) / sum_k exp(x[k]),
        // with Jacobian dy[c]/dx[i] = y[c] * (delta(c, i) - y[i]), so
        //   dx[i] = y[i] * (dy[i] - sum_c dy[c] * y[c])
        for n in 0..<N {
            let yRow = out + n * C
            let dyRow = dout + n * C
            let dxRow = dx + n * C
            let dyDotY = VectorMath.dot(dyRow, yRow, C)
            for c in 0..<C {
                dxRow[c] += yRow[c] * (dyRow[c] - dyDotY)
            }
        }
    }

    /// Naive reference for tests: row-wise softmax of `x: [N, C]` in Double.
    public static func reference(x: [Float], N: Int, C: Int) -> [Float] {
        precondition(x.count == N * C, "Softmax.reference: x has \(x.count), want N*C=\(N * C)")
        var out = [Float](repeating: 0, count: N * C)
        for n in 0..<N {
            let row = x[(n * C)..<(n * C + C)].map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<C { out[n * C + c] = Float(e[c] / s) }
        }
        return out
    }
}

/// Log-softmax over the last dimension (log-probabilities for the LM loss and reward scores).
public enum LogSoftmax {
    /// `x: [N, C]`, `out: [N, C]`.
    ///
    /// Computes `out[n, c] = x[n, c] - m[n] - log(sum_k exp(x[n, k] - m[n]))`, `m[n]` the row
    /// maximum. The backward pass needs the output `out` (not `x`). `out` may alias `x`.
    /// - Parameters:
    ///   - out: log-probabilities, `N * C` floats, overwritten.
    ///   - x: logits, `N * C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, N: Int, C: Int) {
        precondition(N >= 0 && C >= 1, "LogSoftmax.forward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        for n in 0..<N {
            let xRow = x + n * C
            let outRow = out + n * C
            let m = VectorMath.max(xRow, C)
            // sum of shifted exponentials, accumulated in Float (each term is in (0, 1])
            var sumExp: Float = 0
            for c in 0..<C {
                sumExp += Foundation.exp(xRow[c] - m)
            }
            let shift = m + Foundation.log(sumExp)
            for c in 0..<C {
                outRow[c] = xRow[c] - shift
            }
        }
    }

    /// `dout: [N, C]`, `out: [N, C]` (the forward's output); `dx: [N, C]`.
    ///
    /// The input gradient is ACCUMULATED: `dx += dout - exp(out) * sum_c(dout)` row by row, so
    /// callers zero `dx` first. Needs the forward's output `out`. `dx` must not alias `dout`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the logits, `N * C` floats, accumulated into.
    ///   - dout: gradient w.r.t. the log-probabilities, `N * C` floats.
    ///   - out: the forward's log-probabilities, `N * C` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - C: row length; must be >= 1.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, N: Int, C: Int
    ) {
        precondition(N >= 0 && C >= 1, "LogSoftmax.backward: need N >= 0 and C >= 1, got N=\(N) C=\(C)")
        // in the forward pass this was: y[c] = x[c] - log(sum_k exp(x[k])),
        // with dy[c]/dx[i] = delta(c, i) - softmax(x)[i] and softmax(x) = exp(y), so
        //   dx[i] = dy[i] - exp(y[i]) * sum_c dy[c]
        for n in 0..<N {
            let yRow = out + n * C
            let dyRow = dout + n * C
            let dxRow = dx + n * C
            let dySum = VectorMath.sum(dyRow, C)
            for c in 0..<C {
                dxRow[c] += dyRow[c] - Foundation.exp(yRow[c]) * dySum
            }
        }
    }

    /// Naive reference for tests: row-wise log-softmax of `x: [N, C]` in Double.
    public static func reference(x: [Float], N: Int, C: Int) -> [Float] {
        precondition(x.count == N * C, "LogSoftmax.reference: x has \(x.count), want N*C=\(N * C)")
        var out = [Float](repeating: 0, count: N * C)
        for n in 0..<N {
            let row = x[(n * C)..<(n * C + C)].map(Double.init)
            let m = row.max()!
            let logSum = Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            for c in 0..<C { out[n * C + c] = Float(row[c] - m - logSum) }
        }
        return out
    }
}
