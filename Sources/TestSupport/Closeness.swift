// Closeness.swift: element-wise comparison of float arrays with stated tolerances (tests only).

/// The result of comparing two arrays element by element.
///
/// An element passes when `|a - b| <= atol + rtol * |b|` (NumPy's `allclose` rule, with `b` the
/// reference). ``description`` names the worst element so a failing `#expect` explains itself.
public struct CloseReport: CustomStringConvertible, Sendable {
    /// Whether every element passed and the counts matched.
    public let ok: Bool
    /// Largest absolute difference.
    public let maxAbsoluteError: Double
    /// Largest `|a - b| / max(|b|, tiny)`.
    public let maxRelativeError: Double
    /// Index of the element that exceeded its tolerance by the largest factor.
    public let worstIndex: Int
    /// Values at ``worstIndex`` (actual, reference).
    public let worstPair: (Double, Double)
    /// Number of failing elements.
    public let failures: Int

    public var description: String {
        "ok=\(ok) failures=\(failures) maxAbs=\(maxAbsoluteError) maxRel=\(maxRelativeError) "
            + "worst[\(worstIndex)]=\(worstPair.0) vs \(worstPair.1)"
    }
}

/// Compares `actual` with `expected` using `|a - b| <= atol + rtol * |b|`.
/// - Parameters:
///   - actual: values under test.
///   - expected: reference values.
///   - rtol: relative tolerance.
///   - atol: absolute tolerance.
/// - Returns: a report; `ok` is false when the counts differ or any element fails or is NaN.
public func compareClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [B], rtol: Double = 1e-5, atol: Double = 1e-6
) -> CloseReport {
    guard actual.count == expected.count else {
        return CloseReport(
            ok: false, maxAbsoluteError: .infinity, maxRelativeError: .infinity, worstIndex: -1,
            worstPair: (Double(actual.count), Double(expected.count)), failures: -1)
    }
    var maxAbs = 0.0, maxRel = 0.0, worst = 0, worstRatio = -1.0, failures = 0
    for i in 0..<actual.count {
        let a = Double(actual[i]), b = Double(expected[i])
        let diff = abs(a - b)
        let allowed = atol + rtol * abs(b)
        let failed = !(diff <= allowed)  // NaN fails
        if failed { failures += 1 }
        maxAbs = max(maxAbs, diff.isNaN ? .infinity : diff)
        maxRel = max(maxRel, diff / max(abs(b), 1e-30))
        let ratio = diff.isNaN ? .infinity : diff / max(allowed, 1e-300)
        if ratio > worstRatio { worstRatio = ratio; worst = i }
    }
    let pair = actual.isEmpty ? (0.0, 0.0) : (Double(actual[worst]), Double(expected[worst]))
    return CloseReport(
        ok: failures == 0, maxAbsoluteError: maxAbs, maxRelativeError: maxRel, worstIndex: worst,
        worstPair: pair, failures: failures)
}

/// Norm-wise relative error `||a - b||_2 / ||b||_2` (0 when both are zero; infinity on a
/// count mismatch or NaN). Robust where element-wise relative error is meaningless (values
/// near zero).
public func relativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
    guard a.count == b.count else { return .infinity }
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    if num.isNaN { return .infinity }
    if den == 0 { return num == 0 ? 0 : .infinity }
    return (num / den).squareRoot()
}
