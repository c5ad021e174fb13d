// EvalMetricsTests.swift: the agreement statistics against hand-worked values.

import Judges
import Testing
import Evaluation

@Suite struct EvalMetricsTests {
    @Test func creditCountsTiesAndMissingScoresAsHalf() {
        #expect(EvalMetrics.credit(better: 3, worse: 2) == 1)
        #expect(EvalMetrics.credit(better: 2, worse: 2) == 0.5)
        #expect(EvalMetrics.credit(better: nil, worse: 2) == 0.5)
        #expect(EvalMetrics.credit(better: 1, worse: 2) == 0)
        #expect(EvalMetrics.accuracy([1, 0.5, 0, 1]) == 0.625)
        #expect(EvalMetrics.accuracy([]) == nil)
    }

    @Test func kendallTauBMatchesHandWorkedValues() {
        // x = [1, 2, 3, 4], y = [1, 3, 2, 4]: 5 concordant, 1 discordant pairs: tau = 4/6.
        func signs(_ x: [Double], _ y: [Double]) -> [(reference: Int, method: Int)] {
            var out: [(reference: Int, method: Int)] = []
            for i in x.indices { for j in x.indices where j > i { out.append((EvalMetrics.sign(x[i], x[j]), EvalMetrics.sign(y[i], y[j]))) } }
            return out
        }
        #expect(abs(EvalMetrics.kendallTauB(signs([1, 2, 3, 4], [1, 3, 2, 4]))! - 4.0 / 6.0) < 1e-12)
        // With a tie in the reference: x = [1, 1, 2], y = [1, 2, 3]: tau-b = 2 / sqrt(2 * 3) (scipy: 0.8164966).
        #expect(abs(EvalMetrics.kendallTauB(signs([1, 1, 2], [1, 2, 3]))! - 0.816496580927726) < 1e-12)
        // Perfect reversal.
        #expect(EvalMetrics.kendallTauB(signs([1, 2, 3], [3, 2, 1])) == -1)
        // All tied on one side: undefined.
        #expect(EvalMetrics.kendallTauB(signs([1, 1, 1], [1, 2, 3])) == nil)
    }

    @Test func bootstrapIntervalBracketsTheMeanAndIsReproducible() throws {
        let credits: [Double] = [1, 1, 0, 1, 0.5, 1, 0, 1, 1, 1, 0, 1]
        let clusters = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        let mean = EvalMetrics.accuracy(credits)!
        let a = try #require(EvalMetrics.bootstrapInterval(credits: credits, clusters: clusters, samples: 2000))
        let b = try #require(EvalMetrics.bootstrapInterval(credits: credits, clusters: clusters, samples: 2000))
        #expect(a == b)
        #expect(a.low < mean && mean < a.high)
        #expect(a.low >= 0 && a.high <= 1)
        // Cluster means are 2/3, 5/6, 2/3, 2/3: no resample can leave [2/3, 5/6].
        #expect(a.low >= 2.0 / 3.0 - 1e-12 && a.high <= 5.0 / 6.0 + 1e-12)
        // One cluster: no spread.
        let one = try #require(EvalMetrics.bootstrapInterval(credits: [1, 0, 1], clusters: [7, 7, 7]))
        #expect(abs(one.low - 2.0 / 3.0) < 1e-12 && abs(one.high - 2.0 / 3.0) < 1e-12)
        // Unanimous pairs: a point interval at 1.
        let all = try #require(EvalMetrics.bootstrapInterval(credits: [1, 1, 1, 1], clusters: [0, 1, 2, 3]))
        #expect(all.low == 1 && all.high == 1)
    }

    @Test func pairwiseCreditTiesOrdersThatDisagree() {
        #expect(EvalJob.pairwiseCredit((.a, .b)) == 1)  // better chosen as A, then as B
        #expect(EvalJob.pairwiseCredit((.b, .a)) == 0)
        #expect(EvalJob.pairwiseCredit((.a, .a)) == 0.5)  // position bias: a tie
        #expect(EvalJob.pairwiseCredit((nil, .b)) == 0.75)
        #expect(EvalJob.pairwiseCredit((nil, nil)) == 0.5)
    }
}
