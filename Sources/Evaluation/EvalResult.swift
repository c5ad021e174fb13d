// EvalResult.swift: what `longreward eval` writes (eval.json) and what its report shows.

/// A way of turning a judge into preferences.
public enum EvalMethod: String, Sendable, Codable, CaseIterable {
    /// The four-dimension pipeline; its reward, and each dimension alone.
    case longreward
    /// One rating call per answer, with the document (whole, or the passages that fit).
    case pointwise
    /// One comparison per pair in each order (the `pairwise` rubric); orders that disagree tie.
    case pairwise
}

/// Accuracy of one ranking signal against the labelled pairs.
public struct Agreement: Sendable, Codable, Equatable {
    /// Mean credit over the pairs (ties and missing scores count one half).
    public var accuracy: Double?
    /// 95% cluster-bootstrap interval (items resampled).
    public var interval: [Double]?
    /// Pairs judged, and among them ties (equal scores, or an undecided comparison) and pairs
    /// with a missing score (a failed dimension, an unparsed verdict).
    public var pairs: Int, ties: Int, missing: Int

    /// Creates an agreement figure.
    public init(accuracy: Double?, interval: [Double]?, pairs: Int, ties: Int, missing: Int) {
        self.accuracy = accuracy
        self.interval = interval
        self.pairs = pairs
        self.ties = ties
        self.missing = missing
    }
}

/// Everything measured for one method.
public struct MethodResult: Sendable, Codable, Equatable {
    /// `longreward`, `pointwise` or `pairwise`.
    public var method: String
    /// Agreement of the method's ranking with the labels.
    public var agreement: Agreement
    /// Kendall's tau-b against `human_scores` (items that give them), pooled within items.
    public var kendallTau: Double?
    /// Accuracy on the pairs whose better answer has fewer words, and on those where it has more.
    public var shorterBetter: Agreement, longerBetter: Agreement
    /// Accuracy by the kinds of the two answers (`faithful-complete>invented`), when labelled.
    public var byKind: [String: Agreement]
    /// Each dimension alone (longreward only).
    public var dimensions: [String: Agreement]?
    /// Share of pairs whose verdict follows the position instead of the answer: both orders
    /// decided and the same letter chosen in each (pairwise only).
    public var positionFlipRate: Double?
    /// Judge calls (attempts, cached ones included at their first cost) and tokens, in total and
    /// per labelled pair.
    public var calls: Int, tokens: Int
    public var callsPerPair: Double, tokensPerPair: Double
}

/// One labelled pair and how each method ranked it.
public struct PairDetail: Sendable, Codable, Equatable {
    /// The item, the better and the worse answer (indices).
    public var item: String, better: Int, worse: Int
    /// Their label kinds, when given.
    public var betterKind: String?, worseKind: String?
    /// Their lengths in words.
    public var betterWords: Int, worseWords: Int
    /// Credit per method (1, 0.5, 0).
    public var credit: [String: Double]
    /// Scores per method: [better, worse] (longreward: rewards; pointwise: ratings; pairwise:
    /// the letter chosen with the better answer first, then second; null when missing).
    public var longreward: [Double?]?, pointwise: [Double?]?
    public var pairwise: [String?]?
}

/// The result of an evaluation run.
public struct EvalResult: Sendable, Codable, Equatable {
    /// The labelled input, the judge and how verdicts were read.
    public var input: String, judge: String, verdictMode: String
    /// Document budget (tokens) of the pointwise and pairwise prompts.
    public var contextTokens: Int
    /// Counts.
    public var items: Int, answers: Int, pairs: Int
    /// One entry per method, in the order asked.
    public var methods: [MethodResult]
    /// Every pair.
    public var pairDetails: [PairDetail]
    /// Fresh judge calls and cache hits in this run, wall time, and the store's run id.
    public var freshCalls: Int, cacheHits: Int
    public var seconds: Double
    public var runId: Int64
}

/// Progress of an evaluation, for the CLI.
public struct EvalProgress: Sendable {
    /// Items finished, of all.
    public var itemsDone: Int, items: Int
    /// Judge calls made fresh and answered from the cache, and the calls planned.
    public var calls: Int, cacheHits: Int, plannedCalls: Int
    /// Tokens so far.
    public var tokens: Int
}
