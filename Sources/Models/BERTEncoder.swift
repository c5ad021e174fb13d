// BERTEncoder.swift: a BERT encoder with mean pooling and L2 normalisation (sentence embeddings).
// Port of the BERT architecture as Hugging Face's `BertModel` and sentence-transformers'
// `Pooling(mean)` + `Normalize` define it, written from those descriptions.
//
//   x = LayerNorm(word[ids] + position[0..<L] + tokenType[0])
//   per layer:  a = Attention(x Wq^T + bq, x Wk^T + bk, x Wv^T + bv)   (bidirectional, padding masked)
//               x = LayerNorm(x + a Wo^T + bo)
//               x = LayerNorm(x + GELU(x Wi^T + bi) Wd^T + bd)
//   embedding = normalize(mean over real tokens of x)
// Names: B sequences, L padded length, C hidden, F FFN width, H heads, D = C / H.

import Foundation
import Formats
import Kernels
import Tokenizers

/// Hyper-parameters of a BERT encoder (Hugging Face `config.json` names in `CodingKeys`).
public struct BERTConfiguration: Codable, Sendable, Equatable {
    /// Encoder blocks.
    public var layerCount: Int
    /// Hidden size `C`.
    public var hiddenSize: Int
    /// FFN width `F`.
    public var intermediateSize: Int
    /// Attention heads `H`.
    public var headCount: Int
    /// Vocabulary size.
    public var vocabularySize: Int
    /// Position embeddings available (longest input).
    public var maxPositions: Int
    /// Token-type (segment) embeddings.
    public var typeVocabularySize: Int
    /// LayerNorm epsilon.
    public var layerNormEpsilon: Float
    /// Activation name; only `gelu` (the erf form) is supported.
    public var hiddenActivation: String

    enum CodingKeys: String, CodingKey {
        case layerCount = "num_hidden_layers"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case headCount = "num_attention_heads"
        case vocabularySize = "vocab_size"
        case maxPositions = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size"
        case layerNormEpsilon = "layer_norm_eps"
        case hiddenActivation = "hidden_act"
    }
}

/// A linear layer `y = x W^T + b` with Float32 weights `W: [out, in]`.
struct Linear: Sendable {
    let weight: FloatBuffer
    let bias: FloatBuffer
    let outputs: Int
    let inputs: Int

    /// `y: [M, out] = x: [M, in] W^T + b`.
    func callAsFunction(_ x: UnsafePointer<Float>, rows M: Int, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<M { (y + r * outputs).update(from: bias.pointer, count: outputs) }
        GEMM.multiply(m: M, n: outputs, k: inputs, a: x, lda: inputs, b: weight.pointer, ldb: inputs, transB: .transposed, c: y, ldc: outputs, beta: 1)
    }
}

/// One encoder block's weights.
struct BERTLayer: Sendable {
    let query, key, value, attentionOutput, intermediate, output: Linear
    let attentionNorm: (weight: FloatBuffer, bias: FloatBuffer)
    let outputNorm: (weight: FloatBuffer, bias: FloatBuffer)
}

/// A BERT sentence encoder: token ids in, mean-pooled, L2-normalised embeddings out.
///
/// ```swift
/// let encoder = try BERTEncoder(folder: try ModelLocator.encoder())
/// let vectors = encoder.embed(texts: ["Hello world"])   // [[Float]] of 384 values, norm 1
/// ```
public final class BERTEncoder: @unchecked Sendable {
    /// Hyper-parameters.
    public let configuration: BERTConfiguration
    /// The WordPiece tokenizer from the model folder's `vocab.txt`.
    public let tokenizer: WordPieceTokenizer
    /// Worker threads (BLAS and attention).
    public var threads: Int
    /// A stable identity: folder name plus a hash of the weights file's size and header.
    public let identity: String

    let wordEmbeddings, positionEmbeddings, typeEmbeddings: FloatBuffer
    let embeddingNorm: (weight: FloatBuffer, bias: FloatBuffer)
    let layers: [BERTLayer]

