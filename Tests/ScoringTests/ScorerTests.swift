// ScorerTests.swift: dimension arithmetic, parsing, retries, failure recording, caching, resume.

import Foundation
import Judges
import Retrieval
import Scoring
import Store
import Testing

/// The standard script: helpfulness 8, logic 6, four statements judged Fully, Partially, No,
/// Fully (faithfulness 6.25), one fact per chunk, completeness 5.
@Sendable func standardScript(_ rubric: String, _ user: String, _ attempt: Int) -> String {
    switch rubric {
    case "helpfulness": return "Clear and specific.\nRating: [[8]]"
    case "logic": return "Consistent.\nRating: [[6]]"
    case "statements":
        return """
            <statement>The gadget 3 weighs 30 grams.</statement>
            <statement>The gadget 7 is coloured hue7.</statement>
            <statement>The gadget 99 is purple.</statement>
            <statement>The gadget 12 weighs 120 grams.</statement>
            """
    case "support":
        if user.contains("gadget 7") { return "Colour matches, weight missing.\nVerdict: [[Partially]]" }
        if user.contains("gadget 99") { return "Not in the passages.\nVerdict: [[No]]" }
        return "Stated in passage.\nVerdict: [[Fully]]"
    case "extract": return "- a relevant fact"
    case "completeness": return "Covers half.\nRating: [[5]]"
    default: return "?"
    }
}

@Suite struct ScorerTests {
    let library = try! RubricLibrary(folder: rubricsFolder)

    @Test func fourDimensionsAndTheRewardFollowTheFormulas() async throws {
        let judge = ScriptedJudge(library: library, script: standardScript)
        let scorer = try makeScorer(store: temporaryStore(), judge: judge)
        let records = try await scoreItem(scorer, question: "What do the gadgets weigh?", answers: ["Answer one.", "Answer two."])
        #expect(records.count == 2)
        for r in records {
            let expected: [String: Double] = ["helpfulness": 8, "logic": 6, "faithfulness": 6.25, "completeness": 5]
            let reward: Double = (8 + 6 + 6.25 + 5) / 4
            #expect(r.scores == expected)
            #expect(r.reward == reward)
            #expect(r.failedDimensions.isEmpty)
            #expect(r.statements.map(\.support) == ["Fully", "Partially", "No", "Fully"])
            // Evidence: top-5 chunks of this document, in document order.
            for s in r.statements {
                #expect(s.evidenceChunks.count == 5)
                #expect(s.evidenceChunks == s.evidenceChunks.sorted())
            }
            // Per answer: helpfulness, logic, statements, completeness, and one support call per statement.
            #expect(r.judge.calls + r.judge.cacheHits == 4 + 4)
        }
        // Both answers yield the same four statements: each support prompt is asked once.
        #expect(judge.count("support") == 4)
        #expect(records.reduce(0) { $0 + $1.judge.calls } == 4 + 4 + 4)
        // The statement about gadget 3 retrieves the chunk holding "Fact 3".
        let chunks = try scorer.index.store.chunks(documentID: records[0].documentId, level: .fine)
        let evidence = records[0].statements[0].evidenceChunks.map { chunks[$0].text }
        #expect(evidence.contains { $0.contains("gadget 3 is") })
        // Completeness extracts are made once per (question, document), not per answer.
        let coarse = try scorer.index.store.chunks(documentID: records[0].documentId, level: .coarse).count
        #expect(coarse == 3)
        #expect(judge.count("extract") == coarse)
        #expect(records[0].completenessExtracts.count == coarse)
        #expect(judge.total == 2 * 4 + 4 + coarse)
        // Weights are configurable.
        let weighted = ScoringConfiguration(weights: [0, 0, 1, 1])
        #expect(weighted.reward([.helpfulness: 8, .logic: 6, .faithfulness: 6.25, .completeness: 5]) == 5.625)
    }

