// TrainCLITests.swift: `longreward train dpo` end to end on the tiny GGUF: killed with SIGKILL
// mid-run, a rerun of the same command resumes from the last checkpoint and ends with weights
// bit-identical to an uninterrupted run; metrics lines carry TRL's names; bad data names the
// line; a checkpoint made with other settings is refused; the exported GGUF loads in `logprobs`.

import Foundation
import Testing

private func trainBinary() -> URL {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = dir.appendingPathComponent("longreward")
    return FileManager.default.fileExists(atPath: binary.path) ? binary : dir.deletingLastPathComponent().appendingPathComponent("longreward")
}

/// Pairs over the tiny vocabulary (a, b, c, ab, space): chosen answers use "ab", rejected "c".
private func writePairs(_ path: String, count: Int) throws {
    var lines = [String]()
    let words = ["a", "b", "c", "ab"]
    for i in 0..<count {
        let prompt = (0..<(8 + i % 5)).map { words[($0 * 7 + i) % 4] }.joined(separator: " ")
        lines.append("{\"prompt\": \"<|im_start|>\(prompt)\", \"chosen\": \"ab ab \(words[i % 4])\", \"rejected\": \"c c\"}")
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite(.serialized) struct TrainCLITests {
    let folder: String
    let data: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-train-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        data = folder + "/pairs.jsonl"
        try writePairs(data, count: 24)
    }

    func arguments(_ out: String, steps: Int = 3000) -> [String] {
        ["train", "dpo", "--data", data, "--model", tinyModel, "--output", out, "--batch-size", "2", "--max-steps", "\(steps)",
         "--learning-rate", "1e-3", "--save-every", "100", "--eval-fraction", "0.25", "--eval-every", "1000", "--export-gguf", "f32"]
    }

    @Test func killedRunResumesBitIdentical() async throws {
        // Uninterrupted run.
        let clean = folder + "/clean"
        let (code, out, err) = try runCLI(arguments(clean))
        #expect(code == 0, "\(err)")
        #expect(out.contains("trained 3000 step(s)"), "\(out)")

        // Killed run: a real SIGKILL right after step 250, between the checkpoints of steps 200
        // and 300 (LONGREWARD_FAULT_KILL_AFTER_STEP: a test polling from a busy machine cannot
        // time a kill this precisely).
        let killed = folder + "/killed"
        let first = Process()
        first.executableURL = trainBinary()
        first.arguments = arguments(killed)
        var env = ProcessInfo.processInfo.environment
        env["LONGREWARD_FAULT_KILL_AFTER_STEP"] = "250"
        first.environment = env
        first.standardError = FileHandle.nullDevice
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal && first.terminationStatus == SIGKILL)
        let state = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: killed + "/checkpoint/state.json"))) as? [String: Any]
        #expect(state?["step"] as? Int == 200)
        #expect(!FileManager.default.fileExists(atPath: killed + "/model.gguf"))
        let partialLog = try String(contentsOfFile: killed + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(partialLog.count > 250, "the killed run logged past its checkpoint")

        // Rerun the same command: resumes, finishes, same bits.
        let (code2, out2, err2) = try runCLI(arguments(killed))
        #expect(code2 == 0, "\(err2)")
        #expect(out2.contains("resumed at step"), "\(out2)")
        #expect(err2.contains("resuming from"), "\(err2)")
        let a = FileManager.default.contents(atPath: clean + "/checkpoint/model.safetensors")
        let b = FileManager.default.contents(atPath: killed + "/checkpoint/model.safetensors")
        #expect(a != nil && a == b, "final weights differ after resume")
        #expect(FileManager.default.contents(atPath: clean + "/model.gguf") == FileManager.default.contents(atPath: killed + "/model.gguf"))
        // The metrics log of the resumed run has exactly one line per step and the eval lines.
        let lines = try String(contentsOfFile: killed + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let cleanLines = try String(contentsOfFile: clean + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == cleanLines.count)
        // Reference log-probs were computed once: the rerun read them all from the cache.
        #expect(out2.contains("0 answers computed"), "\(out2)")

        // TRL's metric names.
        let first3 = try JSONSerialization.jsonObject(with: Data(cleanLines[1].utf8)) as! [String: Any]
        for k in ["step", "epoch", "loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
                  "logps/rejected", "nll_loss", "grad_norm", "learning_rate", "tokens_per_second"] {
            #expect(first3[k] != nil, "metrics line lacks \(k)")
        }
        let evalLine = try JSONSerialization.jsonObject(with: Data(cleanLines[0].utf8)) as! [String: Any]
        #expect(evalLine["eval_rewards/accuracies"] != nil && evalLine["step"] as? Int == 0)
        #expect(abs((first3["loss"] as! Double) - (log(2.0) + 0.1 * (first3["nll_loss"] as! Double))) < 1e-4, "first step: DPO term is ln 2")

        // Training moved the policy: chosen log-probs up, the loss down.
        let last = try JSONSerialization.jsonObject(with: Data(cleanLines[cleanLines.count - 2].utf8)) as! [String: Any]
        #expect((last["loss"] as! Double) < (first3["loss"] as! Double))

        // The exported GGUF loads in our runtime.
        let (lc, lo, le) = try runCLI(["logprobs", "--model", clean + "/model.gguf", "--prompt", "ab", "--continuation", "ab", "--json"])
        #expect(lc == 0, "\(le)")
        #expect(lo.contains("sum_logprob"))

        // Another configuration on the same folder is refused, naming the checkpoint.
        var other = arguments(killed)
        other[other.firstIndex(of: "1e-3")!] = "2e-3"
        let (c3, _, e3) = try runCLI(other)
        #expect(c3 != 0)
        #expect(e3.contains("checkpoint") && e3.contains("other training settings"), "\(e3)")
    }

    @Test func badDataNamesTheLineBeforeAnyStep() throws {
        let bad = folder + "/bad.jsonl"
        try "{\"prompt\": \"ab\", \"chosen\": \"a\", \"rejected\": \"c\"}\n{\"prompt\": \"ab\", \"chosen\": \"a\"}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let (code, _, err) = try runCLI(["train", "dpo", "--data", bad, "--model", tinyModel, "--output", folder + "/bad-out"])
        #expect(code != 0)
        #expect(err.contains("bad.jsonl:2: missing column 'rejected'"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/bad-out/checkpoint"))
    }

    @Test func aModelThatIsNotLlamaIsRefused() throws {
        let notLlama = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../ModelsTests/Fixtures/unsupported-architecture.gguf").standardizedFileURL.path
        let (code, _, err) = try runCLI(["train", "dpo", "--data", data, "--model", notLlama, "--output", folder + "/x"])
        #expect(code != 0)
        #expect(err.contains("unsupported-architecture.gguf"), "\(err)")
    }

    @Test func ktoTrainsOnLabelledCompletions() throws {
        let kto = folder + "/kto.jsonl"
        var lines = [String]()
        for i in 0..<8 { lines.append("{\"prompt\": \"<|im_start|>a b\", \"completion\": \"\(i % 2 == 0 ? "ab ab" : "c c")\", \"label\": \(i % 2 == 0)}") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: kto, atomically: true, encoding: .utf8)
        let (code, out, err) = try runCLI(["train", "kto", "--data", kto, "--model", tinyModel, "--output", folder + "/kto-out", "--batch-size", "4",
                                           "--max-steps", "30", "--learning-rate", "1e-2", "--export-gguf", "none", "--json"])
        #expect(code == 0, "\(err)")
        let s = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        #expect(s["steps"] as? Int == 30)
        #expect((s["lastLoss"] as! Double) < (s["firstLoss"] as! Double), "\(out)")
    }
}