    /// Loads `config.json`, `model.safetensors` and `vocab.txt` from a model folder.
    /// - Parameters:
    ///   - folder: the folder (for MiniLM, `$LONGREWARD_HOME/models/all-MiniLM-L6-v2`).
    ///   - maxLength: token limit per text including `[CLS]`/`[SEP]` (sentence-transformers uses 256).
    ///   - threads: worker threads.
    /// - Throws: ``ModelError`` for a missing file, bad configuration or missing tensor;
    ///   `FormatError` / `TokenizerError` for unreadable files.
    public init(folder: String, maxLength: Int = 256, threads: Int = 1) throws {
        let dir = URL(fileURLWithPath: folder)
        let configURL = dir.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelError.modelNotFound(path: configURL.path, hint: "A BERT model folder needs config.json, model.safetensors and vocab.txt.")
        }
        let config: BERTConfiguration
        do { config = try JSONDecoder().decode(BERTConfiguration.self, from: data) } catch {
            throw ModelError.invalidHyperparameter(file: configURL.path, key: "config.json", reason: "\(error)")
        }
        guard config.hiddenActivation == "gelu" else {
            throw ModelError.invalidHyperparameter(file: configURL.path, key: "hidden_act", reason: "'\(config.hiddenActivation)' is not supported (gelu only)")
        }
        guard config.hiddenSize % config.headCount == 0 else {
            throw ModelError.invalidHyperparameter(file: configURL.path, key: "num_attention_heads", reason: "does not divide hidden_size")
        }
        let weightsPath = dir.appendingPathComponent("model.safetensors").path
        let st = try SafeTensorsFile(path: weightsPath)
        let (C, F) = (config.hiddenSize, config.intermediateSize)
        func tensor(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
            guard let info = try? st.tensor(named: name) else { throw ModelError.missingTensor(file: weightsPath, tensor: name) }
            guard info.shape == shape else { throw ModelError.shapeMismatch(file: weightsPath, tensor: name, expected: shape, found: info.shape) }
            return try st.floats(named: name)
        }
        func linear(_ prefix: String, out: Int, in inputs: Int) throws -> Linear {
            Linear(weight: try tensor(prefix + ".weight", [out, inputs]), bias: try tensor(prefix + ".bias", [out]), outputs: out, inputs: inputs)
        }
        func norm(_ prefix: String) throws -> (weight: FloatBuffer, bias: FloatBuffer) {
            (try tensor(prefix + ".weight", [C]), try tensor(prefix + ".bias", [C]))
        }
        configuration = config
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [config.vocabularySize, C])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [config.maxPositions, C])
        typeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, C])
        embeddingNorm = try norm("embeddings.LayerNorm")
        layers = try (0..<config.layerCount).map { l in
            let p = "encoder.layer.\(l)"
            return BERTLayer(
                query: try linear("\(p).attention.self.query", out: C, in: C),
                key: try linear("\(p).attention.self.key", out: C, in: C),
                value: try linear("\(p).attention.self.value", out: C, in: C),
                attentionOutput: try linear("\(p).attention.output.dense", out: C, in: C),
                intermediate: try linear("\(p).intermediate.dense", out: F, in: C),
                output: try linear("\(p).output.dense", out: C, in: F),
                attentionNorm: try norm("\(p).attention.output.LayerNorm"),
                outputNorm: try norm("\(p).output.LayerNorm"))
        }
        tokenizer = try WordPieceTokenizer(contentsOfFile: dir.appendingPathComponent("vocab.txt").path, maxLength: min(maxLength, config.maxPositions))
        self.threads = threads
        let size = (try? FileManager.default.attributesOfItem(atPath: weightsPath)[.size] as? Int) ?? 0
        identity = "bert:\(dir.lastPathComponent):\(size)"
    }

    /// Embedding width `C`.
    public var dimension: Int { configuration.hiddenSize }

    /// Embeddings of `texts`: tokenised, sorted by length into batches of `batchSize` (less
    /// padding), encoded, mean-pooled and L2-normalised; returned in input order.
    public func embed(texts: [String], batchSize: Int = 32) -> [[Float]] {
        embed(tokenIDs: texts.map { tokenizer.encode($0) }, batchSize: batchSize)
    }

    /// Embeddings of already tokenised inputs (each with `[CLS]` ... `[SEP]`), in input order.
    public func embed(tokenIDs: [[Int32]], batchSize: Int = 32) -> [[Float]] {
        let order = tokenIDs.indices.sorted { tokenIDs[$0].count < tokenIDs[$1].count }
        var out = [[Float]](repeating: [], count: tokenIDs.count)
        var i = 0
        while i < order.count {
            let idx = Array(order[i..<min(order.count, i + batchSize)])
            let vectors = encodeBatch(idx.map { tokenIDs[$0] })
            for (j, k) in idx.enumerated() { out[k] = vectors[j] }
            i += batchSize
        }
        return out
    }

    /// One padded batch through the encoder; returns normalised mean-pooled vectors.
    func encodeBatch(_ batch: [[Int32]]) -> [[Float]] {
        let c = configuration
        let (B, C, F, H) = (batch.count, c.hiddenSize, c.intermediateSize, c.headCount)
        let D = C / H
        let lengths = batch.map { min($0.count, c.maxPositions) }
        let L = max(1, lengths.max() ?? 1)
        let M = B * L
        let x = FloatBuffer(count: M * C), mean = FloatBuffer(count: M), rstd = FloatBuffer(count: M)
        // Embeddings: word + position + token type 0 (padding rows use [PAD] = 0 and are masked).
        for b in 0..<B {
            for t in 0..<L {
                let id = t < lengths[b] ? Int(batch[b][t]) : 0
                precondition(id >= 0 && id < c.vocabularySize, "BERTEncoder: token id \(id) outside 0..<\(c.vocabularySize)")
                let row = x.pointer + (b * L + t) * C
                row.update(from: wordEmbeddings.pointer + id * C, count: C)
                VectorMath.add(positionEmbeddings.pointer + t * C, into: row, C)
                VectorMath.add(typeEmbeddings.pointer, into: row, C)
            }
        }
        LayerNorm.forward(out: x.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer, weight: embeddingNorm.weight.pointer, bias: embeddingNorm.bias.pointer, N: M, C: C, epsilon: c.layerNormEpsilon)

        let q = FloatBuffer(count: M * C), k = FloatBuffer(count: M * C), v = FloatBuffer(count: M * C)
        let a = FloatBuffer(count: M * C), h = FloatBuffer(count: M * F), lse = FloatBuffer(count: M * H)
        let shape = AttentionShape(batch: B, queryLength: L, heads: H, kvHeads: H, headDim: D)
        let mask = AttentionMask(causal: false, keyLengths: lengths)
        let saved = GEMM.threadCount
        GEMM.threadCount = threads
        defer { GEMM.threadCount = saved }
        for w in layers {
            w.query(x.pointer, rows: M, into: q.pointer)
            w.key(x.pointer, rows: M, into: k.pointer)
            w.value(x.pointer, rows: M, into: v.pointer)
            Attention.forward(out: a.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask, threads: threads)
            GEMM.threadCount = threads  // attention resets BLAS to its saved count; keep ours
            w.attentionOutput(a.pointer, rows: M, into: q.pointer)
            VectorMath.add(q.pointer, into: x.pointer, M * C)
            LayerNorm.forward(out: x.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.attentionNorm.weight.pointer, bias: w.attentionNorm.bias.pointer, N: M, C: C, epsilon: c.layerNormEpsilon)
            w.intermediate(x.pointer, rows: M, into: h.pointer)
            GELU.forward(out: h.pointer, x: h.pointer, count: M * F)
            w.output(h.pointer, rows: M, into: q.pointer)
            VectorMath.add(q.pointer, into: x.pointer, M * C)
            LayerNorm.forward(out: x.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.outputNorm.weight.pointer, bias: w.outputNorm.bias.pointer, N: M, C: C, epsilon: c.layerNormEpsilon)
        }
        // Mean over real tokens, then L2 normalisation.
        return (0..<B).map { b in
            var pooled = [Double](repeating: 0, count: C)
            for t in 0..<lengths[b] {
                let row = x.pointer + (b * L + t) * C
                for j in 0..<C { pooled[j] += Double(row[j]) }
            }
            let n = Double(max(1, lengths[b]))
            let norm = max(pooled.reduce(0) { $0 + ($1 / n) * ($1 / n) }.squareRoot(), 1e-12)
            return pooled.map { Float($0 / n / norm) }
        }
    }
}
