// RetryPolicyTests.swift: the backoff schedule as a pure function.

import Foundation
import OpenAICompatible
import Testing

@Suite struct RetryPolicyTests {
    @Test func capsDoubleUntilMaxDelay() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 0.5, maxDelay: 30)
        let caps = (1...9).map { policy.backoffCap(afterAttempt: $0) }
        #expect(caps == [0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        #expect(policy.backoffCap(afterAttempt: 10_000) == 30)
    }

    @Test func jitteredDelaysStayWithinZeroAndCapAndGrow() {
        var generator = SystemRandomNumberGenerator()
        let draws = (0..<2000).map { _ in Double.random(in: 0..<1, using: &generator) }
        let next = Counter()
        let policy = RetryPolicy(
            maxAttempts: 10, baseDelay: 0.5, maxDelay: 30,
            random: { draws[next.advance() % draws.count] })
        var means: [Double] = []
        for attempt in 1...8 {
            let cap = policy.backoffCap(afterAttempt: attempt)
            let delays = (0..<200).map { _ in policy.delay(afterAttempt: attempt, retryAfter: nil) }
            #expect(delays.allSatisfy { $0 >= 0 && $0 <= cap }, "attempt \(attempt) cap \(cap)")
            means.append(delays.reduce(0, +) / Double(delays.count))
        }
        // Means grow with the cap (about cap/2) until the cap saturates at maxDelay.
        for k in 1..<6 { #expect(means[k] > means[k - 1], "means \(means)") }
        #expect(means[7] <= 30)
    }

    @Test func extremeDrawsHitTheBounds() {
        let low = RetryPolicy(baseDelay: 0.5, maxDelay: 30, random: { 0 })
        let high = RetryPolicy(baseDelay: 0.5, maxDelay: 30, random: { 1 })
        for attempt in 1...10 {
            #expect(low.delay(afterAttempt: attempt, retryAfter: nil) == 0)
            #expect(
                high.delay(afterAttempt: attempt, retryAfter: nil)
                    == high.backoffCap(afterAttempt: attempt))
        }
    }

    @Test func retryAfterReplacesTheDrawAndIsClamped() {
        let policy = RetryPolicy(baseDelay: 0.5, maxDelay: 30, random: { 0.5 })
        #expect(policy.delay(afterAttempt: 1, retryAfter: 0) == 0)
        #expect(policy.delay(afterAttempt: 1, retryAfter: 7) == 7)
        #expect(policy.delay(afterAttempt: 1, retryAfter: 600) == 30)
        #expect(RetryPolicy.parseRetryAfter("2") == 2)
        #expect(RetryPolicy.parseRetryAfter(" 0.5 ") == 0.5)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == nil)
        #expect(RetryPolicy.parseRetryAfter("-1") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    @Test func whichErrorsAreRetried() throws {
        let url = try #require(URL(string: "http://127.0.0.1:1/v1/chat/completions"))
        for status in [429, 500, 502, 503, 504] {
            #expect(
                OpenAIClientError.httpStatus(status, url: url, body: "", retryAfter: nil)
                    .isRetryable)
        }
        for status in [400, 401, 403, 404, 408, 409, 422] {
            #expect(
                !OpenAIClientError.httpStatus(status, url: url, body: "", retryAfter: nil)
                    .isRetryable)
        }
        #expect(OpenAIClientError.timeout(url: url, seconds: 1).isRetryable)
        #expect(OpenAIClientError.connectionFailed(url: url, reason: "refused").isRetryable)
        #expect(OpenAIClientError.malformedResponse(url: url, reason: "x", body: "").isRetryable)
    }
}
