// VerdictModeTests.swift: verdicts read from probabilities (expected / direct): the weighted
// mean, the mass threshold, the fallback to parsing, the store's record and the cache keys.

import Foundation
import Judges
import LoopbackServer
import Models
import OpenAICompatible
import Scoring
import Store
import Testing

/// A judge that answers rating and support calls with fixed probabilities (when asked for them
/// and `withProbabilities`), and text like the standard script otherwise.
final class ProbabilityJudge: Judge, @unchecked Sendable {
    let identity = "probabilities"
    let library: RubricLibrary
    let withProbabilities: Bool
    /// Per rubric: probability of each label (the rubric's label order).
    let table: [String: [Double]]
    private let lock = NSLock()
    private(set) var requests: [JudgeRequest] = []

    init(library: RubricLibrary, withProbabilities: Bool = true, table: [String: [Double]]) {
        self.library = library
        self.withProbabilities = withProbabilities
        self.table = table
    }

    func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        lock.withLock { requests.append(request) }
        let id = rubricID(of: request, library: library)
        let text = standardScript(id, request.messages.last?.content ?? "", 1)
        guard let v = request.verdict, withProbabilities, let p = table[id] else {
            return JudgeReply(text: text, tokensIn: 10, tokensOut: 5, latency: 0.001)
        }
        #expect(p.count == v.labels.count)
        return JudgeReply(
            text: "Some analysis. " + v.opener, tokensIn: 10, tokensOut: 5, latency: 0.001,
            verdict: VerdictProbabilities(probabilities: p, source: "model"))
    }

    var count: Int { lock.withLock { requests.count } }
}

@Suite struct VerdictModeTests {
    let library = try! RubricLibrary(folder: rubricsFolder)

    /// Ratings 0...10 with these probabilities: mass 0.8, expected (0.2*6 + 0.4*8 + 0.2*10)/0.8 = 8.
    static let rating: [Double] = [0, 0, 0, 0, 0, 0, 0.2, 0, 0.4, 0, 0.2]
    /// Fully 0.5, Partially 0.3, No 0.2: expected 0.65, most likely Fully.
    static let support: [Double] = [0.5, 0.3, 0.2]

    @Test func rubricsDeclareTheirVerdicts() throws {
        for id in ["helpfulness", "logic", "completeness"] {
            let v = try #require(try library.rubric(id).verdict)
            #expect(v.labels == (0...10).map(String.init))
            #expect(v.values == (0...10).map(Double.init))
            #expect(v.forcedPrefix.hasSuffix(v.opener))
        }
        let s = try #require(try library.rubric("support").verdict)
        #expect(s.labels == ["Fully", "Partially", "No"] && s.values == [1, 0.5, 0])
        #expect(try library.rubric("statements").verdictRequest(.expected) == nil)
        #expect(try library.rubric("helpfulness").verdictRequest(.parse) == nil)
    }

