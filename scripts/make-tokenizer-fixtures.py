#!/usr/bin/env python3
"""Builds the test fixtures of the Tokenizers target (stdlib only; rerunnable).

Fixtures written to Tests/TokenizersTests/Fixtures/:

* smollm2-vocab.json: the tokenizer metadata of SmolLM2-135M-Instruct, read directly from the GGUF
  file (default ~/.cache/longreward/models/SmolLM2-135M-Instruct.Q4_1.gguf) by a minimal GGUF v3
  metadata parser below: `tokenizer.ggml.tokens` -> "tokens", `.merges` -> "merges",
  `.token_type` -> "token_types", `.pre` -> "pre", `.bos_token_id`/`.eos_token_id`/
  `.unknown_token_id`/`.padding_token_id` -> "bos"/"eos"/"unk"/"pad", `.add_bos_token` ->
  "add_bos", and `tokenizer.chat_template` -> "chat_template". Tensor data is never read.
* smollm2-golden.json: for each llama.cpp reference in /work/shared/reference/smollm2/
  (short_english, chat_judge, long_1500, unicode_chinese): "name", "text",
  "parse_special" (= tokenize_flags.parse_special) and "token_ids" (llama.cpp's tokenizer output;
  no BOS since the GGUF says add_bos_token = false). Logits are not copied.
* minilm-golden.json: the 12 texts of /work/shared/reference/minilm/reference.json with the
  WordPiece ids sentence-transformers fed all-MiniLM-L6-v2 ("token_ids", truncated at 256
  including [CLS]/[SEP]) and "untruncated_token_count". Embeddings are not copied.
* minilm-vocab.txt: a byte-for-byte copy of all-MiniLM-L6-v2/vocab.txt.

Usage: python3 scripts/make-tokenizer-fixtures.py [--gguf PATH] [--minilm-dir DIR] [--reference DIR]
"""

import argparse
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "TokenizersTests", "Fixtures")

# GGUF metadata value types.
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def unpack(self, fmt):
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.unpack("<Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, vtype):
        if vtype in SCALARS:
            return self.unpack(SCALARS[vtype])
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            return [self.value(etype) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path):
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # metadata sits at the front (~1.8 MB for SmolLM2)
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    r.pos = 4
    version = r.unpack("<I")
    if version < 2:
        raise ValueError(f"unsupported GGUF version {version}")
    r.unpack("<Q")  # tensor count
    kv_count = r.unpack("<Q")
    meta = {}
    for _ in range(kv_count):
        key = r.string()
        meta[key] = r.value(r.unpack("<I"))
    return meta


def main():
    home = os.path.expanduser("~")
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(home, ".cache/longreward/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--minilm-dir", default=os.path.join(home, ".cache/longreward/models/all-MiniLM-L6-v2"))
    ap.add_argument("--reference", default="/work/shared/reference")
    args = ap.parse_args()
    os.makedirs(FIXTURES, exist_ok=True)

    meta = read_gguf_metadata(args.gguf)
    vocab = {
        "source": os.path.basename(args.gguf),
        "model": meta["tokenizer.ggml.model"],
        "pre": meta["tokenizer.ggml.pre"],
        "tokens": meta["tokenizer.ggml.tokens"],
        "merges": meta["tokenizer.ggml.merges"],
        "token_types": meta["tokenizer.ggml.token_type"],
        "bos": meta.get("tokenizer.ggml.bos_token_id"),
        "eos": meta.get("tokenizer.ggml.eos_token_id"),
        "unk": meta.get("tokenizer.ggml.unknown_token_id"),
        "pad": meta.get("tokenizer.ggml.padding_token_id"),
        "add_bos": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "chat_template": meta.get("tokenizer.chat_template"),
    }
    with open(os.path.join(FIXTURES, "smollm2-vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))

    golden = []
    for name in ["short_english", "chat_judge", "long_1500", "unicode_chinese"]:
        with open(os.path.join(args.reference, "smollm2", name + ".json"), encoding="utf-8") as f:
            ref = json.load(f)
        golden.append({
            "name": name,
            "text": ref["text"],
            "parse_special": bool(ref["tokenize_flags"]["parse_special"]),
            "token_ids": ref["token_ids"],
        })
    with open(os.path.join(FIXTURES, "smollm2-golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))

    with open(os.path.join(args.reference, "minilm", "reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    minilm = {
        "max_seq_length": ref["max_seq_length"],
        "special_ids": ref["special_ids"],
        "cases": [
            {"index": i, "text": t, "token_ids": ids, "untruncated_token_count": n}
            for i, (t, ids, n) in enumerate(zip(ref["texts"], ref["token_ids"], ref["untruncated_token_count"]))
        ],
    }
    with open(os.path.join(FIXTURES, "minilm-golden.json"), "w", encoding="utf-8") as f:
        json.dump(minilm, f, ensure_ascii=False, separators=(",", ":"))

    shutil.copyfile(os.path.join(args.minilm_dir, "vocab.txt"), os.path.join(FIXTURES, "minilm-vocab.txt"))


if __name__ == "__main__":
    main()
