#!/usr/bin/env python3
"""Pairwise agreement of scored answers with labelled preferences.

Usage: scripts/verdict-agreement.py LABELLED.jsonl SCORES.jsonl [SCORES.jsonl ...]

LABELLED.jsonl: items with "id" and "preferences" ([[better, worse], ...] by answer index), as in
Corpora/harrow-valley-labelled.jsonl (the demo's Corpora/harrow-valley-demo.jsonl pairs come from
Corpora/harrow-valley-demo-labels.json: A > C > B). SCORES.jsonl: `longreward score` output.
For each scores file: the share of labelled pairs where the better answer scored higher (ties count
one half), for the reward and each dimension; judge calls, tokens and seconds per answer.
"""
import json, sys

def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]

labelled = {d["id"]: d for d in load(sys.argv[1])}
dims = ["reward", "helpfulness", "logic", "faithfulness", "completeness"]
print("%-28s %7s %6s %6s %6s %6s %6s %7s %8s %8s" % ("scores", "pairs", *[d[:6] for d in dims], "calls/a", "tokens/a", "secs/a"))
for path in sys.argv[2:]:
    rows = load(path)
    by = {(r["item_id"], r["answer_index"]): r for r in rows}
    agree = {d: 0.0 for d in dims}
    counted = {d: 0 for d in dims}
    pairs = 0
    for item_id, item in labelled.items():
        for better, worse in item["preferences"]:
            a, b = by.get((item_id, better)), by.get((item_id, worse))
            if a is None or b is None:
                continue
            pairs += 1
            for d in dims:
                x = a["reward"] if d == "reward" else a["scores"].get(d)
                y = b["reward"] if d == "reward" else b["scores"].get(d)
                if x is None or y is None:
                    continue
                counted[d] += 1
                agree[d] += 1.0 if x > y else (0.5 if x == y else 0.0)
    n = max(1, len(rows))
    calls = sum(r["judge"]["calls"] + r["judge"]["cache_hits"] for r in rows) / n
    tokens = sum(r["judge"]["tokens_in"] + r["judge"]["tokens_out"] for r in rows) / n
    secs = sum(r.get("seconds", 0) for r in rows) / n
    print("%-28s %7d %s %7.1f %8.0f %8.1f" % (path[-28:], pairs,
          " ".join("%6s" % ("%.2f" % (agree[d] / counted[d]) if counted[d] else "-") for d in dims), calls, tokens, secs))
