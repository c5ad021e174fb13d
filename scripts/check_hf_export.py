#!/usr/bin/env python3
"""Loads an exported Hugging Face Llama folder with `transformers` and prints what it computes.

The folder must hold config.json, model.safetensors, tokenizer.json and tokenizer_config.json.
The cases file is a JSON list of {"prompt_ids": [int, ...], "answer_ids": [int, ...]}; for each
case the script sums log p(answer token | all tokens before it) over the answer tokens, with
the model in float32 on the CPU. It prints one JSON object:

  {"logps": [float, ...],          # one per case, in order
   "tokenizer_class": str,         # e.g. "GPT2Tokenizer" (transformers 5)
   "vocab_size": int,              # len(tokenizer), added tokens included
   "config_vocab_size": int,       # config.json's vocab_size
   "chat_template": bool,          # whether the tokenizer has a chat template
   "encoded": {text: [int, ...]}}  # tokenizer.encode(text) of a few fixed texts (default
                                   # special-token handling, so BOS only if the config adds it)

Any load failure exits non-zero with a message on stderr. Nothing is fetched from the hub.

Usage: python3 scripts/check_hf_export.py --folder DIR --cases FILE.json
Needs: torch (the CPU build is enough), transformers, safetensors, tokenizers.
"""
import argparse
import json
import os
import sys

REQUIRED_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
TEXTS = ["Hello world", "The pump failed in 2024.", "<|im_start|>user\nhi<|im_end|>\n"]


def fail(message):
    print(f"check_hf_export: {message}", file=sys.stderr)
    sys.exit(1)


def load_cases(path):
    try:
        with open(path, encoding="utf-8") as f:
            cases = json.load(f)
    except (OSError, ValueError) as error:
        fail(f"cannot read cases file {path}: {error}")
    if not isinstance(cases, list):
        fail(f"{path}: expected a JSON list of cases")
    for i, case in enumerate(cases):
        ids_ok = all(
            isinstance(case.get(key) if isinstance(case, dict) else None, list)
            and all(isinstance(t, int) and not isinstance(t, bool) for t in case[key])
            for key in ("prompt_ids", "answer_ids")
        )
        if not ids_ok:
            fail(f"{path}: case {i} must be {{\"prompt_ids\": [int], \"answer_ids\": [int]}}")
        if not case["prompt_ids"]:
            fail(f"{path}: case {i} has no prompt_ids, so its first answer token has no context")
    return cases


def answer_logp(model, prompt_ids, answer_ids):
    import torch

    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    # The logits at position p predict the token at position p + 1.
    return sum(logprobs[start + j - 1, token].item() for j, token in enumerate(answer_ids))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, help="Hugging Face Llama folder")
    parser.add_argument("--cases", required=True, help="JSON list of {prompt_ids, answer_ids}")
    args = parser.parse_args()

    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(args.folder, name))]
    if missing:
        fail(f"{args.folder}: missing {', '.join(missing)}")
    cases = load_cases(args.cases)

    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        fail(f"cannot import torch/transformers: {error}")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            args.folder, torch_dtype=torch.float32, local_files_only=True
        )
    except Exception as error:  # transformers raises many kinds here
        fail(f"cannot load the model from {args.folder}: {type(error).__name__}: {error}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.folder, local_files_only=True)
    except Exception as error:
        fail(f"cannot load the tokenizer from {args.folder}: {type(error).__name__}: {error}")
    model.eval()

    vocab = model.config.vocab_size
    for i, case in enumerate(cases):
        bad = [t for t in case["prompt_ids"] + case["answer_ids"] if not 0 <= t < vocab]
        if bad:
            fail(f"case {i}: token ids {bad[:5]} are outside the model's vocabulary (size {vocab})")

    result = {
        "logps": [answer_logp(model, c["prompt_ids"], c["answer_ids"]) for c in cases],
        "tokenizer_class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "config_vocab_size": vocab,
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "encoded": {text: tokenizer.encode(text) for text in TEXTS},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
