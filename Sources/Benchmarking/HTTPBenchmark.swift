// HTTPBenchmark.swift: throughput and per-call overhead of OpenAIClient against a loopback server
// that answers every chat completion after a fixed delay D.
//
// With N requests in flight and R requests in all, a perfect client keeps every slot busy, so
//     ideal wall = ceil(R / N) * D,   ideal rate = N / D requests/s.
// Per-call overhead is the mean extra time a call holds its slot beyond D:
//     overhead = (wall - ideal wall) * N / R,
// i.e. the client's JSON encode/decode, URLSession/libcurl hand-offs, the loopback round trip and
// the server's parsing, with scheduling on a shared machine. The mean client latency minus D
// (`meanLatency - D`) measures the same thing from the other side and is reported beside it.

import Foundation
import LoopbackServer
import OpenAICompatible

/// What to measure.
public struct HTTPBenchmarkConfiguration: Sendable {
    /// Requests in flight (the client's `maxInFlight`).
    public var inFlight: Int
    /// Server delay before each answer, in seconds.
    public var delaySeconds: Double
    /// Requests timed (after a warm-up of `inFlight` requests that opens the connections).
    public var requests: Int

    /// Creates a configuration; defaults: 32 in flight, 50 ms delay, 640 requests.
    public init(inFlight: Int = 32, delaySeconds: Double = 0.05, requests: Int = 640) {
        self.inFlight = inFlight
        self.delaySeconds = delaySeconds
        self.requests = requests
    }
}

/// The measured figures; JSON keys are snake_case.
public struct HTTPBenchmarkReport: Codable, Sendable {
    /// Requests in flight.
    public var inFlight: Int
    /// Server delay per request, milliseconds.
    public var delayMs: Double
    /// Requests timed.
    public var requests: Int
    /// Seconds from the first call to the last answer.
    public var wallSeconds: Double
    /// `requests / wallSeconds`.
    public var requestsPerSecond: Double
    /// `inFlight / delay`: the rate of a client with zero overhead (nil for a zero delay).
    public var idealRequestsPerSecond: Double?
    /// `ceil(requests / inFlight) * delay`, seconds.
    public var idealWallSeconds: Double
    /// `(wall - idealWall) * inFlight / requests`, milliseconds per call.
    public var overheadPerCallMs: Double
    /// Client-measured latency per call (includes the server delay), milliseconds.
    public var latencyMs: LatencySummary
    /// TCP connections the server accepted, warm-up included (at most `inFlight` with keep-alive).
    public var connections: Int
    /// Most requests the server was handling at once.
    public var maxConcurrentRequests: Int
    /// Calls that needed more than one HTTP attempt (should be 0).
    public var retriedCalls: Int

    enum CodingKeys: String, CodingKey {
        case requests, connections
        case inFlight = "in_flight"
        case delayMs = "delay_ms"
        case wallSeconds = "wall_seconds"
        case requestsPerSecond = "requests_per_second"
        case idealRequestsPerSecond = "ideal_requests_per_second"
        case idealWallSeconds = "ideal_wall_seconds"
        case overheadPerCallMs = "overhead_per_call_ms"
        case latencyMs = "latency_ms"
        case maxConcurrentRequests = "max_concurrent_requests"
        case retriedCalls = "retried_calls"
    }
}

/// Latency percentiles in milliseconds (nearest rank).
public struct LatencySummary: Codable, Sendable {
    /// Mean.
    public var mean: Double
    /// Median.
    public var p50: Double
    /// 99th percentile.
    public var p99: Double
    /// Largest.
    public var max: Double

    /// Summarises `samples` (seconds, not empty) in milliseconds.
    public init(seconds samples: [Double]) {
        precondition(!samples.isEmpty, "LatencySummary: no samples")
        let s = samples.sorted().map { $0 * 1000 }
        func rank(_ q: Double) -> Double {
            s[Swift.max(0, Int((q * Double(s.count)).rounded(.up)) - 1)]
        }
        mean = s.reduce(0, +) / Double(s.count)
        p50 = rank(0.5)
        p99 = rank(0.99)
        max = s[s.count - 1]
    }
}

