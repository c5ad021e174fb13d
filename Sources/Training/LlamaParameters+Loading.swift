// LlamaParameters+Loading.swift: float32 master weights from a llama GGUF file (every tensor
// dequantised once) or from a Hugging Face folder (config.json + model.safetensors, or a sharded
// model.safetensors.index.json). Tensor names come from the one table, `LlamaTensor`.
//
// RoPE layout is kept as the source stores it: GGUF llama Q/K rows are permuted for adjacent
// pairs, Hugging Face rows rotate halves; `LlamaConfiguration.ropeConvention` records which, and
// the exports convert (see LlamaExport.swift).

import Foundation
import Formats
import Kernels
import Models

/// A model loaded for training: its weights and where they came from.
public struct LoadedLlama: @unchecked Sendable {
    /// The float32 weights.
    public let parameters: LlamaParameters
    /// The file or folder it was read from.
    public let path: String
    /// The GGUF file, when the source is one (its metadata and tokenizer travel to exports).
    public let gguf: GGUFFile?
}

extension LlamaParameters {
    /// Loads a llama model from a GGUF file or a Hugging Face folder (chosen by what `path` is).
    /// - Throws: ``TrainingError`` naming the file and the problem.
    public static func load(path: String) throws -> LoadedLlama {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainingError.model(file: path, reason: "no such file or folder")
        }
        if isDir.boolValue { return LoadedLlama(parameters: try loadHuggingFace(folder: path), path: path, gguf: nil) }
        let gguf: GGUFFile
        do { gguf = try GGUFFile(path: path) } catch {
            throw TrainingError.model(file: path, reason: "not a readable GGUF file: \(error)")
        }
        return LoadedLlama(parameters: try load(gguf: gguf), path: path, gguf: gguf)
    }

    /// Dequantises every tensor of a llama GGUF file into float32 master weights.
    public static func load(gguf: GGUFFile) throws -> LlamaParameters {
        let file = gguf.path
        let config: LlamaConfiguration
        do { config = try LlamaModel.configuration(gguf: gguf) } catch {
            throw TrainingError.model(file: file, reason: "\(error)")
        }
        let tied = (try? gguf.tensor(named: LlamaTensor.output.ggufName())) == nil
        let p = LlamaParameters(architecture: LlamaArchitecture(configuration: config, tiedEmbeddings: tied))
        for e in p.entries {
            let info: GGUFTensorInfo
            do { info = try gguf.tensor(named: e.ggufName) } catch {
                throw TrainingError.model(file: file, reason: "missing tensor \(e.ggufName)")
            }
            guard info.shape == e.shape else {
                throw TrainingError.model(file: file, reason: "tensor \(e.ggufName) has shape \(info.shape), expected \(e.shape)")
            }
            do {
                let values = try gguf.dequantizeTensor(info)
                (p.storage.pointer + e.offset).update(from: values.pointer, count: e.count)
            } catch {
                throw TrainingError.model(file: file, reason: "tensor \(e.ggufName): \(error)")
            }
        }
        return p
    }

    /// Reads a Hugging Face `LlamaForCausalLM` folder: `config.json` and `model.safetensors`
    /// (or the shards listed by `model.safetensors.index.json`). F32, F16 and BF16 tensors load.
    public static func loadHuggingFace(folder: String) throws -> LlamaParameters {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let config = try HuggingFaceLlamaConfig.read(path: configPath)
        let arch = config.architecture
        let p = LlamaParameters(architecture: arch)

        // Map each tensor name to the shard holding it.
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        let indexPath = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        var shardOf = [String: String]()
        var files = [String: SafeTensorsFile]()
        if FileManager.default.fileExists(atPath: single) {
            let f = try openSafeTensors(single)
            files[single] = f
            for t in f.tensors { shardOf[t.name] = single }
        } else if FileManager.default.fileExists(atPath: indexPath) {
            guard let data = FileManager.default.contents(atPath: indexPath),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = json["weight_map"] as? [String: String]
            else { throw TrainingError.model(file: indexPath, reason: "not a safetensors index (no weight_map object)") }
            for (name, shard) in map { shardOf[name] = (folder as NSString).appendingPathComponent(shard) }
        } else {
            throw TrainingError.model(file: folder, reason: "no model.safetensors or model.safetensors.index.json")
        }
        for e in p.entries {
            let name = e.huggingFaceName
            guard let shard = shardOf[name] else { throw TrainingError.model(file: folder, reason: "missing tensor \(name)") }
            if files[shard] == nil { files[shard] = try openSafeTensors(shard) }
            let f = files[shard]!
            let info = try f.tensor(named: name)
            guard info.shape == e.shape else {
                throw TrainingError.model(file: shard, reason: "tensor \(name) has shape \(info.shape), expected \(e.shape)")
            }
            do {
                let values = try f.floats(named: name)
                (p.storage.pointer + e.offset).update(from: values.pointer, count: e.count)
            } catch { throw TrainingError.model(file: shard, reason: "tensor \(name): \(error)") }
        }
        return p
    }

    private static func openSafeTensors(_ path: String) throws -> SafeTensorsFile {
        do { return try SafeTensorsFile(path: path) } catch {
            throw TrainingError.model(file: path, reason: "not a readable safetensors file: \(error)")
        }
    }
}

