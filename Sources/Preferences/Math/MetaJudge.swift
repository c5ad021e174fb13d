// MetaJudge.swift: Meta-Rewarding meta-judge math: position-bias weights, battle matrix, Elo fit, pairing.

import Foundation

/// One meta-judge comparison of two judgments of the same answer.
public struct JudgmentComparison: Sendable, Equatable {
    /// Index of the judgment shown in first position.
    public var first: Int
    /// Index of the judgment shown in second position.
    public var second: Int
    /// `> 0`: first wins (+1); `< 0`: second wins (-1); `0`: tie or unparseable.
    public var result: Int

    /// Creates a comparison.
    public init(first: Int, second: Int, result: Int) {
        self.first = first
        self.second = second
        self.result = result
    }
}

/// Weights that undo the meta-judge's position bias: a win in the favoured position counts less.
public struct PositionWeights: Sendable, Equatable {
    /// Comparisons won by the judgment in first position.
    public var firstWins: Int
    /// Comparisons won by the judgment in second position.
    public var secondWins: Int
    /// Weight of a win in first position: `secondWins / (firstWins + secondWins)`.
    public var w1: Double
    /// Weight of a win in second position: `firstWins / (firstWins + secondWins)`.
    public var w2: Double

    /// Creates weights from win counts; `w1 = w2 = 0.5` when there are no wins.
    public init(firstWins: Int, secondWins: Int) {
        self.firstWins = firstWins
        self.secondWins = secondWins
        let total = firstWins + secondWins
        if total > 0 {
            w1 = Double(secondWins) / Double(total)
            w2 = Double(firstWins) / Double(total)
        } else {
            w1 = 0.5
            w2 = 0.5
        }
    }

    /// Creates weights with explicit values (no consistency check).
    public init(firstWins: Int, secondWins: Int, w1: Double, w2: Double) {
        self.firstWins = firstWins
        self.secondWins = secondWins
        self.w1 = w1
        self.w2 = w2
    }

    /// Counts wins over all comparisons (pass every answer's comparisons of the run: the bias is the
    /// meta-judge's, not an answer's); ties are not counted; `0.5 / 0.5` when there are no wins.
    public static func estimate(_ comparisons: [JudgmentComparison]) -> PositionWeights {
        let firstWins = comparisons.filter { $0.result > 0 }.count
        let secondWins = comparisons.filter { $0.result < 0 }.count
        return PositionWeights(firstWins: firstWins, secondWins: secondWins)
    }
}

/// The weighted win matrix of one answer's judgments.
public enum BattleMatrix {
    /// `B[m][n]` = sum over comparisons of `w1 * [m wins in first position against n]` +
    /// `w2 * [m wins in second position against n]`. Ties and self-comparisons add nothing.
    /// Shape `[count][count]`, zero diagonal, non-negative.
    /// Precondition: every index in `0..<count`.
    public static func build(
        count: Int,
        comparisons: [JudgmentComparison],
        weights: PositionWeights
    ) -> [[Double]] {
        precondition(count >= 0, "count must be non-negative")
        var battles = Array(repeating: Array(repeating: 0.0, count: count), count: count)
        for comparison in comparisons {
            precondition((0..<count).contains(comparison.first) && (0..<count).contains(comparison.second),
                         "judgment index out of range")
            guard comparison.first != comparison.second else { continue }
            if comparison.result > 0 {
                battles[comparison.first][comparison.second] += weights.w1
            } else if comparison.result < 0 {
                battles[comparison.second][comparison.first] += weights.w2
            }
        }
        return battles
    }
}

