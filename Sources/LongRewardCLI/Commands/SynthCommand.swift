// `longreward synth`: self-taught evaluator data for the pairwise judge.

import ArgumentParser
import Foundation
import Preferences

struct SynthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Build self-taught evaluator data: synthetic pairs with a known winner, judged in both orders.",
        discussion: """
            For each question: the model writes a related question that asks for something else, then \
            a good answer to each; the answer to the perturbed question is the known loser. The \
            pairwise judge gives --votes judgments with the winner shown as A and as many with it as \
            B. Judgments that pick the winner are kept, balanced between A and B, and written as \
            prompt/completion records (TRL SFTTrainer). The summary reports the accuracy of single \
            judgments and of the --votes majority vote.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var modelOptions: ChatModelOptions

    @Option(name: .long, help: "Questions (JSONL).")
    var input: String

    @Option(name: .long, help: "Output JSONL.")
    var output: String

    @Option(name: .long, help: "Pairwise judgments sampled per order; the majority of them is the voted verdict.")
    var votes: Int = 4

    @Option(name: .long, help: "Temperature of the judgments.")
    var temperature: Double = 0.8

    @Option(name: .long, help: "Evidence passages shown to the pairwise judge.")
    var evidence: Int = 5

    @Flag(name: .long, help: "Write prompt and judgments as chat message lists.")
    var conversational = false

    func validate() throws {
        guard votes >= 1 else { throw ValidationError("--votes must be at least 1") }
        guard evidence >= 1 else { throw ValidationError("--evidence must be at least 1") }
    }

    func run() async throws {
        var options = SynthOptions(models: try modelOptions.options(storeOptions), inputPath: input, outputPath: output)
        options.judgments = votes
        options.temperature = temperature
        options.evidenceK = evidence
        options.conversational = conversational
        let line = ProgressBar()
        let s = try await SynthJob.run(options) { line.update($0) }
        Console.clearStatus()
        let judged = s.correct + s.wrong
        let orders = s.voteCorrect + s.voteWrong + s.voteUndecided
        print("""
            \(s.kept) judgments kept -> \(output) from \(s.pairs) synthetic pairs (\(s.questions) questions); \
            \(s.droppedForBalance) correct judgments dropped to balance A and B
            single judgments: \(s.correct) correct, \(s.wrong) wrong, \(s.unparsed) unparsed\
            \(judged > 0 ? String(format: " (accuracy %.2f)", Double(s.correct) / Double(judged)) : "")
            majority of \(votes): \(s.voteCorrect) of \(orders) orders correct, \(s.voteWrong) wrong, \(s.voteUndecided) tied
            generation: \(PreferenceReport.usage(s.generationUsage))
            judging: \(PreferenceReport.usage(s.judgeUsage))
            \(PreferenceReport.skips(s.skipped, what: "questions"))
            \(String(format: "%.1f", s.seconds)) s
            """)
    }
}
