// GradientCheck.swift: finite-difference gradients for checking every kernel's backward.
//
// Kernels run in Float32; the loss is reduced in Double, and the derivative is taken by central
// differences (optionally the 4-point stencil), as llama.cpp's test-backend-ops does. With
// Float32 forwards, a step near 1e-2 balances truncation and rounding error.

/// Finite-difference stencil.
public enum Stencil: Sendable {
    /// `(f(x+h) - f(x-h)) / 2h`, error O(h^2).
    case central
    /// `(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h`, error O(h^4).
    case fivePoint
}

/// Numerical gradient of `loss` at `x`, one coordinate at a time.
/// - Parameters:
///   - x: the point (copied; the closure sees perturbed copies).
///   - step: the finite-difference step `h`.
///   - stencil: central (2-point) or 4-point stencil.
///   - loss: a scalar function of the input, reduced in Double.
/// - Returns: `d loss / d x[i]` for every `i`.
public func numericalGradient(
    at x: [Float], step: Float = 1e-2, stencil: Stencil = .fivePoint,
    loss: ([Float]) -> Double
) -> [Double] {
    var point = x
    var grad = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let x0 = point[i]
        func f(_ delta: Float) -> Double {
            point[i] = x0 + delta
            return loss(point)
        }
        // Use the step actually representable in Float so the quotient is exact in h.
        let hp = Double((x0 + step) - x0)
        switch stencil {
        case .central:
            grad[i] = (f(step) - f(-step)) / (2 * hp)
        case .fivePoint:
            grad[i] = (-f(2 * step) + 8 * f(step) - 8 * f(-step) + f(-2 * step)) / (12 * hp)
        }
        point[i] = x0
    }
    return grad
}

/// A fixed random projection used to turn a tensor output into a scalar loss:
/// `L = sum_i w_i * out_i`, so `dL/dout = w`.
public func weightedSum(_ out: [Float], _ weights: [Float]) -> Double {
    precondition(out.count == weights.count, "weightedSum: \(out.count) vs \(weights.count)")
    var s = 0.0
    for i in 0..<out.count { s += Double(out[i]) * Double(weights[i]) }
    return s
}
