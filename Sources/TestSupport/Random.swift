// Random.swift: seeded, platform-independent random numbers for test data.

import Kernels

/// Kernels' SplitMix64 with a helper for uniform floats; the same seed always yields the same sequence.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var base: SplitMix64

    /// Creates a generator; the same seed always yields the same sequence.
    public init(seed: UInt64) { base = SplitMix64(seed: seed) }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 { base.next() }

    /// A uniform float in `[-scale, scale)`.
    public mutating func uniform(_ scale: Float = 1) -> Float {
        let u = Float(next() >> 40) / Float(1 << 24)  // [0, 1)
        return (2 * u - 1) * scale
    }
}

/// `count` uniform floats in `[-scale, scale)` from `seed`.
public func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.uniform(scale) }
}
