// PreferenceDataTests.swift: TRL-style tokenisation, message lists, soft-label columns, KTO files,
// left truncation that keeps the chat header, skipped over-long pairs, and FILE:LINE errors.

import Foundation
import Formats
import Testing
@testable import Training

@Suite struct PreferenceDataTests {
    let tk: TrainingTokenizer

    init() throws { tk = try TrainingTokenizer(gguf: try GGUFFile(path: tinyGGUF)) }

    func write(_ lines: [String]) throws -> String {
        let path = try temporaryFolder("data") + "/data.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func promptAndAnswersAreTokenisedSeparatelyAndAnswersEndTheTurn() throws {
        let path = try write([#"{"prompt": "<|im_start|>ab c", "chosen": "ab", "rejected": "c c", "metadata": {"x": 1}}"#])
        let d = try PreferenceData.readPairs(path: path, tokenizer: tk, limits: LengthLimits())
        #expect(d.examples.count == 1)
        let p = d.examples[0]
        #expect(p.prompt == [5, 4, 7, 3])  // special token parsed, "ab" merged, "Ġ" then "c"
        #expect(p.chosen == [4, 6])  // + <|im_end|>
        #expect(p.rejected == [3, 7, 3, 6])
        #expect(tk.endOfTurn == 6)
    }

    @Test func messageListsAndSoftLabelsAreRead() throws {
        let path = try write([
            #"{"prompt": [{"role": "user", "content": "ab"}], "chosen": [{"role": "assistant", "content": "c"}], "rejected": [{"role": "assistant", "content": "a"}], "chosen_weight": 0.8, "rejected_weight": 0.2}"#
        ])
        let d = try PreferenceData.readPairs(path: path, tokenizer: tk, limits: LengthLimits())
        #expect(d.examples[0].chosen == [3, 6])
        #expect(d.examples[0].chosenWeight == 0.8 && d.examples[0].rejectedWeight == 0.2)
    }

    @Test func longPromptsAreCutFromTheLeftKeepingTheHeaderAndHopelessPairsSkipped() throws {
        let longPrompt = "<|im_start|>" + String(repeating: "a c ", count: 20)
        let path = try write([
            "{\"prompt\": \"\(longPrompt)\", \"chosen\": \"ab\", \"rejected\": \"c\"}",
            "{\"prompt\": \"ab\", \"chosen\": \"\(String(repeating: "c ", count: 30))\", \"rejected\": \"a\"}",
            "{\"prompt\": \"ab\", \"chosen\": \"c\", \"rejected\": \"a\"}",
        ])
        var limits = LengthLimits()
        limits.maxLength = 24
        limits.maxPromptLength = 12
        let d = try PreferenceData.readPairs(path: path, tokenizer: tk, limits: limits)
        #expect(d.examples.count == 2)
        #expect(d.skippedTooLong == [2])
        #expect(d.truncatedPrompts == 1)
        let cut = d.examples[0]
        #expect(cut.truncated && cut.prompt.count == 12)
        #expect(cut.prompt.first == 5)  // the chat header survives
        let full = tk.encodePrompt(longPrompt)
        #expect(Array(cut.prompt.suffix(11)) == Array(full.suffix(11)))
    }

    @Test(arguments: [
        (#"{"prompt": "ab", "chosen": "c"}"#, "missing column 'rejected'"),
        (#"{"prompt": "ab", "chosen": "  ", "rejected": "c"}"#, "empty answer"),
        (#"{"prompt": 3, "chosen": "a", "rejected": "c"}"#, "column 'prompt'"),
        (#"{"prompt": "ab", "chosen": "a", "rejected": "c", "chosen_weight": 0.9}"#, "chosen_weight"),
        ("{not json", "not a JSON object"),
    ])
    func badLinesNameFileAndLine(line: String, message: String) throws {
        let path = try write([#"{"prompt": "ab", "chosen": "a", "rejected": "c"}"#, line])
        do {
            _ = try PreferenceData.readPairs(path: path, tokenizer: tk, limits: LengthLimits())
            Issue.record("no error for \(line)")
        } catch let e as TrainingError {
            #expect("\(e)".hasPrefix("\(path):2: "), "\(e)")
            #expect("\(e)".contains(message), "\(e)")
        }
    }

    @Test func ktoFilesNeedBothLabels() throws {
        let good = try write([
            #"{"prompt": "ab", "completion": "c", "label": true}"#, #"{"prompt": "ab", "completion": "a", "label": false}"#,
        ])
        let d = try PreferenceData.readCompletions(path: good, tokenizer: tk, limits: LengthLimits())
        #expect(d.examples.map(\.desirable) == [true, false])
        let bad = try write([#"{"prompt": "ab", "completion": "c", "label": true}"#])
        #expect(throws: TrainingError.self) { try PreferenceData.readCompletions(path: bad, tokenizer: tk, limits: LengthLimits()) }
        let badLabel = try write([#"{"prompt": "ab", "completion": "c", "label": "yes"}"#])
        #expect(throws: TrainingError.data(file: badLabel, line: 1, reason: "column 'label' must be true or false")) {
            try PreferenceData.readCompletions(path: badLabel, tokenizer: tk, limits: LengthLimits())
        }
    }
}
