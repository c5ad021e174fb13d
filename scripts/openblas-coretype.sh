#!/usr/bin/env bash
# Prints the OPENBLAS_CORETYPE for this CPU (SkylakeX with AVX-512, Haswell with AVX2 + FMA),
# or nothing. Debian 12's OpenBLAS 0.3.21 does not recognise Sapphire Rapids and falls back to
# its SSE3 "Prescott" kernels there (sgemm ~4x slower); `make test` exports this so the test
# process gets the right kernels. The CLI checks and corrects the choice itself
# (Sources/Kernels/BLASCore.swift).
flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then echo SkylakeX
elif has avx2 && has fma; then echo Haswell
fi
