# The two commands: `make demo` (set up, run the pipeline, open the UIs) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export FRAUD_HOME ?= $(CURDIR)/.fraud
export DAGSTER_HOME := $(FRAUD_HOME)/dagster
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export FEAST_USAGE := False
export DO_NOT_TRACK := 1
export BENTOML_HOME ?= $(FRAUD_HOME)/bentoml

.PHONY: help setup demo pipeline up drift-demo serve bento serve-bento bench-serving test lint clean

help:
	@echo "make demo      set up, run the whole pipeline, start the Dagster and MLflow UIs"
	@echo "make test      set up and run ruff and the whole test suite"
	@echo "make pipeline  the same pipeline headless (exit code tells success)"
	@echo "make up        start the UIs on the existing state"
	@echo "make drift-demo play the drift story headless: scenario days, drift, retraining, gate"
	@echo "make serve     the fraud API on 127.0.0.1:8000 (champion from the MLflow registry)"
	@echo "make bento     build the Bento around the current champion"
	@echo "make serve-bento  serve the latest built Bento (packaged model, no MLflow needed)"
	@echo "make bench-serving  load benchmark of the API vs the handbook's server (loopback)"
	@echo "make clean     delete all platform state ($(FRAUD_HOME))"

setup: $(VENV)/.synced

# The environment comes from the lock file, exactly.
$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --python 3.11
	@touch $@

demo: pipeline
	$(BIN)/fraud-platform up

pipeline: setup
	$(BIN)/fraud-platform pipeline

up: setup
	$(BIN)/fraud-platform up

drift-demo: setup
	$(BIN)/fraud-platform drift-demo

serve: setup
	cd serving && $(CURDIR)/$(BIN)/bentoml serve --host 127.0.0.1 --port 8000

bento: setup
	$(BIN)/python serving/bento_build.py

serve-bento: setup
	$(BIN)/bentoml serve fraud_detection:latest --host 127.0.0.1 --port 8000

bench-serving: setup
	$(BIN)/python benchmarks/serving_load.py

lint: setup
	$(BIN)/ruff check .

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf "$(FRAUD_HOME)"
