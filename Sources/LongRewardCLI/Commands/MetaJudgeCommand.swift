// `longreward meta-judge`: judge-preference pairs (Meta-Rewarding).

import ArgumentParser
import Foundation
import Preferences

struct MetaJudgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meta-judge",
        abstract: "Build judge-preference pairs: sample judgments, meta-judge them in both orders, fit Elo.",
        discussion: """
            For every stored answer, --judgments judgments with the --rubric rubric are sampled at \
            --temperature. Per question, the --answers answers whose judgment ratings vary most go to \
            the meta-judge, which compares every two judgments in both orders. Position weights \
            w1 = second-position wins / wins and w2 = first-position wins / wins correct its order \
            bias; Elo scores are fitted by maximum likelihood on the weighted battle matrix; the \
            highest-Elo judgment is chosen and the lowest rejected (dropped when the chosen is over \
            --max-length characters). Output: DPO records for training the judge.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var modelOptions: ChatModelOptions

    @Option(name: .long, help: "Output JSONL.")
    var output: String

    @Option(name: .long, help: "Rubric whose judgments are compared.")
    var rubric: String = "helpfulness"

    @Option(name: .long, help: "Judgments sampled per answer.")
    var judgments: Int = 4

    @Option(name: .long, help: "Temperature of the sampled judgments.")
    var temperature: Double = 0.8

    @Option(name: .long, help: "Answers per question sent to the meta-judge.")
    var answers: Int = 2

    @Option(name: .long, help: "Drop pairs whose chosen judgment is longer than this (characters).")
    var maxLength: Int?

    @Flag(name: .long, help: "Write prompt and judgments as chat message lists.")
    var conversational = false

    func validate() throws {
        guard judgments >= 2 else { throw ValidationError("--judgments must be at least 2") }
        guard answers >= 1 else { throw ValidationError("--answers must be at least 1") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive (judgments must differ)") }
    }

    func run() async throws {
        var options = MetaJudgeOptions(models: try modelOptions.options(storeOptions), outputPath: output)
        options.rubricID = rubric
        options.judgments = judgments
        options.temperature = temperature
        options.answersPerQuestion = answers
        options.maxJudgmentLength = maxLength
        options.conversational = conversational
        let line = ProgressBar()
        let s = try await MetaJudgeJob.run(options) { line.update($0) }
        Console.clearStatus()
        print("""
            \(s.pairs) judgment pairs -> \(output) from \(s.metaJudged) meta-judged answers (\(s.answers) judged, \(s.questions) questions)
            position weights: w1 = \(String(format: "%.3f", s.weights.w1)), w2 = \(String(format: "%.3f", s.weights.w2)) \
            (first-position wins \(s.weights.firstWins), second-position wins \(s.weights.secondWins))
            judgments: \(PreferenceReport.usage(s.judgmentUsage))
            meta-judge: \(PreferenceReport.usage(s.metaUsage))
            \(PreferenceReport.skips(s.skipped, what: "answers"))
            \(String(format: "%.1f", s.seconds)) s
            """)
    }
}
