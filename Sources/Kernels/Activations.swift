// Activations.swift: element-wise nonlinearities of the two models.
//
//   SiLU(x)            = x * sigmoid(x) = x / (1 + exp(-x))          (Llama MLP gate)
//   GELU(x)            = 0.5 * x * (1 + erf(x / sqrt(2)))           (BERT / MiniLM, exact erf form)
//   SwiGLU(gate, up)   = SiLU(gate) * up                            (Llama MLP: down(SwiGLU(Wg x, Wu x)))
//
// Reference: Elfwing et al. (2017) / `torch.nn.functional.silu`; Hendrycks & Gimpel,
// "Gaussian Error Linear Units" (2016) / `torch.nn.functional.gelu(approximate="none")`;
// Shazeer, "GLU Variants Improve Transformer" (2020) / `LlamaMLP` in Hugging Face transformers.
// Layout: element-wise, so any contiguous shape; SiLU and GELU take the flattened element
// count, SwiGLU takes `[N, F]` (F = intermediate size).
//
// Math names:
//   count = number of elements, N = number of rows (tokens), F = MLP intermediate size.

import Foundation

/// The logistic sigmoid `1 / (1 + exp(-x))` (saturates cleanly to 0 and 1 for large |x|).
@inline(__always)
private func sigmoid(_ x: Float) -> Float {
    1 / (1 + Foundation.exp(-x))
}

/// SiLU (a.k.a. swish): `out = x * sigmoid(x)`.
public enum SiLU {
    /// `x: [count]`, `out: [count]` (any shape, flattened).
    ///
    /// Computes `out[i] = x[i] * sigmoid(x[i])`. The backward pass needs `x`. `out` may alias `x`.
    /// - Parameters:
    ///   - out: output, `count` floats, overwritten.
    ///   - x: input, `count` floats.
    ///   - count: number of elements; must be >= 0.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        precondition(count >= 0, "SiLU.forward: count must be >= 0, got \(count)")
        VectorMath.map(x, out, count) { $0 * vsigmoid($0) }
    }

    /// `dout: [count]`, `x: [count]`; `dx: [count]`.
    ///
    /// The input gradient is ACCUMULATED: `dx += dout * silu'(x)`, so callers zero `dx` first.
    /// Needs the forward's input `x`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the input, `count` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `count` floats.
    ///   - x: the forward input, `count` floats.
    ///   - count: number of elements; must be >= 0.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int
    ) {
        precondition(count >= 0, "SiLU.backward: count must be >= 0, got \(count)")
        // in the forward pass this was: out = x * s, s = sigmoid(x), with ds/dx = s * (1 - s)
        // so dout/dx = s + x * s * (1 - s) = s * (1 + x * (1 - s))
        for i in 0..<count {
            let s = sigmoid(x[i])
            dx[i] += dout[i] * s * (1 + x[i] * (1 - s))
        }
    }

    /// Naive reference for tests: `x / (1 + exp(-x))` per element, in Double.
    public static func reference(_ x: [Float]) -> [Float] {
        x.map { v in
            let d = Double(v)
            return Float(d / (1 + Foundation.exp(-d)))
        }
    }
}

/// GELU, exact erf form: `out = 0.5 * x * (1 + erf(x / sqrt(2)))` (BERT's "gelu").
public enum GELU {
    /// `x: [count]`, `out: [count]` (any shape, flattened).
    ///
    /// Computes `out[i] = x[i] * Phi(x[i])`, with `Phi` the standard normal CDF written through
    /// `erf` (not the tanh approximation). The backward pass needs `x`. `out` may alias `x`.
    /// - Parameters:
    ///   - out: output, `count` floats, overwritten.
    ///   - x: input, `count` floats.
    ///   - count: number of elements; must be >= 0.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        precondition(count >= 0, "GELU.forward: count must be >= 0, got \(count)")
        let invSqrt2: Float = 0.70710678118654752
        VectorMath.map(x, out, count) { 0.5 * $0 * (1 + verf($0 * invSqrt2)) }
    }

    /// `dout: [count]`, `x: [count]`; `dx: [count]`.
    ///
    /// The input gradient is ACCUMULATED: `dx += dout * gelu'(x)`, so callers zero `dx` first.
    /// Needs the forward's input `x`.
    /// - Parameters:
    ///   - dx: gradient w.r.t. the input, `count` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `count` floats.
    ///   - x: the forward input, `count` floats.
    ///   - count: number of elements; must be >= 0.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int
    ) {
        precondition(count >= 0, "GELU.backward: count must be >= 0, got \(count)")
        // in the forward pass this was: out = x * Phi(x), Phi(x) = 0.5 * (1 + erf(x / sqrt 2))
        // so dout/dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        let invSqrt2: Float = 0.70710678118654752
        let invSqrt2Pi: Float = 0.39894228040143268
        for i in 0..<count {
            let v = x[i]
            let cdf = 0.5 * (1 + Foundation.erf(v * invSqrt2))
            let pdf = invSqrt2Pi * Foundation.exp(-0.5 * v * v)
            dx[i] += dout[i] * (cdf + v * pdf)
        }
    }

    /// Naive reference for tests: `0.5 * x * (1 + erf(x / sqrt 2))` per element, in Double.
    public static func reference(_ x: [Float]) -> [Float] {
        x.map { v in
            let d = Double(v)
            return Float(0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot())))
        }
    }
}