/// The `config.json` keys of a Hugging Face Llama that the trainer reads and the export writes.
public struct HuggingFaceLlamaConfig: Codable, Sendable, Equatable {
    /// `vocab_size`.
    public var vocabSize: Int
    /// `hidden_size`.
    public var hiddenSize: Int
    /// `intermediate_size`.
    public var intermediateSize: Int
    /// `num_hidden_layers`.
    public var layerCount: Int
    /// `num_attention_heads`.
    public var headCount: Int
    /// `num_key_value_heads` (defaults to the head count).
    public var kvHeadCount: Int?
    /// `rms_norm_eps`.
    public var rmsNormEpsilon: Double?
    /// `rope_theta`.
    public var ropeTheta: Double?
    /// `max_position_embeddings`.
    public var maxPositionEmbeddings: Int?
    /// `tie_word_embeddings`.
    public var tieWordEmbeddings: Bool?
    /// `model_type`.
    public var modelType: String?
    /// `hidden_act`.
    public var hiddenAct: String?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case layerCount = "num_hidden_layers", headCount = "num_attention_heads", kvHeadCount = "num_key_value_heads"
        case rmsNormEpsilon = "rms_norm_eps", ropeTheta = "rope_theta", maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings", modelType = "model_type", hiddenAct = "hidden_act"
    }

    /// Reads and checks a `config.json`.
    /// - Throws: ``TrainingError/model(file:reason:)`` when it is unreadable or not a Llama.
    public static func read(path: String) throws -> HuggingFaceLlamaConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.model(file: path, reason: "cannot read config.json")
        }
        let c: HuggingFaceLlamaConfig
        do { c = try JSONDecoder().decode(HuggingFaceLlamaConfig.self, from: data) } catch {
            throw TrainingError.model(file: path, reason: "not a Llama config: \(error)")
        }
        if let t = c.modelType, t != "llama" {
            throw TrainingError.model(file: path, reason: "model_type is '\(t)'; only llama models train here")
        }
        if let a = c.hiddenAct, a != "silu" {
            throw TrainingError.model(file: path, reason: "hidden_act is '\(a)'; Llama uses silu")
        }
        let kv = c.kvHeadCount ?? c.headCount
        guard c.hiddenSize > 0, c.headCount > 0, c.hiddenSize % c.headCount == 0, kv > 0, c.headCount % kv == 0,
            c.layerCount > 0, c.vocabSize > 0, c.intermediateSize > 0
        else { throw TrainingError.model(file: path, reason: "inconsistent sizes (hidden, heads, kv heads)") }
        return c
    }

    /// The trainer's architecture (RoPE on halves, as Hugging Face checkpoints store Q/K).
    public var architecture: LlamaArchitecture {
        LlamaArchitecture(
            configuration: LlamaConfiguration(
                layerCount: layerCount, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                headCount: headCount, kvHeadCount: kvHeadCount ?? headCount, vocabularySize: vocabSize,
                contextLength: maxPositionEmbeddings ?? 2048, ropeBase: ropeTheta ?? 10000,
                rmsNormEpsilon: Float(rmsNormEpsilon ?? 1e-6), ropeConvention: .halves),
            tiedEmbeddings: tieWordEmbeddings ?? false)
    }
}
