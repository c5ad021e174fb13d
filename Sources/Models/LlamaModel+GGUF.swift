// LlamaModel+GGUF.swift: building a LlamaModel from any llama-architecture GGUF file.
//
// Hyper-parameters come from the `llama.*` metadata keys; matrices stay in their GGUF block
// quantisation when a fast kernel exists for it (Q4_1, Q8_0) and are dequantised to Float32
// otherwise. RoPE pairs adjacent elements: the GGUF converter permuted the Q/K rows for it.

import Formats
import Kernels

extension LlamaModel {
    /// Architectures this loader accepts (`general.architecture`).
    public static let supportedArchitectures = ["llama"]

    /// Loads a model from an open GGUF file.
    /// - Parameters:
    ///   - gguf: the file.
    ///   - threads: worker threads for inference.
    /// - Throws: ``ModelError`` for an unsupported architecture, missing tensors, wrong shapes
    ///   or bad hyper-parameters; `FormatError` for unreadable tensor data.
    public static func load(gguf: GGUFFile, threads: Int = 1) throws -> LlamaModel {
        let file = gguf.path
        let config = try configuration(gguf: gguf)
        let (C, F, D) = (config.hiddenSize, config.intermediateSize, config.headDim)

        func matrix(_ t: LlamaTensor, layer: Int = 0, rows: Int, cols: Int) throws -> QuantizedMatrix {
            let info = try tensorInfo(gguf, t, layer: layer)
            guard info.shape == [rows, cols] else {
                throw ModelError.shapeMismatch(file: file, tensor: info.name, expected: [rows, cols], found: info.shape)
            }
            let data = gguf.tensorData(info)
            switch info.type {
            case .q4_1: return QuantizedMatrix(q4_1: data.baseAddress!, rows: rows, cols: cols)
            case .q8_0: return QuantizedMatrix(q8_0: data.baseAddress!, rows: rows, cols: cols)
            default:
                let floats = try gguf.dequantizeTensor(info)
                return QuantizedMatrix(float: floats.pointer, rows: rows, cols: cols)
            }
        }
        func vector(_ t: LlamaTensor, layer: Int = 0) throws -> FloatBuffer {
            let info = try tensorInfo(gguf, t, layer: layer)
            guard info.shape == [C] else { throw ModelError.shapeMismatch(file: file, tensor: info.name, expected: [C], found: info.shape) }
            return try gguf.dequantizeTensor(info)
        }
        let layers = try (0..<config.layerCount).map { l in
            LlamaLayerWeights(
                attentionNorm: try vector(.attentionNorm, layer: l),
                query: try matrix(.query, layer: l, rows: config.headCount * D, cols: C),
                key: try matrix(.key, layer: l, rows: config.kvHeadCount * D, cols: C),
                value: try matrix(.value, layer: l, rows: config.kvHeadCount * D, cols: C),
                output: try matrix(.attentionOutput, layer: l, rows: C, cols: config.headCount * D),
                ffnNorm: try vector(.ffnNorm, layer: l),
                gate: try matrix(.gate, layer: l, rows: F, cols: C),
                up: try matrix(.up, layer: l, rows: F, cols: C),
                down: try matrix(.down, layer: l, rows: C, cols: F))
        }
        let embedding = try matrix(.tokenEmbedding, rows: config.vocabularySize, cols: C)
        let hasOutput = (try? gguf.tensor(named: LlamaTensor.output.ggufName())) != nil
        return LlamaModel(
            configuration: config, tokenEmbedding: embedding, layers: layers, outputNorm: try vector(.outputNorm),
            outputHead: hasOutput ? try matrix(.output, rows: config.vocabularySize, cols: C) : nil, threads: threads)
    }

    /// The hyper-parameters of a llama-architecture GGUF file (its `llama.*` keys and the token
    /// embedding's shape), shared by inference and training loaders.
    /// - Throws: ``ModelError`` for an unsupported architecture, a missing embedding or bad values.
    public static func configuration(gguf: GGUFFile) throws -> LlamaConfiguration {
        let file = gguf.path
        let arch = try gguf.string("general.architecture")
        guard supportedArchitectures.contains(arch) else {
            throw ModelError.unsupportedArchitecture(file: file, architecture: arch, supported: supportedArchitectures)
        }
        func int(_ key: String) throws -> Int {
            let v = try gguf.int("\(arch).\(key)")
            guard v > 0 else { throw ModelError.invalidHyperparameter(file: file, key: "\(arch).\(key)", reason: "must be positive, is \(v)") }
            return v
        }
        let embedInfo = try tensorInfo(gguf, .tokenEmbedding)
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kvHeads = (try? int("attention.head_count_kv")) ?? heads
        guard hidden % heads == 0, heads % kvHeads == 0 else {
            throw ModelError.invalidHyperparameter(file: file, key: "\(arch).attention.head_count", reason: "hidden \(hidden), heads \(heads), kv heads \(kvHeads) do not divide")
        }
        let config = LlamaConfiguration(
            layerCount: try int("block_count"),
            hiddenSize: hidden,
            intermediateSize: try int("feed_forward_length"),
            headCount: heads,
            kvHeadCount: kvHeads,
            vocabularySize: embedInfo.shape[0],
            contextLength: try int("context_length"),
            ropeBase: Double((try? gguf.float("\(arch).rope.freq_base")) ?? 10000),
            rmsNormEpsilon: (try? gguf.float("\(arch).attention.layer_norm_rms_epsilon")) ?? 1e-5,
            ropeConvention: .adjacentPairs)
        return config
    }

    static func tensorInfo(_ gguf: GGUFFile, _ t: LlamaTensor, layer: Int = 0) throws -> GGUFTensorInfo {
        let name = t.ggufName(layer: layer)
        do { return try gguf.tensor(named: name) } catch { throw ModelError.missingTensor(file: gguf.path, tensor: name) }
    }
}
