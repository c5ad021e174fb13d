// LlamaParameters.swift: every trainable tensor of a Llama decoder in one flat float32 buffer.
//
// One type serves the weights, their gradients and the two AdamW moments (llm.c's
// ParameterTensors): the same table of (tensor, layer) -> offset and shape, over storage of the
// same size, so the optimiser, the gradient norm and checkpoints walk one contiguous array.
//
// Order: token embedding, then per layer (attention norm, q, k, v, o, FFN norm, gate, up, down),
// then the final norm, then the LM head when it is not tied to the embedding. Shapes are
// row-major `[out, in]` as both GGUF (after reversing `ne`) and Hugging Face store them.

import Kernels
import Models

/// Where one tensor lives in a ``LlamaParameters`` buffer.
public struct LlamaParameterEntry: Sendable, Equatable {
    /// The tensor's role.
    public let tensor: LlamaTensor
    /// Its block (0 for tensors outside the blocks).
    public let layer: Int
    /// Row-major shape.
    public let shape: [Int]
    /// Offset of its first float in the buffer.
    public let offset: Int
    /// Number of floats.
    public var count: Int { shape.reduce(1, *) }
    /// Whether AdamW's weight decay applies (every tensor except the norms, as Hugging Face
    /// Trainer's default grouping leaves norm weights and biases undecayed).
    public var decays: Bool {
        switch tensor {
        case .attentionNorm, .ffnNorm, .outputNorm: false
        default: true
        }
    }
    /// The Hugging Face tensor name.
    public var huggingFaceName: String { tensor.huggingFaceName(layer: layer) }
    /// The GGUF tensor name.
    public var ggufName: String { tensor.ggufName(layer: layer) }
}

/// The shape of a trainable Llama: its hyper-parameters and whether the LM head is tied.
public struct LlamaArchitecture: Sendable, Equatable {
    /// Hyper-parameters (RoPE convention included: it says how Q/K rows are laid out).
    public var configuration: LlamaConfiguration
    /// Whether the LM head reuses the token embedding (SmolLM2 does); its gradient is then the
    /// sum of the embedding's and the head's.
    public var tiedEmbeddings: Bool

    /// Creates an architecture.
    public init(configuration: LlamaConfiguration, tiedEmbeddings: Bool) {
        self.configuration = configuration
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// The tensor table, in storage order.
    public var entries: [LlamaParameterEntry] {
        let c = configuration
        let (C, F, D) = (c.hiddenSize, c.intermediateSize, c.headDim)
        var out = [LlamaParameterEntry]()
        var at = 0
        func add(_ t: LlamaTensor, _ layer: Int, _ shape: [Int]) {
            out.append(LlamaParameterEntry(tensor: t, layer: layer, shape: shape, offset: at))
            // Keep every tensor 16-float (64-byte) aligned for the SIMD kernels.
            at += (shape.reduce(1, *) + 15) / 16 * 16
        }
        add(.tokenEmbedding, 0, [c.vocabularySize, C])
        for l in 0..<c.layerCount {
            add(.attentionNorm, l, [C])
            add(.query, l, [c.headCount * D, C])
            add(.key, l, [c.kvHeadCount * D, C])
            add(.value, l, [c.kvHeadCount * D, C])
            add(.attentionOutput, l, [C, c.headCount * D])
            add(.ffnNorm, l, [C])
            add(.gate, l, [F, C])
            add(.up, l, [F, C])
            add(.down, l, [C, F])
        }
        add(.outputNorm, 0, [C])
        if !tiedEmbeddings { add(.output, 0, [c.vocabularySize, C]) }
        return out
    }
}

/// All trainable tensors of a Llama in one 64-byte aligned float32 buffer.
///
/// ```swift
/// let weights = LlamaParameters(architecture: arch)       // zero-filled
/// let grads = LlamaParameters(architecture: arch)
/// let wq = weights[.query, layer: 3]                        // UnsafeMutablePointer<Float>
/// ```
/// Thread safety: like ``FloatBuffer``, none; one trainer owns it.
public final class LlamaParameters: @unchecked Sendable {
    /// The architecture the table follows.
    public let architecture: LlamaArchitecture
    /// The tensor table in storage order.
    public let entries: [LlamaParameterEntry]
    /// The storage (padding between tensors is kept at zero).
    public let storage: FloatBuffer
    private let index: [Key: Int]

