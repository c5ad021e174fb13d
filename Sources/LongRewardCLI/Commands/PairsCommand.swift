// `longreward pairs`: export scored answers as DPO pairs, KTO examples or ranked lists.

import ArgumentParser
import Foundation
import Preferences

struct PairsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairs",
        abstract: "Build preference data from scored answers: dpo, kto or ranked JSONL for TRL and OpenRLHF.",
        discussion: """
            dpo: per question with at least --min-answers scored answers, chosen = highest reward and \
            rejected = lowest (ties: the shorter chosen, the longer rejected), kept when the margin is \
            at least --min-margin; with --rho, Meta-Rewarding length control: chosen = shortest answer \
            in the top tier, rejected = longest in the bottom tier. kto: label = reward >= \
            --kto-threshold, or chosen/rejected of the pair rule. ranked: every usable answer, best \
            first. Columns are TRL's (prompt, chosen, rejected / completion, label); --conversational \
            writes message lists. Every line has a metadata object with ids and the four scores.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "Output JSONL.")
    var output: String

    @Option(name: .long, help: "dpo, kto or ranked.")
    var format: String = "dpo"

    @Option(name: .long, help: "Scored answers a question needs.")
    var minAnswers: Int = 5

    @Option(name: .long, help: "Minimum reward difference between chosen and rejected.")
    var minMargin: Double = 0.5

    @Option(name: .long, help: "Length control rho in [0, 1] (Meta-Rewarding tiers); omit for best vs worst.")
    var rho: Double?

    @Option(name: .long, help: "KTO: rewards at or above this are desirable (default: the pair rule).")
    var ktoThreshold: Double?

    @Flag(name: .long, help: "Use answers with a failed dimension (their reward covers the other dimensions).")
    var allowFailed = false

    @Flag(name: .long, help: "Write prompt and answers as chat message lists.")
    var conversational = false

    @Option(name: .long, help: "Scoring configuration hash to use (default: the most recent).")
    var configHash: String?

    @Option(name: .long, help: "Document tokens in rebuilt prompts (answers given as input).")
    var contextTokens: Int = 2048

    @Option(name: .long, help: "Rubrics folder.")
    var rubrics: String?

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard PreferenceFormat(rawValue: format) != nil else { throw ValidationError("--format must be dpo, kto or ranked") }
        guard minAnswers >= 2 else { throw ValidationError("--min-answers must be at least 2") }
        guard minMargin >= 0 else { throw ValidationError("--min-margin must be >= 0") }
        if let rho, !(0...1).contains(rho) { throw ValidationError("--rho must be within 0...1") }
    }

    func run() async throws {
        var models = Preferences.ModelOptions(pipeline: try storeOptions.pipeline(concurrency: 8))
        models.rubricsFolder = rubrics
        models.contextTokens = contextTokens
        var options = PairsOptions(models: models, outputPath: output)
        options.format = PreferenceFormat(rawValue: format)!
        options.pairOptions = PairOptions(
            rule: rho.map { .lengthControl(rho: $0) } ?? .bestWorst, minAnswers: minAnswers, minMargin: minMargin,
            allowFailedDimensions: allowFailed)
        options.ktoThreshold = ktoThreshold
        options.conversational = conversational
        options.configHash = configHash
        let s = try await PairsJob.run(options)
        if json {
            struct Out: Encodable { var questions, records, unscoredAnswers, excludedAnswers: Int; var skipped: [String: Int]; var configHash: String; var seconds: Double }
            print(try Console.json(Out(
                questions: s.questions, records: s.records, unscoredAnswers: s.unscoredAnswers, excludedAnswers: s.excludedAnswers,
                skipped: Dictionary(uniqueKeysWithValues: s.skipped.map { ($0.key.rawValue, $0.value) }), configHash: s.configHash,
                seconds: s.seconds)))
            return
        }
        var lines = ["\(s.records) \(format) records from \(s.questions) scored questions -> \(output) (rewards of configuration \(s.configHash))"]
        lines.append(PreferenceReport.skips(s.skipped, what: "questions"))
        if s.unscoredAnswers + s.excludedAnswers > 0 {
            lines.append("answers left out: \(s.unscoredAnswers) not scored under this configuration, \(s.excludedAnswers) without a usable reward (failed dimension or none; --allow-failed uses partial rewards)")
        }
        if let b = s.balance {
            lines.append("kto labels: \(b.desirable) desirable, \(b.undesirable) undesirable" + (b.suggestedDesirableWeight.map { String(format: "; desirable_weight %.2f balances them in KTOTrainer", $0) } ?? ""))
        }
        if s.untemplatedPrompts > 0 {
            lines.append("\(s.untemplatedPrompts) prompts are plain text (no chat template known for answers given as input); --conversational writes message lists instead")
        }
        print(lines.joined(separator: "\n"))
    }
}