    @Test func expectedVerdictsAreProbabilityWeightedMeans() async throws {
        let judge = ProbabilityJudge(library: library, table: [
            "helpfulness": Self.rating, "logic": Self.rating, "completeness": Self.rating, "support": Self.support,
        ])
        let path = temporaryStore()
        let scorer = try makeScorer(store: path, judge: judge, configuration: ScoringConfiguration(verdictMode: .expected))
        let r = try #require(try await scoreItem(scorer, question: "What do the gadgets weigh?", answers: ["Answer one."]).first)
        #expect(abs(r.scores["helpfulness"]! - 8) < 1e-9)
        #expect(abs(r.scores["logic"]! - 8) < 1e-9)
        #expect(abs(r.scores["completeness"]! - 8) < 1e-9)
        #expect(abs(r.scores["faithfulness"]! - 6.5) < 1e-9)
        #expect(r.statements.allSatisfy { $0.support == "Fully" && abs($0.value! - 0.65) < 1e-9 })
        #expect(r.failedDimensions.isEmpty)
        // Every rating/support request carried the verdict request; the others did not.
        for request in judge.requests {
            let id = rubricID(of: request, library: library)
            #expect((request.verdict != nil) == ["helpfulness", "logic", "completeness", "support"].contains(id), "\(id)")
        }
        // The store records the distribution with the call.
        let store = try Store(path: path)
        let row = try store.connection.first("SELECT verdict FROM judge_calls WHERE rubric_id = 'helpfulness'")
        let json = try #require(row?["verdict"].string)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["mode"] as? String == "expected")
        #expect(object["source"] as? String == "model")
        #expect(abs((object["mass"] as? Double ?? 0) - 0.8) < 1e-9)
        #expect((object["probabilities"] as? [Double]) == Self.rating)

        // Another answer in the same mode: its support prompts (same statements) come from the
        // cache, their verdicts rebuilt from the stored probabilities; only the four per-answer
        // calls are new.
        var calls = judge.count
        let again = try makeScorer(store: path, judge: judge, configuration: ScoringConfiguration(verdictMode: .expected))
        let r2 = try #require(try await scoreItem(again, question: "What do the gadgets weigh?", answers: ["Answer two."]).first)
        #expect(judge.count - calls == 4)
        #expect(abs(r2.scores["faithfulness"]! - 6.5) < 1e-9)
        // Another mode is another call for every probability-read rubric (3 ratings, 4 supports),
        // while statements and extracts (parsed) come from the cache.
        calls = judge.count
        let direct = try makeScorer(store: path, judge: judge, configuration: ScoringConfiguration(verdictMode: .direct))
        _ = try await scoreItem(direct, question: "What do the gadgets weigh?", answers: ["Answer one."])
        #expect(judge.count - calls == 7)
    }

    @Test func supportLabelsCanBeReadInTheirOwnMode() async throws {
        let judge = ProbabilityJudge(library: library, table: [
            "helpfulness": Self.rating, "logic": Self.rating, "completeness": Self.rating, "support": Self.support,
        ])
        let path = temporaryStore()
        // Ratings direct, support labels after an analysis.
        let hybrid = ScoringConfiguration(verdictMode: .direct, supportVerdictMode: .expected)
        #expect(hybrid.verdictModeOverrides == ["support": .expected])
        #expect(hybrid.effectiveVerdictMode(rubric: "support") == .expected && hybrid.effectiveVerdictMode(rubric: "logic") == .direct)
        let scorer = try makeScorer(store: path, judge: judge, configuration: hybrid)
        let r = try #require(try await scoreItem(scorer, question: "What do the gadgets weigh?", answers: ["Answer one."]).first)
        #expect(abs(r.scores["helpfulness"]! - 8) < 1e-9 && abs(r.scores["faithfulness"]! - 6.5) < 1e-9)
        for request in judge.requests {
            let id = rubricID(of: request, library: library)
            let expected: VerdictMode? = id == "support" ? .expected : (["helpfulness", "logic", "completeness"].contains(id) ? .direct : nil)
            #expect(request.verdict?.mode == expected, "\(id)")
        }
        let store = try Store(path: path)
        let modes = try store.connection.query("SELECT DISTINCT rubric_id, json_extract(verdict, '$.mode') AS mode FROM judge_calls WHERE verdict IS NOT NULL ORDER BY rubric_id")
        #expect(modes.map { "\($0["rubric_id"].string ?? "")=\($0["mode"].string ?? "")" } == ["completeness=direct", "helpfulness=direct", "logic=direct", "support=expected"])

        // Support labels in the ratings' mode are the plain configuration: same hash, no override.
        let same = ScoringConfiguration(verdictMode: .direct, supportVerdictMode: .direct)
        #expect(same == ScoringConfiguration(verdictMode: .direct) && same.verdictModeOverrides.isEmpty)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(!String(decoding: try encoder.encode(same), as: UTF8.self).contains("supportVerdictMode"))
        #expect(try encoder.encode(hybrid) != encoder.encode(same))

        // All direct afterwards: the ratings come from the cache, only the support calls are new.
        let calls = judge.count
        let direct = try makeScorer(store: path, judge: judge, configuration: same)
        _ = try await scoreItem(direct, question: "What do the gadgets weigh?", answers: ["Answer one."])
        #expect(judge.requests[calls...].allSatisfy { rubricID(of: $0, library: library) == "support" })
        #expect(judge.count - calls == 4)
    }

