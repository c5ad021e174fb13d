// Sampler.argmax (two SIMD passes) picks the index the plain scan picks: first on ties, NaN
// logits never winning except at index 0, lengths in and out of the 16-lane blocks. Temperature
// sampling, which sorts only the head of the vocabulary, draws what sorting everything draws,
// and its draws follow the softmax and the nucleus.

import Foundation
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

    /// Logit vectors for the sampling tests: random, flat (every logit in the head), ties, and
    /// hidden (-inf) tokens.
    static func samplingCases(_ V: Int) -> [[Float]] {
        let random = randomFloats(V, seed: 21, scale: 6)
        let flat = randomFloats(V, seed: 22, scale: 0.5)
        var tied = randomFloats(V, seed: 23, scale: 3).map { ($0 * 4).rounded() / 4 }
        tied[V - 1] = tied.max()!
        var hidden = randomFloats(V, seed: 24, scale: 4)
        for i in stride(from: 0, to: V, by: 3) { hidden[i] = -.infinity }
        return [random, flat, tied, hidden]
    }

    /// `draws` tokens from `logits` by next (sorting the head) and by nextReference (sorting
    /// everything), from the same seed.
    static func lazyAndFullDraws(_ logits: [Float], _ parameters: SamplingParameters, draws: Int) -> ([Int32], [Int32]) {
        var (lazy, full) = (Sampler(parameters), Sampler(parameters))
        return logits.withUnsafeBufferPointer { z in
            ((0..<draws).map { _ in lazy.next(z.baseAddress!, count: z.count) },
             (0..<draws).map { _ in full.nextReference(z.baseAddress!, count: z.count) })
        }
    }

    @Test(arguments: [0.3, 0.8, 1.5] as [Float])
    func temperatureDrawsAreTheFullSortsDraws(_ temperature: Float) {
        for (n, logits) in Self.samplingCases(16384).enumerated() {
            for topP in [0.5, 0.95, 0.9999, 1] as [Float] {
                for topK in [0, 40] {
                    let parameters = SamplingParameters(temperature: temperature, topK: topK, topP: topP, seed: UInt64(n * 31 + topK))
                    let (a, b) = Self.lazyAndFullDraws(logits, parameters, draws: 40)
                    #expect(a == b, "case \(n), T \(temperature), top-p \(topP), top-k \(topK)")
                }
            }
        }
    }

    /// One token far ahead of 49,151 just below the head's bound: they hold ~0.5% of the mass,
    /// so top-p 0.9999 has to sort them to find the nucleus, and with top-p 1 some of 1,000
    /// draws land among them (the walk sorts them then).
    @Test func drawsPastTheHeadAreTheFullSortsDraws() {
        let (V, temperature): (Int, Float) = (49152, 0.8)
        var crowd = [Float](repeating: -temperature * 16.15, count: V)
        crowd[V / 3] = 0
        for (topP, draws) in [(0.9999 as Float, 100), (1, 1000)] {
            let (a, b) = Self.lazyAndFullDraws(crowd, SamplingParameters(temperature: temperature, topP: topP, seed: 9), draws: draws)
            #expect(a == b, "top-p \(topP)")
            if topP == 1 { #expect(a.contains { $0 != Int32(V / 3) }, "no draw past the head") }
        }
    }

    /// Draw frequencies follow the softmax at the temperature, and the nucleus leaves out what
    /// lies past `topP`: probabilities 0.6 / 0.3 / 0.1 (at temperature 1) with top-p 0.8 keep
    /// the first two, renormalised to 2/3 and 1/3.
    @Test func drawsFollowTheSoftmaxAndTheNucleus() {
        let logits: [Float] = [0.6, 0.3, 0.1].map { Float(Foundation.log($0)) } + [Float](repeating: -.infinity, count: 61)
        let n = 6000
        for (topP, expected) in [(1 as Float, [0.6, 0.3, 0.1]), (0.8, [2.0 / 3, 1.0 / 3, 0])] {
            var sampler = Sampler(SamplingParameters(temperature: 1, topP: topP, seed: 5))
            var counts = [Int](repeating: 0, count: logits.count)
            logits.withUnsafeBufferPointer { z in
                for _ in 0..<n { counts[Int(sampler.next(z.baseAddress!, count: z.count))] += 1 }
            }
            for (i, p) in expected.enumerated() {
                let sd = (p * (1 - p) / Double(n)).squareRoot()
                #expect(abs(Double(counts[i]) / Double(n) - p) <= 4 * sd + 1e-12, "top-p \(topP), token \(i): \(counts[i]) of \(n)")
            }
            #expect(counts[3...].allSatisfy { $0 == 0 }, "a hidden token was drawn")
        }
        // Twice the temperature flattens 0.6 / 0.3 / 0.1 to sqrt-proportional odds.
        var warm = Sampler(SamplingParameters(temperature: 2, seed: 6))
        var first = 0
        logits.withUnsafeBufferPointer { z in for _ in 0..<n where warm.next(z.baseAddress!, count: z.count) == 0 { first += 1 } }
        let p0 = 0.6.squareRoot() / (0.6.squareRoot() + 0.3.squareRoot() + 0.1.squareRoot())
        #expect(abs(Double(first) / Double(n) - p0) <= 4 * (p0 * (1 - p0) / Double(n)).squareRoot())
    }
}
