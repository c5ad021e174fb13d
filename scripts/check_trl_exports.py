#!/usr/bin/env python3
"""Loads LongReward exports with Hugging Face `datasets` and checks the columns TRL's trainers
read. Usage: check_trl_exports.py FORMAT=PATH [...], FORMAT in dpo, kto, ranked, sft.

dpo: DPOTrainer (prompt, chosen, rejected); kto: KTOTrainer (prompt, completion, label: bool);
sft: SFTTrainer prompt-completion (prompt, completion); ranked: prompt, completions, rewards.
Standard format holds strings; conversational format holds lists of {role, content}.
"""
import sys

from datasets import load_dataset

COLUMNS = {
    "dpo": ["prompt", "chosen", "rejected"],
    "kto": ["prompt", "completion", "label"],
    "sft": ["prompt", "completion"],
    "ranked": ["prompt", "completions", "rewards"],
}


def is_text_or_messages(value):
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(
        isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["content"], str) for m in value
    )


def check(kind, path):
    data = load_dataset("json", data_files=path, split="train")
    missing = [c for c in COLUMNS[kind] + ["metadata"] if c not in data.column_names]
    if missing:
        raise SystemExit(f"{path}: missing columns {missing} (has {data.column_names})")
    if len(data) == 0:
        raise SystemExit(f"{path}: no rows")
    for i, row in enumerate(data):
        for column in COLUMNS[kind]:
            value = row[column]
            if column == "label":
                ok = isinstance(value, bool)
            elif column == "rewards":
                # JSON has one number type: whole rewards (9.0 is written 9) load as integers.
                ok = isinstance(value, list) and all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in value)
            elif column == "completions":
                ok = isinstance(value, list) and all(is_text_or_messages(c) for c in value)
            else:
                ok = is_text_or_messages(value)
            if not ok:
                raise SystemExit(f"{path}: row {i}: column {column!r} has the wrong type: {value!r}")
    print(f"{path}: {len(data)} rows, columns {data.column_names}")


def main(arguments):
    for argument in arguments:
        kind, _, path = argument.partition("=")
        if kind not in COLUMNS:
            raise SystemExit(f"unknown format {kind!r}")
        check(kind, path)
    print(f"{len(arguments)} files load with datasets and have TRL's columns")


if __name__ == "__main__":
    main(sys.argv[1:])
