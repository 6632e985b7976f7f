# The README's commands. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
JIFEN := .venv/bin/jifen
DATA_DIR ?= data
AS_OF ?= 2025-12-31
TRIALS ?= 30
FIRMS ?=
PORT ?= 8000
export JIFEN_DATA_DIR := $(DATA_DIR)
export FEAST_USAGE := False

.PHONY: help setup run test lint bench services system-deps clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	touch $@

setup: .venv/.synced  ## Create .venv with the locked dependencies

services:  ## Start PostgreSQL and Redis on 127.0.0.1 if they are down
	bash .ci/services

system-deps:  ## Install the Debian packages reports and benchmarks need (fonts, Chromium, poppler, wrk)
	bash .ci/system-deps

run: setup  ## Simulate the default portfolio (17,000 firms; FIRMS=N to resize) and run the main job
	$(JIFEN) simulate --data-dir $(DATA_DIR) $(if $(FIRMS),--firms $(FIRMS))
	$(JIFEN) validate --data-dir $(DATA_DIR)
	$(JIFEN) points --data-dir $(DATA_DIR) --as-of $(AS_OF) --top 10
	$(JIFEN) features build --data-dir $(DATA_DIR) --as-of $(AS_OF)
	$(JIFEN) features materialize --data-dir $(DATA_DIR)
	$(JIFEN) train --dataset $(DATA_DIR)/features/training_set.parquet \
	  --spec $(DATA_DIR)/features/training_spec.json \
	  --oracle $(DATA_DIR)/oracle/applications_truth.parquet \
	  --trials $(TRIALS) --out models --tracking-dir . \
	  --catalogue-version national-2024-trial --feature-service-version credit_risk_v1
	bash .ci/demo-curl $(DATA_DIR) $(PORT)
	JIFEN_DEMO_KEYS=true $(JIFEN) serve --host 127.0.0.1 --port $(PORT)

test: setup services system-deps  ## Lint, type-check and run the test suite
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest
	.venv/bin/pytest --nbmake notebooks/

bench: setup services system-deps  ## Speed and model-quality figures, each beside a peer measured in the same run
	.venv/bin/python bench/bench_features.py
	.venv/bin/python bench/bench_online.py
	.venv/bin/python bench/bench_training.py --rows 100000 --trials 30
	.venv/bin/python bench/audit_append.py --n 2000
	.venv/bin/python bench/bench_serving.py
	.venv/bin/python bench/bench_batch.py
	.venv/bin/python bench/bench_quality.py

lint: setup  ## Format and lint in place
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:  ## Remove generated data, models and caches (keeps .venv)
	rm -rf $(DATA_DIR) mlruns mlflow.db .pytest_cache .mypy_cache .ruff_cache
