// ReportRenderingTests.swift: both HTML reports, drawn by headless Chromium: the screenshot is
// not blank and the rendered page has as many chart marks as the data calls for.

import Foundation
import Store
import Testing
import Evaluation
import Reports

/// The repository root (holds scripts/render-report.py).
let repositoryRoot = URL(fileURLWithPath: rubricsFolder).deletingLastPathComponent().path

/// Whether a browser is there; `make test` installs Chromium and sets LONGREWARD_CHROMIUM, which
/// turns a missing browser into a failure instead of a skip.
let chromiumRequired = !(ProcessInfo.processInfo.environment["LONGREWARD_CHROMIUM"] ?? "").isEmpty
let chromiumPresent = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].contains {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Runs scripts/render-report.py on a report and returns (exit status, its JSON line, stderr).
func render(_ report: String, expectMarks: Int) throws -> (status: Int32, json: [String: Any], stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", repositoryRoot + "/scripts/render-report.py", report, "--expect-marks", "\(expectMarks)"]
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    return (process.terminationStatus, json, errors)
}

@Suite(.serialized) struct ReportRenderingTests {
    @Test(.enabled(if: chromiumPresent || chromiumRequired, "Chromium is not installed (make test installs it)"))
    func bothReportsRenderWithTheirMarks() async throws {
        #expect(chromiumPresent, "LONGREWARD_CHROMIUM is set but no Chromium was found")
        let (options, index, folder) = try EvalJobTests().setUp()
        let result = try await EvalJob.run(options, judge: try ScriptedJudge(), index: index)
        let eval = EvalReport.html(result)
        let evalRender = try render(options.reportPath!, expectMarks: eval.marks)
        #expect(evalRender.status == 0, "\(evalRender.stderr)")
        #expect(evalRender.json["marks"] as? Int == eval.marks)
        #expect((evalRender.json["ink"] as? Double ?? 0) > 0.005)

        // The run report of the evaluation's scoring: 5 histograms of 10 bins, one point per
        // answer with a reward, one failure bar per rubric called.
        let runPath = folder.appendingPathComponent("run.html").path
        let summary = try RunReport.write(storePath: options.score.pipeline.storePath, runID: result.runId, outputPath: runPath)
        let store = try Store(path: options.score.pipeline.storePath)
        let rubrics = try store.judgeCallStats(runID: result.runId).count
        #expect(summary.answers == 6)
        #expect(summary.marks == 50 + 6 + rubrics)
        let runRender = try render(runPath, expectMarks: summary.marks)
        #expect(runRender.status == 0, "\(runRender.stderr)")
        #expect(runRender.json["marks"] as? Int == summary.marks)
        #expect((runRender.json["ink"] as? Double ?? 0) > 0.005)
    }

    @Test func aRunReportNamesAMissingRun() throws {
        let folder = temporaryFolder()
        let path = folder.appendingPathComponent("store.sqlite").path
        _ = try Store(path: path)
        #expect(throws: ReportError.noSuchRun(store: path, reason: "no run has scored answers yet; run `longreward score` first")) {
            try RunReport.write(storePath: path, runID: nil, outputPath: folder.appendingPathComponent("r.html").path)
        }
        #expect(throws: ReportError.noSuchRun(store: path, reason: "no run 7 (runs: )")) {
            try RunReport.write(storePath: path, runID: 7, outputPath: folder.appendingPathComponent("r.html").path)
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("r.html").path))
    }
}
