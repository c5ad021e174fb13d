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
