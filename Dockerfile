# The platform image: the Dagster code location (fraud_assets), the webserver and the daemon
# (and the MLflow UI), run by `fraud-platform up` as an unprivileged user.
#
#   make images                      # builds this image and the fraud API image (Docker or podman)
#   docker run -p 3000:3000 -e FRAUD_BIND_HOST=0.0.0.0 -v fraud-state:/var/lib/fraud fraud-platform
#
# `make run-platform-image` runs it with Docker or podman, its ports published on 127.0.0.1
# only. State (Dagster instance, MLflow, Feast, lake, landing folder) lives in the
# volume /var/lib/fraud: drop a landing file in its landing/ folder and the landing sensor
# runs the day. SIGTERM stops every server cleanly (fraud-platform up stops their groups).
#
# One image, three roles. To run them as separate containers sharing one instance
# (PostgreSQL storage in $DAGSTER_HOME/dagster.yaml), override the command:
#   code location: dagster code-server start -h 0.0.0.0 -p 4000 -m fraud_assets.definitions
#   webserver:     dagster-webserver -h 0.0.0.0 -p 3000 -w /path/to/workspace.yaml
#   daemon:        dagster-daemon run -w /path/to/workspace.yaml
# where that workspace.yaml loads `grpc_server: {host: <code location>, port: 4000}`.
#
# The base image is a build argument: python:3.11-slim from Docker Hub by default; without
# access to it, `make base-image` builds an equivalent from Debian packages under that tag.

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    FRAUD_HOME=/var/lib/fraud \
    DAGSTER_HOME=/var/lib/fraud/dagster
# Telemetry: off in every process that imports fraud_assets (settings.disable_telemetry),
# and in the Dagster instance by the dagster.yaml written below.

# The uv that wrote uv.lock; the environment is installed from the lock file exactly.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/fraud-platform

# Dependencies first: this layer is rebuilt only when the lock changes, not on code edits.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# The project (installed editable: settings.REPO_ROOT must stay this folder, where
# feature_repo/, serving/ and uv.lock live for the Feast and Bento assets).
COPY workspace.yaml ./
COPY fraud_assets ./fraud_assets
COPY feature_repo ./feature_repo
COPY serving ./serving
RUN uv sync --frozen --no-dev

# State (Dagster instance, MLflow, Feast, lake, Bento store) lives in one volume, owned by
# an unprivileged user; dagster.yaml (telemetry off, one run at a time) is written now.
RUN useradd --create-home --uid 1000 fraud \
    && python -c "from fraud_assets.orchestration.instance import ensure_dagster_home; ensure_dagster_home()" \
    && chown -R fraud:fraud /var/lib/fraud
USER fraud
VOLUME ["/var/lib/fraud"]

EXPOSE 3000 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/server_info', timeout=4)"

# Bind every interface of the container's own network namespace (the engine publishes the
# chosen ports); with the host network, set FRAUD_BIND_HOST=127.0.0.1.
ENV FRAUD_BIND_HOST=0.0.0.0
STOPSIGNAL SIGTERM
# The Evidently UI is left out: the image publishes the Dagster and MLflow UIs only.
CMD ["fraud-platform", "up", "--no-api", "--no-evidently"]
