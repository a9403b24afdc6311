# Engage Hotspots: the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export ENGAGE_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck check postgis browser bench bench-all clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: simulate Blackburn with Darwen, ingest it into ./demo/engage.gpkg, print counts
demo: $(STAMP)
	$(BIN)/engage demo --out demo

## browser: Debian's Chromium and ChromeDriver for the map tests, where missing
browser:
	bash scripts/ensure_browser.sh

## postgis: install and enable PostGIS (and PostgreSQL) where missing
postgis:
	bash scripts/ensure_postgis.sh

## test: the whole suite, PostGIS tests included (never skipped)
test: $(STAMP) postgis browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check geo models maps api tests bench scripts
	$(BIN)/ruff format --check geo models maps api tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## bench: the strongest peers' table of docs/benchmarks.md (by hand, about an hour)
bench: $(STAMP) postgis
	bash scripts/ensure_bench_tools.sh
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py --only peers --keep-stores

## bench-all: every benchmark of docs/benchmarks.md (by hand, longer)
bench-all: $(STAMP) postgis
	bash scripts/ensure_bench_tools.sh
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf demo quarantine .pytest_cache .mypy_cache .ruff_cache
