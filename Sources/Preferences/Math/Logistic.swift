// Logistic.swift: numerically stable logistic sigmoid and log-sigmoid shared by the preference math.

import Foundation

/// Numerically stable logistic functions in natural-log units.
public enum Logistic {
    /// The logistic sigmoid `1 / (1 + exp(-x))`, in `[0, 1]`.
    ///
    /// Evaluated on the branch that never exponentiates a large positive number, so it neither overflows
    /// nor returns NaN for large `|x|`; `±infinity` map to `1` and `0`.
    public static func sigmoid(_ x: Double) -> Double {
        if x >= 0 {
            return 1 / (1 + exp(-x))
        }
        let e = exp(x)
        return e / (1 + e)
    }

    /// `log(sigmoid(x))`, always `<= 0`.
    ///
    /// Uses `-log1p(exp(-x))` for `x >= 0` and `x - log1p(exp(x))` for `x < 0`, so large negative `x`
    /// gives `≈ x` instead of `-infinity`, and large positive `x` gives `≈ -exp(-x)`.
    public static func logSigmoid(_ x: Double) -> Double {
        if x >= 0 {
            return -log1p(exp(-x))
        }
        return x - log1p(exp(x))
    }
}
