// JudgeRunner.swift: every judge call goes through here: cache lookup, the retry schedule,
// parsing, and one `judge_calls` row per attempt.

import Foundation
import Formats
import Judges
import Store
import Tokenizers

/// Temperatures of the parse-retry schedule (LongReward: 0.01 first, then up to four at 0.95).
public struct RetrySchedule: Sendable, Equatable, Codable {
    /// First attempt's temperature.
    public var firstTemperature: Double
    /// Later attempts' temperature.
    public var retryTemperature: Double
    /// Total attempts, the first included.
    public var attempts: Int

    /// Creates a schedule; the defaults are LongReward's.
    public init(firstTemperature: Double = 0.01, retryTemperature: Double = 0.95, attempts: Int = 5) {
        self.firstTemperature = firstTemperature
        self.retryTemperature = retryTemperature
        self.attempts = max(1, attempts)
    }

    /// Temperature of attempt `n` (1-based).
    public func temperature(attempt n: Int) -> Double { n == 1 ? firstTemperature : retryTemperature }
}

/// The result of one logical judge call (all its attempts).
public struct JudgeOutcome: Sendable {
    /// The parsed verdict, nil when every attempt was unparseable.
    public var verdict: Verdict?
    /// Raw outputs of the attempts, in order.
    public var outputs: [String]
    /// Attempts made in total, and how many came from the cache.
    public var attempts: Int, cacheHits: Int
    /// Tokens over all attempts (cached attempts count what they cost when first made).
    public var tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int
    /// Why the call failed without output (prompt too long), if it did.
    public var failure: String?
    /// How the verdict was read: `parsed`, `model` or `logprobs` (nil without a verdict).
    public var verdictSource: String?
}

/// Counters over a run, safe to read while it runs.
public final class JudgeCounters: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls = 0, cacheHits = 0, tokensIn = 0, tokensOut = 0, cachedPromptTokens = 0

    func add(call cached: Bool, tokensIn: Int, tokensOut: Int, cachedPrompt: Int) {
        lock.lock()
        defer { lock.unlock() }
        if cached { cacheHits += 1 } else {
            calls += 1
            self.tokensIn += tokensIn
            self.tokensOut += tokensOut
            cachedPromptTokens += cachedPrompt
        }
    }

    /// A consistent copy: (fresh calls, cache hits, tokens in, tokens out, prefix-cached tokens).
    public var snapshot: (calls: Int, cacheHits: Int, tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (calls, cacheHits, tokensIn, tokensOut, cachedPromptTokens)
    }
}

/// An async counting semaphore bounding judge calls in flight.
actor CallLimiter {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { available = max(1, limit) }

    func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
    }
}

/// Runs rubric calls against a judge with caching and parse retries.
public final class JudgeRunner: Sendable {
    /// The judge.
    public let judge: any Judge
    /// Where calls are recorded and looked up.
    public let store: Store
    /// The run the calls belong to.
    public let runID: Int64?
    /// Parse-retry temperatures.
    public let schedule: RetrySchedule
    /// Counters for progress and the summary.
    public let counters = JudgeCounters()
    /// Cap on every rubric's completion budget (nil: the rubric's own `max_tokens`).
    public let maxTokensCap: Int?
    /// How rating and support verdicts are read (rubrics without verdict labels always parse).
    public let verdictMode: VerdictMode
    /// Per rubric id, a verdict mode other than ``verdictMode`` (``ScoringConfiguration/verdictModeOverrides``:
    /// support labels read in their own mode).
    public let verdictModeOverrides: [String: VerdictMode]
    /// Below this total probability on the allowed verdicts, a probability-read verdict counts
    /// as a failed attempt (recorded, then retried or the dimension marked failed).
    public let minimumVerdictMass: Double
    private let limiter: CallLimiter
    private let inFlight = InFlightCalls()

    /// Creates a runner; at most `concurrency` calls are in flight at once.
    public init(
        judge: any Judge, store: Store, runID: Int64?, schedule: RetrySchedule = RetrySchedule(), concurrency: Int = 8,
        maxTokensCap: Int? = nil, verdictMode: VerdictMode = .parse, verdictModeOverrides: [String: VerdictMode] = [:],
        minimumVerdictMass: Double = 0.1
    ) {
        self.maxTokensCap = maxTokensCap
        self.verdictMode = verdictMode
        self.verdictModeOverrides = verdictModeOverrides
        self.minimumVerdictMass = minimumVerdictMass
        self.judge = judge
        self.store = store
        self.runID = runID
        self.schedule = schedule
        limiter = CallLimiter(concurrency)
    }