/// The loopback HTTP benchmark.
public enum HTTPBenchmark {
    /// Starts a loopback server, warms up, then fires `requests` chat completions through one
    /// ``OpenAIClient`` with `maxInFlight = inFlight`.
    /// - Parameters:
    ///   - configuration: what to measure.
    ///   - status: progress messages.
    /// - Returns: the report.
    /// - Throws: ``LoopbackServerError`` or ``OpenAIClientError`` if any call fails.
    public static func run(
        _ configuration: HTTPBenchmarkConfiguration, status: (String) -> Void = { _ in }
    ) async throws -> HTTPBenchmarkReport {
        let n = configuration.inFlight
        let d = configuration.delaySeconds
        let r = configuration.requests
        let server = try LoopbackServer(handler: OpenAIStub.handler(reply: "Score: 4", delay: d))
        defer { server.stop() }
        let endpoint = try OpenAIEndpoint(
            baseURL: server.baseURL, model: "bench", timeoutSeconds: 30)
        let client = OpenAIClient(endpoint: endpoint, retryPolicy: .none, maxInFlight: n)
        let messages = [
            ChatTurn.system("Grade the answer from 1 to 5."), .user("Question and answer text."),
        ]

        status("warm-up: \(n) requests")
        _ = try await fire(client, messages: messages, count: n)
        status("\(r) requests, \(n) in flight, server delay \(Int(d * 1000)) ms")
        let start = DispatchTime.now().uptimeNanoseconds
        let calls = try await fire(client, messages: messages, count: r)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

        let idealWall = (Double(r) / Double(n)).rounded(.up) * d
        return HTTPBenchmarkReport(
            inFlight: n, delayMs: d * 1000, requests: r, wallSeconds: wall,
            requestsPerSecond: Double(r) / wall,
            idealRequestsPerSecond: d > 0 ? Double(n) / d : nil,
            idealWallSeconds: idealWall,
            overheadPerCallMs: (wall - idealWall) * Double(n) / Double(r) * 1000,
            latencyMs: LatencySummary(seconds: calls.map(\.latencySeconds)),
            connections: server.connectionCount,
            maxConcurrentRequests: server.maxConcurrentRequests,
            retriedCalls: calls.filter { $0.httpAttempts > 1 }.count)
    }

    /// Two lines of text for the report.
    public static func summary(_ report: HTTPBenchmarkReport) -> String {
        let ideal =
            report.idealRequestsPerSecond.map {
                String(format: " (ideal %.1f, %.1f%%)", $0, 100 * report.requestsPerSecond / $0)
            } ?? ""
        let first = String(
            format: "%d requests, %d in flight, server delay %.0f ms: %.1f requests/s",
            report.requests, report.inFlight, report.delayMs, report.requestsPerSecond)
        let wall = String(
            format: ", wall %.3f s (ideal %.3f s)", report.wallSeconds, report.idealWallSeconds)
        let second = String(
            format:
                "client overhead %.2f ms/call (mean latency - delay: %.2f ms); "
                + "latency p50 %.2f ms, "
                + "p99 %.2f ms, max %.2f ms; %d connections, server concurrency %d",
            report.overheadPerCallMs, report.latencyMs.mean - report.delayMs, report.latencyMs.p50,
            report.latencyMs.p99, report.latencyMs.max, report.connections,
            report.maxConcurrentRequests)
        return first + ideal + wall + "\n" + second
    }

    /// Fires `count` concurrent calls (the client's slots do the queueing).
    private static func fire(_ client: OpenAIClient, messages: [ChatTurn], count: Int) async throws
        -> [ChatCompletion]
    {
        try await withThrowingTaskGroup(of: ChatCompletion.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await client.chat(messages: messages, temperature: 0, maxTokens: 16)
                }
            }
            var results: [ChatCompletion] = []
            results.reserveCapacity(count)
            for try await result in group { results.append(result) }
            return results
        }
    }
}
