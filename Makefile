# The two commands: `make demo` (set up, run the pipeline, open the UIs) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# Every target goes through the fraud-platform CLI (or Python that imports fraud_assets),
# which turns telemetry off for itself and every tool it starts (fraud_assets/settings.py).
export FRAUD_HOME ?= $(CURDIR)/.fraud
# Bytecode is compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as on this
# development machine), every process would otherwise compile the whole stack from source
# (`import sklearn` 12.9 s from source, 4.6 s from compiled bytecode, loaded machine).
export UV_COMPILE_BYTECODE := 1

.PHONY: help setup demo pipeline up dev drift-demo serve bento serve-bento bench-serving bench-soak bench-decisions \
	check-defs images base-image run-api-image run-platform-image run-topology container-engine test-containers \
	test-topology test-reliability test lint clean \
	servers servers-stop server-packages test-server test-spark bench-scale test-ui \
	bench-late-labels

help:
	@echo "make demo      set up, run the whole pipeline, start the Dagster and MLflow UIs"
	@echo "make test      set up and run ruff and the whole test suite"
	@echo "make pipeline  the same pipeline headless (exit code tells success)"
	@echo "make up        start the UIs on the existing state"
	@echo "make dev       only the Dagster UI, through \`dg dev\` (the dg project's own command)"
	@echo "make check-defs \`dg check defs\` and \`dg list defs\`: the code location loads"
	@echo "make drift-demo play the drift story headless: scenario days, drift, retraining, gate"
	@echo "make serve     the fraud API on 127.0.0.1:8000 (champion from the MLflow registry)"
	@echo "make bento     build the Bento around the current champion"
	@echo "make serve-bento  serve the latest built Bento (packaged model, no MLflow needed)"
	@echo "make bench-serving  load benchmark of the API vs the handbook's server (loopback)"
	@echo "make bench-soak  200 req/s on the API for 10 min with a champion hot swap (SOAK_ARGS)"
	@echo "make bench-decisions  cost and review load of the decision bands vs best F1, calibration"
	@echo "make images    build the platform image and the fraud API image (Docker or podman)"
	@echo "make base-image  build python:3.11-slim from Debian packages (no Docker Hub)"
	@echo "make run-api-image  the API image on 127.0.0.1:\$${API_IMAGE_PORT:-8200}, local store mounted"
	@echo "make run-platform-image  the platform image on the volume fraud-state"
	@echo "make run-topology  \$${API_REPLICAS:-2} API image replicas on the server profile (ports \$${API_IMAGE_PORT:-8200}+i)"
	@echo "make test-containers  build both images and test them (installs podman if missing)"
	@echo "make test-topology  two API replicas on real servers: shared champion, hot swap, clean stop"
	@echo "make test-reliability  kill -9 in the middle of runs, rerun, compare (minutes)"
	@echo "make servers   start PostgreSQL, Redis and the MLflow server for FRAUD_PROFILE=server"
	@echo "make servers-stop  stop them (their data stays under $(FRAUD_HOME)/servers)"
	@echo "make test-server  the server-profile suite on real servers (installs them if missing)"
	@echo "make test-spark  the window transforms on PySpark (local mode) vs DuckDB (installs PySpark, and Java if missing)"
	@echo "make test-ui  screenshots of the Evidently dashboards in headless Chromium (installs chromium if missing)"
	@echo "make bench-scale  benchmarks/scale.py: daily job, training set, training at 100k/1M/3M rows a day"
	@echo "make bench-late-labels  benchmarks/late_labels.py: label maturity, estimated vs measured precision"
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

# `dg dev` on the platform's instance (the same Dagster part as `make up`).
dev: setup
	$(BIN)/fraud-platform dev --port 3000

check-defs: setup
	$(BIN)/dg check defs
	$(BIN)/dg list defs

drift-demo: setup
	$(BIN)/fraud-platform drift-demo

serve: setup
	$(BIN)/fraud-platform serve --port 8000

bento: setup
	$(BIN)/python -m serving.bento_build

serve-bento: setup
	$(BIN)/fraud-platform serve --port 8000 --bento fraud_detection:latest

bench-serving: setup
	$(BIN)/python -m benchmarks.serving_load

# `make bench-soak SOAK_ARGS="--minutes 1"` for a short trial.
bench-soak: setup
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

bench-decisions: setup
	$(BIN)/python -m benchmarks.decision_costs

images: setup
	$(BIN)/fraud-platform images build

base-image: setup
	$(BIN)/fraud-platform images base

run-api-image: setup
	$(BIN)/fraud-platform images run-api

run-platform-image: setup
	$(BIN)/fraud-platform images run-platform

# The production topology on one machine: API image replicas under the server profile
# (Redis, Feast's SQL registry on PostgreSQL, the MLflow server over HTTP; nothing mounted
# but the prediction-log volume), servers started if needed. Build the image first.
run-topology: setup
	FRAUD_PROFILE=server $(BIN)/fraud-platform images run-api --replicas $${API_REPLICAS:-2}

# The container suite: not part of `make test` (minutes of image builds). Installs the
# engine on Debian when neither Docker nor podman is there, and the server profile's
# packages for the topology test (skipped, saying why, without them).
container-engine:
	@command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || command -v podman >/dev/null 2>&1 \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap)

test-containers: setup container-engine server-packages
	$(BIN)/pytest -m containers tests/containers

# The topology test alone (two API replicas on real servers; also part of test-containers).
test-topology: setup container-engine server-packages
	$(BIN)/pytest -m containers tests/containers/test_topology.py

# The server profile (FRAUD_PROFILE=server): PostgreSQL, Redis and an MLflow tracking server
# on 127.0.0.1, data and generated passwords under $(FRAUD_HOME)/servers. With the profile
# set, `make demo|pipeline|drift-demo|serve` start them when they are not running.
servers: setup
	$(BIN)/fraud-platform servers start

servers-stop: setup
	$(BIN)/fraud-platform servers stop

# Debian's packages, installed when missing (as root; otherwise the suite skips, saying how).
server-packages:
	@(command -v redis-server >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1) \
		|| [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server)

# The server-profile suite: not part of `make test` (a few minutes on real servers).
test-server: setup server-packages
	$(BIN)/pytest -m server

# The Spark suite: not part of `make test` (a JVM start and Spark jobs). PySpark comes from
# the lock's `spark` group; Java 17+ from Debian when missing.
test-spark: setup
	@command -v java >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq openjdk-17-jre-headless)
	$(UV) sync --frozen --python 3.11 --group spark
	$(BIN)/pytest -m spark tests/features/test_spark.py

bench-scale: setup
	$(BIN)/python -m benchmarks.scale

bench-late-labels: setup
	$(BIN)/python -m benchmarks.late_labels

lint: setup
	$(BIN)/ruff check .

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf "$(FRAUD_HOME)"

# Screenshots of the web UIs in headless Chromium: not part of `make test` (a browser).
# Installs Debian's chromium when missing (as root; otherwise the suite skips, saying how).
test-ui: setup
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(UV) sync --frozen --python 3.11 --group ui
	$(BIN)/pytest -m ui tests/ui

# kill -9 mid-run and rerun, on real instances: not part of `make test` (minutes).
test-reliability: setup
	$(BIN)/pytest -m reliability tests/reliability