    /// The verdict mode `rubric` is read with.
    public func verdictMode(for rubric: Rubric) -> VerdictMode { verdictModeOverrides[rubric.id] ?? verdictMode }

    /// Hash of a rendered conversation.
    public static func promptHash(_ messages: [ChatMessage]) -> String {
        SHA256.hex(messages.map { $0.role + "\u{1F}" + $0.content }.joined(separator: "\u{1E}"))
    }

    /// Calls `rubric` with `values`: each attempt is looked up in the cache by (prompt, judge,
    /// sampling, attempt), made when missing and recorded, then parsed; stops at the first
    /// parseable output. Throws only when the judge is unavailable (the run cannot go on).
    ///
    /// - Parameters:
    ///   - sample: which of several independent samples of the same prompt this is. Sample `s`
    ///     uses seeds `1000 s + attempt`, so samples differ and each is cached on its own;
    ///     sample 0 is the scorer's call.
    ///   - temperature: one temperature for every attempt (sampling at temperature, as the
    ///     meta-judge and the policy do); nil follows the retry schedule.
    ///   - topP: nucleus sampling for every attempt (1: off).
    public func call(
        _ rubric: Rubric, _ values: [String: String], sample: Int = 0, temperature fixedTemperature: Double? = nil,
        topP: Double = 1
    ) async throws -> JudgeOutcome {
        let messages = try rubric.messages(values)
        let promptHash = Self.promptHash(messages)
        let maxTokens = min(rubric.maxTokens, maxTokensCap ?? Int.max)
        let verdictRequest = rubric.verdictRequest(verdictMode(for: rubric))
        var outcome = JudgeOutcome(verdict: nil, outputs: [], attempts: 0, cacheHits: 0, tokensIn: 0, tokensOut: 0, cachedPromptTokens: 0)
        for attempt in 1...schedule.attempts {
            let temperature = fixedTemperature ?? schedule.temperature(attempt: attempt)
            let seed = sample * 1000 + attempt
            var keyParts: [String] = [promptHash, judge.identity, String(temperature), String(maxTokens), String(seed), String(attempt)]
            if topP < 1 { keyParts.append("top_p=\(topP)") }
            if let v = verdictRequest { keyParts.append("verdict=\(v.mode.rawValue)") }
            let key = SHA256.hex((keyParts + rubric.stopAfter).joined(separator: "|"))
            outcome.attempts += 1
            let raw: String
            var stored: StoredVerdict? = nil
            // An identical call already in flight (another answer asking the same thing): wait
            // for it instead of calling twice, then read its row from the cache.
            let gate = inFlight.claim(key)
            if let wait = gate.wait { await wait.value }
            defer { gate.release?() }
            if let hit = try store.cachedJudgeCall(key: key), let text = hit.rawOutput {
                raw = text
                stored = hit.verdict.flatMap { try? JSONDecoder().decode(StoredVerdict.self, from: Data($0.utf8)) }
                outcome.cacheHits += 1
                outcome.tokensIn += hit.tokensIn ?? 0
                outcome.tokensOut += hit.tokensOut ?? 0
                counters.add(call: true, tokensIn: 0, tokensOut: 0, cachedPrompt: 0)
            } else {
                let request = JudgeRequest(
                    messages: messages, fixedMessageCount: rubric.fixedMessageCount, temperature: temperature,
                    topP: topP, maxTokens: maxTokens, seed: seed, stopAfter: rubric.stopAfter, verdict: verdictRequest)
                var record = JudgeCallRecord(
                    callKey: key, promptHash: promptHash, rubricID: rubric.id, rubricVersion: rubric.version,
                    rubricHash: rubric.contentHash, judgeID: judge.identity, temperature: temperature,
                    maxTokens: maxTokens, seed: seed, attempt: attempt, status: .error, rawOutput: nil,
                    parsedValue: nil, error: nil, tokensIn: nil, tokensOut: nil, cachedTokens: nil,
                    latencyMilliseconds: nil, runID: runID)
                let reply: JudgeReply
                await limiter.acquire()
                do {
                    reply = try await judge.complete(request)
                    await limiter.release()
                } catch {
                    await limiter.release()
                    record.error = "\(error)"
                    try store.recordJudgeCall(record)
                    if case JudgeError.promptTooLong = error {
                        outcome.failure = "\(error)"
                        return outcome
                    }
                    throw error
                }
                raw = reply.text
                if let v = verdictRequest {
                    stored = StoredVerdict(mode: v.mode, reply: reply.verdict, labels: v.labels)
                    record.verdict = String(decoding: try JSONEncoder.sorted.encode(stored), as: UTF8.self)
                }
                let (verdict, why) = interpret(raw, stored, rubric, judged: values)
                record.status = verdict == nil ? .unparseable : .parsed
                record.rawOutput = raw
                record.parsedValue = verdict?.stored
                record.error = why
                record.tokensIn = reply.tokensIn
                record.tokensOut = reply.tokensOut
                record.cachedTokens = reply.cachedTokens
                record.latencyMilliseconds = reply.latency * 1000
                try store.recordJudgeCall(record)
                outcome.tokensIn += reply.tokensIn
                outcome.tokensOut += reply.tokensOut
                outcome.cachedPromptTokens += reply.cachedTokens
                counters.add(call: false, tokensIn: reply.tokensIn, tokensOut: reply.tokensOut, cachedPrompt: reply.cachedTokens)
            }
            outcome.outputs.append(raw)
            // Re-parse cached outputs too: a fixed parser reads old rows correctly.
            if let verdict = interpret(raw, stored, rubric, judged: values).verdict {
                outcome.verdict = verdict
                outcome.verdictSource = stored?.source ?? "parsed"
                return outcome
            }
            // A direct verdict is deterministic: another attempt would read the same numbers.
            if verdictRequest?.mode == .direct && stored?.probabilities != nil { break }
        }
        return outcome
    }

