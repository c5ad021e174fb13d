// SmolLM2TrainingTests.swift: a short real run on the embedded SmolLM2-135M (dequantised to
// float32 master weights): its DPO loss falls on its own training pairs, and message-list prompts
// are rendered with the model's ChatML template, as TRL renders them.

import Foundation
import Formats
import Testing
@testable import Training

private let smolLM2: String = {
    let env = ProcessInfo.processInfo.environment
    let home = env["LONGREWARD_HOME"].map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/longreward")
    return home.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
}()

@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: smolLM2), "SmolLM2 not downloaded (make setup)"))
struct SmolLM2TrainingTests {
    @Test func messageListPromptsUseTheChatTemplate() throws {
        let tk = try TrainingTokenizer(gguf: try GGUFFile(path: smolLM2))
        let dir = try temporaryFolder("smol-data")
        let path = dir + "/pairs.jsonl"
        try #"{"prompt": [{"role": "user", "content": "Hi"}], "chosen": "Hello!", "rejected": "Go away."}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let d = try PreferenceData.readPairs(path: path, tokenizer: tk, limits: LengthLimits())
        let text = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        #expect(d.examples[0].prompt == tk.encodePrompt(text))
        #expect(d.examples[0].chosen.last == tk.tokenizer.id(forPiece: "<|im_end|>"))
    }

    @Test func lossFallsOnItsOwnPairs() throws {
        let dir = try temporaryFolder("smol-train")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let facts = [("When did the pump fail?", "The pump failed in March 2023.", "It never failed."),
                     ("What did repairs cost?", "Repairs cost 96,000 euros.", "Nothing at all."),
                     ("Who inspected the site?", "The county engineer inspected it in May.", "Nobody did."),
                     ("How many homes lost water?", "About 1,200 homes lost water for two days.", "No homes.")]
        let lines = facts.map { q, good, bad in
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"\(q)\"}], \"chosen\": \"\(good)\", \"rejected\": \"\(bad)\"}"
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/pairs.jsonl", atomically: true, encoding: .utf8)
        var c = TrainingConfiguration(dataPath: dir + "/pairs.jsonl", modelPath: smolLM2, outputDirectory: dir + "/out")
        c.batchSize = 4
        c.maxSteps = 4
        c.optimizer.learningRate = 2e-5
        c.exportGGUF = nil
        c.evalDataPath = dir + "/pairs.jsonl"  // its own pairs, evaluated before and after
        let s = try Trainer.run(c)
        #expect(s.steps == 4)
        #expect(s.referenceComputed == 8)
        // Step 1: policy = reference, DPO term ln 2.
        let first = try #require(s.firstLoss), last = try #require(s.lastLoss)
        #expect(last < first, "loss \(first) -> \(last)")
        #expect(try #require(s.evalAccuracyAfter) >= 0.75)
    }
}
