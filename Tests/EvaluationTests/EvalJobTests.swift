// EvalJobTests.swift: an evaluation end to end with a scripted judge: each method's accuracy,
// the pairwise position flips, Kendall's tau, cost per pair, the cache on a rerun, and the report.

import Foundation
import Judges
import Retrieval
import Scoring
import Store
import Testing
import Evaluation
import Reports

let rubricsFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("Rubrics")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("pointwise/rubric.json").path) { return candidate.path }
    }
    return "Rubrics"
}()

/// A judge that answers every rubric from the text it is shown; tests only.
final class ScriptedJudge: Judge, @unchecked Sendable {
    let identity = "test:scripted-eval"
    private let library: RubricLibrary
    private let lock = NSLock()
    private(set) var calls = 0
    /// The pairwise judge always answers this letter (a judge with total position bias).
    let pairwiseLetter: String

    init(pairwiseLetter: String = "A") throws {
        library = try RubricLibrary(folder: rubricsFolder)
        self.pairwiseLetter = pairwiseLetter
    }

    /// 9 for an answer giving the true weight of gadget 3, 4 for a wrong weight, 1 otherwise.
    static func rating(_ text: String) -> Int {
        text.contains("30 grams") ? 9 : (text.contains("grams") ? 4 : 1)
    }

    func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        let system = request.messages.first?.content ?? ""
        let id = library.rubrics.values.first { $0.system == system }?.id ?? "?"
        let user = request.messages.last?.content ?? ""
        lock.withLock { calls += 1 }
        let answer = user.components(separatedBy: "Answer:").last ?? user
        let text: String
        switch id {
        case "helpfulness", "logic", "completeness", "pointwise": text = "Analysis.\nRating: [[\(Self.rating(answer))]]"
        case "statements":
            text = answer.contains("grams") ? "<statement>The gadget weighs\(answer.contains("30 grams") ? " 30" : " 70") grams.</statement>" : "[[NO STATEMENTS]]"
        case "support": text = user.contains("Statement:\nThe gadget weighs 30 grams.") ? "Verdict: [[Fully]]" : "Verdict: [[No]]"
        case "extract": text = "- Gadget 3 weighs 30 grams."
        case "pairwise": text = "Verdict: [[\(pairwiseLetter)]]"
        default: text = "?"
        }
        return JudgeReply(text: text, tokensIn: 100, tokensOut: 10, latency: 0.001)
    }
}

/// Hashed bag-of-words vectors; tests only.
struct WordEmbedder: Embedder {
    var identity: String { "test:bag-of-words-64" }
    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var v = [Float](repeating: 0, count: 64)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
                var h: UInt64 = 1469598103934665603
                for b in word.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
                v[Int(h % 64)] += 1
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / max(norm, 1e-6) }
        }
    }
}

@Suite struct EvalJobTests {
    static let document = (0..<60).map { "Fact \($0): the gadget \($0) weighs \($0 * 10) grams." }.joined(separator: " ")

    func setUp() throws -> (options: EvalOptions, index: DocumentIndex, folder: URL) {
        let folder = temporaryFolder()
        try Self.document.write(to: folder.appendingPathComponent("gadgets.md"), atomically: true, encoding: .utf8)
        let lines = [
            #"{"id": "g1", "document": "gadgets.md", "question": "How heavy is gadget 3?", "answers": ["Gadget 3 weighs 30 grams, as fact 3 of the list says plainly.", "Gadget 3 weighs 70 grams.", "Gadgets vary."], "preferences": [[0, 1], [0, 2], [1, 2]], "labels": [{"kind": "faithful-complete"}, {"kind": "invented"}, {"kind": "off-topic"}]}"#,
            #"{"id": "g2", "document": "gadgets.md", "question": "What does gadget 3 weigh?", "answers": ["It weighs 30 grams.", "It weighs 70 grams, which is heavy for a gadget of its size.", "No idea."], "human_scores": [3, 2, 1]}"#,
        ]
        let input = folder.appendingPathComponent("labelled.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        let index = try DocumentIndex(
            store: store, embedder: WordEmbedder(), chunker: Chunker { $0.split(separator: " ").count },
            options: ChunkingOptions(fineTokens: 24, coarseTokens: 300))
        var score = ScoreJobOptions(pipeline: PipelineOptions(storePath: store.path), inputPath: input, outputPath: folder.appendingPathComponent("eval.json").path)
        score.rubricsFolder = rubricsFolder
        var options = EvalOptions(score: score)
        options.reportPath = folder.appendingPathComponent("eval.html").path
        options.contextTokens = 100
        return (options, index, folder)
    }

