#!/usr/bin/env bash
# Fuzz one parser with libFuzzer (swiftc -sanitize=fuzzer,address).
#
#   scripts/fuzz.sh TARGET SECONDS [RUNS]   e.g. scripts/fuzz.sh gguf 120 1000000
#   scripts/fuzz.sh list                    the targets
#
# Targets (Tests/FuzzRegressionTests/FuzzTargets.swift): gguf, safetensors, jsonl-items,
# jsonl-pairs, verdict, openai, bpe, wordpiece, chunker. The modules they reach are compiled
# again, instrumented, into .build/fuzz (rebuilt when a source is newer than the binary).
# Seeds: Tests/Fuzz/seeds/TARGET (committed). New coverage goes to .build/fuzz/corpus/TARGET.
# A crash is written to Tests/Fuzz/regressions/TARGET/, where FuzzRegressionTests replays it
# in `make test` (keep it there once fixed). Stops at SECONDS or RUNS inputs, whichever first;
# prints libFuzzer's final stats line (executions, coverage).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="gguf safetensors jsonl-items jsonl-pairs verdict openai bpe wordpiece chunker"
if [ "${1:-}" = "list" ] || [ $# -lt 2 ]; then echo "usage: scripts/fuzz.sh TARGET SECONDS [RUNS]; targets: $TARGETS" >&2; [ "${1:-}" = "list" ]; exit $?; fi
TARGET="$1"; SECONDS_MAX="$2"; RUNS="${3:-0}"
case " $TARGETS " in *" $TARGET "*) ;; *) echo "fuzz: unknown target '$TARGET' ($TARGETS)" >&2; exit 2 ;; esac

OUT=.build/fuzz
BIN="$OUT/longreward-fuzz"
SRC=$(ls Sources/CQuantKernels/*.c Sources/CQuantKernels/include/*.h Sources/Kernels/*.swift Sources/Formats/*.swift Sources/Tokenizers/*.swift Sources/Judges/*.swift \
    Sources/OpenAICompatible/*.swift Sources/Scoring/*.swift Sources/Retrieval/*.swift Sources/Evaluation/*.swift \
    Tests/FuzzRegressionTests/FuzzTargets.swift scripts/fuzz.sh)
FLAGS=(-sanitize=fuzzer,address -O -parse-as-library -g)
if [ ! -x "$BIN" ] || [ -n "$(find $SRC -newer "$BIN" 2>/dev/null | head -1)" ]; then
    echo "fuzz: building instrumented modules into $OUT (a few minutes)" >&2
    rm -rf "$OUT/mods" "$OUT/parts"; mkdir -p "$OUT/mods" "$OUT/parts"
    lib() {  # lib NAME FILES...: an instrumented static module
        local name="$1"; shift
        swiftc "${FLAGS[@]}" -enable-testing -package-name longreward -I Sources/CBLAS -I "$OUT/mods" -module-name "$name" -emit-module \
            -emit-module-path "$OUT/mods/$name.swiftmodule" -emit-library -static -o "$OUT/mods/lib$name.a" "$@"
    }
    # The C kernels: an instrumented static library and a module map for `import CQuantKernels`.
    mkdir -p "$OUT/cquant"
    for c in Sources/CQuantKernels/*.c; do
        clang -fsanitize=fuzzer-no-link,address -O2 -g -march=native -ffp-contract=off -I Sources/CQuantKernels/include \
            -c "$c" -o "$OUT/cquant/$(basename "$c" .c).o"
    done
    rm -f "$OUT/mods/libCQuantKernels.a"; ar rcs "$OUT/mods/libCQuantKernels.a" "$OUT"/cquant/*.o
    printf 'module CQuantKernels {\n    umbrella "%s"\n    export *\n}\n' "$PWD/Sources/CQuantKernels/include" > "$OUT/cquant/module.modulemap"
    FLAGS+=(-I "$OUT/cquant")
    lib Kernels Sources/Kernels/*.swift
    lib Formats Sources/Formats/*.swift
    lib Tokenizers Sources/Tokenizers/*.swift
    # The parsers above the model layer, as one module: their files without the imports of
    # modules merged here (the rest of those modules needs models, SQLite and FAISS).
    for f in Sources/Judges/Verdict.swift Sources/Judges/Rubric.swift Sources/Judges/JudgeError.swift Sources/Judges/Judge.swift \
        Sources/Judges/JudgedText.swift Sources/Judges/InjectionScreen.swift Sources/OpenAICompatible/ChatCompletion.swift Sources/OpenAICompatible/ResponseParsing.swift \
        Sources/OpenAICompatible/OpenAIClientError.swift Sources/OpenAICompatible/RetryPolicy.swift Sources/Scoring/ScoreInput.swift \
        Sources/Scoring/ScoringError.swift Sources/Retrieval/Chunker.swift Sources/Retrieval/DocumentText.swift \
        Sources/Retrieval/RetrievalError.swift Sources/Evaluation/EvalInput.swift Sources/Evaluation/EvaluationError.swift; do
        grep -v -E '^import (Judges|OpenAICompatible|Scoring|Retrieval|Evaluation|Models|Store)$' "$f" > "$OUT/parts/$(basename "$f")"
    done
    # RetrievalError names the FAISS index kind; the fuzz build has no FAISS.
    printf 'public enum IndexKind: Sendable, Equatable, CustomStringConvertible {\n    case flat\n    public var description: String { "flat" }\n}\n' > "$OUT/parts/FuzzStubs.swift"
    lib FuzzParts "$OUT"/parts/*.swift
    swiftc "${FLAGS[@]}" -D FUZZ_BUILD -I Sources/CBLAS -I "$OUT/mods" -L "$OUT/mods" -lFuzzParts -lTokenizers -lFormats -lKernels -lCQuantKernels \
        -lopenblas -o "$BIN" Tests/FuzzRegressionTests/FuzzTargets.swift
fi
SEEDS=Tests/Fuzz/seeds/$TARGET
CORPUS=$OUT/corpus/$TARGET
CRASHES=Tests/Fuzz/regressions/$TARGET
mkdir -p "$CORPUS" "$CRASHES"
ARGS=(-max_total_time="$SECONDS_MAX" -artifact_prefix="$CRASHES/" -print_final_stats=1 -max_len=65536 -timeout=20 -rss_limit_mb=4096)
[ "$RUNS" != "0" ] && ARGS+=(-runs="$RUNS")
[ -d "$SEEDS" ] || mkdir -p "$SEEDS"
LONGREWARD_FUZZ_TARGET="$TARGET" ASAN_OPTIONS=detect_leaks=0 "$BIN" "${ARGS[@]}" "$CORPUS" "$SEEDS" 2>&1 | tee "$OUT/$TARGET.log" | grep -E "^(stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|Done)" || true
grep -q "Test unit written" "$OUT/$TARGET.log" && { echo "fuzz: $TARGET found a crash (kept in $CRASHES)" >&2; exit 1; }
exit 0
