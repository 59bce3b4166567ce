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

.PHONY: help setup demo pipeline up drift-demo test lint clean

help:
	@echo "make demo      set up, run the whole pipeline, start the Dagster and MLflow UIs"
	@echo "make test      set up and run ruff and the whole test suite"
	@echo "make pipeline  the same pipeline headless (exit code tells success)"
	@echo "make up        start the UIs on the existing state"
	@echo "make drift-demo play the drift story headless: scenario days, drift, retraining, gate"
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

lint: setup
	$(BIN)/ruff check .

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf "$(FRAUD_HOME)"