    private struct Key: Hashable {
        let tensor: LlamaTensor
        let layer: Int
    }

    /// Allocates zero-filled parameters for `architecture`.
    public init(architecture: LlamaArchitecture) {
        self.architecture = architecture
        entries = architecture.entries
        let last = entries.last!
        storage = FloatBuffer(count: (last.offset + last.count + 15) / 16 * 16)
        var index = [Key: Int]()
        for (i, e) in entries.enumerated() { index[Key(tensor: e.tensor, layer: e.layer)] = i }
        self.index = index
    }

    /// The hyper-parameters.
    public var configuration: LlamaConfiguration { architecture.configuration }

    /// Number of trainable parameters (padding excluded).
    public var parameterCount: Int { entries.reduce(0) { $0 + $1.count } }

    /// The entry of a tensor.
    public func entry(_ tensor: LlamaTensor, layer: Int = 0) -> LlamaParameterEntry {
        guard let i = index[Key(tensor: tensor, layer: tensor.isPerLayer ? layer : 0)] else {
            preconditionFailure("LlamaParameters: no tensor \(tensor) layer \(layer)")
        }
        return entries[i]
    }

    /// The first float of a tensor. For `.output` with tied embeddings, the embedding.
    public subscript(_ tensor: LlamaTensor, layer layer: Int = 0) -> UnsafeMutablePointer<Float> {
        if tensor == .output && architecture.tiedEmbeddings { return storage.pointer + entry(.tokenEmbedding).offset }
        return storage.pointer + entry(tensor, layer: layer).offset
    }

    /// The first float of a tensor, for the whole-model tensors.
    public subscript(_ tensor: LlamaTensor) -> UnsafeMutablePointer<Float> { self[tensor, layer: 0] }

    /// A tensor's values as an array (for tests and exports).
    public func values(_ e: LlamaParameterEntry) -> [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer + e.offset, count: e.count))
    }

    /// Sets every value to zero.
    public func zero() { storage.zero() }

    /// A deep copy.
    public func copy() -> LlamaParameters {
        let c = LlamaParameters(architecture: architecture)
        c.storage.pointer.update(from: storage.pointer, count: storage.count)
        return c
    }

    /// A 128-bit content fingerprint of the values (hex), cheap enough to take on every load:
    /// four independent multiply-xor lanes over the float bits, then mixed. Two models with the
    /// same fingerprint hold the same weights for every practical purpose (it is not a
    /// cryptographic hash; it keys the reference log-prob cache and checkpoint checks).
    public var fingerprint: String {
        let n = storage.count
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63)
        let words = UnsafeRawPointer(storage.pointer).assumingMemoryBound(to: UInt32.self)
        let m: UInt64 = 0xFF51_AFD7_ED55_8CCD
        var i = 0
        while i + 4 <= n {
            lanes.0 = (lanes.0 ^ UInt64(words[i])) &* m
            lanes.1 = (lanes.1 ^ UInt64(words[i + 1])) &* m
            lanes.2 = (lanes.2 ^ UInt64(words[i + 2])) &* m
            lanes.3 = (lanes.3 ^ UInt64(words[i + 3])) &* m
            i += 4
        }
        while i < n { lanes.0 = (lanes.0 ^ UInt64(words[i])) &* m; i += 1 }
        func mix(_ x: UInt64) -> UInt64 { var z = x; z ^= z >> 33; z = z &* 0xC4CE_B9FE_1A85_EC53; z ^= z >> 33; return z }
        let a = mix(lanes.0 ^ mix(lanes.2) ^ UInt64(n))
        let b = mix(lanes.1 ^ mix(lanes.3) &+ UInt64(n))
        return String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
