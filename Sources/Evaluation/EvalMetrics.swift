// EvalMetrics.swift: pairwise accuracy with ties, a cluster bootstrap interval, Kendall's tau-b
// within items, and the length-bias split. Pure functions, tested against hand-worked values.

import Kernels

/// Agreement statistics for judged pairs.
public enum EvalMetrics {
    /// One pair's credit from the two answers' scores: 1 when the better answer scores higher,
    /// 0.5 on a tie or when either score is missing, 0 when it scores lower (RewardBench's
    /// convention for ties).
    public static func credit(better: Double?, worse: Double?) -> Double {
        guard let better, let worse else { return 0.5 }
        return better > worse ? 1 : (better == worse ? 0.5 : 0)
    }

    /// Mean credit (nil for no pairs).
    public static func accuracy(_ credits: [Double]) -> Double? {
        credits.isEmpty ? nil : credits.reduce(0, +) / Double(credits.count)
    }

    /// Percentile bootstrap interval of the mean credit, resampling clusters (the pairs of one
    /// question move together, since they share answers) with replacement.
    ///
    /// - Parameters:
    ///   - credits: one credit per pair.
    ///   - clusters: the cluster (item) of each pair.
    ///   - samples: resamples (1000 by default).
    ///   - level: coverage (0.95).
    ///   - seed: the generator seed, so a rerun reports the same interval.
    /// - Returns: (low, high), or nil for no pairs.
    public static func bootstrapInterval(
        credits: [Double], clusters: [Int], samples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0x5EED
    ) -> (low: Double, high: Double)? {
        precondition(credits.count == clusters.count, "one cluster per credit")
        guard !credits.isEmpty, samples > 0 else { return nil }
        var groups: [Int: (sum: Double, count: Int)] = [:]
        for (c, k) in zip(credits, clusters) { groups[k, default: (0, 0)].sum += c; groups[k, default: (0, 0)].count += 1 }
        let sums = groups.keys.sorted().map { groups[$0]! }
        var rng = SplitMix64(seed: seed)
        var means: [Double] = []
        means.reserveCapacity(samples)
        for _ in 0..<samples {
            var sum = 0.0, count = 0
            for _ in 0..<sums.count {
                let g = sums[Int(rng.next() % UInt64(sums.count))]
                sum += g.sum
                count += g.count
            }
            means.append(sum / Double(count))
        }
        means.sort()
        let tail = (1 - level) / 2
        return (quantile(means, tail), quantile(means, 1 - tail))
    }

    /// Linear-interpolated quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = Int(position.rounded(.up))
        let t = position - Double(lower)
        return sorted[lower] * (1 - t) + sorted[upper] * t
    }

    /// Kendall's tau-b between reference and method orderings, pooled over the answer pairs
    /// within each item (answers to different questions are never compared):
    /// `(concordant - discordant) / sqrt((n0 - ties in reference) (n0 - ties in method))`.
    ///
    /// - Parameter pairs: for each compared answer pair, the sign of the reference difference
    ///   and of the method's difference (-1, 0, 1).
    /// - Returns: nil when either side has no untied pair.
    public static func kendallTauB(_ pairs: [(reference: Int, method: Int)]) -> Double? {
        var concordant = 0, discordant = 0, referenceTies = 0, methodTies = 0
        for (r, m) in pairs {
            if r == 0 { referenceTies += 1 }
            if m == 0 { methodTies += 1 }
            if r * m > 0 { concordant += 1 } else if r * m < 0 { discordant += 1 }
        }
        let n0 = pairs.count
        let denominator = (Double(n0 - referenceTies) * Double(n0 - methodTies)).squareRoot()
        guard denominator > 0 else { return nil }
        return Double(concordant - discordant) / denominator
    }

    /// The sign of `a - b` (0 when either is missing).
    public static func sign(_ a: Double?, _ b: Double?) -> Int {
        guard let a, let b else { return 0 }
        return a > b ? 1 : (a < b ? -1 : 0)
    }

    /// Words in a text (whitespace-separated), the length used for the length-bias split.
    public static func words(_ text: String) -> Int {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count
    }
}
