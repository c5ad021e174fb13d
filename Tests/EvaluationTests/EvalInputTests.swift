// EvalInputTests.swift: labelled inputs are checked line by line before any judge call.

import Foundation
import Testing
import Evaluation

func temporaryFolder() -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-eval-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// Writes lines to a fresh input.jsonl (with a doc.md beside it) and returns its path.
func writeInput(_ lines: [String]) -> String {
    let folder = temporaryFolder()
    try? "A short document about gadgets.".write(to: folder.appendingPathComponent("doc.md"), atomically: true, encoding: .utf8)
    let path = folder.appendingPathComponent("input.jsonl").path
    try? (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct EvalInputTests {
    let good = #"{"id": "q1", "document": "doc.md", "question": "Which gadget?", "answers": ["one", "two", "three"], "preferences": [[0, 1], [0, 2]], "labels": [{"kind": "faithful-complete"}, {"kind": "invented"}, {"kind": "off-topic"}]}"#

    @Test func readsPreferencesLabelsHumanScoresAndTRLPairs() throws {
        let path = writeInput([
            good,
            #"{"id": "q2", "document": "doc.md", "question": "Why?", "answers": ["a", "b", "c"], "human_scores": [1, 3, 2]}"#,
            #"{"prompt": [{"role": "user", "content": "How heavy?"}], "chosen": "ten grams", "rejected": [{"role": "assistant", "content": "a ton"}], "document": "doc.md"}"#,
        ])
        let items = try EvalInput.read(path: path)
        #expect(items.count == 3)
        #expect(items[0].preferences == [EvalPair(better: 0, worse: 1), EvalPair(better: 0, worse: 2)])
        #expect(items[0].kinds == ["faithful-complete", "invented", "off-topic"])
        // Human scores give every ordered pair with different scores: 1 > 0, 1 > 2, 2 > 0.
        #expect(Set(items[1].preferences) == [EvalPair(better: 1, worse: 0), EvalPair(better: 1, worse: 2), EvalPair(better: 2, worse: 0)])
        #expect(items[1].humanScores == [1, 3, 2])
        #expect(items[2].item.question == "How heavy?")
        #expect(items[2].item.answers == ["ten grams", "a ton"])
        #expect(items[2].preferences == [EvalPair(better: 0, worse: 1)])
    }

    /// Each bad line fails with FILE:LINE and a reason naming the problem.
    @Test(arguments: [
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"], "preferences": [[0, 5]]}"#, "names answer 5, but the item has 2 answers"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"], "preferences": [[1, 1]]}"#, "pairs answer 1 with itself"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["same", "same "], "preferences": [[0, 1]]}"#, "answers 0 and 1 are identical"),
        (#"{"id": "x", "document": "missing.md", "question": "Q?", "answers": ["a", "b"], "preferences": [[0, 1]]}"#, "document file 'missing.md' not found"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a"], "preferences": []}"#, "at least two answers"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"]}"#, "no labels"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"], "human_scores": [1]}"#, "'human_scores' must be a list of 2 numbers"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"], "preferences": [[0, 1], [1, 0]]}"#, "contradicts"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "answers": ["a", "b"], "human_scores": [2, 2]}"#, "every human score is the same"),
        (#"{"id": "x", "document": "doc.md", "question": "Q?", "chosen": "a"}"#, "'chosen' and 'rejected' must both be given"),
    ])
    func refusesBadLinesWithTheirLine(line: String, reason: String) throws {
        let path = writeInput([good, line])
        do {
            _ = try EvalInput.read(path: path)
            Issue.record("accepted a bad line: \(line)")
        } catch let error as EvaluationError {
            #expect(error.description.hasPrefix("\(path):2: "), "\(error)")
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test func refusesARepeatedId() throws {
        let path = writeInput([good, good])
        #expect(throws: EvaluationError.badInput(file: path, line: 2, reason: "id 'q1' is already used on line 1")) {
            try EvalInput.read(path: path)
        }
    }
}