    @Test func lowMassIsRetriedThenFailsAndNoProbabilitiesFallBackToParsing() async throws {
        // Mass 0.05 < 0.1 on every attempt: helpfulness fails after its attempts, recorded.
        let low = [0.05] + [Double](repeating: 0, count: 10)
        let judge = ProbabilityJudge(library: library, table: ["helpfulness": low])
        let path = temporaryStore()
        let configuration = ScoringConfiguration(retries: RetrySchedule(attempts: 3), verdictMode: .expected)
        let scorer = try makeScorer(store: path, judge: judge, configuration: configuration)
        let r = try #require(try await scoreItem(scorer, question: "What do the gadgets weigh?", answers: ["Answer one."]).first)
        #expect(r.failedDimensions == ["helpfulness"])
        #expect(r.scores["helpfulness"] == nil)
        let store = try Store(path: path)
        let failed = try store.connection.first(
            "SELECT COUNT(*) FROM judge_calls WHERE rubric_id = 'helpfulness' AND status = 'unparseable' AND error LIKE '%below 0.1%'")
        #expect(failed?[0].int == 3)
        // logic has no probabilities in this judge's table: parsed from its text ([[6]]) and
        // recorded as such.
        #expect(r.scores["logic"] == 6)
        let logic = try store.connection.first("SELECT verdict FROM judge_calls WHERE rubric_id = 'logic'")
        #expect(logic?["verdict"].string?.contains("\"source\":\"parsed\"") == true)

        // A direct verdict with too little mass is not retried (it would read the same numbers).
        let directJudge = ProbabilityJudge(library: library, table: ["helpfulness": low])
        let direct = try makeScorer(
            store: temporaryStore(), judge: directJudge,
            configuration: ScoringConfiguration(retries: RetrySchedule(attempts: 3), verdictMode: .direct))
        _ = try await scoreItem(direct, question: "What do the gadgets weigh?", answers: ["Answer one."])
        #expect(directJudge.requests.filter { rubricID(of: $0, library: library) == "helpfulness" }.count == 1)
    }

    @Test func verdictParserExpectedValues() throws {
        let rating = try #require(try library.rubric("helpfulness").verdict)
        #expect(VerdictParser.expected(Self.rating, verdict: rating, mode: .rating) == .rating(8, raw: 8))
        #expect(VerdictParser.expected([Double](repeating: 0, count: 11), verdict: rating, mode: .rating) == nil)
        #expect(VerdictParser.expected([1, 2], verdict: rating, mode: .rating) == nil)
        let support = try #require(try library.rubric("support").verdict)
        // (0.1 * 1 + 0.1 * 0.5 + 0.6 * 0) / 0.8 = 0.1875, most likely No.
        guard case .supportValue(let v, let label)? = VerdictParser.expected([0.1, 0.1, 0.6], verdict: support, mode: .support) else {
            Issue.record("expected a support value")
            return
        }
        #expect(abs(v - 0.1875) < 1e-12 && label == .no)
    }

    @Test func badVerdictSectionsAreRefusedAtLoad() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-rubric-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "System.".write(toFile: folder + "/system.md", atomically: true, encoding: .utf8)
        try "{{question}}".write(toFile: folder + "/user.md", atomically: true, encoding: .utf8)
        func load(_ verdict: String) -> String {
            let meta = #"{"id": "r", "version": 1, "parse": "rating", "placeholders": ["question"], "verdict": "# + verdict + "}"
            try? meta.write(toFile: folder + "/rubric.json", atomically: true, encoding: .utf8)
            do { _ = try Rubric(folder: folder); return "ok" } catch { return "\(error)" }
        }
        #expect(load(#"{"labels": ["0", "1"], "opener": "[[", "closer": "]]", "forced_prefix": "Rating: [["}"#) == "ok")
        #expect(load(#"{"labels": ["0", "high"], "opener": "[[", "closer": "]]", "forced_prefix": "Rating: [["}"#).contains("'high' is not a number"))
        #expect(load(#"{"labels": ["0"], "opener": "[[", "closer": "]]", "forced_prefix": "Rating:"}"#).contains("must end with the opener"))
        #expect(load(#"{"labels": ["1", "1"], "opener": "[[", "closer": "]]", "forced_prefix": "[["}"#).contains("repeat"))
        #expect(load(#"{"labels": "0"}"#).contains("needs labels"))
    }
}

