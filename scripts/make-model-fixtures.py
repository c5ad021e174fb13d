#!/usr/bin/env python3
"""Derive the Models test fixtures from the shared SmolLM2 / MiniLM references.

Source: ../shared/reference/smollm2/{short_english,chat_judge,long_1500,unicode_chinese}.json
(token ids from llama.cpp's tokenizer; per position the top-10 logits and logsumexp of an exact
float64 forward pass over the GGUF's dequantised weights), greedy_chat_judge_fp64.json (float64
greedy decode with top-1/top-2 gaps), and minilm/reference.json (sentence-transformers).

Kept: for each prompt, its text, the token ids, and per position the float64 top-1 id, top-1
logit and logsumexp (enough for argmax agreement and top-1 log-prob error); the greedy decode as
is; the MiniLM texts, ids and batched float32 embeddings.
Usage: python3 scripts/make-model-fixtures.py [path/to/shared/reference]
"""
import json
import os
import sys

ref = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference")
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures")
os.makedirs(out, exist_ok=True)

prompts = []
for name in ["short_english", "chat_judge", "long_1500", "unicode_chinese"]:
    d = json.load(open(os.path.join(ref, "smollm2", name + ".json")))
    prompts.append({
        "name": name,
        "text": d["text"],
        "parse_special": bool(d["tokenize_flags"].get("parse_special", False)),
        "token_ids": d["token_ids"],
        "top1_id": [p["top10"][0][0] for p in d["positions"]],
        "top1_logit": [p["top10"][0][1] for p in d["positions"]],
        "lse": [p["lse"] for p in d["positions"]],
    })
json.dump(prompts, open(os.path.join(out, "smollm2-logits.json"), "w"), separators=(",", ":"))

g = json.load(open(os.path.join(ref, "smollm2", "greedy_chat_judge_fp64.json")))
json.dump({k: g[k] for k in ["prompt_token_ids", "generated_ids", "top2_logit_gaps"]},
          open(os.path.join(out, "smollm2-greedy-fp64.json"), "w"), separators=(",", ":"))

m = json.load(open(os.path.join(ref, "minilm", "reference.json")))
json.dump({"texts": m["texts"], "token_ids": m["token_ids"], "embeddings": m["embeddings"]},
          open(os.path.join(out, "minilm-embeddings.json"), "w"), separators=(",", ":"))

# ---------------------------------------------------------------------------------------------
# Handcrafted GGUF files for the loader's error cases (one per case), written with a minimal
# GGUF v3 writer: a 1-layer llama with hidden 32, 2 heads, 1 KV head, FFN 64 and 8 tokens, all
# tensors F32 (so the loader's dequantise-to-Float32 path is exercised too).
import struct

def gguf_bytes(kvs, tensors):
    """kvs: list of (key, type, value) with type in 'str','u32','f32','bool','arr_str','arr_i32';
    tensors: list of (name, shape_row_major, list_of_floats)."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, t, v in kvs:
        out += s(key)
        if t == "str": out += struct.pack("<I", 8) + s(v)
        elif t == "u32": out += struct.pack("<II", 4, v)
        elif t == "f32": out += struct.pack("<If", 6, v)
        elif t == "bool": out += struct.pack("<IB", 7, 1 if v else 0)
        elif t == "arr_str": out += struct.pack("<IIQ", 9, 8, len(v)) + b"".join(s(x) for x in v)
        elif t == "arr_i32": out += struct.pack("<IIQ", 9, 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
    offset = 0
    blobs = []
    for name, shape, values in tensors:
        dims = list(reversed(shape))  # GGUF stores the fastest dimension first
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)  # type F32
        blob = b"".join(struct.pack("<f", x) for x in values)
        blobs.append(blob)
        offset += (len(blob) + 31) // 32 * 32
    out += b"\0" * ((32 - len(out) % 32) % 32)
    for blob in blobs:
        out += blob + b"\0" * ((32 - len(blob) % 32) % 32)
    return out

def values(n, seed):
    return [((i * 7919 + seed * 104729) % 2001 - 1000) / 20000.0 for i in range(n)]

V, C, F, H, HKV = 8, 32, 64, 2, 1
D = C // H
hparams = [("general.architecture", "str", "llama"), ("llama.block_count", "u32", 1),
           ("llama.context_length", "u32", 64), ("llama.embedding_length", "u32", C),
           ("llama.feed_forward_length", "u32", F), ("llama.attention.head_count", "u32", H),
           ("llama.attention.head_count_kv", "u32", HKV), ("llama.rope.freq_base", "f32", 10000.0),
           ("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5)]
def tokenizer_kvs(n):
    tokens = ["<unk>", "a", "b", "c", "ab", "<|im_start|>", "<|im_end|>", "\u0120", "extra"][:n]
    types = [2, 1, 1, 1, 1, 3, 3, 1, 1][:n]
    return [("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.pre", "str", "smollm"),
            ("tokenizer.ggml.tokens", "arr_str", tokens), ("tokenizer.ggml.token_type", "arr_i32", types),
            ("tokenizer.ggml.merges", "arr_str", ["a b"]), ("tokenizer.ggml.unknown_token_id", "u32", 0),
            ("tokenizer.ggml.eos_token_id", "u32", 6)]
weights = [("token_embd.weight", [V, C], values(V * C, 1)), ("output_norm.weight", [C], [1.0] * C),
           ("blk.0.attn_norm.weight", [C], [1.0] * C), ("blk.0.ffn_norm.weight", [C], [1.0] * C),
           ("blk.0.attn_q.weight", [H * D, C], values(H * D * C, 2)), ("blk.0.attn_k.weight", [HKV * D, C], values(HKV * D * C, 3)),
           ("blk.0.attn_v.weight", [HKV * D, C], values(HKV * D * C, 4)), ("blk.0.attn_output.weight", [C, H * D], values(C * H * D, 5)),
           ("blk.0.ffn_gate.weight", [F, C], values(F * C, 6)), ("blk.0.ffn_up.weight", [F, C], values(F * C, 7)),
           ("blk.0.ffn_down.weight", [C, F], values(C * F, 8))]
cases = {
    "tiny-llama-f32.gguf": (hparams + tokenizer_kvs(8), weights),
    "unsupported-architecture.gguf": ([("general.architecture", "str", "gpt2")], []),
    "missing-tensor.gguf": (hparams + tokenizer_kvs(8), [w for w in weights if w[0] != "blk.0.ffn_up.weight"]),
    "missing-tokenizer.gguf": (hparams, weights),
    "tokenizer-size-mismatch.gguf": (hparams + tokenizer_kvs(9), weights),
}
for name, (kvs, tensors) in cases.items():
    open(os.path.join(out, name), "wb").write(gguf_bytes(kvs, tensors))
