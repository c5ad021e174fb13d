// Options.swift: option groups shared by subcommands.

import ArgumentParser

/// Where the decoder comes from and how many threads it uses.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (GGUF). Default: the embedded SmolLM2 in $LONGREWARD_HOME/models.")
    var model: String?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
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
