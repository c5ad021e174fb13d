// ScoringFixtures.swift: a scripted judge, a bag-of-words embedder and a small store, for tests only.

import Foundation
import Judges
import Retrieval
import Scoring
import Store

/// The repository's Rubrics folder.
let rubricsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Rubrics").standardized.path

/// Which rubric a request is for, recognised by its system message.
func rubricID(of request: JudgeRequest, library: RubricLibrary) -> String {
    let system = request.messages.first?.content ?? ""
    return library.rubrics.values.first { $0.system == system }?.id ?? "?"
}

/// A judge that answers from a script and records what it was asked.
final class ScriptedJudge: Judge, @unchecked Sendable {
    let identity: String
    let library: RubricLibrary
    private let lock = NSLock()
    private(set) var requests: [(rubric: String, request: JudgeRequest)] = []
    /// (rubric id, last user message, attempt number so far for that prompt) -> output.
    let script: @Sendable (String, String, Int) throws -> String
    private var attemptsByPrompt: [String: Int] = [:]

    init(identity: String = "scripted", library: RubricLibrary, script: @escaping @Sendable (String, String, Int) throws -> String) {
        self.identity = identity
        self.library = library
        self.script = script
    }

    func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        let id = rubricID(of: request, library: library)
        let user = request.messages.last?.content ?? ""
        let attempt: Int = lock.withLock {
            requests.append((id, request))
            attemptsByPrompt[id + user, default: 0] += 1
            return attemptsByPrompt[id + user]!
        }
        let text = try script(id, user, attempt)
        return JudgeReply(text: text, tokensIn: user.count / 4 + 10, cachedTokens: 0, tokensOut: text.count / 4 + 1, latency: 0.001)
    }

    func count(_ rubric: String) -> Int { lock.withLock { requests.filter { $0.rubric == rubric }.count } }
    var total: Int { lock.withLock { requests.count } }
}

/// Hashes lowercase words into 64 buckets: texts sharing words get similar vectors.
struct BagOfWordsEmbedder: Embedder {
    var identity: String { "test:bag-of-words-64" }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var v = [Float](repeating: 0, count: 64)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
                var h: UInt64 = 1469598103934665603
                for b in word.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
                v[Int(h % 64)] += 1
            }
            return normalised(v)
        }
    }
}

/// One token per word.
let wordChunker = Chunker { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).count }

/// A fresh store path.
func temporaryStore() -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-scoring-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("store.sqlite").path
}

/// A document of distinct sentences: "Fact N: the widget number N weighs 10N grams."
let factDocument = (0..<60).map { "Fact \($0): the gadget \($0) is coloured hue\($0) and weighs \($0 * 10) grams." }.joined(separator: " ")

/// Builds a scorer over a fresh (or given) store.
func makeScorer(
    store path: String, judge: any Judge, configuration: ScoringConfiguration = ScoringConfiguration(), runID: Int64? = nil
) throws -> Scorer {
    let store = try Store(path: path)
    let index = try DocumentIndex(
        store: store, embedder: BagOfWordsEmbedder(), chunker: wordChunker,
        options: ChunkingOptions(fineTokens: 24, coarseTokens: 300))
    let runner = JudgeRunner(
        judge: judge, store: store, runID: runID, schedule: configuration.retries, concurrency: 4,
        verdictMode: configuration.effectiveVerdictMode, verdictModeOverrides: configuration.verdictModeOverrides)
    return try Scorer(index: index, runner: runner, rubrics: try RubricLibrary(folder: rubricsFolder), configuration: configuration)
}

/// Scores one item and returns its records in answer order.
func scoreItem(
    _ scorer: Scorer, question: String, answers: [String], document: String = factDocument, id: String = "q1"
) async throws -> [AnswerScore] {
    let item = ScoreItem(id: id, document: .text(document), question: question, answers: answers, line: 1)
    let (record, doc, stored) = try await scorer.prepare(item, inputFile: "test.jsonl")
    let collected = Collected()
    try await scorer.score(item: record, document: doc, answers: stored) { collected.add($0) }
    return collected.records.sorted { $0.answerIndex < $1.answerIndex }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var records: [AnswerScore] = []
    func add(_ r: AnswerScore) { lock.withLock { records.append(r) } }
}
