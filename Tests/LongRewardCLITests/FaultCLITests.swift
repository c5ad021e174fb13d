// FaultCLITests.swift: runs that end badly, through the binary: Ctrl-C mid-run, a second job on
// a busy store, a file-size limit while writing the store, and an API key that must never reach
// the store, the outputs or the messages.

import Foundation
import Judges
import LoopbackServer
import Store
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
private let rubrics = repository.appendingPathComponent("Rubrics").path
private let report = repository.appendingPathComponent("Corpora/harrow-valley-report.md").path

/// Runs `body` from the server's thread when the n-th request arrives.
private final class Trigger: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private let after: Int
    private let action: @Sendable () -> Void
    init(after: Int, _ action: @escaping @Sendable () -> Void) {
        self.after = after
        self.action = action
    }
    func request() {
        let fire = lock.withLock { () -> Bool in
            count += 1
            return count == after
        }
        if fire { action() }
    }
}

/// Holds requests while closed (a run kept busy for as long as a test needs it).
private final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var held = false
    func hold() { condition.lock(); held = true; condition.unlock() }
    func open() { condition.lock(); held = false; condition.broadcast(); condition.unlock() }
    func pass() { condition.lock(); while held { condition.wait() }; condition.unlock() }
}

/// A server that answers every rubric in its format after `delay` seconds, recording the
/// Authorization headers it saw.
private final class JudgeStub: @unchecked Sendable {
    let server: LoopbackServer
    private let lock = NSLock()
    private(set) var authorizations: Set<String> = []

