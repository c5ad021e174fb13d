// VectorMath.swift: SIMD building blocks shared by the kernels: a fast vector exp, row max,
// exp-and-sum, dot and axpy. All take raw pointers and a count; tails are handled with masked
// (padded) vectors so results do not depend on alignment.
//
// exp uses the classic range reduction x = n ln2 + r, |r| <= ln2/2, a degree-7 polynomial for
// e^r (Cephes expf coefficients) and 2^n built in the exponent bits. Max relative error ~2 ulp.
// Inputs below -87.3 (including -inf, the masking value) give exactly 0.

import Foundation

/// Lanes per vector in the kernels' SIMD loops.
public typealias Vec = SIMD16<Float>

@usableFromInline let vecWidth = 16

/// Vector exp, exact 0 for x < -87.3 (so exp(-inf) = 0), +inf handling is not needed by callers
/// (inputs are clamped at 88.7).
@inline(__always) @usableFromInline
func vexp(_ x: Vec) -> Vec {
    let log2e: Float = 1.442_695_040_888_963_4
    let ln2Hi: Float = 0.693_359_375
    let ln2Lo: Float = -2.121_944_400_546_905_8e-4
    // Clamp with compare + blend (SIMD `clamped` / `pointwiseMax` lower to lane-by-lane code).
    var xc = x.replacing(with: -87.3, where: x .< -87.3)
    xc.replace(with: 88.7, where: xc .> 88.7)
    // n = round(x log2e) without a float->int conversion (Swift's generic SIMD conversion is
    // scalar): adding 1.5 * 2^23 leaves round(x log2e) in the low mantissa bits.
    let magic: Float = 12_582_912
    let t = xc * log2e + magic
    let n = t - magic
    var r = xc - n * ln2Hi
    r = r - n * ln2Lo
    // e^r = 1 + r + r^2 * P(r)
    var p = Vec(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let er = p * (r * r) + r + 1
    // 2^n: the integer n sits in t's low bits; move it into the exponent field.
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Vec.self)
    return (er * scale).replacing(with: 0, where: x .< -87.3)
}

/// Lane-wise maximum by compare + blend (NaN in `b` is ignored).
@inline(__always) @usableFromInline
func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .> a) }

/// Vector sigmoid `1 / (1 + exp(-x))` on ``vexp``.
@inline(__always) @usableFromInline
func vsigmoid(_ x: Vec) -> Vec { 1 / (1 + vexp(-x)) }

/// Vector erf: Abramowitz & Stegun 7.1.26, `erf(x) = 1 - (a1 t + ... + a5 t^5) e^(-x^2)` with
/// `t = 1 / (1 + p |x|)`, sign restored; absolute error <= 1.5e-7 (ample for GELU in Float32).
@inline(__always) @usableFromInline
func verf(_ x: Vec) -> Vec {
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / (1 + 0.327_591_1 * ax)
    var poly = Vec(repeating: 1.061_405_429)
    poly = poly * t - 1.453_152_027
    poly = poly * t + 1.421_413_741
    poly = poly * t - 0.284_496_736
    poly = poly * t + 0.254_829_592
    let y = 1 - poly * t * vexp(-(ax * ax))
    return y.replacing(with: -y, where: x .< 0)
}

/// Scalar exp with the same algorithm (for tails and single values).
@inline(__always) @usableFromInline
func sexp(_ x: Float) -> Float { vexp(Vec(repeating: x))[0] }

@inline(__always) @usableFromInline
func loadVec(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) @usableFromInline
func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Loads `count < 16` floats, padding the rest with `fill`.
@inline(__always) @usableFromInline
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> Vec {
    var v = Vec(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always) @usableFromInline
func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// Fast vector math over contiguous float rows.
public enum VectorMath {
    /// Maximum of `x[0..<n]`; `-inf` for `n == 0`.
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = Vec(repeating: -.infinity)
        var i = 0
        while i + vecWidth <= n { m = vmax(m, loadVec(x + i)); i += vecWidth }
        if i < n { m = vmax(m, loadPartial(x + i, n - i, fill: -.infinity)) }
        return m.max()
    }

    /// In place `x[i] = exp(x[i] - shift)`; returns the sum of the new values.
    @inline(__always)
    public static func expShiftSum(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var s = Vec(repeating: 0)
        var i = 0
        while i + vecWidth <= n {
            let e = vexp(loadVec(x + i) - shift)
            storeVec(e, x + i)
            s += e
            i += vecWidth
        }
        if i < n {
            let e = vexp(loadPartial(x + i, n - i, fill: -.infinity) - shift)
            storePartial(e, x + i, n - i)
            s += e
        }
        return s.sum()
    }

    /// Sum of `exp(x[i] - shift)` without writing.
    @inline(__always)
    public static func sumExpShift(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
        var s = Vec(repeating: 0)
        var i = 0
        while i + vecWidth <= n { s += vexp(loadVec(x + i) - shift); i += vecWidth }
        if i < n { s += vexp(loadPartial(x + i, n - i, fill: -.infinity) - shift) }
        return s.sum()
    }

    /// `log(sum_i exp(x[i]))`, computed stably as `max + log(sum exp(x - max))`; `-inf` for `n == 0`.
    @inline(__always)
    public static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let m = max(x, n)
        if m == -.infinity { return m }
        return m + Foundation.log(sumExpShift(x, n, shift: m))
    }

    /// `sum_i x[i] * y[i]`.
    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = Vec(repeating: 0), s1 = Vec(repeating: 0)
        var i = 0
        while i + 2 * vecWidth <= n {
            s0.addProduct(loadVec(x + i), loadVec(y + i))
            s1.addProduct(loadVec(x + i + vecWidth), loadVec(y + i + vecWidth))
            i += 2 * vecWidth
        }
        var s = s0 + s1
        while i + vecWidth <= n { s.addProduct(loadVec(x + i), loadVec(y + i)); i += vecWidth }
        var tail: Float = 0
        while i < n { tail += x[i] * y[i]; i += 1 }
        return s.sum() + tail
    }

    /// `y[i] += a * x[i]`.
    @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = Vec(repeating: a)
        while i + vecWidth <= n {
            var v = loadVec(y + i)
            v.addProduct(av, loadVec(x + i))
            storeVec(v, y + i)
            i += vecWidth
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// `x[i] *= a`.
    @inline(__always)
    public static func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by a: Float) {
        var i = 0
        while i + vecWidth <= n { storeVec(loadVec(x + i) * a, x + i); i += vecWidth }
        while i < n { x[i] *= a; i += 1 }
    }

    /// `y[i] += x[i]`.
    @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + vecWidth <= n { storeVec(loadVec(y + i) + loadVec(x + i), y + i); i += vecWidth }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// Applies `f` to `x[0..<n]` sixteen lanes at a time (tail padded with zeros), writing `out`.
    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Vec) -> Vec) {
        var i = 0
        while i + vecWidth <= n { storeVec(f(loadVec(x + i)), out + i); i += vecWidth }
        if i < n { storePartial(f(loadPartial(x + i, n - i, fill: 0)), out + i, n - i) }
    }

    /// `erf` of one value with the kernels' vector algorithm (absolute error <= 1.5e-7).
    public static func erf(_ x: Float) -> Float { verf(Vec(repeating: x))[0] }

    /// Vector exp of one value with the kernels' algorithm (exact 0 below -87.3).
    public static func exp(_ x: Float) -> Float { sexp(x) }
}
