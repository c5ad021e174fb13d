// JudgeBenchmark.swift: the embedded judge under load: a fixed set of rubric calls (the demo's
// helpfulness, logic and support prompts over its three answers), many in flight, with and
// without continuous batching. Calls/s and generated tokens/s over the whole set.

import Foundation
import Judges
import Kernels
import Models

/// One configuration's figures in `bench judge`.
public struct JudgeBenchmarkFigure: Codable, Sendable {
    /// Whether requests joined a running batch.
    public var continuousBatching: Bool
    /// Wall time of the whole set.
    public var seconds: Double
    /// Calls finished per second.
    public var callsPerSecond: Double
    /// Generated tokens per second (summed over calls).
    public var tokensPerSecond: Double
    /// Prompt tokens prefilled (after prefix reuse) and generated, in total.
    public var promptTokens: Int, generatedTokens: Int
    /// Mean and worst latency of one call (queueing included).
    public var meanLatency: Double, maxLatency: Double

    enum CodingKeys: String, CodingKey {
        case continuousBatching = "continuous_batching", seconds
        case callsPerSecond = "calls_per_s", tokensPerSecond = "tokens_per_s"
        case promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
        case meanLatency = "mean_latency_s", maxLatency = "max_latency_s"
    }
}

/// Result of `bench judge`.
public struct JudgeBenchmarkReport: Codable, Sendable {
    /// Worker threads, calls, calls in flight, verdict mode.
    public var threads: Int, calls: Int, inFlight: Int
    /// The verdict mode of the calls.
    public var verdict: String
    /// With continuous batching, then static batches of `inFlight`.
    public var results: [JudgeBenchmarkFigure]

    enum CodingKeys: String, CodingKey {
        case threads, calls, verdict, results
        case inFlight = "in_flight"
    }
}

/// The judge benchmark.
public enum JudgeBenchmark {
    /// The fixed calls: for each demo answer, helpfulness and logic, then support calls of its
    /// sentences against the first passages of the document, cycled up to `count` calls.
    public static func requests(rubrics: RubricLibrary, demoItems path: String, document: String, count: Int, maxTokens: Int, verdict: VerdictMode) throws -> [JudgeRequest] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        guard let line = lines.first, let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let question = object["question"] as? String, let answers = object["answers"] as? [String]
        else { throw JudgeError.invalidRubric(path: path, reason: "expected a demo item with question and answers") }
        let passages = document.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).filter { $0.count > 200 }
        var out: [JudgeRequest] = []
        func add(_ rubric: Rubric, _ values: [String: String]) throws {
            out.append(JudgeRequest(
                messages: try rubric.messages(values), fixedMessageCount: rubric.fixedMessageCount, temperature: 0.01,
                maxTokens: min(maxTokens, rubric.maxTokens), seed: out.count + 1, stopAfter: rubric.stopAfter,
                verdict: rubric.verdictRequest(verdict)))
        }
        let (h, l, s) = (try rubrics.rubric("helpfulness"), try rubrics.rubric("logic"), try rubrics.rubric("support"))
        var sentenceIndex = 0
        while out.count < count {
            for answer in answers where out.count < count {
                try add(h, ["question": question, "answer": answer])
                if out.count < count { try add(l, ["question": question, "answer": answer]) }
                let sentences = answer.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.count > 20 }
                for _ in 0..<2 where out.count < count && !sentences.isEmpty {
                    let statement = sentences[sentenceIndex % sentences.count] + "."
                    let evidence = (0..<3).map { "[\($0 + 1)] " + String(passages[(sentenceIndex + $0) % max(1, passages.count)].prefix(600)) }
                    try add(s, ["statement": statement, "passages": evidence.joined(separator: "\n")])
                    sentenceIndex += 1
                }
            }
        }
        return out
    }

    /// Runs `requests` with `inFlight` at once on a fresh judge per configuration, decoding with
    /// `decodeActivations`.
    public static func run(
        _ lm: LanguageModel, requests: [JudgeRequest], inFlight: Int, verdict: VerdictMode,
        decodeActivations: ActivationPrecision = .float32
    ) async throws -> JudgeBenchmarkReport {
        var figures: [JudgeBenchmarkFigure] = []
        for continuous in [true, false] {
            let judge = LocalJudge(model: lm, maxBatch: inFlight, continuousBatching: continuous, decodeActivations: decodeActivations)
            // Warm the prefix cache so both runs start equal.
            for r in requests { judge.prefixState(r) }
            let started = Date()
            let replies = try await withThrowingTaskGroup(of: JudgeReply.self) { group in
                var next = 0, out: [JudgeReply] = []
                while next < min(inFlight, requests.count) { let r = requests[next]; group.addTask { try await judge.complete(r) }; next += 1 }
                while let reply = try await group.next() {
                    out.append(reply)
                    if next < requests.count { let r = requests[next]; group.addTask { try await judge.complete(r) }; next += 1 }
                }
                return out
            }
            let seconds = Date().timeIntervalSince(started)
            let generated = replies.map(\.tokensOut).reduce(0, +)
            figures.append(JudgeBenchmarkFigure(
                continuousBatching: continuous, seconds: seconds, callsPerSecond: Double(replies.count) / seconds,
                tokensPerSecond: Double(generated) / seconds,
                promptTokens: replies.map { $0.tokensIn - $0.cachedTokens }.reduce(0, +), generatedTokens: generated,
                meanLatency: replies.map(\.latency).reduce(0, +) / Double(max(1, replies.count)), maxLatency: replies.map(\.latency).max() ?? 0))
        }
        return JudgeBenchmarkReport(threads: lm.threads, calls: requests.count, inFlight: inFlight, verdict: verdict.rawValue, results: figures)
    }
}