/// Bradley–Terry / Elo scores fitted to a battle matrix.
public enum EloFit {
    /// Maximum-(penalised-)likelihood scores `e` maximising
    /// `sum_{m,n} B[m][n] * log sigmoid(e_m - e_n) - ridge/2 * sum_k e_k^2`, centred to mean zero
    /// (the likelihood is invariant to adding a constant). Natural-log units: `e_m - e_n` is the log-odds
    /// of m beating n (not the 400/log10 chess scale).
    ///
    /// Newton's method (the negative Hessian is a weighted graph Laplacian plus `ridge * I`; the constant
    /// direction is pinned by adding `1/n` to every entry, which leaves mean-zero steps exact) with a
    /// backtracking (Armijo) line search; stops when every gradient entry is within
    /// `1e-10 * max(1, sum B)` or after `maxIterations`.
    ///
    /// The default `ridge = 0.01` keeps scores finite when the unpenalised MLE does not exist (a judgment
    /// that never loses or never wins, a disconnected comparison graph). With `ridge = 0` the result is the
    /// exact MLE only when it exists (strongly connected win graph); otherwise scores grow with the iteration
    /// count. `B` must be square and non-negative; empty input gives `[]`, one judgment gives `[0]`.
    public static func fit(
        _ battles: [[Double]],
        ridge: Double = 0.01,
        maxIterations: Int = 100
    ) -> [Double] {
        let count = battles.count
        precondition(battles.allSatisfy { $0.count == count }, "battle matrix must be square")
        precondition(ridge >= 0, "ridge must be non-negative")
        guard count > 1 else { return Array(repeating: 0, count: count) }
        let totalWeight = battles.reduce(0) { $0 + $1.reduce(0, +) }
        let tolerance = 1e-10 * max(1, totalWeight)
        var scores = Array(repeating: 0.0, count: count)
        for _ in 0..<max(0, maxIterations) {
            let grad = gradient(battles, scores: scores, ridge: ridge)
            if grad.allSatisfy({ abs($0) <= tolerance }) { break }
            let curvature = pinnedCurvature(battles, scores: scores, ridge: ridge)
            guard let step = solvePositiveDefinite(curvature, grad) else { break }
            let next = lineSearch(battles, scores: scores, ridge: ridge, gradient: grad, step: step)
            guard let next else { break }
            scores = next
        }
        return centred(scores)
    }

    /// `sum_{m != n} B[m][n] * log sigmoid(e_m - e_n)` (zero entries skipped), natural log, `<= 0`.
    /// Invariant to adding a constant to every score. Precondition: shapes match.
    public static func logLikelihood(_ battles: [[Double]], scores: [Double]) -> Double {
        precondition(battles.count == scores.count, "scores must have one entry per judgment")
        var total = 0.0
        for m in battles.indices {
            precondition(battles[m].count == scores.count, "battle matrix must be square")
            for n in battles.indices where n != m && battles[m][n] != 0 {
                total += battles[m][n] * Logistic.logSigmoid(scores[m] - scores[n])
            }
        }
        return total
    }

    // MARK: - Internals

    static func objective(_ battles: [[Double]], scores: [Double], ridge: Double) -> Double {
        logLikelihood(battles, scores: scores) - ridge / 2 * scores.reduce(0) { $0 + $1 * $1 }
    }

    /// Gradient of `objective`.
    static func gradient(_ battles: [[Double]], scores: [Double], ridge: Double) -> [Double] {
        var grad = scores.map { -ridge * $0 }
        for m in battles.indices {
            for n in battles.indices where n != m && battles[m][n] != 0 {
                let flow = battles[m][n] * Logistic.sigmoid(scores[n] - scores[m])
                grad[m] += flow
                grad[n] -= flow
            }
        }
        return grad
    }

    /// Negative Hessian of `objective` plus `1/n` in every entry (pins the constant direction).
    static func pinnedCurvature(_ battles: [[Double]], scores: [Double], ridge: Double) -> [[Double]] {
        let count = scores.count
        let pin = 1 / Double(count)
        var matrix = Array(repeating: Array(repeating: pin, count: count), count: count)
        for k in 0..<count { matrix[k][k] += ridge }
        for m in battles.indices {
            for n in battles.indices where n != m && battles[m][n] != 0 {
                let difference = scores[m] - scores[n]
                let weight = battles[m][n] * Logistic.sigmoid(difference) * Logistic.sigmoid(-difference)
                matrix[m][m] += weight
                matrix[n][n] += weight
                matrix[m][n] -= weight
                matrix[n][m] -= weight
            }
        }
        return matrix
    }

    /// Backtracking line search along an ascent direction; `nil` when no step improves the objective.
    static func lineSearch(
        _ battles: [[Double]],
        scores: [Double],
        ridge: Double,
        gradient grad: [Double],
        step: [Double]
    ) -> [Double]? {
        let current = objective(battles, scores: scores, ridge: ridge)
        let slope = zip(grad, step).reduce(0) { $0 + $1.0 * $1.1 }
        let roundingSlack = 1e-14 * max(1, abs(current))
        var fraction = 1.0
        while fraction > 1e-12 {
            let trial = zip(scores, step).map { $0 + fraction * $1 }
            let value = objective(battles, scores: trial, ridge: ridge)
            if value.isFinite && value >= current + 1e-4 * fraction * slope - roundingSlack {
                return trial
            }
            fraction /= 2
        }
        return nil
    }