@Suite struct HTTPVerdictTests {
    static let rating = VerdictRequest(
        mode: .expected, rubricID: "helpfulness", labels: (0...10).map(String.init), opener: "[[", closer: "]]",
        forcedPrefix: "\nRating: [[")

    static func token(_ t: String, _ lp: Double, _ top: [(String, Double)]) -> TokenLogProbability {
        TokenLogProbability(token: t, logprob: lp, topLogprobs: top.map { .init(token: $0.0, logprob: $0.1) })
    }

    /// `top_logprobs` after the last `[[`: single-token labels take their token's probability;
    /// "1" (a start of "10"), written by the server, is split by the next position between the
    /// closer ("1") and "0" ("10"); tokens that spell no label are ignored.
    @Test func verdictDistributionFromTopLogprobs() throws {
        let tokens = [
            Self.token("Good", -0.1, []), Self.token(" [[", -0.1, []),  // an earlier opener is not the verdict
            Self.token("x", -0.1, []), Self.token("]]", -0.1, []), Self.token(" Rating: [[", -0.1, []),
            Self.token("1", log(0.5), [("1", log(0.5)), ("8", log(0.3)), (" 7", log(0.1)), ("maybe", log(0.05))]),
            Self.token("0", log(0.6), [("0", log(0.6)), ("]]", log(0.4))]),
            Self.token("]]", 0, []),
        ]
        let v = try #require(HTTPJudge.verdictProbabilities(tokens, prefix: "", verdict: Self.rating))
        #expect(v.source == "logprobs")
        let expected: [Double] = [0, 0.5 * 0.4, 0, 0, 0, 0, 0, 0.1, 0.3, 0, 0.5 * 0.6]
        for (a, b) in zip(v.probabilities, expected) { #expect(abs(a - b) < 1e-9, "\(v.probabilities)") }
        // No opener followed by a token: nothing to read (the text is parsed instead).
        #expect(HTTPJudge.verdictProbabilities([Self.token("fine", 0, [])], prefix: "", verdict: Self.rating) == nil)
        // Direct mode: the prefix ends with the opener, so the first token is the verdict.
        let direct = try #require(HTTPJudge.verdictProbabilities([Self.token("7", log(0.9), [("7", log(0.9))])], prefix: "Rating: [[", verdict: Self.rating))
        #expect(abs(direct.probabilities[7] - 0.9) < 1e-9)
    }

    /// Over a loopback server: logprobs are requested, and a server that returns them gives a
    /// probability-read verdict; one that returns none gives text to parse (no verdict record).
    @Test func serversWithAndWithoutLogprobs() async throws {
        let bodies = BodyLog()
        let withLogprobs = try LoopbackServer { request in
            bodies.append(request.body)
            let json = """
                {"model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                  "message": {"role": "assistant", "content": "Fine. Rating: [[8]]"},
                  "logprobs": {"content": [
                    {"token": "Fine. Rating: [[", "logprob": -0.1, "top_logprobs": []},
                    {"token": "8", "logprob": -0.2, "top_logprobs": [{"token": "8", "logprob": -0.2231435513}, {"token": "6", "logprob": -1.6094379124}]},
                    {"token": "]]", "logprob": 0, "top_logprobs": []}]}}],
                 "usage": {"prompt_tokens": 30, "completion_tokens": 3}}
                """
            return .respond(status: 200, headers: [:], body: Data(json.utf8), delay: 0)
        }
        defer { withLogprobs.stop() }
        let judge = try HTTPJudge(baseURL: withLogprobs.baseURL, model: "m", timeout: 30)
        let request = JudgeRequest(messages: [.user("rate")], temperature: 0.01, maxTokens: 16, seed: 1, verdict: Self.rating)
        let reply = try await judge.complete(request)
        let v = try #require(reply.verdict)
        #expect(abs(v.probabilities[8] - 0.8) < 1e-6 && abs(v.probabilities[6] - 0.2) < 1e-6)
        let sent = try #require(try JSONSerialization.jsonObject(with: bodies.all[0]) as? [String: Any])
        #expect(sent["logprobs"] as? Bool == true && sent["top_logprobs"] as? Int == 20)

        let plain = try LoopbackServer { _ in
            .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: "Rating: [[7]]", promptTokens: 1, completionTokens: 1), delay: 0)
        }
        defer { plain.stop() }
        let parsed = try await HTTPJudge(baseURL: plain.baseURL, model: "m", timeout: 30).complete(request)
        #expect(parsed.verdict == nil && parsed.text == "Rating: [[7]]")
    }
}

