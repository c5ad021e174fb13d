// PreferencesCLITests.swift: `pairs` and `label` end to end through the binary, and their
// bad-input exits.

import Foundation
import Store
import Testing

/// The repository's rubrics folder.
let repositoryRubrics = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Rubrics").standardizedFileURL.path

/// A store with one question and five scored answers (rewards 1...5, uniform dimensions).
func scoredStore() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-cli-prefs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("store.sqlite").path
    let store = try Store(path: path)
    _ = try store.insertDocument(
        DocumentRecord(id: "doc", source: "t", sha256: "x", text: "Text.", tokenCount: 2), chunks: [], fineEmbeddings: [])
    try store.upsertItem(ItemRecord(id: "q", documentID: "doc", question: "Why?"))
    let messages = #"[{"content":"Answer.","role":"system"},{"content":"Why?","role":"user"}]"#
    for r in 1...5 {
        let id = "q/a\(r)"
        try store.upsertAnswer(AnswerRecord(
            id: id, itemID: "q", ordinal: r, text: "answer \(r)", origin: "sampled", prompt: "P", promptMessages: messages))
        let dims = ["helpfulness", "logic", "faithfulness", "completeness"].map { "\"\($0)\":{\"score\":\(r),\"status\":\"ok\"}" }
        let scores = ["helpfulness", "logic", "faithfulness", "completeness"].map { "\"\($0)\":\(r)" }
        let usage = #"{"cache_hits":0,"cached_prompt_tokens":0,"calls":1,"tokens_in":1,"tokens_out":1}"#
        let record = """
            {"answer_id":"\(id)","answer_index":\(r),"cached":false,"completeness_extracts":[],"dimensions":{\(dims.joined(separator: ","))},\
            "document_id":"doc","failed_dimensions":[],"item_id":"q","judge":\(usage),"question":"Why?","reward":\(r),\
            "scores":{\(scores.joined(separator: ","))},"seconds":1,"shared_judge":\(usage),"statements":[]}
            """
        try store.saveReward(answerID: id, configHash: "cfg", reward: Double(r), record: record, runID: nil)
    }
    return path
}

@Suite struct PreferencesCLITests {
    @Test func helpListsThePreferenceCommands() throws {
        let (code, out, _) = try runCLI(["--help"])
        #expect(code == 0)
        for sub in ["sample", "pairs", "meta-judge", "synth", "label"] { #expect(out.contains(sub), "\(sub)") }
    }

    @Test func pairsWritesTRLColumnsAndReportsSkips() throws {
        let store = try scoredStore()
        let output = store + ".dpo.jsonl"
        let (code, out, err) = try runCLI(["pairs", "--store", store, "--output", output, "--rubrics", repositoryRubrics])
        #expect(code == 0, "\(err)")
        #expect(out.contains("1 dpo records from 1 scored questions"), "\(out)")
        let line = try #require(try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["prompt"] as? String == "P" && object["chosen"] as? String == "answer 5" && object["rejected"] as? String == "answer 1")
        // Six answers needed: the question is skipped, counted, and the file is empty.
        let (code2, out2, _) = try runCLI(["pairs", "--store", store, "--output", output, "--min-answers", "6", "--rubrics", repositoryRubrics])
        #expect(code2 == 0)
        #expect(out2.contains("too few scored answers"), "\(out2)")
    }

    @Test func badOptionsAndEmptyStoresExitNonZero() throws {
        let store = try scoredStore()
        let (code, _, err) = try runCLI(["pairs", "--store", store, "--output", store + ".x", "--rho", "1.5"])
        #expect(code != 0 && err.contains("--rho"), "\(err)")
        let (code2, _, err2) = try runCLI(["pairs", "--store", store, "--output", store + ".x", "--format", "csv"])
        #expect(code2 != 0 && err2.contains("--format"), "\(err2)")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("lr-empty-\(UUID().uuidString).sqlite").path
        let (code3, _, err3) = try runCLI(["pairs", "--store", empty, "--output", empty + ".x", "--rubrics", repositoryRubrics])
        #expect(code3 != 0 && err3.contains("no scored answers"), "\(err3)")
        #expect(!FileManager.default.fileExists(atPath: empty + ".x"))
    }

    @Test func labelWithoutAReferenceCountsTheSkippedPairs() throws {
        let store = try scoredStore()
        let (code, out, err) = try runCLI(["label", "--store", store, "--output", store + ".spa.jsonl"])
        #expect(code == 0, "\(err)")
        #expect(out.contains("missing reference model") && out.contains("0 labelled pairs"), "\(out)")
        let (code2, _, err2) = try runCLI(["label", "--store", store, "--output", store + ".spa.jsonl", "--reference", "/nonexistent.gguf"])
        #expect(code2 != 0 && err2.contains("/nonexistent.gguf"), "\(err2)")
    }
}
