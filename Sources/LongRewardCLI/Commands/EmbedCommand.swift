// `longreward embed`: sentence embeddings with the encoder, one JSON line per text.

import ArgumentParser
import Formats
import Models

struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts: prints one JSON line per text, {\"index\", \"token_ids\", \"embedding\"}.")

    @OptionGroup var encoderOptions: EncoderOptions

    @Option(name: .long, help: "A text to embed (repeatable).")
    var text: [String] = []

    @Option(name: .long, help: "A JSONL file with one {\"text\": ...} object per line.")
    var input: String?

    @Option(name: .long, help: "Texts per batch.")
    var batchSize: Int = 32

    func validate() throws {
        guard !text.isEmpty || input != nil else { throw ValidationError("give --text at least once or --input FILE.jsonl") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        let texts = try text + (input.map { try JSONLines.readStrings(path: $0, field: "text") } ?? [])
        let encoder = try BERTEncoder(folder: try ModelLocator.encoder(encoderOptions.model), threads: encoderOptions.threads)
        let ids = texts.map { encoder.tokenizer.encode($0) }
        let vectors = encoder.embed(tokenIDs: ids, batchSize: batchSize)
        for i in texts.indices {
            print(try Console.json(EmbedLine(index: i, token_ids: ids[i], embedding: vectors[i])))
        }
    }
}

struct EmbedLine: Encodable {
    let index: Int
    let token_ids: [Int32]
    let embedding: [Float]
}