@Suite struct LocalVerdictEncodingTests {
    /// The embedded judge writes every shipped verdict as whole tokens; a label it cannot write
    /// between `[[` and `]]` (a trailing space joins the closer's token) is refused naming the
    /// rubric and the label.
    @Test func labelsMustBeWholeTokens() throws {
        guard let lm = try? LanguageModel.load() else { return }  // no model: `make setup` first
        let judge = LocalJudge(model: lm)
        let library = try RubricLibrary(folder: rubricsFolder)
        for rubric in library.rubrics.values {
            for mode in [VerdictMode.expected, .direct] {
                if let v = rubric.verdictRequest(mode) { try judge.validate(v) }
            }
        }
        let bad = VerdictRequest(mode: .expected, rubricID: "custom", labels: ["7", "8 "], opener: "[[", closer: "]]", forcedPrefix: "[[")
        #expect(throws: JudgeError.self) { try judge.validate(bad) }
        do { try judge.validate(bad) } catch {
            #expect("\(error)".contains("rubric custom") && "\(error)".contains("'8 '"), "\(error)")
        }
    }

    /// An 8-bit KV cache is part of the judge's identity (so its calls are cached apart), and a
    /// direct verdict read through it stays close to the Float32 cache's: the expected rating
    /// within 0.5 and each label's probability within 0.05 (measured: 3.264 vs 3.232, largest
    /// label gap 0.006).
    @Test func eightBitCacheJudgeIsCachedApartAndStaysClose() async throws {
        guard let exact = try? LanguageModel.load(), let small = try? LanguageModel.load() else { return }
        let (a, b) = (LocalJudge(model: exact), LocalJudge(model: small, kvCache: .int8))
        #expect(a.identity != b.identity && b.identity.hasSuffix(":kv8"))
        let rubric = try #require(try RubricLibrary(folder: rubricsFolder).rubrics["helpfulness"])
        let messages = try rubric.messages(["question": "What is the capital of France?", "answer": "The capital of France is Paris, on the Seine."])
        let request = JudgeRequest(messages: messages, fixedMessageCount: messages.count - 1, temperature: 0, maxTokens: 64, seed: 0,
                                   verdict: rubric.verdictRequest(.direct))
        let (pa, pb) = (try await a.complete(request).verdict, try await b.complete(request).verdict)
        let (va, vb) = (try #require(pa).probabilities, try #require(pb).probabilities)
        func expected(_ p: [Double]) -> Double { zip(p, 0...).map { $0 * Double($1) }.reduce(0, +) / p.reduce(0, +) }
        let gap = zip(va, vb).map { abs($0 - $1) }.max() ?? 1
        #expect(abs(expected(va) - expected(vb)) < 0.5 && gap < 0.05, "expected \(expected(va)) vs \(expected(vb)), largest label gap \(gap)")
    }
}