/// SwiGLU, the gated MLP activation of Llama: `out = silu(gate) * up`.
public enum SwiGLU {
    /// `gate: [N, F]`, `up: [N, F]`, `out: [N, F]`.
    ///
    /// Computes `out = gate * sigmoid(gate) * up` element-wise. The backward pass needs `gate`
    /// and `up`. `out` may alias `gate` or `up`.
    /// - Parameters:
    ///   - out: output, `N * F` floats, overwritten.
    ///   - gate: gate projection, `N * F` floats.
    ///   - up: up projection, `N * F` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - F: intermediate size; must be >= 0.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        gate: UnsafePointer<Float>,
        up: UnsafePointer<Float>,
        N: Int, F: Int
    ) {
        precondition(N >= 0 && F >= 0, "SwiGLU.forward: need N >= 0 and F >= 0, got N=\(N) F=\(F)")
        var i = 0
        let n = N * F
        while i + vecWidth <= n {
            let g = loadVec(gate + i)
            storeVec(g * vsigmoid(g) * loadVec(up + i), out + i)
            i += vecWidth
        }
        while i < n {
            let g = gate[i]
            out[i] = g * sigmoid(g) * up[i]
            i += 1
        }
    }

    /// `gateUp: [N, 2F]` (row i: gate_i, then up_i, as a fused gate/up product writes them),
    /// `out: [N, F]`: ``forward(out:gate:up:N:F:)`` row by row, rows split across `threads`
    /// workers (bitwise the same whatever the split). `out` must not alias `gateUp`.
    public static func forward(out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, N: Int, F: Int, threads: Int) {
        precondition(N >= 0 && F >= 0, "SwiGLU.forward: need N >= 0 and F >= 0, got N=\(N) F=\(F)")
        let (o, x) = (SendablePointer(out), SendablePointer(gateUp))
        Parallel.forEachTask(threads: threads, tasks: N, setup: { _ in () }) { _, i in
            forward(out: o.pointer + i * F, gate: x.pointer + i * 2 * F, up: x.pointer + i * 2 * F + F, N: 1, F: F)
        }
    }

    /// `dout: [N, F]`, `gate: [N, F]`, `up: [N, F]`; `dGate: [N, F]`, `dUp: [N, F]`.
    ///
    /// Both input gradients are ACCUMULATED: `dGate += ...`, `dUp += ...`, so callers zero them
    /// first. Needs the forward's `gate` and `up`.
    /// - Parameters:
    ///   - dGate: gradient w.r.t. the gate, `N * F` floats, accumulated into.
    ///   - dUp: gradient w.r.t. up, `N * F` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `N * F` floats.
    ///   - gate: the forward's gate, `N * F` floats.
    ///   - up: the forward's up, `N * F` floats.
    ///   - N: number of rows; must be >= 0.
    ///   - F: intermediate size; must be >= 0.
    public static func backward(
        dGate: UnsafeMutablePointer<Float>,
        dUp: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>,
        gate: UnsafePointer<Float>,
        up: UnsafePointer<Float>,
        N: Int, F: Int
    ) {
        precondition(N >= 0 && F >= 0, "SwiGLU.backward: need N >= 0 and F >= 0, got N=\(N) F=\(F)")
        // in the forward pass this was: out = silu(g) * u, silu(g) = g * s, s = sigmoid(g)
        // so dout/du = silu(g) and dout/dg = u * s * (1 + g * (1 - s))
        for i in 0..<(N * F) {
            let g = gate[i]
            let s = sigmoid(g)
            dUp[i] += dout[i] * g * s
            dGate[i] += dout[i] * up[i] * s * (1 + g * (1 - s))
        }
    }

    /// Naive reference for tests: `silu(gate) * up` per element, in Double.
    public static func reference(gate: [Float], up: [Float]) -> [Float] {
        precondition(gate.count == up.count, "SwiGLU.reference: gate has \(gate.count), up has \(up.count)")
        return (0..<gate.count).map { i in
            let g = Double(gate[i])
            return Float(g / (1 + Foundation.exp(-g)) * Double(up[i]))
        }
    }
}
