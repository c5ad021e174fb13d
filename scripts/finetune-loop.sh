#!/usr/bin/env bash
# The fine-tuning loop once, end to end, on the demo corpus with the embedded models:
#   index -> sample K answers -> score them -> pairs -> train dpo -> sample again with the
#   trained GGUF, beside the base policy, on a question it did not train on -> score both.
# Sized to run in well under an hour on 2 cores; QUESTIONS, K, STEPS, THREADS override it.
#   scripts/finetune-loop.sh [OUT_DIR]      (default $LONGREWARD_HOME/loop)
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/longreward
OUT="${1:-${LONGREWARD_HOME:-$HOME/.cache/longreward}/loop}"
QUESTIONS="${QUESTIONS:-2}" K="${K:-5}" STEPS="${STEPS:-6}" THREADS="${THREADS:-2}"
mkdir -p "$OUT"
cp Corpora/harrow-valley-report.md "$OUT/"   # the questions name their document relative to themselves
head -n "$QUESTIONS" Corpora/harrow-valley-questions.jsonl > "$OUT/train-questions.jsonl"
sed -n "$((QUESTIONS + 1))p" Corpora/harrow-valley-questions.jsonl > "$OUT/heldout-question.jsonl"
S="--store $OUT/store.sqlite"
step() { printf '\n== %s ==\n' "$*"; }

step "index the report"
$B index Corpora/harrow-valley-report.md $S --threads "$THREADS"
cp "$OUT/store.sqlite" "$OUT/heldout-base.sqlite"; cp "$OUT/store.sqlite.faiss" "$OUT/heldout-base.sqlite.faiss"
cp "$OUT/store.sqlite" "$OUT/heldout-trained.sqlite"; cp "$OUT/store.sqlite.faiss" "$OUT/heldout-trained.sqlite.faiss"

step "sample $K answers per training question with the base policy"
$B sample $S --input "$OUT/train-questions.jsonl" --k "$K" --temperature 0.8 --top-p 0.95 --seed 0 --threads "$THREADS" --max-new-tokens 256

step "score them with the embedded judge"
$B score $S --input "$OUT/train-questions.jsonl" --output "$OUT/scores.jsonl" --max-new-tokens 256 --threads "$THREADS"

step "pairs (best vs worst, margin >= 0.1)"
# The embedded judge's default verdicts (--verdict direct) are probability-weighted means, which
# sit closer together than parsed integers: a 0.1 margin keeps the clear pairs.
$B pairs $S --output "$OUT/dpo.jsonl" --min-answers "$K" --allow-failed --min-margin 0.1

step "train dpo ($STEPS steps)"
$B train dpo --data "$OUT/dpo.jsonl" --output "$OUT/train" --max-steps "$STEPS" --batch-size 2 --learning-rate 5e-6 \
    --threads "$THREADS" --export-gguf f16 --export-hf --save-every 2

step "held-out question: 2 answers each from the base and the trained policy, scored"
$B sample --store "$OUT/heldout-base.sqlite" --input "$OUT/heldout-question.jsonl" --k "${HELDOUT_K:-2}" --temperature 0.8 --seed 1 --threads "$THREADS" --max-new-tokens 256
$B sample --store "$OUT/heldout-trained.sqlite" --model "local:$OUT/train/model.gguf" --input "$OUT/heldout-question.jsonl" --k "${HELDOUT_K:-2}" --temperature 0.8 --seed 1 --threads "$THREADS" --max-new-tokens 256
$B score --store "$OUT/heldout-base.sqlite" --input "$OUT/heldout-question.jsonl" --output "$OUT/heldout-base.jsonl" --max-new-tokens 256 --threads "$THREADS"
$B score --store "$OUT/heldout-trained.sqlite" --input "$OUT/heldout-question.jsonl" --output "$OUT/heldout-trained.jsonl" --max-new-tokens 256 --threads "$THREADS"
echo "done: $OUT"
