// InputAndHTTPTests.swift: score input parsing, verdict parsing, and the HTTP judge against a
// loopback server that misbehaves.

import Foundation
import Judges
import LoopbackServer
import OpenAICompatible
import Scoring
import Store
import Testing

private func write(_ text: String, name: String = "items.jsonl") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-input-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct ScoreInputTests {
    @Test func acceptsOurAndLongRewardFieldNames() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-doc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "Some text.".write(to: folder.appendingPathComponent("doc.md"), atomically: true, encoding: .utf8)
        let path = folder.appendingPathComponent("items.jsonl").path
        try """
            {"id": "a", "document": "doc.md", "question": "Q1?", "answers": ["x", "y"]}
            {"context": "Inline text of a document.", "query": "Q2?", "win_response": "w", "lose_response": "l"}

            {"doc_id": "stored", "question": "Q3?", "answer": "z"}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let items = try ScoreInput.read(path: path)
        #expect(items.count == 3)
        #expect(items[0].document == .path(folder.appendingPathComponent("doc.md").path))
        #expect(items[0].answers == ["x", "y"])
        #expect(items[1].document == .text("Inline text of a document.") && items[1].question == "Q2?" && items[1].answers == ["w", "l"])
        #expect(items[2].document == .storedID("stored") && items[2].line == 4)
    }

    @Test(arguments: [
        ("{\"question\": \"q\", \"answers\": [\"a\"]", "malformed JSON"),
        ("{\"document\": \"t\", \"answers\": [\"a\"]}", "missing 'question'"),
        ("{\"document\": \"t\", \"question\": \"q\"}", "no answers"),
        ("{\"document\": \"missing-file.md\", \"question\": \"q\", \"answers\": [\"a\"]}", "not found"),
        ("{\"document\": \"t\", \"question\": \"q\", \"answers\": [\"a\", 3]}", "answers[1]"),
        ("{\"document\": \"t\", \"question\": \"q\", \"answers\": [\"  \"]}", "empty"),
    ])
    func badLinesNameTheLine(line: String, message: String) throws {
        let path = try write("{\"document\": \"t\", \"question\": \"q\", \"answers\": [\"a\"]}\n" + line + "\n")
        do {
            _ = try ScoreInput.read(path: path)
            Issue.record("accepted: \(line)")
        } catch let error as ScoringError {
            #expect(error.description.contains("\(path):2"), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func emptyAndMissingFilesAreClearErrors() throws {
        #expect(throws: ScoringError.self) { try ScoreInput.read(path: try write("\n\n")) }
        #expect(throws: ScoringError.self) { try ScoreInput.read(path: "/nonexistent/items.jsonl") }
    }
}

@Suite struct VerdictParserTests {
    @Test func ratingsTakeTheLastBracketedNumberClamped() {
        #expect(VerdictParser.rating("It was [[3]] then I decided Rating: [[7]]") == .rating(7, raw: 7))
        #expect(VerdictParser.rating("Rating: [[8.5]]") == .rating(8.5, raw: 8.5))
        #expect(VerdictParser.rating("Rating: [[12]]") == .rating(10, raw: 12))
        #expect(VerdictParser.rating("Rating: [[-1]]") == .rating(0, raw: -1))
        #expect(VerdictParser.rating("Rating: [6]") == .rating(6, raw: 6))
        #expect(VerdictParser.rating("Rating: **4**") == .rating(4, raw: 4))
        #expect(VerdictParser.rating("no number [[good]]") == nil)
        #expect(VerdictParser.rating("") == nil)
    }

    @Test func statementsSupportAndExtracts() {
        #expect(VerdictParser.statements("<statement> A. </statement>\n<statement>B.</statement><statement>cut") == .statements(["A.", "B."]))
        #expect(VerdictParser.statements("[[NO STATEMENTS]]") == .statements([]))
        #expect(VerdictParser.statements("just prose") == nil)
        // Repeats (a small judge's loops) count once, case and spacing aside.
        #expect(VerdictParser.statements("<statement>A fire broke out.</statement><statement>a  fire broke out.</statement><statement>B.</statement>")
                == .statements(["A fire broke out.", "B."]))
        // One opened, never closed tag (SmolLM2's output for the demo's first answer, shortened):
        // its finished sentences, repeats once, the cut-off last one dropped.
        let running = """
            <statement>The failure cost GBP 418,000: GBP 96,000 for repairs. On 11 March 2025, a voltage dip tripped \
            the duty pump at Ashcombe Lane, Pump 1, and damaged its soft starter. The failure cost GBP 418,000: GBP \
            96,000 for repairs. Mr. Reed said "it failed." On 2 April, vibration monitoring had been
            """
        #expect(VerdictParser.statements(running) == .statements([
            "The failure cost GBP 418,000: GBP 96,000 for repairs.",
            "On 11 March 2025, a voltage dip tripped the duty pump at Ashcombe Lane, Pump 1, and damaged its soft starter.",
            "Mr. Reed said \"it failed.\"",
        ]))
        #expect(VerdictParser.statements("<statement>cut off before any sentence ended") == nil)
        #expect(VerdictParser.support("[[Fully]] at first, but Verdict: [[Partially]]") == .support(.partially))
        #expect(VerdictParser.support("Verdict: [[No support]]") == .support(.no))
        #expect(VerdictParser.support("Verdict: Fully") == .support(.fully))
        #expect(VerdictParser.support("maybe") == nil)
        #expect(VerdictParser.extract("- one\n- two") == .extract(["one", "two"]))
        #expect(VerdictParser.extract("[[NONE]]") == .extract([]))
        #expect(VerdictParser.extract("  \n ") == nil)
    }

    @Test func choicesQuestionsAndText() {
        #expect(VerdictParser.choice("A has it, so Verdict: [[B]]") == .choice(.b))
        #expect(VerdictParser.choice("[[A]] no wait [[Answer B]]") == .choice(.b))
        #expect(VerdictParser.choice("Verdict: A") == .choice(.a))
        #expect(VerdictParser.choice("Winner: **B**") == .choice(.b))
        #expect(VerdictParser.choice("Verdict: [[tie]]") == nil)
        #expect(VerdictParser.choice("[[Both]] are fine") == nil)
        #expect(VerdictParser.choice("no verdict") == nil)
        #expect(VerdictParser.question("Sure!\nQuestion: When did the pump fail?") == .text("When did the pump fail?"))
        #expect(VerdictParser.question("Here it is:\n\"Who chairs the board?\"") == .text("Who chairs the board?"))
        #expect(VerdictParser.question("No idea.") == nil)
        #expect(VerdictParser.freeText("  an answer \n") == .text("an answer"))
        #expect(VerdictParser.freeText(" \n ") == nil)
    }
}

@Suite struct HTTPJudgeTests {
    /// A server answering 429, then 500, then garbage, then a verdict: the client retries
    /// through all three and the judge sees one good reply.
    @Test func retriesThroughRateLimitsErrorsAndGarbage() async throws {
        let server = try LoopbackServer { request in
            switch request.index {
            case 1: return .respond(status: 429, headers: ["Retry-After": "0"], body: Data("slow down".utf8), delay: 0)
            case 2: return .respond(500, body: "oops")
            case 3: return .respond(200, body: "<html>not json</html>")
            default:
                return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: "Rating: [[9]]", promptTokens: 40, completionTokens: 5), delay: 0)
            }
        }
        defer { server.stop() }
        let judge = try HTTPJudge(baseURL: server.baseURL, model: "m", timeout: 30, retryPolicy: RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 0.05))
        let reply = try await judge.complete(JudgeRequest(messages: [.user("rate")], temperature: 0.01, maxTokens: 16, seed: 1))
        #expect(reply.text == "Rating: [[9]]" && reply.tokensIn == 40 && reply.tokensOut == 5)
        #expect(server.requestCount == 4)
    }

    /// Sampling settings reach the server: temperature, top_p (only when below 1) and the seed.
    @Test func samplingSettingsAreSent() async throws {
        let bodies = BodyLog()
        let server = try LoopbackServer { request in
            bodies.append(request.body)
            return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: "ok", promptTokens: 1, completionTokens: 1), delay: 0)
        }
        defer { server.stop() }
        let judge = try HTTPJudge(baseURL: server.baseURL, model: "m", timeout: 30)
        _ = try await judge.complete(JudgeRequest(messages: [.user("x")], temperature: 0.8, topP: 0.9, maxTokens: 4, seed: 7))
        _ = try await judge.complete(JudgeRequest(messages: [.user("x")], temperature: 0.01, maxTokens: 4, seed: 1))
        let sent = bodies.all.map { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:] }
        #expect(sent.count == 2)
        #expect(sent[0]["top_p"] as? Double == 0.9 && sent[0]["temperature"] as? Double == 0.8 && sent[0]["seed"] as? Int == 7)
        #expect(sent[1]["top_p"] == nil)
    }

    /// A stalled server times out; a server that is down is reported as unavailable, naming the URL.
    @Test func timeoutsAndDownServersBecomeUnavailable() async throws {
        let stalled = try LoopbackServer { _ in .stall }
        defer { stalled.stop() }
        let slow = try HTTPJudge(baseURL: stalled.baseURL, model: "m", timeout: 0.3, retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.02))
        await #expect(throws: JudgeError.self) {
            _ = try await slow.complete(JudgeRequest(messages: [.user("x")], temperature: 0, maxTokens: 4, seed: 0))
        }
        #expect(stalled.requestCount == 2)
        let port = stalled.port
        stalled.stop()
        let down = try HTTPJudge(baseURL: "http://127.0.0.1:\(port)", model: "m", timeout: 30, retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.02))
        do {
            _ = try await down.complete(JudgeRequest(messages: [.user("x")], temperature: 0, maxTokens: 4, seed: 0))
            Issue.record("a down server answered")
        } catch let error as JudgeError {
            #expect(error.description.contains("127.0.0.1:\(port)"), "\(error)")
        }
    }

    /// End to end through the scorer: an HTTP judge that never gives a verdict for logic leaves
    /// logic failed with its outputs recorded; the other dimensions still score.
    @Test func scorerOverHTTPRecordsUnparseableVerdicts() async throws {
        let library = try RubricLibrary(folder: rubricsFolder)
        let server = try LoopbackServer { request in
            let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
            let messages = json?["messages"] as? [[String: Any]] ?? []
            let system = messages.first?["content"] as? String ?? ""
            let user = messages.last?["content"] as? String ?? ""
            let id = library.rubrics.values.first { $0.system == system }?.id ?? "?"
            let text = id == "logic" ? "I refuse to rate." : standardScript(id, user, 1)
            return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: text, promptTokens: 100, completionTokens: 10), delay: 0.01)
        }
        defer { server.stop() }
        let judge = try HTTPJudge(baseURL: server.baseURL + "/v1", model: "m", timeout: 60, maxInFlight: 16)
        let scorer = try makeScorer(store: temporaryStore(), judge: judge)
        let r = try #require(try await scoreItem(scorer, question: "Q?", answers: ["A."]).first)
        #expect(r.dimensions["logic"]?.status == .failed)
        #expect(r.dimensions["logic"]?.outputs == Array(repeating: "I refuse to rate.", count: 5))
        #expect(r.scores["helpfulness"] == 8 && r.scores["faithfulness"] == 6.25 && r.scores["completeness"] == 5)
        #expect(r.judge.tokensIn == 100 * (r.judge.calls))
    }
}

/// Request bodies seen by a test server (written from its thread).
final class BodyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var bodies: [Data] = []
    func append(_ body: Data) { lock.withLock { bodies.append(body) } }
    var all: [Data] { lock.withLock { bodies } }
}
