// LlamaTensorNames.swift: the one table of Llama checkpoint tensor names, GGUF beside Hugging
// Face (as llama.cpp's llama-arch.cpp maps them). Nothing else spells these strings.

/// A Llama weight, by role.
public enum LlamaTensor: CaseIterable, Sendable {
    case tokenEmbedding, outputNorm, output
    case attentionNorm, query, key, value, attentionOutput, ffnNorm, gate, up, down

    /// Whether the tensor belongs to a block (its name carries the layer index).
    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .outputNorm, .output: false
        default: true
        }
    }

    /// GGUF name, e.g. `blk.3.attn_q.weight`.
    public func ggufName(layer: Int = 0) -> String {
        switch self {
        case .tokenEmbedding: "token_embd.weight"
        case .outputNorm: "output_norm.weight"
        case .output: "output.weight"
        case .attentionNorm: "blk.\(layer).attn_norm.weight"
        case .query: "blk.\(layer).attn_q.weight"
        case .key: "blk.\(layer).attn_k.weight"
        case .value: "blk.\(layer).attn_v.weight"
        case .attentionOutput: "blk.\(layer).attn_output.weight"
        case .ffnNorm: "blk.\(layer).ffn_norm.weight"
        case .gate: "blk.\(layer).ffn_gate.weight"
        case .up: "blk.\(layer).ffn_up.weight"
        case .down: "blk.\(layer).ffn_down.weight"
        }
    }

    /// Hugging Face name, e.g. `model.layers.3.self_attn.q_proj.weight`.
    public func huggingFaceName(layer: Int = 0) -> String {
        switch self {
        case .tokenEmbedding: "model.embed_tokens.weight"
        case .outputNorm: "model.norm.weight"
        case .output: "lm_head.weight"
        case .attentionNorm: "model.layers.\(layer).input_layernorm.weight"
        case .query: "model.layers.\(layer).self_attn.q_proj.weight"
        case .key: "model.layers.\(layer).self_attn.k_proj.weight"
        case .value: "model.layers.\(layer).self_attn.v_proj.weight"
        case .attentionOutput: "model.layers.\(layer).self_attn.o_proj.weight"
        case .ffnNorm: "model.layers.\(layer).post_attention_layernorm.weight"
        case .gate: "model.layers.\(layer).mlp.gate_proj.weight"
        case .up: "model.layers.\(layer).mlp.up_proj.weight"
        case .down: "model.layers.\(layer).mlp.down_proj.weight"
        }
    }
}