    @Test func measuresEachMethodAgainstTheLabels() async throws {
        let (options, index, folder) = try setUp()
        let judge = try ScriptedJudge(pairwiseLetter: "A")
        let result = try await EvalJob.run(options, judge: judge, index: index)
        #expect(result.items == 2 && result.answers == 6 && result.pairs == 6)
        let byName = Dictionary(uniqueKeysWithValues: result.methods.map { ($0.method, $0) })
        // Pointwise ratings follow the weight stated: 9 > 4 > 1 in both items.
        let pointwise = try #require(byName["pointwise"])
        #expect(pointwise.agreement.accuracy == 1)
        #expect(pointwise.kendallTau == 1)
        #expect(pointwise.callsPerPair == 1)  // 6 answers, 6 pairs
        // LongReward: rewards 9.25 (9, 9, 10, 9), 3 (4, 4, 0, 4), 1 (no statements: faithfulness left out).
        let longreward = try #require(byName["longreward"])
        #expect(longreward.agreement.accuracy == 1)
        // Faithfulness alone: 10 vs 0 wins, the pairs with the no-statement answer tie.
        #expect(abs((longreward.dimensions?["faithfulness"]?.accuracy ?? 0) - 4.0 / 6.0) < 1e-12)
        #expect(longreward.dimensions?["helpfulness"]?.accuracy == 1)
        // A judge that always says A ties every pair, and every verdict follows the position.
        let pairwise = try #require(byName["pairwise"])
        #expect(pairwise.agreement.accuracy == 0.5)
        #expect(pairwise.agreement.ties == 6)
        #expect(pairwise.positionFlipRate == 1)
        #expect(pairwise.callsPerPair == 2)
        // Length split: in g1 the better answer is always the longer; in g2 the shorter, except 70 grams > No idea.
        #expect(pointwise.shorterBetter.pairs + pointwise.longerBetter.pairs == 6)
        #expect(byName["pointwise"]?.byKind["faithful-complete>invented"]?.accuracy == 1)
        // Files: results and the report, no partial files left.
        #expect(FileManager.default.fileExists(atPath: options.score.outputPath))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(!files.contains { $0.hasSuffix(".partial") })
        let html = try String(contentsOfFile: options.reportPath!, encoding: .utf8)
        let rendered = EvalReport.html(result)
        #expect(html == rendered.html)
        #expect(html.components(separatedBy: "class=\"mark\"").count - 1 == rendered.marks)
        // Methods (3) + reward and 4 dimensions (5) + the length bars that have pairs + the flip bar.
        let lengthBars = result.methods.reduce(0) { $0 + ($1.shorterBetter.pairs > 0 ? 1 : 0) + ($1.longerBetter.pairs > 0 ? 1 : 0) }
        #expect(rendered.marks == 3 + 5 + lengthBars + 1)
        #expect(!html.contains("<script"))

        // A rerun makes no judge call and reports the same figures.
        let calls = judge.calls
        let again = try await EvalJob.run(options, judge: judge, index: index)
        #expect(judge.calls == calls)
        #expect(again.freshCalls == 0 && again.cacheHits > 0)
        #expect(again.methods == result.methods)
    }

    @Test func aConsistentPairwiseJudgeIsScoredOnItsChoices() async throws {
        var (options, index, _) = try setUp()
        options.methods = [.pairwise]
        // Always B: right when the better answer is second, wrong when first: every pair ties.
        let result = try await EvalJob.run(options, judge: try ScriptedJudge(pairwiseLetter: "B"), index: index)
        #expect(result.methods.map(\.method) == ["pairwise"])
        #expect(result.methods[0].agreement.accuracy == 0.5)
        #expect(result.methods[0].positionFlipRate == 1)
    }

    @Test func aMissingStoredDocumentFailsBeforeAnyCall() async throws {
        var (options, index, folder) = try setUp()
        let input = folder.appendingPathComponent("bad.jsonl").path
        try #"{"id": "x", "doc_id": "nowhere", "question": "Q?", "answers": ["a", "b"], "preferences": [[0, 1]]}"#.write(toFile: input, atomically: true, encoding: .utf8)
        options.score.inputPath = input
        let judge = try ScriptedJudge()
        await #expect(throws: EvaluationError.badInput(file: input, line: 1, reason: "document 'nowhere' is not in the store; index it first or give \"document\"")) {
            try await EvalJob.run(options, judge: judge, index: index)
        }
        #expect(judge.calls == 0)
    }
}
