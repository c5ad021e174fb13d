// `longreward inspect`: a GGUF's metadata and tensor table, or a safetensors header.

import ArgumentParser
import Formats

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a GGUF file's metadata and tensor table, or a safetensors file's header.")

    @Argument(help: "Path of a .gguf or .safetensors file.")
    var path: String

    func run() async throws {
        print(try ModelFileInspector.describe(path: path))
    }
}
