// `longreward label`: SPA self-labels from policy and reference log-probabilities.

import ArgumentParser
import Foundation
import Preferences

struct LabelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Label answer pairs by the implicit reward beta (log pi - log ref) (SPA); no judge.",
        discussion: """
            Each item's stored answers are paired in order (0 with 1, 2 with 3, ...). The answer with \
            the larger implicit reward is chosen; P = sigmoid(r_chosen - r_rejected). The bottom \
            --low-confidence fraction of margins (over the whole set, or a running --window) is \
            flagged and gets SPA's smoothing weights (1 - a + a c, a - a c) with a = --alpha. \
            --extrapolate LAMBDA scores the policy under (1 + lambda) h_pi - lambda h_ref (decoupled \
            noise detection). Log-probabilities are stored per answer and model and reused.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "Output JSONL.")
    var output: String

    @Option(name: .long, help: "Policy GGUF (default: the embedded SmolLM2).")
    var policy: String?

    @Option(name: .long, help: "Reference GGUF. Without one, every pair is skipped as 'missing reference model'.")
    var reference: String?

    @Option(name: .long, help: "Beta of the implicit reward.")
    var beta: Double = 0.1

    @Option(name: .long, help: "Fraction of smallest margins flagged low-confidence.")
    var lowConfidence: Double = 0.1

    @Option(name: .long, help: "Label smoothing alpha for low-confidence labels.")
    var alpha: Double = 0.1

    @Option(name: .long, help: "Running window of labels for the low-confidence cut (default: the whole set).")
    var window: Int?

    @Option(name: .long, help: "Decoupled noise detection: extrapolation lambda.")
    var extrapolate: Double?

    @Option(name: .long, help: "Document tokens in rebuilt prompts (answers given as input).")
    var contextTokens: Int = 2048

    @Flag(name: .long, help: "Write prompt and answers as chat message lists.")
    var conversational = false

    func validate() throws {
        guard beta > 0 else { throw ValidationError("--beta must be positive") }
        guard (0..<1).contains(lowConfidence) else { throw ValidationError("--low-confidence must be in [0, 1)") }
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in [0, 1]") }
        if let window, window < 1 { throw ValidationError("--window must be at least 1") }
        if let extrapolate, extrapolate < 0 { throw ValidationError("--extrapolate must be >= 0") }
    }

    func run() async throws {
        var models = Preferences.ModelOptions(pipeline: try storeOptions.pipeline(concurrency: 8))
        models.contextTokens = contextTokens
        var options = LabelOptions(models: models, outputPath: output)
        options.policyPath = policy
        options.referencePath = reference
        options.spa = SPAOptions(beta: beta, lowConfidenceFraction: lowConfidence, alpha: alpha, window: window)
        options.extrapolation = extrapolate
        options.conversational = conversational
        let line = ProgressBar()
        let s = try await LabelJob.run(options) { line.update($0) }
        Console.clearStatus()
        print("""
            \(s.pairs) labelled pairs -> \(output), \(s.lowConfidence) low-confidence; \
            log-probabilities: \(s.computed) computed, \(s.cached) from the store; \(String(format: "%.1f", s.seconds)) s
            \(PreferenceReport.skips(s.skipped, what: "questions or pairs"))
            """)
    }
}
