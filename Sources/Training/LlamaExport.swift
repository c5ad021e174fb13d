// LlamaExport.swift: trained weights out as a llama GGUF (F32, F16 or Q8_0; the source file's
// metadata, tokenizer and chat template kept) and as a Hugging Face folder (config.json,
// model.safetensors with HF names, tokenizer.json + tokenizer_config.json, generation_config.json).
//
// RoPE layout: llama GGUF files rotate adjacent pairs, so the converter permutes each head's
// Q/K rows; Hugging Face rotates halves. Within one head of D rows, for i < D/2 and j in {0, 1}:
//   GGUF row 2i + j  ==  HF row j * D/2 + i
// (llama.cpp convert_hf_to_gguf.py `permute`). Weights keep the layout of their source; each
// export converts when the source layout differs from the target's.

import Foundation
import Formats
import Kernels
import Models
import Tokenizers

/// Writers of trained models.
public enum LlamaExport {
    /// Writes a llama GGUF file.
    /// - Parameters:
    ///   - weights: the trained weights.
    ///   - tokenizerSource: the GGUF whose metadata (tokenizer, chat template, general.*) is kept.
    ///   - type: the matrices' type; norms stay F32 (as llama.cpp writes them); a matrix whose
    ///     row length is not a multiple of 32 falls back from Q8_0 to F16.
    ///   - path: the output file (written as `path.partial`, then renamed).
    /// - Throws: ``TrainingError/write(file:reason:)``.
    public static func writeGGUF(weights: LlamaParameters, tokenizerSource: GGUFFile, type: GGUFExportType, to path: String) throws {
        let c = weights.configuration
        var w = GGUFWriter(alignment: tokenizerSource.alignment)
        let skip: Set<String> = ["general.alignment"]
        for key in tokenizerSource.metadataKeys where !skip.contains(key) {
            if let v = tokenizerSource.metadata[key] { w.setMetadata(key, v) }
        }
        let fileType: UInt32 = switch type { case .f32: 0; case .f16: 1; case .q8_0: 7 }
        w.setMetadata("general.architecture", .string("llama"))
        w.setMetadata("general.file_type", .uint32(fileType))
        w.setMetadata("llama.context_length", .uint32(UInt32(c.contextLength)))
        w.setMetadata("llama.embedding_length", .uint32(UInt32(c.hiddenSize)))
        w.setMetadata("llama.block_count", .uint32(UInt32(c.layerCount)))
        w.setMetadata("llama.feed_forward_length", .uint32(UInt32(c.intermediateSize)))
        w.setMetadata("llama.attention.head_count", .uint32(UInt32(c.headCount)))
        w.setMetadata("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeadCount)))
        w.setMetadata("llama.rope.freq_base", .float32(Float(c.ropeBase)))
        w.setMetadata("llama.rope.dimension_count", .uint32(UInt32(c.headDim)))
        w.setMetadata("llama.attention.layer_norm_rms_epsilon", .float32(c.rmsNormEpsilon))
        w.setMetadata("llama.vocab_size", .uint32(UInt32(c.vocabularySize)))
        w.setMetadata("general.description", .string("fine-tuned with longreward train"))
        do {
            for e in weights.entries {
                var values = weights.values(e)
                if (e.tensor == .query || e.tensor == .key) && c.ropeConvention == .halves {
                    values = permuteRows(values, heads: e.tensor == .query ? c.headCount : c.kvHeadCount, headDim: c.headDim, cols: c.hiddenSize, toAdjacent: true)
                }
                let t: GGMLType
                if e.shape.count == 1 || type == .f32 { t = .f32 } else if type == .q8_0 && e.shape.last! % 32 == 0 { t = .q8_0 } else { t = .f16 }
                try values.withUnsafeBufferPointer { try w.addTensor(name: e.ggufName, shape: e.shape, values: $0, type: t) }
            }
            try w.write(to: path)
        } catch let e as TrainingError { throw e } catch {
            throw TrainingError.write(file: path, reason: "\(error)")
        }
    }

    /// Writes a Hugging Face `LlamaForCausalLM` folder that transformers loads unchanged.
    /// - Throws: ``TrainingError/write(file:reason:)``.
    public static func writeHuggingFace(weights: LlamaParameters, tokenizerSource: GGUFFile, to folder: String) throws {
        let c = weights.configuration
        let fm = FileManager.default
        let tmp = folder + ".partial"
        try? fm.removeItem(atPath: tmp)
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            var tensors = [SafeTensorsWriter.Tensor]()
            for e in weights.entries {
                var values = weights.values(e)
                if (e.tensor == .query || e.tensor == .key) && c.ropeConvention == .adjacentPairs {
                    values = permuteRows(values, heads: e.tensor == .query ? c.headCount : c.kvHeadCount, headDim: c.headDim, cols: c.hiddenSize, toAdjacent: false)
                }
                tensors.append(SafeTensorsWriter.Tensor(name: e.huggingFaceName, shape: e.shape, values: values))
            }
            try SafeTensorsWriter.write(tensors: tensors, metadata: ["format": "pt"], to: URL(fileURLWithPath: tmp + "/model.safetensors"))

            let tk = try BPETokenizer(gguf: tokenizerSource)
            let bos = tk.bosID.map { Int($0) }, eos = tk.eosID.map { Int($0) }
            var eosIDs = [Int]()
            if let e = eos { eosIDs.append(e) }
            if let im = tk.id(forPiece: ChatTemplate.turnEnd), tk.isControl(im), !eosIDs.contains(Int(im)) { eosIDs.append(Int(im)) }
            var config: [String: Any] = [
                "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
                "vocab_size": c.vocabularySize, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
                "num_hidden_layers": c.layerCount, "num_attention_heads": c.headCount, "num_key_value_heads": c.kvHeadCount,
                "head_dim": c.headDim, "rms_norm_eps": Double(c.rmsNormEpsilon), "rope_theta": c.ropeBase,
                "max_position_embeddings": c.contextLength, "tie_word_embeddings": weights.architecture.tiedEmbeddings,
                "attention_bias": false, "attention_dropout": 0.0, "mlp_bias": false, "pretraining_tp": 1,
                "initializer_range": 0.02, "use_cache": true, "torch_dtype": "float32",
            ]
            if let bos { config["bos_token_id"] = bos }
            if let eos { config["eos_token_id"] = eos }
            if let p = tk.paddingID { config["pad_token_id"] = Int(p) }
            try writeJSON(config, tmp + "/config.json")
            var gen: [String: Any] = ["_from_model_config": true, "eos_token_id": eosIDs.count == 1 ? eosIDs[0] as Any : eosIDs as Any]
            if let bos { gen["bos_token_id"] = bos }
            if let p = tk.paddingID { gen["pad_token_id"] = Int(p) }
            try writeJSON(gen, tmp + "/generation_config.json")
            let files = try HuggingFaceTokenizerExport.files(from: tokenizerSource, modelMaxLength: c.contextLength)
            try AtomicFile.write(Data(files.tokenizerJSON.utf8), to: tmp + "/tokenizer.json")
            try AtomicFile.write(Data(files.tokenizerConfigJSON.utf8), to: tmp + "/tokenizer_config.json")
            try AtomicFile.write(Data(files.specialTokensMapJSON.utf8), to: tmp + "/special_tokens_map.json")
            try? fm.removeItem(atPath: folder)
            try fm.moveItem(atPath: tmp, toPath: folder)
        } catch {
            try? fm.removeItem(atPath: tmp)
            if let t = error as? TrainingError { throw t }
            throw TrainingError.write(file: folder, reason: "\(error)")
        }
    }

    private static func writeJSON(_ object: [String: Any], _ path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: path)
    }

    /// Converts a Q or K matrix `[heads * D, cols]` between the HF (halves) and GGUF (adjacent)
    /// row orders: GGUF row `2i + j` of a head is HF row `j * D/2 + i`.
    static func permuteRows(_ w: [Float], heads: Int, headDim D: Int, cols: Int, toAdjacent: Bool) -> [Float] {
        var out = w
        let half = D / 2
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let gguf = h * D + 2 * i + j, hf = h * D + j * half + i
                    let (dst, src) = toAdjacent ? (gguf, hf) : (hf, gguf)
                    for k in 0..<cols { out[dst * cols + k] = w[src * cols + k] }
                }
            }
        }
        return out
    }
}
