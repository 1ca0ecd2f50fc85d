# The lakehouse's developer entry points. Every target creates the environment itself when
# it is missing, so each one works alone on a fresh clone. `make` lists them all.
SHELL := /bin/bash
# Cache bytecode in the venv even where the caller disabled it: CLI start-up 4 s -> 1 s.
unexport PYTHONDONTWRITEBYTECODE
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
LAKEHOUSE   := $(VENV)/bin/lakehouse
STAMP       := $(VENV)/.synced
export LAKEHOUSE_ROOT ?= $(CURDIR)/lakehouse
SCALE       ?= 0.1
PORT        ?= 2718

.PHONY: help setup postgres-server simulate ingest dbt-run dbt-test full-pipeline dashboard edit report test test-spark spark-env lint \
	bench bench-scale bench-at bench-forecast bench-dashboard bench-spark audit docs clean

help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --locked --extra dev
	@touch $(STAMP)

CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (never a downloaded browser)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# PostgreSQL's server binaries for the shared-catalog tests (tests/transform/test_pg_catalog.py
# starts a throwaway cluster with initdb and pg_ctl); Debian's package, only when missing.
POSTGRES_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb 2>/dev/null))
postgres-server:
ifeq ($(POSTGRES_BIN),)
	@echo "installing Debian's postgresql for the shared-catalog tests (initdb, pg_ctl)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
else
	@true
endif

setup: $(STAMP) $(CHROMIUM) postgres-server ## Create the environment from the lock and install Debian Chromium and PostgreSQL (tests)

simulate: $(STAMP) ## Simulate source exports into the landing zone (SCALE=0.1)
	$(LAKEHOUSE) --quiet simulate --scale $(SCALE)

ingest: $(STAMP) ## Load new landing files into Bronze
	$(LAKEHOUSE) ingest

dbt-run: $(STAMP) ## Build Silver and Gold with dbt (models only, no tests)
	$(LAKEHOUSE) build --models-only

dbt-test: $(STAMP) ## Run the dbt data and unit tests against the built warehouse
	$(LAKEHOUSE) build --tests-only

full-pipeline: $(STAMP) ## Set up and run the whole pipeline (simulate, ingest, build) on the default business
	$(LAKEHOUSE) --quiet simulate --scale $(SCALE)
	$(LAKEHOUSE) --quiet run

dashboard: $(STAMP) ## Serve the revenue dashboard on 127.0.0.1 with a token (PORT=2718)
	$(VENV)/bin/marimo run notebooks/03_revenue_dashboard.py --host 127.0.0.1 --port $(PORT) --headless --token

edit: $(STAMP) ## Open the notebooks for editing with marimo (127.0.0.1, token)
	$(VENV)/bin/marimo edit notebooks --host 127.0.0.1 --port $(PORT) --headless

report: $(STAMP) ## Render the revenue report offline (SVG/PNG + self-contained HTML) under $LAKEHOUSE_ROOT/reports/
	$(PY) -m analytics.report

lint: $(STAMP) ## Lint: ruff (incl. docstrings), mypy, import layers, lock, dbt SQL (sqlfluff), notebooks, Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv lock --check
	cd dbt && ../$(VENV)/bin/sqlfluff lint --processes 2 .
	$(VENV)/bin/marimo check --strict notebooks
	$(VENV)/bin/hadolint Dockerfile

test: $(STAMP) $(CHROMIUM) postgres-server lint ## Set up, lint and run the whole test suite (Spark's tests: make test-spark)
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not spark"

# The Spark engine is an optional extra (about 500 MB, Java 17): its own environment sync
# and its own tests (marker `spark`), which `make test` deselects explicitly.
# (`uv sync` runs every time: a plain `make test` sync removes the extra again; 2 s.)
spark-env: $(STAMP)
	uv sync --locked --extra dev --extra spark

test-spark: spark-env ## Install the spark extra and run the Spark engine's tests (needs Java 17)
	$(PY) -m pytest -q -m spark tests/spark

# Benchmarks print every figure beside its floor and target and write JSON under
# benchmarks/results/. BENCH_DIR holds their lakehouses (scale 100 needs about 40 GB).
BENCH_DIR   ?= $(or $(TMPDIR),/tmp)/lakehouse-bench

bench: $(STAMP) $(CHROMIUM) ## Measure simulate, ingest, build, a day and the dashboard at scale 1 and 10
	$(MAKE) --no-print-directory bench-at SCALES="1 10"

bench-scale: $(STAMP) $(CHROMIUM) ## The same at scale 100 (1 M accounts; about an hour, BENCH_DIR needs ~40 GB)
	$(MAKE) --no-print-directory bench-at SCALES="100"

bench-at:
	$(PY) benchmarks/bench_ingest.py --scales $(SCALES) --workdir $(BENCH_DIR)/ingest
	rm -rf $(BENCH_DIR)/ingest
	$(PY) benchmarks/bench_build.py --scales $(SCALES) --workdir $(BENCH_DIR)/build --keep
	for s in $(SCALES); do $(PY) benchmarks/bench_dashboard.py --root $(BENCH_DIR)/build/scale-$$s || exit 1; done
	rm -rf $(BENCH_DIR)/build

audit: $(STAMP) ## Check the locked dependencies for known vulnerabilities (pip-audit; says so when advisory data is unreachable)
	$(PY) tools/audit.py $(if $(SERVICE),--service $(SERVICE))

bench-forecast: $(STAMP) ## Back-test and time the MRR forecast (scale 1, four years; PLAYBOOK=<csv> adds mrr-playbook)
	$(PY) benchmarks/bench_forecast.py --scale 1 --years 4 $(if $(PLAYBOOK),--playbook $(PLAYBOOK))

bench-spark: spark-env ## Build on Spark (local mode) beside DuckDB on the same data (SCALE, default 1)
	$(PY) benchmarks/bench_spark.py --scale $(if $(filter 0.1,$(SCALE)),1,$(SCALE)) --workdir $(BENCH_DIR)/spark
	rm -rf $(BENCH_DIR)/spark

bench-dashboard: $(STAMP) $(CHROMIUM) ## Time the dashboard: start to charts, filter-change queries (SCALE)
	$(PY) benchmarks/bench_dashboard.py --scale $(SCALE)

docs: $(STAMP) ## Generate the dbt docs site (static, offline) under $LAKEHOUSE_ROOT/warehouse/
	$(LAKEHOUSE) docs

clean: ## Remove the data root's contents and caches (keeps the venv)
	rm -rf lakehouse/landing lakehouse/bronze lakehouse/quarantine lakehouse/silver \
	  lakehouse/gold lakehouse/warehouse lakehouse/_meta lakehouse/_staging
	rm -rf .pytest_cache .ruff_cache dbt/target dbt/logs test-output