    /// Solves `A x = b` for symmetric positive-definite `A` by Cholesky, adding diagonal jitter when the
    /// factorisation fails (a singular Laplacian of a disconnected graph with `ridge = 0`).
    static func solvePositiveDefinite(_ matrix: [[Double]], _ rhs: [Double]) -> [Double]? {
        let scale = 1 + (matrix.indices.map { matrix[$0][$0] }.max() ?? 0)
        for jitter in [0, 1e-9, 1e-6, 1e-3] {
            var shifted = matrix
            for k in shifted.indices { shifted[k][k] += jitter * scale }
            if let factor = cholesky(shifted) { return choleskySolve(factor, rhs) }
        }
        return nil
    }

    /// Lower-triangular `L` with `L L^T = A`, or `nil` when `A` is not (numerically) positive definite.
    static func cholesky(_ matrix: [[Double]]) -> [[Double]]? {
        let count = matrix.count
        var lower = Array(repeating: Array(repeating: 0.0, count: count), count: count)
        for i in 0..<count {
            for j in 0...i {
                var sum = matrix[i][j]
                for k in 0..<j { sum -= lower[i][k] * lower[j][k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    lower[i][i] = sum.squareRoot()
                } else {
                    lower[i][j] = sum / lower[j][j]
                }
            }
        }
        return lower
    }

    static func choleskySolve(_ lower: [[Double]], _ rhs: [Double]) -> [Double] {
        let count = rhs.count
        var forward = rhs
        for i in 0..<count {
            for k in 0..<i { forward[i] -= lower[i][k] * forward[k] }
            forward[i] /= lower[i][i]
        }
        var solution = forward
        for i in stride(from: count - 1, through: 0, by: -1) {
            for k in (i + 1)..<count { solution[i] -= lower[k][i] * solution[k] }
            solution[i] /= lower[i][i]
        }
        return solution
    }

    static func centred(_ scores: [Double]) -> [Double] {
        guard !scores.isEmpty else { return scores }
        let mean = scores.reduce(0, +) / Double(scores.count)
        return scores.map { $0 - mean }
    }
}

/// Choosing the judgment pair to train the judge on.
public enum JudgmentPairing {
    /// Picks chosen = highest Elo score, rejected = lowest (ties: chosen the shorter judgment, rejected the
    /// longer, then the lower index).
    ///
    /// Skips with `.tooFewAnswers` for fewer than 2 judgments, `.noEloSpread` when `max - min < 1e-9`, and
    /// `.chosenTooLong` when the chosen judgment's length exceeds `maxLength` (no limit when `nil`).
    /// Precondition: `scores.count == lengths.count`.
    public static func pick(
        scores: [Double],
        lengths: [Int],
        maxLength: Int?
    ) -> Result<(chosen: Int, rejected: Int), SkipReason> {
        precondition(scores.count == lengths.count, "one length per judgment score")
        guard scores.count >= 2 else { return .failure(.tooFewAnswers) }
        let indices = Array(scores.indices)
        let chosen = indices.min { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b]
                : lengths[a] != lengths[b] ? lengths[a] < lengths[b] : a < b
        } ?? 0
        let rejected = indices.min { a, b in
            scores[a] != scores[b] ? scores[a] < scores[b]
                : lengths[a] != lengths[b] ? lengths[a] > lengths[b] : a < b
        } ?? 0
        guard scores[chosen] - scores[rejected] >= 1e-9 else { return .failure(.noEloSpread) }
        if let maxLength, lengths[chosen] > maxLength { return .failure(.chosenTooLong) }
        return .success((chosen: chosen, rejected: rejected))
    }
}

/// Spread of the judge's scores across repeated judgments of one answer.
public enum ScoreSpread {
    /// Population variance (divide by the count) of the parsed scores; `nil` entries (unparsed) are ignored;
    /// fewer than 2 parsed scores give 0.
    public static func variance(_ scores: [Double?]) -> Double {
        let values = scores.compactMap { $0 }
        guard values.count >= 2 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }

    /// Indices of at most `count` answers with the largest variance, largest first (ties: lower index first);
    /// only variances `> 0` qualify. `count <= 0` gives `[]`.
    public static func mostVaried(_ variances: [Double], count: Int) -> [Int] {
        guard count > 0 else { return [] }
        let ordered = variances.indices
            .filter { variances[$0] > 0 }
            .sorted { variances[$0] != variances[$1] ? variances[$0] > variances[$1] : $0 < $1 }
        return Array(ordered.prefix(count))
    }
}
