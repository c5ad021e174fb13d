// End-to-end tests of the `longreward` binary: output shapes and bad-input behaviour (a clear
// message naming the file or line, and a non-zero exit).

import Foundation
import Testing

/// Runs the built `longreward` (next to the test bundle) and returns (exit code, stdout, stderr).
func runCLI(_ args: [String]) throws -> (Int32, String, String) {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var binary = dir.appendingPathComponent("longreward")
    if !FileManager.default.fileExists(atPath: binary.path) {
        binary = dir.deletingLastPathComponent().appendingPathComponent("longreward")
    }
    let p = Process()
    p.executableURL = binary
    p.arguments = args
    // Output goes to files, not pipes: a pipe read interrupted by a signal (EINTR) traps inside
    // Foundation's FileHandle.
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("lr-cli-out-\(UUID().uuidString)").path
    let outPath = base + ".out", errPath = base + ".err"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    p.standardOutput = FileHandle(forWritingAtPath: outPath)
    p.standardError = FileHandle(forWritingAtPath: errPath)
    try p.run()
    p.waitUntilExit()
    let o = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
    let e = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

let tinyModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../ModelsTests/Fixtures/tiny-llama-f32.gguf").standardizedFileURL.path

@Suite struct CLITests {
    @Test func helpListsSubcommands() throws {
        let (code, out, _) = try runCLI(["--help"])
        #expect(code == 0)
        for sub in ["generate", "logprobs", "embed", "inspect", "bench"] { #expect(out.contains(sub)) }
    }

    @Test func logprobsJSONHasTheDocumentedShape() throws {
        let (code, out, err) = try runCLI(["logprobs", "--model", tinyModel, "--prompt", "ab", "--continuation", "c", "--json"])
        #expect(code == 0, "\(err)")
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        #expect(Set(obj?.keys.map { $0 } ?? []) == ["prompt_tokens", "continuation_tokens", "token_logprobs", "sum_logprob"])
    }

    @Test func inspectShowsTensorTable() throws {
        let (code, out, _) = try runCLI(["inspect", tinyModel])
        #expect(code == 0)
        #expect(out.contains("general.architecture") && out.contains("blk.0.ffn_up.weight"))
    }

    @Test func missingModelFailsWithHint() throws {
        let (code, _, err) = try runCLI(["generate", "--model", "/nonexistent.gguf", "--prompt", "hi"])
        #expect(code != 0)
        #expect(err.contains("/nonexistent.gguf"))
    }

    @Test func malformedJSONLNamesTheLine() throws {
        let f = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).jsonl")
        try "{\"text\": \"ok\"}\n{not json}\n".write(to: f, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: f) }
        let (code, _, err) = try runCLI(["embed", "--input", f.path])
        #expect(code != 0)
        #expect(err.contains("\(f.path):2"), "\(err)")
    }

    @Test func invalidOptionsAreRejected() throws {
        let (code, _, err) = try runCLI(["bench", "attention", "--lengths", "12,x"])
        #expect(code != 0)
        #expect(err.contains("--lengths"))
    }
}
