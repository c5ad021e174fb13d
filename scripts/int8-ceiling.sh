#!/usr/bin/env bash
# Builds and runs scripts/int8-ceiling.c (see its header) against Sources/CQuantKernels with the
# package's C flags (-march=native -O3 -ffp-contract=off). Run it in the same sitting as
# `longreward bench model --batch 1,4,16 --profile`: it prints what this host allows the
# integer decode products today. Usage: scripts/int8-ceiling.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc="${CC:-clang}"
"$cc" -std=c11 -march=native -O3 -ffp-contract=off -Wall -Wextra -D_POSIX_C_SOURCE=200809L \
    -I"$root/Sources/CQuantKernels/include" -I"$root/Sources/CQuantKernels" \
    -o "$out/int8-ceiling" "$root/scripts/int8-ceiling.c" \
    "$root/Sources/CQuantKernels/quant_kernels.c" "$root/Sources/CQuantKernels/prefetch_feed.c" -lpthread
"$out/int8-ceiling"
