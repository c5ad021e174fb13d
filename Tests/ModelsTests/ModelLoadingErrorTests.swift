// The loader's bad-input cases, one handcrafted GGUF each (scripts/make-model-fixtures.py):
// typed errors that name the file and the problem, never a crash.

import Foundation
import Models
import Testing

func fixturePath(_ name: String) -> String {
    Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
}

@Suite struct ModelLoadingErrorTests {
    /// A tiny valid llama (F32 tensors: the dequantise-to-Float32 path) loads and generates.
    @Test func tinyLlamaLoadsAndRuns() throws {
        let lm = try LanguageModel.load(path: fixturePath("tiny-llama-f32.gguf"))
        #expect(lm.model.configuration.layerCount == 1 && lm.model.configuration.vocabularySize == 8)
        let out = lm.generate(prompts: [[1, 2, 3]], parameters: [GenerationParameters(maxTokens: 5)])[0]
        #expect(out.tokens.count <= 5 && out.tokens.allSatisfy { $0 >= 0 && $0 < 8 })
        let lp = lm.model.logProbabilities(prompt: [1, 2], continuation: [3, 4])
        #expect(lp.count == 2 && lp.allSatisfy { $0 < 0 && $0.isFinite })
    }

    @Test func unsupportedArchitecture() {
        let path = fixturePath("unsupported-architecture.gguf")
        #expect(throws: ModelError.unsupportedArchitecture(file: path, architecture: "gpt2", supported: ["llama"])) {
            try LanguageModel.load(path: path)
        }
    }

    @Test func missingTensor() {
        let path = fixturePath("missing-tensor.gguf")
        #expect(throws: ModelError.missingTensor(file: path, tensor: "blk.0.ffn_up.weight")) { try LanguageModel.load(path: path) }
    }

    @Test func missingTokenizer() {
        let path = fixturePath("missing-tokenizer.gguf")
        let error = #expect(throws: ModelError.self) { try LanguageModel.load(path: path) }
        guard case .tokenizerMismatch(let file, let reason)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(file == path && reason.contains("tokenizer.ggml"))
    }

    @Test func tokenizerInconsistentWithModel() {
        let path = fixturePath("tokenizer-size-mismatch.gguf")
        let error = #expect(throws: ModelError.self) { try LanguageModel.load(path: path) }
        guard case .tokenizerMismatch(let file, let reason)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(file == path && reason.contains("9 tokens") && reason.contains("8 rows"))
    }

    @Test func missingModelSaysHowToFetchIt() {
        let error = #expect(throws: ModelError.self) { try LanguageModel.load(path: "/nonexistent/model.gguf") }
        #expect(error?.description.contains("/nonexistent/model.gguf") == true)
        #expect(throws: ModelError.self) { try BERTEncoder(folder: "/nonexistent") }
    }

    @Test func truncatedFileIsAFormatError() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("tiny-llama-f32.gguf")))
        let cut = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID().uuidString).gguf")
        try data.prefix(data.count / 2).write(to: cut)
        defer { try? FileManager.default.removeItem(at: cut) }
        #expect(throws: (any Error).self) { try LanguageModel.load(path: cut.path) }
    }
}
