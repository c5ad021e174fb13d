// `longreward generate`: text generation with the decoder, streamed to stdout.

import ArgumentParser
import Foundation
import Models
import Tokenizers

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt (raw, or as one chat turn with --chat); tokens stream to stdout.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The prompt text.")
    var prompt: String

    @Flag(name: .long, help: "Wrap the prompt as one user turn with the model's chat template.")
    var chat = false

    @Option(name: .long, help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(name: .long, help: "Maximum new tokens.")
    var maxTokens: Int = 256

    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(name: .long, help: "Top-k cut-off (0 = off).")
    var topK: Int = 0

    @Option(name: .long, help: "Top-p (nucleus) cut-off.")
    var topP: Float = 1

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Stop when this string appears (repeatable).")
    var stop: [String] = []

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() async throws {
        let lm = try modelOptions.load()
        let messages: [ChatMessage] = (system.map { [.system($0)] } ?? []) + [.user(prompt)]
        let text = chat ? lm.chatPrompt(messages) : prompt
        let params = GenerationParameters(
            maxTokens: maxTokens, sampling: SamplingParameters(temperature: temperature, topK: topK, topP: topP, seed: seed),
            stopStrings: stop)
        let out = lm.generate(prompt: text, parameters: params) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        Console.status("[\(out.promptTokens) prompt tokens, \(out.tokens.count) generated, stop: \(out.stopReason.rawValue)]")
    }
}
