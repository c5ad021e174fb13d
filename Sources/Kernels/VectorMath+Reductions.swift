// VectorMath+Reductions.swift: SIMD reductions over one contiguous row of Float32.
//
// The normalisation and softmax kernels reduce along the last (contiguous) dimension. The
// compiler does not vectorise floating-point reductions on its own (it may not reorder adds),
// so these helpers accumulate 16 lanes at a time in SIMD16<Float> and finish with a scalar tail.
// Summation order therefore differs from a naive left-to-right loop by a few ulps; the tests
// compare against Double references with tolerances that allow for that.
//
// Math names: n = number of elements in the row.

/// SIMD row reductions used by the normalisation kernels (internal).
extension VectorMath {
    /// sum_i x[i]
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc += loadVec(x + i)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += x[i]
            i += 1
        }
        return s
    }

    /// sum_i x[i]^2
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            let v = loadVec(x + i)
            acc.addProduct(v, v)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += x[i] * x[i]
            i += 1
        }
        return s
    }

    /// sum_i (x[i] - center)^2
    @inline(__always)
    static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, from center: Float, _ n: Int) -> Float {
        let c = SIMD16<Float>(repeating: center)
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            let d = loadVec(x + i) - c
            acc.addProduct(d, d)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            let d = x[i] - center
            s += d * d
            i += 1
        }
        return s
    }

    /// sum_i a[i] * b[i] * c[i]
    @inline(__always)
    static func dot3(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int
    ) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc.addProduct(loadVec(a + i) * loadVec(b + i), loadVec(c + i))
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i] * c[i]
            i += 1
        }
        return s
    }

    /// sum_i a[i] * b[i] * (x[i] - center)
    @inline(__always)
    static func dot3Centered(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
        from center: Float, _ n: Int
    ) -> Float {
        let c = SIMD16<Float>(repeating: center)
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc.addProduct(loadVec(a + i) * loadVec(b + i), loadVec(x + i) - c)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i] * (x[i] - center)
            i += 1
        }
        return s
    }
}
