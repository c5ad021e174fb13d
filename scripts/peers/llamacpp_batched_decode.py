#!/usr/bin/env python3
"""llama.cpp peer for batched decode (through llama-cpp-python's low-level API): B sequences that
share one prefilled prompt step together, one token each per llama_decode; tokens/s summed over
the batch, beside single-sequence decode in the same process. Shaped like the batched lines of
`longreward bench model --batch 1,4,16`.

Set-up: the venv of ../shared/peers/llamacpp_decode.py (llama-cpp-python 0.3.36, GGML_NATIVE).
Run: /tmp/llamapeer/bin/python scripts/peers/llamacpp_batched_decode.py MODEL.gguf --threads 1 --batch 1,4,16
"""
import argparse, json, time
import llama_cpp as L

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--prompt-tokens", type=int, default=512); ap.add_argument("--decode-tokens", type=int, default=128)
ap.add_argument("--batch", default="1,4,16")
ap.add_argument("--split-cache", action="store_true", help="one KV cache per sequence (kv_unified off) instead of one shared cache")
ap.add_argument("--kv", choices=["f16", "q8_0"], default="f16", help="KV cache type (q8_0 turns flash attention on, as llama.cpp requires)")
a = ap.parse_args()
batches = [int(x) for x in a.batch.split(",")]
Bmax = max(batches)

L.llama_backend_init()
mp = L.llama_model_default_params()
model = L.llama_model_load_from_file(a.model.encode(), mp)
vocab = L.llama_model_get_vocab(model)
V = L.llama_vocab_n_tokens(vocab)
cp = L.llama_context_default_params()
per_seq = a.prompt_tokens + a.decode_tokens + 64
cp.n_ctx = Bmax * per_seq if a.split_cache else a.prompt_tokens + Bmax * (a.decode_tokens + 8) + 64
cp.n_batch = max(512, Bmax); cp.n_ubatch = max(512, Bmax); cp.n_seq_max = Bmax
cp.n_threads = a.threads; cp.n_threads_batch = a.threads
cp.kv_unified = not a.split_cache  # shared: the prompt cells are shared by the sequences, not copied
if a.kv == "q8_0":
    cp.type_k = cp.type_v = L.GGML_TYPE_Q8_0
    cp.flash_attn_type = 1  # LLAMA_FLASH_ATTN_TYPE_ENABLED
ctx = L.llama_init_from_model(model, cp)
mem = L.llama_get_memory(ctx)
batch = L.llama_batch_init(max(a.prompt_tokens, Bmax), 0, Bmax)

def fill(entries):
    """entries: (token, pos, seq, want_logits)"""
    batch.n_tokens = len(entries)
    for i, (t, p, s, lg) in enumerate(entries):
        batch.token[i] = t; batch.pos[i] = p; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = s; batch.logits[i] = lg
    assert L.llama_decode(ctx, batch) == 0

def argmax(i):
    row = L.llama_get_logits_ith(ctx, i)
    best, bv = 0, row[0]
    for j in range(1, V):
        if row[j] > bv: best, bv = j, row[j]
    return best

results = []
for B in batches:
    L.llama_memory_clear(mem, True)
    prompt = list(range(1000, 1000 + a.prompt_tokens))
    fill([(t, i, 0, int(i == len(prompt) - 1)) for i, t in enumerate(prompt)])
    for s in range(1, B): L.llama_memory_seq_cp(mem, 0, s, -1, -1)
    first = argmax(len(prompt) - 1)
    toks = [(first + s) % V for s in range(B)]
    pos = a.prompt_tokens
    elapsed = 0.0
    for _ in range(a.decode_tokens):
        t0 = time.time()
        fill([(toks[s], pos, s, 1) for s in range(B)])
        elapsed += time.time() - t0
        toks = [argmax(s) for s in range(B)]  # sampling is not timed (a Python loop over V)
        pos += 1
    results.append({"batch": B, "tokens_per_s": B * a.decode_tokens / elapsed})
single = next((r["tokens_per_s"] for r in results if r["batch"] == 1), results[0]["tokens_per_s"])
for r in results: r["speedup"] = r["tokens_per_s"] / single
print(json.dumps({"threads": a.threads, "kv": a.kv, "split_cache": a.split_cache, "prompt_tokens": a.prompt_tokens, "decode_tokens": a.decode_tokens,
                  "batched_decode": results}))
