// PreferenceFixtures.swift: a scripted chat model, a bag-of-words embedder, and stores with
// scored answers built by hand, for the preference job tests.

import Foundation
import Judges
import Preferences
import Retrieval
import Scoring
import Store
import Testing
import Tokenizers

/// The repository's rubrics.
let rubricsFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("Rubrics")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("answer/rubric.json").path) { return candidate.path }
    }
    return "Rubrics"
}()

/// A chat model that answers from a script: (rubric id, last user message, seed) -> text.
/// Tests only; it records every request.
final class ScriptedModel: Judge, @unchecked Sendable {
    let identity = "test:scripted"
    private let library: RubricLibrary
    private let script: @Sendable (String, String, Int) -> String
    private let lock = NSLock()
    private(set) var requests: [(rubric: String, user: String, seed: Int, temperature: Double, topP: Double)] = []

    init(_ script: @escaping @Sendable (_ rubric: String, _ user: String, _ seed: Int) -> String) throws {
        library = try RubricLibrary(folder: rubricsFolder)
        self.script = script
    }

    func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        let system = request.messages.first?.content ?? ""
        let id = library.rubrics.values.first { $0.system == system }?.id ?? "?"
        let user = request.messages.last?.content ?? ""
        lock.withLock { requests.append((id, user, request.seed, request.temperature, request.topP)) }
        return JudgeReply(text: script(id, user, request.seed), tokensIn: 100, tokensOut: 10, latency: 0.001)
    }

    func renderedPrompt(_ messages: [ChatMessage]) -> String? {
        messages.map { "<|\($0.role)|>\($0.content)" }.joined() + "<|assistant|>"
    }

    func count(_ rubric: String) -> Int { lock.withLock { requests.filter { $0.rubric == rubric }.count } }
}

/// Hashed bag-of-words vectors (64 wide), unit length.
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
            let norm = max(1e-9, v.reduce(0) { $0 + $1 * $1 }.squareRoot())
            return v.map { $0 / norm }
        }
    }
}

/// A fresh folder.
func temporaryFolder() -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-prefs-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// A document index over a fresh store with word-count chunking.
func makeIndex(_ folder: URL) throws -> DocumentIndex {
    let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
    let chunker = Chunker { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).count }
    return try DocumentIndex(
        store: store, embedder: WordEmbedder(), chunker: chunker, options: ChunkingOptions(fineTokens: 16, coarseTokens: 64))
}

/// Model options for a store in `folder`, with the repository's rubrics.
func modelOptions(_ folder: URL) -> Preferences.ModelOptions {
    var o = Preferences.ModelOptions(pipeline: PipelineOptions(storePath: folder.appendingPathComponent("store.sqlite").path))
    o.rubricsFolder = rubricsFolder
    o.pipeline.concurrency = 4
    return o
}

/// A score record as `score` stores it (snake_case JSON), with the given dimension scores.
func scoreRecord(item: String, answer: String, scores: [String: Double], failed: [String] = []) -> String {
    let reward: Double? = scores.isEmpty ? nil : scores.values.reduce(0, +) / Double(scores.count)
    var dims: [String: Any] = [:]
    for d in ["helpfulness", "logic", "faithfulness", "completeness"] {
        if let s = scores[d] { dims[d] = ["status": "ok", "score": s] } else { dims[d] = ["status": "failed", "reason": "unparseable"] }
    }
    let usage: [String: Any] = ["calls": 1, "cache_hits": 0, "tokens_in": 10, "tokens_out": 2, "cached_prompt_tokens": 0]
    let object: [String: Any] = [
        "item_id": item, "answer_id": answer, "answer_index": 0, "document_id": "doc", "question": "Q?", "scores": scores,
        "reward": reward as Any? ?? NSNull(), "failed_dimensions": failed, "dimensions": dims, "statements": [],
        "completeness_extracts": [], "judge": usage, "shared_judge": usage, "seconds": 1.0, "cached": false,
    ]
    return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// Adds an item with answers and their uniform dimension scores (each answer's four scores are
/// `reward`, so the reward is exactly `reward`; nil marks every dimension failed).
func addScoredItem(
    _ store: Store, item: String, question: String = "Q?", answers: [(text: String, reward: Double?)], configHash: String = "cfg"
) throws {
    if try store.document(id: "doc") == nil {
        _ = try store.insertDocument(
            DocumentRecord(id: "doc", source: "test", sha256: "x", text: "A short document.", tokenCount: 4), chunks: [],
            fineEmbeddings: [])
    }
    try store.upsertItem(ItemRecord(id: item, documentID: "doc", question: question))
    let messages = [ChatMessage.system("Answer from the document."), .user("Document: A short document.\n\nQuestion: \(question)")]
    let json = String(decoding: try JSONEncoder().encode(messages), as: UTF8.self)
    for (i, a) in answers.enumerated() {
        let id = Scorer.answerID(itemID: item, text: a.text)
        try store.upsertAnswer(AnswerRecord(
            id: id, itemID: item, ordinal: i, text: a.text, origin: "sampled", prompt: "<prompt \(item)>", promptMessages: json))
        let scores: [String: Double] = a.reward.map { r in
            ["helpfulness": r, "logic": r, "faithfulness": r, "completeness": r]
        } ?? [:]
        try store.saveReward(
            answerID: id, configHash: configHash, reward: a.reward,
            record: scoreRecord(item: item, answer: id, scores: scores, failed: a.reward == nil ? ["helpfulness", "logic", "faithfulness", "completeness"] : []),
            runID: nil)
    }
}

/// The JSON objects of a JSONL file.
func readLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
}
