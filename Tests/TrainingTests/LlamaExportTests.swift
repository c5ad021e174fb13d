// LlamaExportTests.swift: exported models load in our own runtime and give the log-probs of the
// in-memory weights: GGUF F32 (exactly, up to float summation order), F16 and Q8_0 (within
// their precision), and the Hugging Face folder (RoPE rows permuted back to halves); the HF
// golden policy exported to GGUF and read back keeps every weight.

import Foundation
import Formats
import Kernels
import Models
import Testing
@testable import Training

let tinyGGUF = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../ModelsTests/Fixtures/tiny-llama-f32.gguf").standardizedFileURL.path

func temporaryFolder(_ tag: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lr-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// The tiny GGUF's weights, moved off their initial values (as training would).
func perturbedTinyWeights() throws -> (LlamaParameters, GGUFFile) {
    let gguf = try GGUFFile(path: tinyGGUF)
    let w = try LlamaParameters.load(gguf: gguf)
    var rng = SplitMix64(seed: 42)
    for i in 0..<w.storage.count { w.storage.pointer[i] += Float(Int(rng.next() % 2001) - 1000) * 1e-4 }
    return (w, gguf)
}

@Suite struct LlamaExportTests {
    let prompt: [Int32] = [1, 2, 3, 4, 1, 7, 2, 2, 3]
    let answer: [Int32] = [4, 3, 7, 1, 6]

    func ourLogps(_ w: LlamaParameters) -> Double {
        LlamaTrainingModel(weights: w).answerLogProbabilities(PackedBatch([TrainingSequence(prompt: prompt, answers: [answer])]))[0]
    }

    /// Log-prob of `answer` under the inference runtime (`LanguageModel`) loading `path`.
    func runtimeLogps(_ path: String) throws -> Double {
        let lm = try LanguageModel.load(path: path)
        return lm.model.logProbabilities(prompt: prompt, continuation: answer).reduce(0) { $0 + Double($1) }
    }

    @Test(arguments: [(GGUFExportType.f32, 1e-4), (.f16, 2e-2), (.q8_0, 5e-2)])
    func ggufExportMatchesInMemoryWeights(type: GGUFExportType, tolerance: Double) throws {
        let (w, gguf) = try perturbedTinyWeights()
        let dir = try temporaryFolder("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.gguf"
        try LlamaExport.writeGGUF(weights: w, tokenizerSource: gguf, type: type, to: path)
        let expected = ourLogps(w)
        let got = try runtimeLogps(path)
        #expect(abs(got - expected) <= tolerance * max(1, abs(expected)), "\(type): runtime \(got) vs trainer \(expected)")
        // Metadata and tokenizer travel.
        let out = try GGUFFile(path: path)
        #expect(try out.stringArray("tokenizer.ggml.tokens") == (try gguf.stringArray("tokenizer.ggml.tokens")))
        #expect(try out.int("llama.block_count") == 1)
        if type == .f32 {
            let back = try LlamaParameters.load(gguf: out)
            #expect(back.storage.array == w.storage.array)
        }
    }

    @Test func huggingFaceExportRoundTripsThroughTheHalvesLayout() throws {
        let (w, gguf) = try perturbedTinyWeights()
        let dir = try temporaryFolder("hf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LlamaExport.writeHuggingFace(weights: w, tokenizerSource: gguf, to: dir + "/hf")
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/hf/" + f), "\(f) missing")
        }
        let hf = try LlamaParameters.loadHuggingFace(folder: dir + "/hf")
        #expect(hf.configuration.ropeConvention == .halves)
        #expect(hf.architecture.tiedEmbeddings)
        // Q/K rows differ (permuted), the model computes the same thing.
        #expect(hf.values(hf.entry(.query)) != w.values(w.entry(.query)))
        #expect(abs(ourLogps(hf) - ourLogps(w)) < 1e-4)
        // And back to GGUF: the original adjacent-pair rows, bit for bit.
        try LlamaExport.writeGGUF(weights: hf, tokenizerSource: gguf, type: .f32, to: dir + "/back.gguf")
        let back = try LlamaParameters.load(gguf: try GGUFFile(path: dir + "/back.gguf"))
        #expect(back.storage.array == w.storage.array)
    }

    @Test func permutationIsAnInvolutionPair() {
        let heads = 3, D = 8, cols = 5
        let w = (0..<(heads * D * cols)).map { Float($0) }
        let a = LlamaExport.permuteRows(w, heads: heads, headDim: D, cols: cols, toAdjacent: true)
        #expect(a != w)
        #expect(LlamaExport.permuteRows(a, heads: heads, headDim: D, cols: cols, toAdjacent: false) == w)
        // HF row j * D/2 + i lands on GGUF row 2i + j: row 1 (i 1, j 0) -> row 2
        #expect(Array(a[(2 * cols)..<(3 * cols)]) == Array(w[(1 * cols)..<(2 * cols)]))
    }
}

@Suite struct HuggingFaceLoadingTests {
    @Test func shardedSafetensorsLoadLikeOneFile() throws {
        let single = try LlamaParameters.loadHuggingFace(folder: TrainingFixtures.path("policy"))
        let dir = try temporaryFolder("shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: TrainingFixtures.path("policy/config.json"), toPath: dir + "/config.json")
        // Two shards, tensors split alternately, and the index that maps them.
        let tensors = Checkpoint.tensors(single)
        var map = [String: String]()
        for (k, part) in [tensors.enumerated().filter { $0.offset % 2 == 0 }, tensors.enumerated().filter { $0.offset % 2 == 1 }].enumerated() {
            let name = "model-0000\(k + 1)-of-00002.safetensors"
            try SafeTensorsWriter.write(tensors: part.map(\.element), to: URL(fileURLWithPath: dir + "/" + name))
            for t in part { map[t.element.name] = name }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
        try index.write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let sharded = try LlamaParameters.loadHuggingFace(folder: dir)
        #expect(sharded.storage.array == single.storage.array)
        // A config that is not a Llama is refused, naming the file.
        try #"{"model_type": "gpt2", "vocab_size": 8, "hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        #expect(throws: TrainingError.model(file: dir + "/config.json", reason: "model_type is 'gpt2'; only llama models train here")) {
            try LlamaParameters.loadHuggingFace(folder: dir)
        }
    }
}
