// Options.swift: option groups shared by subcommands.

import ArgumentParser
import Models

/// Where the decoder comes from and how many threads it uses.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (GGUF). Default: the embedded SmolLM2 in $LONGREWARD_HOME/models.")
    var model: String?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    @Option(name: .customLong("kv-cache"), help: "Key/value cache storage: f32 (exact) or q8 (8-bit rows, a quarter of the memory and faster decoding).")
    var kvCache: KVCachePrecision = .float32

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    /// The decoder these options name, with its cache storage set.
    func load() throws -> LanguageModel {
        let lm = try LanguageModel.load(path: model, threads: threads)
        lm.model.kvCachePrecision = kvCache
        return lm
    }
}

/// Where the encoder comes from.
struct EncoderOptions: ParsableArguments {
    @Option(name: .long, help: "Encoder folder (config.json, model.safetensors, vocab.txt). Default: the embedded all-MiniLM-L6-v2.")
    var model: String?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