    @Test func unparseableOutputsAreRetriedAtHigherTemperatureThenRecordedAsFailed() async throws {
        let judge = ScriptedJudge(library: library) { rubric, user, attempt in
            switch rubric {
            case "helpfulness": return attempt < 3 ? "I think it is fine." : "Rating: [[7]]"
            case "logic": return "no verdict here, attempt \(attempt)"
            default: return standardScript(rubric, user, attempt)
            }
        }
        let path = temporaryStore()
        let scorer = try makeScorer(store: path, judge: judge)
        let r = try #require(try await scoreItem(scorer, question: "Q?", answers: ["A."]).first)
        #expect(r.scores["helpfulness"] == 7)
        let temperatures = judge.requests.filter { $0.rubric == "helpfulness" }.map(\.request.temperature)
        #expect(temperatures == [0.01, 0.95, 0.95])
        // Logic never parses: five attempts, failed, raw outputs kept, the answer is not dropped.
        #expect(judge.count("logic") == 5)
        let logic = try #require(r.dimensions["logic"])
        #expect(logic.status == .failed && logic.score == nil)
        #expect(logic.outputs?.count == 5 && logic.outputs?.last == "no verdict here, attempt 5")
        #expect(r.failedDimensions == ["logic"])
        let reward: Double = (7 + 6.25 + 5) / 3
        #expect(r.reward == reward)
        // Every attempt is a row: 2 unparseable + 1 parsed helpfulness, 5 unparseable logic.
        let store = try Store(path: path)
        let rows = try store.connection.query(
            "SELECT rubric_id, attempt, status, temperature FROM judge_calls WHERE rubric_id IN ('helpfulness', 'logic') ORDER BY rubric_id, attempt")
        #expect(rows.map { "\($0["rubric_id"].string!)/\($0["attempt"].int!)/\($0["status"].string!)" } == [
            "helpfulness/1/unparseable", "helpfulness/2/unparseable", "helpfulness/3/parsed",
            "logic/1/unparseable", "logic/2/unparseable", "logic/3/unparseable", "logic/4/unparseable", "logic/5/unparseable",
        ])
    }

    @Test func answersWithoutStatementsFollowThePolicy() async throws {
        let script: @Sendable (String, String, Int) -> String = { rubric, user, attempt in
            rubric == "statements" ? "[[NO STATEMENTS]]" : standardScript(rubric, user, attempt)
        }
        let cases: [(NoStatementPolicy, Double?, Double)] = [
            (.exclude, nil, 19.0 / 3), (.full, 10, 29.0 / 4), (.zero, 0, 19.0 / 4),
        ]
        for (policy, faithfulness, reward) in cases {
            let judge = ScriptedJudge(library: library, script: script)
            let scorer = try makeScorer(store: temporaryStore(), judge: judge, configuration: ScoringConfiguration(noStatementPolicy: policy))
            let r = try #require(try await scoreItem(scorer, question: "Q?", answers: ["I cannot say."]).first)
            #expect(r.dimensions["faithfulness"]?.status == .policy)
            #expect(r.dimensions["faithfulness"]?.score == faithfulness)
            #expect(r.reward == reward)
            #expect(judge.count("support") == 0)
        }
    }

    @Test func rerunsAnswerFromTheStoreAndTheCallCache() async throws {
        let path = temporaryStore()
        let first = ScriptedJudge(library: library, script: standardScript)
        let original = try await scoreItem(try makeScorer(store: path, judge: first), question: "Q?", answers: ["A.", "B."])
        // Same configuration: the stored records come back; no judge call at all.
        let second = ScriptedJudge(library: library, script: standardScript)
        let again = try await scoreItem(try makeScorer(store: path, judge: second), question: "Q?", answers: ["A.", "B."])
        #expect(second.total == 0)
        #expect(again.allSatisfy { $0.cached })
        #expect(again.map(\.reward) == original.map(\.reward))
        // Without the stored rewards, every call is a cache hit: still no judge call.
        try Store(path: path).connection.execute("DELETE FROM scores; DELETE FROM rewards;")
        let third = ScriptedJudge(library: library, script: standardScript)
        let scorer = try makeScorer(store: path, judge: third)
        let replayed = try await scoreItem(scorer, question: "Q?", answers: ["A.", "B."])
        #expect(third.total == 0)
        #expect(replayed.map(\.reward) == original.map(\.reward))
        #expect(replayed.allSatisfy { $0.judge.calls == 0 && $0.judge.cacheHits == 8 })
        #expect(try Store(path: path).connection.first("SELECT COUNT(*) FROM judge_calls")?[0].int == 15)
        // Another judge identity is not a cache hit.
        let other = ScriptedJudge(identity: "another", library: library, script: standardScript)
        _ = try await scoreItem(try makeScorer(store: path, judge: other), question: "Q?", answers: ["A."])
        #expect(other.total == 8 + 3)
        #expect(try Store(path: path).connection.first("SELECT COUNT(*) FROM judge_calls WHERE judge_id = 'another'")?[0].int == 11)
    }

    @Test func aRunStoppedByAFailingJudgeResumesWithoutRepeatingCalls() async throws {
        let path = temporaryStore()
        // The judge dies after 7 answered calls, like a server going down mid-run.
        let counter = CallCounter()
        let dying = ScriptedJudge(library: library) { rubric, user, attempt in
            if counter.next() > 7 { throw JudgeError.unavailable(judge: "scripted", reason: "connection refused") }
            return standardScript(rubric, user, attempt)
        }
        await #expect(throws: JudgeError.self) {
            _ = try await scoreItem(try makeScorer(store: path, judge: dying), question: "Q?", answers: ["A.", "B."])
        }
        let store = try Store(path: path)
        let answered = try store.connection.first("SELECT COUNT(*) FROM judge_calls WHERE status != 'error'")?[0].int ?? 0
        #expect(answered == 7)
        #expect(try store.rewards().isEmpty)
        // Rerun with a healthy judge: it is asked only what was never answered.
        let healthy = ScriptedJudge(library: library, script: standardScript)
        let records = try await scoreItem(try makeScorer(store: path, judge: healthy), question: "Q?", answers: ["A.", "B."])
        // 15 distinct calls: 4 per answer, 4 shared support prompts, 3 extracts.
        #expect(healthy.total == 15 - 7)
        let reward: Double = (8 + 6 + 6.25 + 5) / 4
        #expect(records.allSatisfy { $0.reward == reward })
        #expect(try store.connection.first("SELECT COUNT(*) FROM judge_calls WHERE status = 'parsed'")?[0].int == 15)
    }

    @Test func storesRefuseAnotherEmbedderOrChunking() throws {
        let path = temporaryStore()
        let store = try Store(path: path)
        _ = try DocumentIndex(store: store, embedder: BagOfWordsEmbedder(), chunker: wordChunker, options: ChunkingOptions())
        #expect(throws: ScoringError.self) {
            _ = try DocumentIndex(store: store, embedder: BagOfWordsEmbedder(), chunker: wordChunker, options: ChunkingOptions(fineTokens: 64))
        }
    }
}

/// A thread-safe call counter.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.withLock { n += 1; return n } }
}
