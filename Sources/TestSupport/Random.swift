// Random.swift: seeded, platform-independent random numbers for test data.

/// SplitMix64: a tiny seeded generator whose sequence is the same on every platform and run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; the same seed always yields the same sequence.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

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