    /// The verdict of one attempt: from its probabilities when it has them (refused when their
    /// mass is below ``minimumVerdictMass``), else parsed from the text.
    ///
    /// A parsed rating, support label or choice is read only from what the judge wrote after
    /// the last line of a judged text (`judged`: the call's placeholder values) it copied, so
    /// an echoed answer cannot supply the verdict.
    func interpret(_ raw: String, _ stored: StoredVerdict?, _ rubric: Rubric, judged: [String: String]) -> (verdict: Verdict?, error: String?) {
        if let stored, let p = stored.probabilities, let rv = rubric.verdict {
            if stored.mass < minimumVerdictMass {
                return (nil, "probability on the allowed verdicts \(stored.mass) is below \(minimumVerdictMass)")
            }
            let v = VerdictParser.expected(p, verdict: rv, mode: rubric.parse)
            return (v, v == nil ? "no probability on the allowed verdicts" : nil)
        }
        let own: String
        switch rubric.parse {
        case .rating, .support, .choice:
            own = String(JudgedText.ownOutput(raw, judged: Array(judged.values), blockMarkers: rubric.blockMarkers))
        default:
            own = raw  // statements and extracts legitimately copy the judged text
        }
        let v = VerdictParser.parse(own, mode: rubric.parse)
        return (v, v == nil ? "no \(rubric.parse.rawValue) verdict in the output" : nil)
    }
}

/// How a verdict was read, as stored in `judge_calls.verdict`.
struct StoredVerdict: Codable, Equatable {
    /// `expected` or `direct`.
    var mode: VerdictMode
    /// `model`, `logprobs`, or `parsed` (the judge returned no probabilities).
    var source: String
    /// Whether the opener was forced after the analysis.
    var forced: Bool
    /// Total probability on the allowed verdicts (0 when parsed).
    var mass: Double
    /// The allowed verdicts and their probabilities (nil when parsed).
    var labels: [String]
    var probabilities: [Double]?

    init(mode: VerdictMode, reply: VerdictProbabilities?, labels: [String]) {
        self.mode = mode
        self.labels = labels
        source = reply?.source ?? "parsed"
        forced = reply?.forced ?? false
        mass = reply?.mass ?? 0
        probabilities = reply?.probabilities
    }
}

extension JSONEncoder {
    /// Sorted keys, for stable stored JSON.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return e
    }
}

/// Calls in flight by cache key: the first caller of a key makes the call, later ones wait for it.
final class InFlightCalls: @unchecked Sendable {
    private let lock = NSLock()
    private var waiting: [String: (task: Task<Void, Never>, finish: () -> Void)] = [:]

    /// For the first caller: `release` (call when done). For later ones: `wait` (a task ending
    /// when the first caller releases).
    func claim(_ key: String) -> (wait: Task<Void, Never>?, release: (() -> Void)?) {
        lock.lock()
        defer { lock.unlock() }
        if let entry = waiting[key] { return (entry.task, nil) }
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let task = Task { for await _ in stream {} }
        waiting[key] = (task, { continuation.finish() })
        return (nil, { [self] in
            lock.lock()
            let entry = waiting.removeValue(forKey: key)
            lock.unlock()
            entry?.finish()
        })
    }
}