    init(delay: Double, status: Int = 200, errorBody: String = "", trigger: Trigger? = nil, gate: Gate? = nil) throws {
        let library = try RubricLibrary(folder: rubrics)
        let box = Box()
        server = try LoopbackServer { request in
            trigger?.request()
            gate?.pass()
            box.stub?.record(request.header("Authorization") ?? "")
            if status != 200 { return .respond(status, body: errorBody, delay: delay) }
            let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
            let system = ((json?["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            let id = library.rubrics.values.first { $0.system == system }?.id ?? "?"
            let text = switch id {
            case "statements": "<statement>The pump failed in March.</statement>"
            case "support": "Verdict: [[Fully]]"
            case "extract": "- a fact"
            default: "Rating: [[7]]"
            }
            return .respond(status: 200, headers: [:], body: OpenAIStub.chatCompletionBody(text: text, promptTokens: 50, completionTokens: 5), delay: delay)
        }
        box.stub = self
    }

    func record(_ header: String) { lock.withLock { _ = authorizations.insert(header) } }

    final class Box: @unchecked Sendable { weak var stub: JudgeStub? }
}

private func binaryURL() -> URL {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = dir.appendingPathComponent("longreward")
    return FileManager.default.fileExists(atPath: binary.path) ? binary : dir.deletingLastPathComponent().appendingPathComponent("longreward")
}

/// A folder with items.jsonl (one question, `answers` answers about the demo report).
private func workspace(answers: Int) throws -> (folder: URL, store: String, items: String, output: String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-fault-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let items = folder.appendingPathComponent("items.jsonl").path
    let list = (0..<answers).map { "\"Answer \($0): the pump failed in March and repairs cost 96,000.\"" }.joined(separator: ", ")
    try "{\"id\": \"q\", \"document\": \"\(report)\", \"question\": \"What failed?\", \"answers\": [\(list)]}\n"
        .write(toFile: items, atomically: true, encoding: .utf8)
    return (folder, folder.appendingPathComponent("store.sqlite").path, items, folder.appendingPathComponent("scores.jsonl").path)
}

/// A child process whose output goes to files (a pipe read can fail with EINTR when signals
/// fly, and Foundation's pipe reader traps on it).
private final class Child {
    let process = Process()
    private let outPath: String, errPath: String

    init(_ arguments: [String], environment: [String: String] = [:]) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lr-child-\(UUID().uuidString)").path
        (outPath, errPath) = (base + ".out", base + ".err")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = binaryURL()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
    }

    func run() throws { try process.run() }

    /// Waits for the process and returns (stdout, stderr).
    func finish() -> (out: String, err: String) {
        process.waitUntilExit()
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (read(outPath), read(errPath))
    }
}

private func integrity(_ store: String) throws -> String {
    try Store(path: store).connection.first("PRAGMA integrity_check")?[0].string ?? "?"
}

@Suite(.serialized) struct FaultCLITests {
    @Test func ctrlCMarksTheRunInterruptedAndARerunFinishes() async throws {
        let w = try workspace(answers: 6)
        // After 12 judge calls the server holds the rest, so the Ctrl-C lands mid-run however
        // slowly the process runs (sanitizer builds).
        let fired = PIDBox(), gate = Gate()
        let stub = try JudgeStub(delay: 0.05, trigger: Trigger(after: 12) { gate.hold(); fired.set(1) }, gate: gate)
        defer { gate.open(); stub.server.stop() }
        let arguments = [
            "score", "--store", w.store, "--input", w.items, "--output", w.output, "--judge", stub.server.baseURL,
            "--judge-model", "stub", "--rubrics", rubrics, "--concurrency", "2",
        ]
        let child = Child(arguments)
        try child.run()
        for _ in 0..<1200 where fired.value == 0 { try await Task.sleep(nanoseconds: 100_000_000) }
        #expect(fired.value != 0)
        kill(child.process.processIdentifier, SIGINT)
        let message = child.finish().err
        gate.open()
        let first = child.process
        #expect(first.terminationReason == .exit && first.terminationStatus == 128 + SIGINT, "\(message)")
        #expect(message.contains("interrupted by SIGINT"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: w.output))
        #expect(FileManager.default.fileExists(atPath: w.output + ".partial"))
        #expect(try integrity(w.store) == "ok")
        let runs = try Store(path: w.store).runs()
        #expect(runs.first { $0.command.hasPrefix("score") }?.status == .interrupted)

        let (code, out, stderr) = try runCLI(arguments)
        #expect(code == 0, "\(stderr)")
        #expect(out.contains("6 answers"))
        #expect(FileManager.default.fileExists(atPath: w.output) && !FileManager.default.fileExists(atPath: w.output + ".partial"))
        let db = try Store(path: w.store).connection
        let total = try db.first("SELECT COUNT(*) FROM judge_calls")?[0].int ?? 0
        let distinct = try db.first("SELECT COUNT(DISTINCT call_key) FROM judge_calls")?[0].int ?? 0
        #expect(total == distinct, "a judge call was recorded twice")
    }

    @Test func aSecondJobOnABusyStoreRefusesAndTheFirstFinishes() async throws {
        let w = try workspace(answers: 4)
        // The first run's second judge call is held until the second run has been refused, so
        // the first is busy however slowly either process runs (sanitizer builds).
        let started = PIDBox(), gate = Gate()
        let stub = try JudgeStub(delay: 0.05, trigger: Trigger(after: 2) { gate.hold(); started.set(1) }, gate: gate)
        defer { gate.open(); stub.server.stop() }
        let arguments = [
            "score", "--store", w.store, "--input", w.items, "--output", w.output, "--judge", stub.server.baseURL,
            "--judge-model", "stub", "--rubrics", rubrics, "--concurrency", "1",
        ]
        let child = Child(arguments)
        try child.run()
        // Wait until the first run is making judge calls.
        for _ in 0..<600 where started.value == 0 { try await Task.sleep(nanoseconds: 100_000_000) }
        #expect(started.value != 0)
        let (code, _, err) = try runCLI(arguments + ["--output", w.output + ".second"])
        #expect(code != 0)
        #expect(err.contains("in use by run") && err.contains(w.store), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: w.output + ".second"))
        gate.open()
        let firstMessage = child.finish().err
        #expect(child.process.terminationStatus == 0, "\(firstMessage)")
        let db = try Store(path: w.store).connection
        let total = try db.first("SELECT COUNT(*) FROM judge_calls")?[0].int ?? 0
        let distinct = try db.first("SELECT COUNT(DISTINCT call_key) FROM judge_calls")?[0].int ?? 0
        #expect(total == distinct)
    }

    /// Not under ThreadSanitizer: its runtime dies with SIGBUS in a process under `ulimit -f`.
    @Test(.disabled(if: ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil, "ThreadSanitizer's runtime fails under ulimit -f"))
    func aFileSizeLimitWhileIndexingIsAClearErrorAndARerunFinishes() throws {
        let w = try workspace(answers: 1)
        // 300 KiB: the schema fits, the report's chunks and embeddings do not.
        let limited = Process()
        limited.executableURL = URL(fileURLWithPath: "/bin/bash")
        limited.arguments = ["-c", "trap '' XFSZ; ulimit -f 300; exec \"$0\" \"$@\"", binaryURL().path, "index", report, "--store", w.store]
        let errPath = w.folder.appendingPathComponent("index.err").path
        FileManager.default.createFile(atPath: errPath, contents: nil)
        limited.standardError = FileHandle(forWritingAtPath: errPath)
        limited.standardOutput = FileHandle.nullDevice
        try limited.run()
        limited.waitUntilExit()
        let message = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: errPath)
        #expect(limited.terminationReason == .exit && limited.terminationStatus != 0, "\(message)")
        #expect(message.contains(w.store) && message.contains("the disk may be full"), "\(message)")
        #expect(!message.contains("Fatal error"), "\(message)")
        #expect(try integrity(w.store) == "ok")
        #expect(try Store(path: w.store).documentIDs().isEmpty, "a half-indexed document was kept")
        let (code, out, stderr) = try runCLI(["index", report, "--store", w.store])
        #expect(code == 0, "\(stderr)")
        #expect(out.contains("harrow-valley-report"), "\(out)")
        #expect(try integrity(w.store) == "ok")
    }

    @Test func theAPIKeyReachesTheServerButNoFileOrMessage() throws {
        let w = try workspace(answers: 2)
        let key = "sk-lr-test-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        // A server that rejects the key and echoes it in its error body, as some do.
        let rejecting = try JudgeStub(delay: 0, status: 401, errorBody: "{\"error\": {\"message\": \"Incorrect API key provided: \(key)\"}}")
        defer { rejecting.server.stop() }
        let base = ["score", "--store", w.store, "--input", w.items, "--judge-model", "stub", "--rubrics", rubrics]
        let bad = Child(base + ["--output", w.output, "--judge", rejecting.server.baseURL], environment: ["LONGREWARD_API_KEY": key])
        try bad.run()
        let badOutput = bad.finish()
        let badMessage = badOutput.err + badOutput.out
        #expect(bad.process.terminationStatus != 0)
        #expect(badMessage.contains("401"), "\(badMessage)")
        #expect(!badMessage.contains(key), "the key was printed: \(badMessage)")

        let accepting = try JudgeStub(delay: 0)
        defer { accepting.server.stop() }
        let good = Child(base + ["--output", w.output, "--judge", accepting.server.baseURL], environment: ["LONGREWARD_API_KEY": key])
        try good.run()
        let goodOutput = good.finish()
        let goodMessage = goodOutput.err + goodOutput.out
        #expect(good.process.terminationStatus == 0, "\(goodMessage)")
        #expect(accepting.authorizations == ["Bearer \(key)"])
        #expect(!goodMessage.contains(key))
        // Every file the runs wrote: the store (and its WAL), the FAISS index, the scores.
        let files = try FileManager.default.subpathsOfDirectory(atPath: w.folder.path)
        #expect(files.contains("store.sqlite") && files.contains("scores.jsonl"))
        for file in files {
            let data = try Data(contentsOf: w.folder.appendingPathComponent(file))
            #expect(data.range(of: Data(key.utf8)) == nil, "the API key is in \(file)")
        }
    }
}

/// A pid (or flag) shared with a server thread.
private final class PIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t = 0
    func set(_ p: pid_t) { lock.withLock { pid = p } }
    var value: pid_t { lock.withLock { pid } }
    func signal(_ s: Int32) { let p = value; if p > 0 { kill(p, s) } }
}
