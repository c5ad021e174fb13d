// `longreward report`: a scoring run as one self-contained HTML page.

import ArgumentParser
import Reports

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report of a scoring run: distributions, failures, usage, and every answer's statements and extracts.")

    @Option(name: .long, help: "SQLite store file.")
    var store: String

    @Option(name: .customLong("run"), help: "Run id (default: the latest run that scored answers).")
    var runID: Int64?

    @Option(name: .long, help: "Where to write the report (HTML).")
    var output: String

    func run() throws {
        let summary = try RunReport.write(storePath: store, runID: runID, outputPath: output)
        print("run \(summary.runID): \(summary.answers) answers, \(summary.marks) chart marks, written to \(output)")
    }
}
