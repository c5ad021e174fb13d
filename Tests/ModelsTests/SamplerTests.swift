// Sampler.argmax (two SIMD passes) picks the index the plain scan picks: first on ties, NaN
// logits never winning except at index 0, lengths in and out of the 16-lane blocks.

import Models
import TestSupport
import Testing

@Suite struct SamplerTests {
    @Test(arguments: [1, 15, 16, 17, 100, 49152])
    func argmaxIsThePlainScansIndex(_ count: Int) {
        var cases: [[Float]] = []
        let x = randomFloats(count, seed: UInt64(count), scale: 5)
        cases.append(x)
        // The maximum repeated later, and earlier: the first copy wins.
        var tied = x
        let top = tied.max()!
        tied[count - 1] = top
        tied[count / 2] = top
        cases.append(tied)
        // NaN logits (not at index 0) never win; NaN at index 0 does.
        var nan = x
        for i in stride(from: 1, to: count, by: 7) { nan[i] = .nan }
        cases.append(nan)
        var nanFirst = x
        nanFirst[0] = .nan
        cases.append(nanFirst)
        cases.append([Float](repeating: -.infinity, count: count))
        // -0 before +0 when they are the maximum.
        var zeros = [Float](repeating: -1, count: count)
        zeros[count - 1] = 0
        zeros[(count - 1) / 2] = -0.0
        cases.append(zeros)
        for (n, c) in cases.enumerated() {
            c.withUnsafeBufferPointer { p in
                #expect(Sampler.argmax(p.baseAddress!, count: count) == Sampler.argmaxReference(p.baseAddress!, count: count), "case \(n), \(count) logits")
            }
        }
    }
}
