// `longreward logprobs`: log-probabilities of a continuation under the decoder.

import ArgumentParser
import Models

struct LogprobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logprobs",
        abstract: "Log-probabilities of --continuation after --prompt (tokenised separately, ids concatenated).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The prompt text.")
    var prompt: String

    @Option(name: .long, help: "The continuation whose tokens are scored.")
    var continuation: String

    @Flag(name: .long, help: "Wrap the prompt as one user turn plus the assistant header; the continuation is the answer.")
    var chat = false

    @Flag(name: .long, help: "Print JSON: {prompt_tokens, continuation_tokens, token_logprobs, sum_logprob}.")
    var json = false

    func run() async throws {
        let lm = try modelOptions.load()
        let r = lm.logProbabilities(prompt: prompt, continuation: continuation, chat: chat)
        if json {
            print(try Console.json(LogprobsOutput(r)))
        } else {
            for (id, lp) in zip(r.continuationTokens, r.tokenLogProbabilities) {
                let piece = (try? lm.tokenizer.piece(for: id)) ?? "?"
                print("\(id)\t\(piece)\t\(lp)")
            }
            print("sum\t\(r.sum)")
        }
    }
}

/// JSON shape of `logprobs --json`.
struct LogprobsOutput: Encodable {
    let promptTokens: [Int32]
    let continuationTokens: [Int32]
    let tokenLogprobs: [Float]
    let sumLogprob: Double

    init(_ r: ContinuationLogProbabilities) {
        promptTokens = r.promptTokens
        continuationTokens = r.continuationTokens
        tokenLogprobs = r.tokenLogProbabilities
        sumLogprob = r.sum
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", continuationTokens = "continuation_tokens"
        case tokenLogprobs = "token_logprobs", sumLogprob = "sum_logprob"
    }
}
