// `longreward sample`: K policy answers per question, stored for scoring and export.

import ArgumentParser
import Foundation
import Preferences

struct SampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample K answers per question from the policy and store them with their prompt.",
        discussion: """
            Input: the score format without answers ({"id", "document" | "doc_id", "question"}). The \
            policy sees the `answer` rubric: the document (or, past --context-tokens, its passages \
            most related to the question) and the question. Answers and prompts go into the store; \
            `longreward score --input` on the same file then scores them. Samples are cached model \
            calls: a rerun resumes, and a larger --k adds samples.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var modelOptions: ChatModelOptions

    @Option(name: .long, help: "Questions (JSONL).")
    var input: String

    @Option(name: .long, help: "Answers per question.")
    var k: Int = 10

    @Option(name: .long, help: "Sampling temperature.")
    var temperature: Double = 0.8

    @Option(name: .long, help: "Nucleus sampling threshold.")
    var topP: Double = 0.95

    @Option(name: .long, help: "Seed (sample k of seed s uses model seeds from 1000 (1000 s + k)).")
    var seed: Int = 0

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() async throws {
        var options = SampleOptions(models: try modelOptions.options(storeOptions), inputPath: input)
        options.k = k
        options.temperature = temperature
        options.topP = topP
        options.seed = seed
        let line = ProgressBar()
        let s = try await SampleJob.run(options) { line.update($0) }
        Console.clearStatus()
        if json {
            struct Out: Encodable { var questions, stored, alreadyStored, duplicates, failed, calls, tokensIn, tokensOut: Int; var seconds: Double }
            print(try Console.json(Out(
                questions: s.questions, stored: s.stored, alreadyStored: s.alreadyStored, duplicates: s.duplicates, failed: s.failed,
                calls: s.usage.calls, tokensIn: s.usage.tokensIn, tokensOut: s.usage.tokensOut, seconds: s.seconds)))
            return
        }
        print("""
            \(s.questions) questions: \(s.stored) answers stored, \(s.alreadyStored) already in the store, \
            \(s.duplicates) repeated an earlier sample, \(s.failed) gave no text
            \(PreferenceReport.usage(s.usage)); \(String(format: "%.1f", s.seconds)) s
            """)
    }
}
