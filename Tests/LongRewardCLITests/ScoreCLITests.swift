// ScoreCLITests.swift: `index` and `score` end to end through the binary, with the embedded
// embedder and an HTTP judge served by a loopback server: killed with SIGKILL mid-run, a rerun
// finishes without repeating any recorded judge call.

import Foundation
import Judges
import LoopbackServer
import Store
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
private let rubrics = repository.appendingPathComponent("Rubrics").path

/// SIGKILLs a process from the server's own thread when the n-th request arrives: a test task
/// polling the request count can be starved for seconds on two busy cores and miss the run.
private final class KillSwitch: @unchecked Sendable {  // state behind `lock`
    private let lock = NSLock()
    private var pid: pid_t = 0
    private var count = 0
    private let after: Int
    init(after: Int) { self.after = after }
    func arm(_ p: pid_t) { lock.withLock { pid = p } }
    func request() {
        lock.withLock {
            count += 1
            if count == after, pid != 0 { kill(pid, SIGKILL) }
        }
    }
}

/// Answers every rubric in its expected format, after `delay` seconds.
private func judgeServer(delay: Double, killSwitch: KillSwitch? = nil) throws -> LoopbackServer {
    let library = try RubricLibrary(folder: rubrics)
    return try LoopbackServer { request in
        killSwitch?.request()
        let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
        let messages = json?["messages"] as? [[String: Any]] ?? []
        let system = messages.first?["content"] as? String ?? ""
        let id = library.rubrics.values.first { $0.system == system }?.id ?? "?"
        let text: String
        switch id {
        case "statements": return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(
            text: "<statement>The pump failed in March.</statement>\n<statement>Repairs cost 96,000.</statement>", promptTokens: 50, completionTokens: 20), delay: delay)
        case "support": text = "Verdict: [[Fully]]"
        case "extract": text = "- a fact"
        default: text = "Rating: [[7]]"
        }
        return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: text, promptTokens: 50, completionTokens: 5), delay: delay)
    }
}

private func binaryURL() -> URL {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = dir.appendingPathComponent("longreward")
    return FileManager.default.fileExists(atPath: binary.path) ? binary : dir.deletingLastPathComponent().appendingPathComponent("longreward")
}

@Suite(.serialized) struct ScoreCLITests {
    @Test func killedRunResumesWithoutRepeatingJudgeCalls() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = folder.appendingPathComponent("store.sqlite").path
        let items = folder.appendingPathComponent("items.jsonl").path
        let output = folder.appendingPathComponent("scores.jsonl").path
        let document = repository.appendingPathComponent("Corpora/harrow-valley-report.md").path
        let answers = (0..<6).map { "\"Answer number \($0): the pump failed in March and repairs cost 96,000.\"" }.joined(separator: ", ")
        try "{\"id\": \"q\", \"document\": \"\(document)\", \"question\": \"What failed?\", \"answers\": [\(answers)]}\n"
            .write(toFile: items, atomically: true, encoding: .utf8)
        let killSwitch = KillSwitch(after: 13)
        let server = try judgeServer(delay: 0.05, killSwitch: killSwitch)
        defer { server.stop() }
        let arguments = [
            "score", "--store", store, "--input", items, "--output", output, "--judge", server.baseURL, "--judge-model", "stub",
            "--rubrics", rubrics, "--concurrency", "2",
        ]

        // First run: SIGKILL (from the server's thread) when the 13th judge request arrives.
        let first = Process()
        first.executableURL = binaryURL()
        first.arguments = arguments
        first.standardError = FileHandle.nullDevice
        try first.run()
        killSwitch.arm(first.processIdentifier)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: output), "a killed run must not leave an output file")

        let recorded = try Store(path: store).judgeCallCount()
        #expect(recorded >= 10)
        let before = server.requestCount

        // Second run: completes; asks the server only for calls that were never recorded.
        let (code, out, err) = try runCLI(arguments)
        #expect(code == 0, "\(err)")
        #expect(out.contains("6 answers"))
        let db = try Store(path: store).connection
        let total = try db.first("SELECT COUNT(*) FROM judge_calls")?[0].int ?? 0
        let distinct = try db.first("SELECT COUNT(DISTINCT call_key) FROM judge_calls")?[0].int ?? 0
        #expect(total == distinct, "a judge call was made twice")
        #expect(server.requestCount - before == total - recorded)
        // 6 answers x (4 + 2 statements) with the two support prompts shared, plus 3 extracts.
        #expect(total == 6 * 4 + 2 + 3)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
        let first0 = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first0?["reward"] as? Double == 7.75)  // (7 + 7 + 10 + 7) / 4
        #expect((first0?["statements"] as? [[String: Any]])?.first?["support"] as? String == "Fully")
        #expect(try db.query("SELECT status FROM runs ORDER BY id").compactMap { $0["status"].string } == ["interrupted", "finished"])

        // Third run: everything comes from the store.
        let again = server.requestCount
        let (code3, out3, _) = try runCLI(arguments)
        #expect(code3 == 0 && out3.contains("(stored)"))
        #expect(server.requestCount == again)
    }

    @Test func scoreReportsBadInputWithTheLineAndWritesNothing() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let items = folder.appendingPathComponent("items.jsonl").path
        try "{\"document\": \"x\", \"question\": \"q\", \"answers\": [\"a\"]}\n{\"doc_id\": \"nope\", \"question\": \"q\", \"answers\": [\"a\"]}\n"
            .write(toFile: items, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("out.jsonl").path
        let (code, _, err) = try runCLI([
            "score", "--store", folder.appendingPathComponent("s.sqlite").path, "--input", items, "--output", output,
            "--rubrics", rubrics,
        ])
        #expect(code != 0)
        #expect(err.contains("items.jsonl:2") && err.contains("nope"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: output))
        // A binary document is refused by index, naming the file.
        let binary = folder.appendingPathComponent("blob.txt").path
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0xFF, 0x00, 0xFE, 0x01, 0x80]))
        let (code2, _, err2) = try runCLI(["index", binary, "--store", folder.appendingPathComponent("s.sqlite").path])
        #expect(code2 != 0 && err2.contains("blob.txt"), "\(err2)")
    }
}
