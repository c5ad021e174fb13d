// RetryPolicy.swift: how many times to try a request and how long to wait between attempts.
//
// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
// before attempt k+1 (k = 1, 2, ...) wait a uniform draw from [0, cap_k], where
//     cap_k = min(maxDelay, baseDelay * 2^(k-1)).
// A numeric `Retry-After` header on a 429/503 replaces the draw (clamped to [0, maxDelay]).
// Which errors are retried is `OpenAIClientError.isRetryable`.

import Foundation

/// Attempts and backoff for ``OpenAIClient``.
///
/// ```swift
/// var policy = RetryPolicy(maxAttempts: 3, baseDelay: 0.2, maxDelay: 5)
/// policy.delay(afterAttempt: 2, retryAfter: nil)  // uniform in [0, 0.4]
/// ```
///
/// The random source and the sleep are injectable so tests can run the schedule without waiting.
public struct RetryPolicy: Sendable {
    /// Total attempts including the first (at least 1; default 5).
    public var maxAttempts: Int
    /// Backoff cap before the second attempt, in seconds (default 0.5).
    public var baseDelay: Double
    /// Largest wait between two attempts, in seconds (default 30); also bounds `Retry-After`.
    public var maxDelay: Double
    /// Uniform random numbers in [0, 1) for the jitter.
    public var random: @Sendable () -> Double
    /// Waits the given seconds; throws `CancellationError` when the task is cancelled.
    public var sleep: @Sendable (Double) async throws -> Void

    /// Creates a policy.
    /// - Parameters:
    ///   - maxAttempts: total attempts including the first; values below 1 count as 1.
    ///   - baseDelay: backoff cap before the second attempt, in seconds.
    ///   - maxDelay: largest wait between attempts, in seconds.
    ///   - random: uniform draws in [0, 1); default `Double.random(in: 0..<1)`.
    ///   - sleep: the wait; default `Task.sleep`.
    public init(
        maxAttempts: Int = 5, baseDelay: Double = 0.5, maxDelay: Double = 30,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        sleep: @escaping @Sendable (Double) async throws -> Void = RetryPolicy.taskSleep
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(0, maxDelay)
        self.random = random
        self.sleep = sleep
    }

    /// One attempt, no retries.
    public static var none: RetryPolicy { RetryPolicy(maxAttempts: 1) }

    /// `Task.sleep` for `seconds` (nothing for zero or less).
    @Sendable public static func taskSleep(_ seconds: Double) async throws {
        guard seconds > 0 else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    /// The largest backoff after failed attempt `attempt` (1-based):
    /// `min(maxDelay, baseDelay * 2^(attempt-1))`.
    public func backoffCap(afterAttempt attempt: Int) -> Double {
        let exponent = Double(max(0, attempt - 1))
        return min(maxDelay, baseDelay * pow(2, min(exponent, 62)))
    }

    /// Seconds to wait after failed attempt `attempt` (1-based) before the next one.
    /// - Parameters:
    ///   - attempt: the attempt that just failed, starting at 1.
    ///   - retryAfter: the server's `Retry-After` in seconds, if it sent one.
    /// - Returns: `retryAfter` clamped to [0, maxDelay] when given, else a uniform draw from
    ///   [0, ``backoffCap(afterAttempt:)``] (full jitter).
    public func delay(afterAttempt attempt: Int, retryAfter: Double?) -> Double {
        if let retryAfter, retryAfter.isFinite { return min(max(0, retryAfter), maxDelay) }
        let u = min(max(random(), 0), 1)
        return u * backoffCap(afterAttempt: attempt)
    }

    /// Parses a `Retry-After` header given in seconds ("2", "0.5"); HTTP dates give nil.
    public static func parseRetryAfter(_ header: String?) -> Double? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), let seconds = Double(text),
            seconds.isFinite, seconds >= 0
        else { return nil }
        return seconds
    }
}
