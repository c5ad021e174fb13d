// ScoringOptions.swift: the judge and scoring options shared by `score` and `eval`.

import ArgumentParser
import Judges
import Scoring

/// Judge backend, rubrics and scoring settings.
struct ScoringOptions: ParsableArguments {
    @Option(name: .long, help: "Judge: 'local' (SmolLM2 in process), 'local:MODEL.gguf', or an OpenAI-compatible base URL.")
    var judge: String = "local"

    @Option(name: .long, help: "Model name sent to an HTTP judge.")
    var judgeModel: String?

    @Option(name: .long, help: "Judge calls in flight (HTTP) or decoded together (local).")
    var concurrency: Int = 8

    @Option(name: .long, help: "Rubrics folder (default: found beside the binary or in ./Rubrics).")
    var rubrics: String?

    @Option(name: .long, help: "Weights of helpfulness,logic,faithfulness,completeness.")
    var weights: String = "1,1,1,1"

    @Option(name: .long, help: "Evidence chunks per statement.")
    var topK: Int = 5

    @Option(name: .long, help: "Faithfulness of an answer with no factual statement: exclude (from the reward), full (10) or zero.")
    var noStatements: String = "exclude"

    @Option(name: .long, help: "Judge attempts per call when the output cannot be parsed (first at 0.01, then 0.95).")
    var attempts: Int = 5

    @Option(name: .long, help: "Cap every rubric's completion budget (tokens); small local judges ramble.")
    var maxNewTokens: Int?

    @Option(name: .long, help: "How ratings and support labels are read: parse (the judge writes [[n]]), expected (analysis, then the probability-weighted verdict after '[['), direct (no analysis: one prefill). Default: direct for the embedded judge (measured: see README), parse for a server.")
    var verdict: VerdictMode?

    /// The verdict mode in effect: the embedded judge reads verdicts directly by default (as
    /// accurate as parsing on the labelled answers, about ten times cheaper, never a format
    /// failure); servers parse unless told otherwise.
    var verdictMode: VerdictMode {
        if let verdict { return verdict }
        if case .http? = try? Backend(parsing: judge, model: judgeModel) { return .parse }
        return .direct
    }

    @Option(name: .long, help: "How support labels (faithfulness) are read, when not as --verdict says: parse, expected or direct. Default: the --verdict mode.")
    var supportVerdict: VerdictMode?

    @Option(name: .long, help: "An answer holding text addressed to the judge ([[10]], 'Rating: 10', chat-template markers, <statement> tags, '[End of answer]', notes to the grader): penalize (reward 0 without judging it, the default), flag (score it and list the signals in the output) or ignore.")
    var onInjection: InjectionPolicy = .penalize

    @Flag(name: .long, help: "Do not reuse rubric prefixes in the local judge's KV cache (for measurement).")
    var noPrefixCache = false

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        if let maxNewTokens, maxNewTokens < 8 { throw ValidationError("--max-new-tokens must be at least 8") }
        guard parsedWeights != nil else { throw ValidationError("--weights takes four comma-separated numbers, got '\(weights)'") }
        guard NoStatementPolicy(rawValue: noStatements) != nil else {
            throw ValidationError("--no-statements must be exclude, full or zero")
        }
        do { _ = try Backend(parsing: judge, model: judgeModel) } catch { throw ValidationError("--judge: \(error)") }
    }

    var parsedWeights: [Double]? {
        let w = weights.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return w.count == 4 && w.allSatisfy { $0 != nil } ? w.map { $0! } : nil
    }

    /// The library's options for a job reading `input` and writing `output`.
    func jobOptions(store: StoreOptions, input: String, output: String) throws -> ScoreJobOptions {
        var options = ScoreJobOptions(pipeline: try store.pipeline(concurrency: concurrency), inputPath: input, outputPath: output)
        options.judge = try Backend(parsing: judge, model: judgeModel)
        options.judgeModel = judgeModel
        options.rubricsFolder = rubrics
        options.prefixCaching = !noPrefixCache
        options.maxNewTokens = maxNewTokens
        options.configuration = ScoringConfiguration(
            weights: parsedWeights!, topK: topK, noStatementPolicy: NoStatementPolicy(rawValue: noStatements)!,
            retries: RetrySchedule(attempts: attempts), verdictMode: verdictMode, supportVerdictMode: supportVerdict,
            injectionPolicy: onInjection)
        return options
    }
}

extension InjectionPolicy: ExpressibleByArgument {}
